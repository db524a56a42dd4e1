// The webgpu backend's average pooling and adaptive average pooling, forward beside backward
// (kernels/pool.ts; reference avgPool2d, adaptiveAvgPool2d and their backwards). Work is split along the
// batch where a tensor exceeds one storage binding, as max pooling does (layers.ts).
import type { Pool2dParams } from "../backend.js";
import { adaptiveAvgPool2dShape, avgPool2dShape, checkSameShape } from "../shapes.js";
import { Params, grid1d } from "./device.js";
import { type GpuStorage, type KernelHost, batchChunk } from "./host.js";
import { ADAPTIVE_AVGPOOL_BACKWARD, ADAPTIVE_AVGPOOL_FORWARD, AVGPOOL_BACKWARD, AVGPOOL_FORWARD } from "./kernels/pool.js";

type Dims4 = [number, number, number, number];

/** A window of kernel/stride/padding; adaptive pooling passes zeros (its bins come from the sizes). */
interface Window {
  kernel: readonly [number, number];
  stride: readonly [number, number];
  padding: readonly [number, number];
}

const NO_WINDOW: Window = { kernel: [0, 0], stride: [1, 1], padding: [0, 0] };

/** Runs a pooling kernel chunk by chunk along the batch over x-side (N,C,H,W) and y-side (N,C,OH,OW)
 * tensors: binding 1 reads `src`, binding 2 writes `dst`, one invocation per element written. Forward:
 * src is x, dst is y; backward: src is dy, dst is dx. */
function runPool(
  host: KernelHost, code: string, what: string, xShape: Dims4, yShape: Dims4, src: GpuStorage, dst: GpuStorage, forward: boolean, w: Window,
): void {
  const [N, C, H, W] = xShape;
  const [, , OH, OW] = yShape;
  const xPer = C * H * W;
  const yPer = C * OH * OW;
  const chunk = batchChunk(host, what, N, { input: xPer, output: yPer });
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nb = Math.min(chunk, N - n0);
    const xSide = forward ? src : dst;
    const ySide = forward ? dst : src;
    const xv = host.view(xSide, n0 * xPer, nb * xPer, what);
    const yv = host.view(ySide, n0 * yPer, nb * yPer, what);
    const n = nb * (forward ? yPer : xPer);
    const params = new Params()
      .u32(n, C, H, W, OH, OW, w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.padding[0], w.padding[1], xv.shift, yv.shift, 0, 0)
      .bytes();
    host.ctx.dispatch(code, params, forward ? [xv, yv] : [yv, xv], grid1d(Math.ceil(n / 256)));
  }
}

/** x (N,C,H,W) -> y (N,C,OH,OW): window means, padding counted in the divisor kh·kw. */
export function avgPool2d(host: KernelHost, x: GpuStorage, p: Pool2dParams): GpuStorage {
  const yShape = avgPool2dShape(x.shape, p) as Dims4;
  const what = `avgPool2d of x [${x.shape.join(", ")}]`;
  const y = host.alloc(yShape, what);
  runPool(host, AVGPOOL_FORWARD, what, x.shape as Dims4, yShape, x, y, true, p);
  return y;
}

/** dy (N,C,OH,OW) -> dx of `xShape`: each output's gradient spread evenly over its window. */
export function avgPool2dBackward(host: KernelHost, dy: GpuStorage, xShape: readonly number[], p: Pool2dParams): GpuStorage {
  const yShape = avgPool2dShape(xShape, p) as Dims4;
  checkSameShape("avgPool2dBackward dy", dy.shape, yShape);
  const what = `avgPool2d backward of x [${xShape.join(", ")}]`;
  const dx = host.alloc(xShape, what);
  runPool(host, AVGPOOL_BACKWARD, what, xShape as Dims4, yShape, dy, dx, false, p);
  return dx;
}

/** x (N,C,H,W) -> y (N,C,OH,OW), the mean of each of PyTorch's adaptive bins. */
export function adaptiveAvgPool2d(host: KernelHost, x: GpuStorage, outSize: readonly [number, number]): GpuStorage {
  const yShape = adaptiveAvgPool2dShape(x.shape, outSize) as Dims4;
  const what = `adaptiveAvgPool2d of x [${x.shape.join(", ")}]`;
  const y = host.alloc(yShape, what);
  runPool(host, ADAPTIVE_AVGPOOL_FORWARD, what, x.shape as Dims4, yShape, x, y, true, NO_WINDOW);
  return y;
}

/** dy (N,C,OH,OW) -> dx of `xShape`: each input gathers dy / (bin size) of every bin containing it. */
export function adaptiveAvgPool2dBackward(host: KernelHost, dy: GpuStorage, xShape: readonly [number, number, number, number]): GpuStorage {
  if (dy.shape.length !== 4) throw new Error(`adaptiveAvgPool2dBackward: dy [${dy.shape.join(", ")}] is not (N, C, OH, OW)`);
  const yShape = adaptiveAvgPool2dShape(xShape, [dy.shape[2]!, dy.shape[3]!]) as Dims4;
  checkSameShape("adaptiveAvgPool2dBackward dy", dy.shape, yShape);
  const what = `adaptiveAvgPool2d backward of x [${xShape.join(", ")}]`;
  const dx = host.alloc(xShape, what);
  runPool(host, ADAPTIVE_AVGPOOL_BACKWARD, what, [...xShape], yShape, dy, dx, false, NO_WINDOW);
  return dx;
}

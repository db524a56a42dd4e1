// The webgpu backend's broadcasting binary ops and 2-D transpose (kernels/elementwise.ts; reference
// binary and transpose). The other small ops are flat maps (host.ts flat) or reductions (reductions.ts).
import { type BinaryOp, numel } from "../backend.js";
import { broadcastShapes, transposeShape } from "../shapes.js";
import { Params, grid1d } from "./device.js";
import type { GpuStorage, KernelHost } from "./host.js";
import { TRANSPOSE, binaryShader, broadcastStrides, padShape } from "./kernels/elementwise.js";

/** a op b with NumPy broadcasting. */
export function binary(host: KernelHost, op: BinaryOp, a: GpuStorage, b: GpuStorage): GpuStorage {
  const shape = broadcastShapes(a.shape, b.shape);
  const what = `binary ${op}`;
  const out = host.alloc(shape, what);
  const n = numel(shape);
  const params = new Params().u32(n, shape.length, 0, 0, 0, 0, 0, 0)
    .u32(...padShape(shape), ...broadcastStrides(a.shape, shape), ...broadcastStrides(b.shape, shape));
  host.ctx.dispatch(binaryShader(op), params.bytes(),
    [host.view(a, 0, numel(a.shape), what), host.view(b, 0, numel(b.shape), what), host.view(out, 0, n, what)], grid1d(Math.ceil(n / 256)));
  return out;
}

/** (R,C) -> (C,R). */
export function transpose(host: KernelHost, a: GpuStorage): GpuStorage {
  const [C, R] = transposeShape(a.shape);
  const out = host.alloc([C, R], "transpose");
  const n = R * C;
  const av = host.view(a, 0, n, "transpose");
  const ov = host.view(out, 0, n, "transpose");
  host.ctx.dispatch(TRANSPOSE, new Params().u32(n, av.shift, 0, ov.shift).f32(0, 0).u32(R, C, 0, 0).bytes(), [av, ov], grid1d(Math.ceil(n / 256)));
  return out;
}

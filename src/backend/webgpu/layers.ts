// The webgpu backend's layer ops (conv2d, max-pool, linear), forward beside backward, as the reference
// backend's layers.ts. Where a tensor is larger than one storage binding may be, conv and pool work is
// split along the batch (each chunk binds its own range of the buffers); what cannot be split (one
// image, a weight) fails at the op with the layer and both sizes named.
import { type Conv2dParams, type Pool2dParams, numel } from "../backend.js";
import { windowOutSize } from "../shapes.js";
import { GpuError, grid1d, Params } from "./device.js";
import { type GpuStorage, type KernelHost, batchChunk } from "./host.js";
import { convBackwardDataSpec, convBackwardWeightSpec, convForwardSpec } from "./kernels/conv.js";
import { type GemmDims, gemmPartial, gemmReduce, partialSlots, planSplitK, gemmTile, runGemm } from "./kernels/gemm.js";
import { matmulSpec } from "./kernels/linear.js";
import { MAXPOOL_BACKWARD, MAXPOOL_FORWARD } from "./kernels/pool.js";
import { sumBatchChunked } from "./reductions.js";

export { batchChunk } from "./host.js";

type Dims4 = [number, number, number, number];

function convDims(x: GpuStorage, w: GpuStorage, p: Conv2dParams) {
  const [N, C, H, W] = x.shape as Dims4;
  const [O, , KH, KW] = w.shape as Dims4;
  const OH = windowOutSize(H, KH, p.stride[0], p.padding[0]);
  const OW = windowOutSize(W, KW, p.stride[1], p.padding[1]);
  const fields = { c: C, h: H, w: W, o: O, oh: OH, ow: OW, kh: KH, kw: KW, sh: p.stride[0], sw: p.stride[1], ph: p.padding[0], pw: p.padding[1] };
  return { N, C, H, W, O, KH, KW, OH, OW, fields };
}

function layerName(x: GpuStorage, w: GpuStorage): string {
  return `conv2d of x [${x.shape.join(", ")}] with w [${w.shape.join(", ")}]`;
}

// ---- convolution ----------------------------------------------------------------------------------

/** x (N,C,H,W), w (O,C,KH,KW), b (O) -> y (N,O,OH,OW), ReLU'd in the epilogue when `relu`. */
export function conv2d(be: KernelHost, x: GpuStorage, w: GpuStorage, b: GpuStorage | null, p: Conv2dParams, relu: boolean): GpuStorage {
  const { N, C, H, W, O, KH, KW, OH, OW, fields } = convDims(x, w, p);
  const name = layerName(x, w);
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: O * OH * OW });
  const wv = be.view(w, 0, numel(w.shape), name);
  const y = be.alloc([N, O, OH, OW], name);
  const spec = convForwardSpec(b !== null, relu);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nb = Math.min(chunk, N - n0);
    const xv = be.view(x, n0 * C * H * W, nb * C * H * W, name);
    const yv = be.view(y, n0 * O * OH * OW, nb * O * OH * OW, name);
    const d: GemmDims = { M: nb * OH * OW, N: O, K: C * KH * KW, nb, ...fields, aOff: xv.shift, bOff: wv.shift, outOff: yv.shift };
    runGemm(be.ctx, be.pool, spec, d, xv, wv, b ? [yv, be.view(b, 0, O, name)] : [yv], be.gemmOptions);
  }
  return y;
}

/** dy (N,O,OH,OW) -> dx (N,C,H,W) when needDx, dw (O,C,KH,KW), db (O) when hasBias. */
export function conv2dBackward(
  be: KernelHost, dy: GpuStorage, x: GpuStorage, w: GpuStorage, hasBias: boolean, p: Conv2dParams, needDx: boolean,
): { dx: GpuStorage | null; dw: GpuStorage; db: GpuStorage | null } {
  const { N, C, H, W, O, OH, OW } = convDims(x, w, p);
  const name = `backward of ${layerName(x, w)}`;
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: O * OH * OW });
  const dx = needDx ? conv2dBackwardData(be, dy, x, w, p) : null;
  const dw = conv2dBackwardWeights(be, dy, x, w, p);
  // db = sum of dy over (N, OH, OW), chunked along the batch as the GEMMs are
  const db = hasBias ? sumBatchChunked(be, dy, [0, 2, 3], chunk, name) : null;
  return { dx, dw, db };
}

/** dx (N,C,H,W) = dy (*) w: GEMM over M = nb·H·W input pixels, N = C, K = O·KH·KW per batch chunk. */
export function conv2dBackwardData(be: KernelHost, dy: GpuStorage, x: GpuStorage, w: GpuStorage, p: Conv2dParams): GpuStorage {
  const { N, C, H, W, O, KH, KW, OH, OW, fields } = convDims(x, w, p);
  const name = `backward of ${layerName(x, w)}`;
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: O * OH * OW });
  const wv = be.view(w, 0, numel(w.shape), name);
  const dx = be.alloc(x.shape, name);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nb = Math.min(chunk, N - n0);
    const dyv = be.view(dy, n0 * O * OH * OW, nb * O * OH * OW, name);
    const dxv = be.view(dx, n0 * C * H * W, nb * C * H * W, name);
    const d: GemmDims = { M: nb * H * W, N: C, K: O * KH * KW, nb, ...fields, aOff: dyv.shift, bOff: wv.shift, outOff: dxv.shift };
    runGemm(be.ctx, be.pool, convBackwardDataSpec(), d, dyv, wv, [dxv], be.gemmOptions);
  }
  return dx;
}

/** dw (O,C,KH,KW) = sum over (n, pixel) of dy x: GEMM over M = C·KH·KW, N = O, K = nb·OH·OW per chunk. */
export function conv2dBackwardWeights(be: KernelHost, dy: GpuStorage, x: GpuStorage, w: GpuStorage, p: Conv2dParams): GpuStorage {
  const { N, C, H, W, O, KH, KW, OH, OW, fields } = convDims(x, w, p);
  const name = `backward of ${layerName(x, w)}`;
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: O * OH * OW });
  const dw = be.alloc(w.shape, name);
  const dwv = be.view(dw, 0, numel(w.shape), name);
  const spec = convBackwardWeightSpec();
  const M = C * KH * KW;
  const dims = (n0: number, nb: number) => {
    const xv = be.view(x, n0 * C * H * W, nb * C * H * W, name);
    const dyv = be.view(dy, n0 * O * OH * OW, nb * O * OH * OW, name);
    const d: GemmDims = { M, N: O, K: nb * OH * OW, nb, ...fields, aOff: xv.shift, bOff: dyv.shift, outOff: 0 };
    return { xv, dyv, d };
  };
  if (chunk >= N) {
    const { xv, dyv, d } = dims(0, N);
    runGemm(be.ctx, be.pool, spec, d, xv, dyv, [dwv], be.gemmOptions);
  } else {
    // Each chunk's splits land in their own partial slots and one reduction sums a group of them in a
    // fixed order; when the partials of all chunks would not fit one binding, later groups add to dw.
    const tile = gemmTile(M, O, be.gemmOptions);
    const slotBytes = 4 * M * O;
    const maxSlots = Math.floor(Math.min(be.gemmOptions.maxPartialBytes, be.ctx.limits.maxStorageBufferBindingSize) / slotBytes);
    if (maxSlots < 1) {
      throw new GpuError(`${name}: the ${slotBytes}-byte weight gradient exceeds this GPU's ${be.ctx.limits.maxStorageBufferBindingSize}-byte binding limit`);
    }
    const maxPartial = Math.min(maxSlots * slotBytes, be.gemmOptions.maxPartialBytes);
    const perChunk = planSplitK(M, O, chunk * OH * OW, tile, be.gemmOptions.minSplitK, maxPartial).splits;
    const groups: [number, number][][] = [[]];
    let slots = 0;
    for (let n0 = 0; n0 < N; n0 += chunk) {
      const nb = Math.min(chunk, N - n0);
      const need = partialSlots(nb * OH * OW, perChunk);
      if (slots + need > maxSlots && groups.at(-1)!.length > 0) {
        groups.push([]);
        slots = 0;
      }
      groups.at(-1)!.push([n0, nb]);
      slots += need;
    }
    const part = be.pool.acquire(maxSlots * slotBytes, `split partials of ${name}`);
    const pv = { buffer: part.gpu, offset: 0, size: maxSlots * slotBytes, shift: 0 };
    groups.forEach((group, g) => {
      let z = 0;
      for (const [n0, nb] of group) {
        const { xv, dyv, d } = dims(n0, nb);
        gemmPartial(be.ctx, spec, d, xv, dyv, pv, z, perChunk, be.gemmOptions);
        z += partialSlots(nb * OH * OW, perChunk);
      }
      gemmReduce(be.ctx, convBackwardWeightSpec(g > 0), { M, N: O, K: 0, ...fields }, z, pv, [dwv]);
    });
    be.pool.release(part);
  }
  return dw;
}

// ---- max pooling ----------------------------------------------------------------------------------

/** What maxPool2d saves: the argmax of every output as an index into its (n, c) plane. */
export interface PoolContext {
  argmax: GpuStorage;
  dispose(): void;
}

function poolParams(x: GpuStorage, p: Pool2dParams, n: number, offs: [number, number, number]): ArrayBuffer {
  const [, C, H, W] = x.shape as Dims4;
  const OH = windowOutSize(H, p.kernel[0], p.stride[0], p.padding[0]);
  const OW = windowOutSize(W, p.kernel[1], p.stride[1], p.padding[1]);
  return new Params()
    .u32(n, C, H, W, OH, OW, p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], ...offs, 0)
    .bytes();
}

/** x (N,C,H,W) -> y (N,C,OH,OW) and the argmax context. */
export function maxPool2d(be: KernelHost, x: GpuStorage, p: Pool2dParams): { y: GpuStorage; ctx: PoolContext } {
  const [N, C, H, W] = x.shape as Dims4;
  const OH = windowOutSize(H, p.kernel[0], p.stride[0], p.padding[0]);
  const OW = windowOutSize(W, p.kernel[1], p.stride[1], p.padding[1]);
  const name = `maxPool2d of x [${x.shape.join(", ")}]`;
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: C * OH * OW });
  const y = be.alloc([N, C, OH, OW], name);
  const argmax = be.alloc([N, C, OH, OW], name);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nb = Math.min(chunk, N - n0);
    const xv = be.view(x, n0 * C * H * W, nb * C * H * W, name);
    const yv = be.view(y, n0 * C * OH * OW, nb * C * OH * OW, name);
    const iv = be.view(argmax, n0 * C * OH * OW, nb * C * OH * OW, name);
    const outputs = nb * C * OH * OW;
    be.ctx.dispatch(MAXPOOL_FORWARD, poolParams(x, p, outputs, [xv.shift, yv.shift, iv.shift]), [xv, yv, iv], grid1d(Math.ceil(outputs / 256)));
  }
  return { y, ctx: { argmax, dispose: () => be.dispose(argmax) } };
}

/** dy (N,C,OH,OW) -> dx (N,C,H,W): each input gathers the gradients of the outputs it won. */
export function maxPool2dBackward(be: KernelHost, dy: GpuStorage, x: GpuStorage, ctx: PoolContext, p: Pool2dParams): GpuStorage {
  const [N, C, H, W] = x.shape as Dims4;
  const [, , OH, OW] = dy.shape as Dims4;
  const name = `maxPool2d backward of x [${x.shape.join(", ")}]`;
  const chunk = batchChunk(be, name, N, { input: C * H * W, output: C * OH * OW });
  const dx = be.alloc(x.shape, name);
  for (let n0 = 0; n0 < N; n0 += chunk) {
    const nb = Math.min(chunk, N - n0);
    const dxv = be.view(dx, n0 * C * H * W, nb * C * H * W, name);
    const dyv = be.view(dy, n0 * C * OH * OW, nb * C * OH * OW, name);
    const iv = be.view(ctx.argmax, n0 * C * OH * OW, nb * C * OH * OW, name);
    const inputs = nb * C * H * W;
    be.ctx.dispatch(MAXPOOL_BACKWARD, poolParams(x, p, inputs, [dxv.shift, dyv.shift, iv.shift]), [dyv, iv, dxv], grid1d(Math.ceil(inputs / 256)));
  }
  return dx;
}

// ---- linear and matmul ----------------------------------------------------------------------------

/** op(a) (M0,K) @ op(b) (K,N0) -> (M0,N0), plus bias over columns and ReLU when asked. */
export function matmul(
  be: KernelHost, a: GpuStorage, b: GpuStorage, transA: boolean, transB: boolean, bias: GpuStorage | null, relu: boolean, what: string,
): GpuStorage {
  const [ar, ac] = a.shape as [number, number];
  const [br, bc] = b.shape as [number, number];
  const [M0, K] = transA ? [ac, ar] : [ar, ac];
  const N0 = transB ? br : bc;
  const out = be.alloc([M0, N0], what);
  const av = be.view(a, 0, ar * ac, what);
  const bv = be.view(b, 0, br * bc, what);
  const ov = be.view(out, 0, M0 * N0, what);
  const spec = matmulSpec({ transA, transB, bias: bias !== null, relu });
  const d: GemmDims = { M: N0, N: M0, K, aOff: bv.shift, bOff: av.shift, outOff: ov.shift };
  runGemm(be.ctx, be.pool, spec, d, bv, av, bias ? [ov, be.view(bias, 0, N0, what)] : [ov], be.gemmOptions);
  return out;
}

/** x (N,I), w (O,I), b (O) -> y (N,O) = x w^T + b (ReLU'd when `relu`). */
export function linear(be: KernelHost, x: GpuStorage, w: GpuStorage, b: GpuStorage | null, relu: boolean): GpuStorage {
  return matmul(be, x, w, false, true, b, relu, `linear of x [${x.shape.join(", ")}] with w [${w.shape.join(", ")}]`);
}

/** dx (N,I) = dy w; dw (O,I) = dy^T x; db (O) = column sums of dy. */
export function linearBackward(
  be: KernelHost, dy: GpuStorage, x: GpuStorage, w: GpuStorage, hasBias: boolean, needDx: boolean,
): { dx: GpuStorage | null; dw: GpuStorage; db: GpuStorage | null } {
  const what = `linear backward of x [${x.shape.join(", ")}] with w [${w.shape.join(", ")}]`;
  const dx = needDx ? matmul(be, dy, w, false, false, null, false, what) : null;
  const dw = matmul(be, dy, x, true, false, null, false, what);
  const db = hasBias ? sumBatchChunked(be, dy, [0], dy.shape[0]!, what) : null;
  return { dx, dw, db };
}

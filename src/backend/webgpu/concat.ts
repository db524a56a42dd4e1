// The webgpu backend's concat and split, each other's backward (kernels/concat.ts; reference concat and
// split). Around the axis a tensor is (rows, cols); along the first axis (rows = 1) parts are contiguous
// byte ranges and move by buffer copies, otherwise one dispatch per part, split into row ranges that fit
// a storage binding.
import { numel } from "../backend.js";
import { concatShape, normalizeAxes, splitShapes } from "../shapes.js";
import { Params, grid1d } from "./device.js";
import { type GpuStorage, type KernelHost, batchChunk } from "./host.js";
import { CONCAT_PART, SPLIT_PART } from "./kernels/concat.js";

/** Rows before `axis` and elements per unit of `axis` after it. */
function around(shape: readonly number[], axis: number): { rows: number; inner: number } {
  return { rows: numel(shape.slice(0, axis)), inner: numel(shape.slice(axis + 1)) };
}

/** Moves one part between the whole (rows, totalCols) and the part (rows, partCols) at column colOff. */
function movePart(
  host: KernelHost, toWhole: boolean, whole: GpuStorage, part: GpuStorage, rows: number, totalCols: number, partCols: number, colOff: number, what: string,
): void {
  if (rows === 0 || partCols === 0) return;
  if (rows === 1) {
    const [src, srcOff, dst, dstOff] = toWhole ? [part, 0, whole, colOff] : [whole, colOff, part, 0];
    host.ctx.copy(src.buf.gpu, 4 * srcOff, dst.buf.gpu, 4 * dstOff, 4 * partCols);
    return;
  }
  const chunk = batchChunk(host, what, rows, { whole: totalCols, part: partCols });
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const nr = Math.min(chunk, rows - r0);
    const wv = host.view(whole, r0 * totalCols, nr * totalCols, what);
    const pv = host.view(part, r0 * partCols, nr * partCols, what);
    const n = nr * partCols;
    const [src, dst] = toWhole ? [pv, wv] : [wv, pv];
    const params = new Params().u32(n, src.shift, dst.shift, partCols, totalCols, colOff, 0, 0).bytes();
    host.ctx.dispatch(toWhole ? CONCAT_PART : SPLIT_PART, params, [src, dst], grid1d(Math.ceil(n / 256)));
  }
}

/** torch.cat(xs, axis). */
export function concat(host: KernelHost, xs: readonly GpuStorage[], axis: number): GpuStorage {
  const shape = concatShape(xs.map((x) => x.shape), axis);
  const ax = normalizeAxes([axis], shape.length)[0]!;
  const what = `concat along ${ax} of ${xs.map((x) => `[${x.shape.join(", ")}]`).join(", ")}`;
  const out = host.alloc(shape, what);
  const { rows, inner } = around(shape, ax);
  let col = 0;
  for (const x of xs) {
    const cols = x.shape[ax]! * inner;
    movePart(host, true, out, x, rows, shape[ax]! * inner, cols, col, what);
    col += cols;
  }
  return out;
}

/** The inverse of concat: consecutive parts of x along `axis` with the given sizes. */
export function split(host: KernelHost, x: GpuStorage, axis: number, sizes: readonly number[]): GpuStorage[] {
  const shapes = splitShapes(x.shape, axis, sizes);
  const ax = normalizeAxes([axis], x.shape.length)[0]!;
  const what = `split along ${ax} of [${x.shape.join(", ")}] into ${sizes.join(", ")}`;
  const { rows, inner } = around(x.shape, ax);
  let col = 0;
  return shapes.map((s) => {
    const part = host.alloc(s, what);
    const cols = s[ax]! * inner;
    movePart(host, false, x, part, rows, x.shape[ax]! * inner, cols, col, what);
    col += cols;
    return part;
  });
}

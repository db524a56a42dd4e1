// The webgpu backend's reductions over axes: sum (also the conv and linear bias gradients, chunked along
// the batch) and max (kernels/reduce.ts; reference/index.ts sum and max).
import { numel } from "../backend.js";
import { normalizeAxes, sumShape } from "../shapes.js";
import { Params, grid1d } from "./device.js";
import { type GpuStorage, type KernelHost } from "./host.js";
import { MAX, type ReduceOp, SUM, sumLayout } from "./kernels/reduce.js";

const SHADERS: Record<ReduceOp, string> = { sum: SUM, max: MAX };

/** Sum or max of `a` over `axes` (all when empty); kept axes have size 1 when keepDims. */
export function reduce(host: KernelHost, op: ReduceOp, a: GpuStorage, axes: readonly number[], keepDims: boolean): GpuStorage {
  const set = new Set(axes.length === 0 ? a.shape.map((_, i) => i) : normalizeAxes(axes, a.shape.length));
  const out = host.alloc(sumShape(a.shape, axes, keepDims), op);
  reduceInto(host, op, a, a.shape, 0, set, out, 0);
  return out;
}

/** Reduces elements [start, start+numel(shape)) of `a`, seen as `shape`, over `axes` into `out` at `outStart`. */
export function reduceInto(
  host: KernelHost, op: ReduceOp, a: GpuStorage, shape: readonly number[], start: number, axes: ReadonlySet<number>, out: GpuStorage, outStart: number,
): void {
  const l = sumLayout(shape, axes);
  const av = host.view(a, start, numel(shape), op);
  const ov = host.view(out, outStart, l.nOut, op);
  const params = new Params().u32(l.nOut, l.nRed, av.shift, ov.shift, 0, 0, 0, 0)
    .u32(...l.keptShape, ...l.keptStr, ...l.redShape, ...l.redStr);
  host.ctx.dispatch(SHADERS[op], params.bytes(), [av, ov], grid1d(l.nOut));
}

/** Sum over `axes` of a tensor whose first axis is the batch, chunked along it to respect the binding
 * limit: each chunk's sums land in one row of a (chunks, ...) buffer that a last sum folds. */
export function sumBatchChunked(host: KernelHost, s: GpuStorage, axes: readonly number[], chunk: number, what: string): GpuStorage {
  const N = s.shape[0]!;
  const axisSet = new Set(axes);
  const keptShape = s.shape.filter((_, i) => !axisSet.has(i));
  if (chunk >= N) {
    const out = host.alloc(keptShape, what);
    reduceInto(host, "sum", s, s.shape, 0, axisSet, out, 0);
    return out;
  }
  if (!axisSet.has(0)) throw new Error("sumBatchChunked reduces over the batch axis");
  const chunks = Math.ceil(N / chunk);
  const rows = host.alloc([chunks, ...keptShape], what);
  const per = numel(s.shape) / N;
  const kept = numel(keptShape);
  for (let c = 0; c < chunks; c++) {
    const nb = Math.min(chunk, N - c * chunk);
    reduceInto(host, "sum", s, [nb, ...s.shape.slice(1)], c * chunk * per, axisSet, rows, c * kept);
  }
  const out = host.alloc(keptShape, what);
  reduceInto(host, "sum", rows, rows.shape, 0, new Set([0]), out, 0);
  host.dispose(rows);
  return out;
}

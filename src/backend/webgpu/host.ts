// What the webgpu backend's kernel hosts (layers.ts, training.ts, reductions.ts, norm.ts, pooling.ts,
// concat.ts) need from the backend: its device context, buffer pool, GEMM options, and allocation and
// binding of storages. index.ts implements KernelHost; hosts import this file, never index.ts, so the
// backend's files form no import cycle. Also the shared helpers every host uses: flat element-wise
// dispatch in binding-sized chunks and batch chunking. Browser-safe.
import type { Backend, DType, Storage } from "../backend.js";
import { type BufferView, type GpuContext, GpuError, Params, grid1d } from "./device.js";
import type { GemmOptions } from "./kernels/gemm.js";
import type { BufferPool, PooledBuffer } from "./pool.js";

/** The webgpu backend's Storage: a pooled GPU buffer, row-major in the logical shape. */
export class GpuStorage implements Storage {
  disposed = false;
  constructor(
    readonly backend: Backend,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly buf: PooledBuffer,
  ) {}
}

/** The backend as its kernel hosts see it. */
export interface KernelHost {
  readonly ctx: GpuContext;
  readonly pool: BufferPool;
  readonly gemmOptions: GemmOptions;
  /** A new live storage of `shape` (contents undefined until a kernel writes it). */
  alloc(shape: readonly number[], what: string): GpuStorage;
  /** The binding of elements [start, start+count) of `s`; throws naming `what` past the binding limit. */
  view(s: GpuStorage, start: number, count: number, what: string): BufferView;
  dispose(s: Storage): void;
  /** Int32 data (labels) as a storage the kernels read as array<i32>. */
  fromInt32(data: Int32Array): GpuStorage;
}

/** Calls `fn` on ranges of at most one binding's worth of elements, each starting 256-byte aligned. */
export function forChunks(host: KernelHost, n: number, fn: (start: number, count: number) => void): void {
  const perChunk = Math.floor((host.ctx.limits.maxStorageBufferBindingSize - 256) / 256) * 64;
  for (let start = 0; start < n; start += perChunk) fn(start, Math.min(perChunk, n - start));
}

/** Runs a kernels/elementwise.ts map kernel over n elements of `inputs` into `out`; `extra` writes the
 * f0, f1, u0.. fields (given the chunk's first element). */
export function flat(
  host: KernelHost, code: string, n: number, inputs: readonly GpuStorage[], out: GpuStorage, extra?: (p: Params, start: number) => void,
): void {
  forChunks(host, n, (start, count) => {
    const views = inputs.map((s) => host.view(s, start, count, "element-wise op"));
    const ov = host.view(out, start, count, "element-wise op");
    const p = new Params().u32(count, views[0]?.shift ?? 0, views[1]?.shift ?? 0, ov.shift);
    if (extra) extra(p, start);
    host.ctx.dispatch(code, p.bytes(), [...views, ov], grid1d(Math.ceil(count / 256)));
  });
}

/** Images per chunk so that every per-image tensor of `perImage` elements fits one binding. */
export function batchChunk(host: KernelHost, op: string, batch: number, perImage: Record<string, number>): number {
  // A chunk's view may start up to one alignment unit before its first element.
  const room = host.ctx.limits.maxStorageBufferBindingSize - host.ctx.limits.minStorageBufferOffsetAlignment;
  let chunk = batch;
  for (const [name, elems] of Object.entries(perImage)) {
    const fit = Math.floor(room / (4 * elems));
    if (fit < 1) {
      throw new GpuError(`${op}: one image's ${name} is ${4 * elems} bytes, more than this GPU's ${host.ctx.limits.maxStorageBufferBindingSize}-byte storage binding limit`);
    }
    chunk = Math.min(chunk, fit);
  }
  return Math.max(1, chunk);
}


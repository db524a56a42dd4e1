/// <reference types="@webgpu/types" preserve="true" />
// GPU buffers from a size-class pool, with live-buffer accounting. createBuffer is slow and a training
// step allocates the same sizes every time, so freed buffers wait in per-class free lists. Classes are
// powers of two up to 1 MiB and eighths of a power of two above (at most 12.5% slack on the big
// activations). A freed buffer can be reused by the very next dispatch: the queue runs commands in
// encoding order, so work still pending on the old contents finishes first. Browser-safe.
import { type GpuContext } from "./device.js";

/** A pooled GPU buffer shared by the Storages that view it (reshape shares; dispose drops a reference). */
export class PooledBuffer {
  refs = 1;
  constructor(readonly gpu: GPUBuffer, readonly sizeClass: number, readonly bytes: number) {}
}

const SMALL_LIMIT = 1 << 20;

/** The byte size of the class a request of `bytes` lands in. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  const pow = 2 ** Math.ceil(Math.log2(b));
  if (pow <= SMALL_LIMIT) return pow;
  const step = pow / 16; // eighths of the power below `pow`
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private cachedBytes = 0;
  liveBuffers = 0;
  liveBytes = 0;
  peakBytes = 0;

  /** `keepBytes`: how much freed memory the pool keeps for reuse before it destroys buffers. */
  constructor(private readonly ctx: GpuContext, private readonly keepBytes = 2 ** 31) {}

  acquire(bytes: number, what: string): PooledBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    let gpu = list?.pop();
    if (gpu) {
      this.cachedBytes -= cls;
    } else {
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      const size = cls > this.ctx.limits.maxBufferSize && bytes <= this.ctx.limits.maxBufferSize ? Math.ceil(bytes / 256) * 256 : cls;
      gpu = this.ctx.createBuffer(size, usage, what);
    }
    this.liveBuffers++;
    this.liveBytes += bytes;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return new PooledBuffer(gpu, cls, bytes);
  }

  /** Drops one reference; the last one returns the buffer to its class (or destroys it past keepBytes). */
  release(b: PooledBuffer): void {
    if (b.refs <= 0) return;
    if (--b.refs > 0) return;
    this.liveBuffers--;
    this.liveBytes -= b.bytes;
    if (this.cachedBytes + b.sizeClass > this.keepBytes) {
      b.gpu.destroy();
      return;
    }
    let list = this.free.get(b.sizeClass);
    if (!list) this.free.set(b.sizeClass, (list = []));
    list.push(b.gpu);
    this.cachedBytes += b.sizeClass;
  }

  /** Destroys every cached free buffer (after a failed allocation, or to give memory back). */
  trim(): void {
    for (const list of this.free.values()) for (const g of list) g.destroy();
    this.free.clear();
    this.cachedBytes = 0;
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }
}

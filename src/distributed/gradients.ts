// Bucketed gradient averaging, as PyTorch's DDP does it: parameters are grouped, in the order backward
// produces their gradients (last layer first), into buckets of about 25 MB; a bucket's allreduce starts on
// the communication thread as soon as its last gradient arrives, so it runs while backward computes the
// layers below. Before the optimizer step every bucket is waited for and the averaged values replace the
// gradients. Buckets are started in the same order on every rank (backward's order is deterministic), which
// MPI requires of collectives.
import type { Tensor } from "../tensor/tensor.js";
import { Tensor as TensorClass } from "../tensor/tensor.js";
import { keep } from "../tensor/scope.js";
import type { MpiAddon } from "./load.js";

export const DEFAULT_BUCKET_BYTES = 25 << 20;

interface Slot {
  param: Tensor;
  bucket: Bucket;
  offset: number;
  filled: boolean;
}

interface Bucket {
  data: Float32Array;
  slots: Slot[];
  filled: number;
  job: number | null;
}

export interface AllreduceStats {
  /** Seconds JavaScript was blocked waiting for allreduces to finish (communication not hidden). */
  waitSeconds: number;
  /** Seconds spent copying gradients into and out of the buckets. */
  copySeconds: number;
  steps: number;
}

export class GradientAllreducer {
  private readonly slots = new Map<Tensor, Slot>();
  private readonly buckets: Bucket[] = [];
  private scale = 1;
  readonly stats: AllreduceStats = { waitSeconds: 0, copySeconds: 0, steps: 0 };

  /** params in the order the model lists them; gradients arrive roughly in reverse. */
  constructor(private readonly mpi: MpiAddon, params: readonly Tensor[], bucketBytes = DEFAULT_BUCKET_BYTES) {
    let group: Tensor[] = [];
    let bytes = 0;
    const close = (): void => {
      if (!group.length) return;
      const total = group.reduce((s, p) => s + p.numel, 0);
      const bucket: Bucket = { data: new Float32Array(total), slots: [], filled: 0, job: null };
      let offset = 0;
      for (const param of group) {
        const slot = { param, bucket, offset, filled: false };
        bucket.slots.push(slot);
        this.slots.set(param, slot);
        offset += param.numel;
      }
      this.buckets.push(bucket);
      group = [];
      bytes = 0;
    };
    for (const p of [...params].reverse()) {
      if (p.dtype !== "float32") throw new Error(`data parallelism averages float32 gradients; a parameter is ${p.dtype}`);
      group.push(p);
      bytes += p.numel * 4;
      if (bytes >= bucketBytes) close();
    }
    close();
  }

  /** Each rank's gradients are means over its shard: scaled by shard rows / global rows, their sum is the
   * gradient of the mean over the global batch. */
  beginStep(scale: number): void {
    this.scale = scale;
    for (const b of this.buckets) {
      b.filled = 0;
      b.job = null;
      for (const s of b.slots) s.filled = false;
    }
  }

  /** Autograd's leaf observer: param's gradient is final for this backward. */
  gradReady(param: Tensor): void {
    const slot = this.slots.get(param);
    if (!slot || !param.grad) return;
    if (slot.filled) throw new Error("a parameter received its gradient twice in one backward; shared weights are not supported with --distributed");
    this.copyIn(slot);
    if (slot.bucket.filled === slot.bucket.slots.length) this.start(slot.bucket);
  }

  private copyIn(slot: Slot): void {
    const t0 = performance.now();
    const grad = slot.param.grad;
    const view = slot.bucket.data.subarray(slot.offset, slot.offset + slot.param.numel);
    const backend = grad?.backend as { readInto?(s: unknown, out: Float32Array): void } | undefined;
    if (!grad) view.fill(0);
    else if (backend?.readInto) backend.readInto(grad.storage, view);
    else view.set(grad.dataSync());
    slot.filled = true;
    slot.bucket.filled++;
    this.stats.copySeconds += (performance.now() - t0) / 1000;
  }

  private start(bucket: Bucket): void {
    bucket.job = this.mpi.AllreduceAsync(bucket.data, this.scale);
  }

  /** Starts what backward left (parameters without a gradient count as zero), waits for every bucket, and
   * puts the averaged gradients on the parameters. */
  finish(): void {
    for (const bucket of this.buckets) {
      if (bucket.job !== null) continue;
      for (const s of bucket.slots) if (!s.filled) this.copyIn(s);
      this.start(bucket);
    }
    const t0 = performance.now();
    for (const bucket of this.buckets) this.mpi.Wait(bucket.job!);
    this.stats.waitSeconds += (performance.now() - t0) / 1000;
    const t1 = performance.now();
    for (const slot of this.slots.values()) {
      const { param, bucket, offset } = slot;
      const storage = param.backend.fromArray(bucket.data.subarray(offset, offset + param.numel), param.shape, "float32");
      param.grad?.dispose();
      param.grad = keep(new TensorClass(storage));
    }
    this.stats.copySeconds += (performance.now() - t1) / 1000;
    this.stats.steps++;
  }

  get bucketCount(): number {
    return this.buckets.length;
  }
}

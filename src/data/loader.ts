// DataLoader: PyTorch-style batching over a uint8 image dataset, with seeded per-epoch shuffling, optional
// resize (torchvision Resize + ToTensor semantics) and background preparation in a worker thread.
//
// Memory: only batches are float32; the dataset stays uint8 (a resized Fashion-MNIST training set in
// float32 would be 12 GB). With the worker, at most `prefetch` batches wait beside the one in use.
// Order: epoch e's permutation depends only on (seed, e) (see prng.ts), so resuming at epoch e, batch b
// reproduces the uninterrupted run. The last partial batch is kept unless dropLast is set.
// Shutdown: the worker is unref'd whenever no request is outstanding, so a forgotten close() never keeps
// the process alive; close() terminates it.
import { Worker } from "node:worker_threads";
import { BatchAssembler, type Batch, type ImageDataset } from "./batch.js";
import type { AugmentOptions, NormalizeOptions } from "./augment.js";
import { shuffledOrder } from "./prng.js";
import { shardOf } from "../distributed/sampler.js";
import { resizedSize } from "./resize.js";
import type { BatchRequest, InitMessage, WorkerReply } from "./loaderWorker.js";

export type { Batch, ImageDataset } from "./batch.js";

export interface DataLoaderOptions {
  batchSize: number;
  /** Shuffle every epoch (default true; d2l shuffles the training set, not the test set). */
  shuffle?: boolean;
  /** Seed of the shuffle order (default 0). */
  seed?: number;
  /** A number: torchvision's Resize(n) (shorter side to n, aspect kept). Or an explicit size. */
  resize?: number | { height: number; width: number };
  /** Use only the first `limit` examples (like --train-limit). */
  limit?: number;
  /** Drop the last partial batch (default false, as in PyTorch). */
  dropLast?: boolean;
  /** Prepare batches in a worker thread (default true). false: on the calling thread. */
  worker?: boolean;
  /** Batches prepared ahead by the worker (default 2). */
  prefetch?: number;
  /** The epoch the next iteration starts (default 0), for resuming. */
  startEpoch?: number;
  /** Data parallelism: each batch is this rank's contiguous shard of the global batch (src/distributed/sampler.ts). */
  shard?: { rank: number; worldSize: number };
  /** Random crop and flip (augment.ts), drawn from (seed, epoch, example index). */
  augment?: Omit<AugmentOptions, "seed">;
  /** Normalize(mean, std) after ToTensor. */
  normalize?: NormalizeOptions;
}

/** What a checkpoint needs to resume the same sequence of batches. */
export interface LoaderState {
  seed: number;
  shuffle: boolean;
  /** The epoch the next iteration will run. */
  epoch: number;
}

interface Pending {
  resolve(batch: Batch): void;
  reject(err: Error): void;
}

/** One worker thread and its outstanding requests. */
class BatchWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;
  private closing = false;

  constructor(init: InitMessage) {
    this.worker = new Worker(new URL("./loaderWorker.js", import.meta.url));
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      this.updateRef();
      if (reply.type === "error") p.reject(new Error(reply.message));
      else {
        const shape: Batch["shape"] = [reply.labels.length, 1, init.outHeight, init.outWidth];
        p.resolve({ images: reply.images, labels: reply.labels, indices: reply.indices, shape });
      }
    });
    this.worker.on("error", (err) => this.fail(err));
    this.worker.on("exit", (code) => {
      if (!this.closing) this.fail(new Error(`data loader worker exited unexpectedly (code ${code})`));
    });
    this.worker.postMessage(init);
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.updateRef();
  }

  private updateRef(): void {
    if (this.pending.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  request(epoch: number, indices: Int32Array): Promise<Batch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const promise = new Promise<Batch>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.updateRef();
    const msg: BatchRequest = { type: "batch", id, epoch, indices };
    this.worker.postMessage(msg, [indices.buffer as ArrayBuffer]);
    return promise;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const p of this.pending.values()) p.reject(new Error("data loader closed"));
    this.pending.clear();
    await this.worker.terminate();
  }
}

export class DataLoader implements AsyncIterable<Batch> {
  /** Examples per epoch (after `limit`). */
  readonly size: number;
  readonly batchSize: number;
  readonly numBatches: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly shuffle: boolean;
  readonly seed: number;
  private readonly dropLast: boolean;
  private readonly shard: { rank: number; worldSize: number } | undefined;
  private readonly useWorker: boolean;
  private readonly prefetch: number;
  private readonly assembler: BatchAssembler;
  private nextEpoch: number;
  private cachedOrder: { epoch: number; order: Uint32Array } | null = null;
  private worker: BatchWorker | null = null;

  constructor(
    private readonly dataset: ImageDataset,
    opts: DataLoaderOptions,
  ) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer (got ${batchSize})`);
    }
    const limit = opts.limit ?? dataset.count;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer (got ${limit})`);
    if (dataset.images.length < dataset.count * dataset.rows * dataset.cols || dataset.labels.length < dataset.count) {
      throw new RangeError("dataset arrays are shorter than count*rows*cols");
    }
    this.size = Math.min(limit, dataset.count);
    this.batchSize = batchSize;
    this.dropLast = opts.dropLast ?? false;
    this.shard = opts.shard;
    this.numBatches = this.dropLast ? Math.floor(this.size / batchSize) : Math.ceil(this.size / batchSize);
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.useWorker = opts.worker ?? true;
    this.prefetch = Math.max(1, Math.floor(opts.prefetch ?? 2));
    this.nextEpoch = opts.startEpoch ?? 0;
    const r = opts.resize;
    const out =
      r === undefined
        ? { height: dataset.rows, width: dataset.cols }
        : typeof r === "number"
          ? resizedSize(dataset.rows, dataset.cols, r)
          : r;
    if (!(out.height >= 1 && out.width >= 1 && Number.isInteger(out.height) && Number.isInteger(out.width))) {
      throw new RangeError(`resize: output size must be positive integers (got ${out.height}x${out.width})`);
    }
    this.outHeight = out.height;
    this.outWidth = out.width;
    this.assembler = new BatchAssembler(dataset.rows, dataset.cols, out.height, out.width, {
      ...(opts.augment ? { augment: { ...opts.augment, seed: this.seed } } : {}),
      ...(opts.normalize ? { normalize: opts.normalize } : {}),
    });
  }

  /** The epoch the next iteration runs. */
  get epoch(): number {
    return this.nextEpoch;
  }

  state(): LoaderState {
    return { seed: this.seed, shuffle: this.shuffle, epoch: this.nextEpoch };
  }

  /** Continue from a saved state (the seed and shuffle setting must match the ones this loader has). */
  setState(state: LoaderState): void {
    if (state.seed !== this.seed || state.shuffle !== this.shuffle) {
      throw new Error(
        `loader state is for seed ${state.seed}, shuffle ${state.shuffle}; ` +
          `this loader has seed ${this.seed}, shuffle ${this.shuffle}`,
      );
    }
    this.nextEpoch = state.epoch;
  }

  /** The order of examples in an epoch: a permutation of 0..size-1 (identity when not shuffling). */
  order(epoch: number): Uint32Array {
    if (this.cachedOrder?.epoch === epoch) return this.cachedOrder.order;
    let order: Uint32Array;
    if (this.shuffle) order = shuffledOrder(this.size, this.seed, epoch);
    else {
      order = new Uint32Array(this.size);
      for (let i = 0; i < this.size; i++) order[i] = i;
    }
    this.cachedOrder = { epoch, order };
    return order;
  }

  /** Dataset indices of batch `b` of `epoch`. */
  batchIndices(epoch: number, b: number): Int32Array {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBatches) {
      throw new RangeError(`batch ${b} out of range 0..${this.numBatches - 1}`);
    }
    let start = b * this.batchSize;
    let end = Math.min(start + this.batchSize, this.size);
    if (this.shard) {
      const s = shardOf(end - start, this.shard.rank, this.shard.worldSize);
      start += s.start;
      end = start + s.count;
    }
    return Int32Array.from(this.order(epoch).subarray(start, end));
  }

  /** Prepares one batch on the calling thread. */
  batchSync(epoch: number, b: number): Batch {
    return this.assembler.assemble(this.dataset.images, this.dataset.labels, this.batchIndices(epoch, b), epoch);
  }

  /** One epoch's batches, from `startBatch` on; `epoch` moves past this one at once (not when consumed). */
  iterate(epoch: number = this.nextEpoch, startBatch = 0): AsyncGenerator<Batch, void, undefined> {
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(startBatch) || startBatch < 0) {
      throw new RangeError(`epoch and startBatch must be non-negative integers (got ${epoch}, ${startBatch})`);
    }
    this.nextEpoch = epoch + 1;
    return this.epochBatches(epoch, startBatch);
  }

  private async *epochBatches(epoch: number, startBatch: number): AsyncGenerator<Batch, void, undefined> {
    if (!this.useWorker) {
      for (let b = startBatch; b < this.numBatches; b++) yield this.batchSync(epoch, b);
      return;
    }
    const worker = this.startWorker();
    const queue: Promise<Batch>[] = [];
    let next = startBatch;
    const topUp = () => {
      while (next < this.numBatches && queue.length < this.prefetch) {
        const p = worker.request(epoch, this.batchIndices(epoch, next++));
        // handled now, awaited later: an early failure must not surface as an unhandled rejection
        p.catch(() => {});
        queue.push(p);
      }
    };
    topUp();
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      topUp();
      yield batch;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
    return this.iterate();
  }

  private startWorker(): BatchWorker {
    if (this.worker) return this.worker;
    const n = this.size * this.dataset.rows * this.dataset.cols;
    let images = this.dataset.images.subarray(0, n);
    if (!(images.buffer instanceof SharedArrayBuffer)) {
      // one copy into shared memory, so the worker reads the pixels without its own 47 MB clone
      const shared = new Uint8Array(new SharedArrayBuffer(n));
      shared.set(images);
      images = shared;
    }
    this.worker = new BatchWorker({
      type: "init",
      images,
      labels: this.dataset.labels.slice(0, this.size),
      rows: this.dataset.rows,
      cols: this.dataset.cols,
      outHeight: this.outHeight,
      outWidth: this.outWidth,
      preprocess: this.assembler.preprocess,
    });
    return this.worker;
  }

  /** Stops the worker thread (safe to call more than once; a later iteration starts a new one). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.close();
  }
}

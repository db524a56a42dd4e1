// A browser-safe stand-in for the Node DataLoader: the same batches in the same order (the core's
// BatchAssembler and the (seed, epoch) shuffle), prepared on the calling thread, without worker_threads.
// The page's training worker feeds it to trainCh6, and a test checks it against DataLoader batch by batch.
import { BatchAssembler, type Batch, type ImageDataset } from "../data/batch.js";
import { shuffledOrder } from "../data/prng.js";

export interface ArrayLoaderOptions {
  batchSize: number;
  shuffle: boolean;
  seed?: number;
  /** Use only the first `limit` examples (as `--train-limit`/`--test-limit`). */
  limit?: number;
  /** Output height and width (the dataset's own size when absent: no resize). */
  size?: number;
}

export class ArrayLoader {
  readonly size: number;
  readonly batchSize: number;
  readonly numBatches: number;
  readonly shuffle: boolean;
  readonly seed: number;
  private readonly assembler: BatchAssembler;
  private cachedOrder: { epoch: number; order: Uint32Array } | null = null;

  constructor(
    private readonly dataset: ImageDataset,
    options: ArrayLoaderOptions,
  ) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new RangeError(`batch size must be a positive integer (got ${options.batchSize})`);
    this.size = Math.min(options.limit ?? dataset.count, dataset.count);
    if (!(this.size >= 1)) throw new RangeError(`the limit must be at least 1 (got ${options.limit})`);
    this.batchSize = options.batchSize;
    this.numBatches = Math.ceil(this.size / this.batchSize);
    this.shuffle = options.shuffle;
    this.seed = options.seed ?? 0;
    const out = options.size ?? dataset.rows;
    this.assembler = new BatchAssembler(dataset.rows, dataset.cols, out, out);
  }

  /** Dataset indices of batch `b` of `epoch` (a permutation per epoch when shuffling, else in order). */
  batchIndices(epoch: number, b: number): Int32Array {
    const start = b * this.batchSize;
    const end = Math.min(start + this.batchSize, this.size);
    if (!this.shuffle) return Int32Array.from({ length: end - start }, (_, i) => start + i);
    if (this.cachedOrder?.epoch !== epoch) this.cachedOrder = { epoch, order: shuffledOrder(this.size, this.seed, epoch) };
    return Int32Array.from(this.cachedOrder.order.subarray(start, end));
  }

  batch(epoch: number, b: number): Batch {
    return this.assembler.assemble(this.dataset.images, this.dataset.labels, this.batchIndices(epoch, b));
  }

  async *iterate(epoch = 0, startBatch = 0): AsyncGenerator<Batch, void, undefined> {
    for (let b = startBatch; b < this.numBatches; b++) yield this.batch(epoch, b);
  }

  async close(): Promise<void> {}
}

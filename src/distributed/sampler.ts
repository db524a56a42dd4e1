// The data-parallel sampler: which rows of a global batch each rank computes. A pure function of the global
// batch (itself a pure function of seed and epoch, src/data/prng.ts) and of (rank, world size), so the union
// of the ranks' shards is exactly the single-process batch, in order, and a resumed run with another number
// of ranks sees the same global batches. Uneven splits: the first (rows mod worldSize) ranks take one row
// more, so a global batch of 33 on 2 ranks is rows 0-16 on rank 0 and 17-32 on rank 1.

export interface Shard {
  /** First row of the global batch this rank takes. */
  start: number;
  /** How many rows (0 only when the batch has fewer rows than there are ranks). */
  count: number;
}

export function shardOf(rows: number, rank: number, worldSize: number): Shard {
  if (!(Number.isInteger(worldSize) && worldSize >= 1 && Number.isInteger(rank) && rank >= 0 && rank < worldSize)) {
    throw new RangeError(`rank ${rank} is not in a world of ${worldSize}`);
  }
  const base = Math.floor(rows / worldSize);
  const extra = rows % worldSize;
  return { start: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}

/** Rows of global batch b of an epoch of `size` examples in batches of `batchSize` (the last one may be short). */
export function globalBatchRows(size: number, batchSize: number, b: number): number {
  return Math.max(0, Math.min(batchSize, size - b * batchSize));
}

/** Every global batch must give every rank a row: a rank with nothing to compute would have no loss to
 * average. Returns the reason a setting cannot be split, or null. */
export function unsplittable(size: number, batchSize: number, worldSize: number): string | null {
  if (batchSize < worldSize) return `the batch size ${batchSize} is smaller than the ${worldSize} ranks`;
  const last = size % batchSize;
  if (last !== 0 && last < worldSize) {
    return `the last batch of an epoch (${size} examples in batches of ${batchSize}) has ${last} example${last === 1 ? "" : "s"} for ${worldSize} ranks; change --train-limit or --batch-size`;
  }
  return null;
}

// The data loader's shuffling: a permutation that is a pure function of (seed, epoch), so a run resumed
// from a checkpoint at epoch e sees exactly the order it would have seen, without saving generator state.
//
// Generator: the library's xoshiro128** (src/tensor/random.ts) on the stream (seed, epoch). The
// permutation is a Fisher-Yates shuffle with unbiased integers. The order is stable across versions and
// platforms: a golden test pins it. It does not reproduce PyTorch's RandomSampler (different generator).
import { Rng } from "../tensor/random.js";

/** xoshiro128** seeded by (seed, stream): the loader's name for the shared generator. */
export { Rng as Xoshiro128 };

/** A permutation of 0..n-1 for this seed and epoch. */
export function shuffledOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = new Rng(seed, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

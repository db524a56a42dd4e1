// The data loader's shuffling: a permutation that is a pure function of (seed, epoch), so a run resumed
// from a checkpoint at epoch e sees exactly the order it would have seen, without saving generator state.
//
// Generator: xoshiro128** (Blackman & Vigna, 2018), 32-bit words, period 2^128 - 1. Its state is filled by
// a splitmix-style sequence (a Weyl increment of the golden ratio, finalised with MurmurHash3's fmix32)
// started from a hash of seed and epoch. Integers below n come from rejection sampling (no modulo bias),
// and the permutation is a Fisher-Yates shuffle. The order is stable across versions and platforms: a
// golden test pins it. It does not reproduce PyTorch's RandomSampler (different generator).

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Xoshiro128 {
  private readonly s = new Uint32Array(4);

  /** Seeds from up to 53-bit integers; `stream` selects an independent sequence (here: the epoch). */
  constructor(seed: number, stream = 0) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    let z = fmix32(lo ^ fmix32(hi + 0x632be5ab) ^ fmix32((stream >>> 0) + 0x1b873593));
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      this.s[i] = fmix32(z);
    }
    // the all-zero state is the one xoshiro cannot leave
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform integer in [0, n), n <= 2^32. */
  below(n: number): number {
    // accept only draws under the largest multiple of n, so every residue is equally likely
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }
}

/** A permutation of 0..n-1 for this seed and epoch. */
export function shuffledOrder(n: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = new Xoshiro128(seed, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

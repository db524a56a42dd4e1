// The seeded random number generator behind rand/randn, weight initialisation and dropout seeds.
// Algorithm: xoshiro128** (Blackman & Vigna) on 32-bit words, seeded through splitmix32 so that any
// integer seed gives a well-mixed state. randn uses the Box-Muller transform (both values used).
// Same seed, same numbers, on every platform; it does not reproduce PyTorch's generator (tests that
// compare with PyTorch carry their inputs in fixtures instead).

export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  /** With `stream`, an independent sequence per (seed, stream) pair (the data loader's epochs). */
  constructor(seed = 0, stream?: number) {
    if (stream === undefined) this.seed(seed);
    else this.seedStream(seed, stream);
  }

  seed(seed: number): void {
    this.fill(seed >>> 0);
  }

  /** Seeds from a 53-bit integer and a stream number, both hashed (MurmurHash3's fmix32) into the start. */
  seedStream(seed: number, stream: number): void {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    this.fill(fmix32(lo ^ fmix32(hi + 0x632be5ab) ^ fmix32((stream >>> 0) + 0x1b873593)));
  }

  /** splitmix-style state fill: a Weyl sequence of the golden ratio, each word finalised with fmix32. */
  private fill(start: number): void {
    let z = start;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      this.s[i] = fmix32(z);
    }
    // the all-zero state is the one xoshiro cannot leave
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
    this.spare = null;
  }

  /** The full state as 6 finite numbers (JSON-safe, for checkpoints): 4 state words, whether a spare
   * normal is held, and that spare. */
  getState(): number[] {
    return [...this.s, this.spare === null ? 0 : 1, this.spare ?? 0];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 6 || !state.every((v) => Number.isFinite(v))) throw new Error("RNG state must be 6 finite numbers");
    for (let i = 0; i < 4; i++) this.s[i] = state[i]! >>> 0;
    this.spare = state[4] ? state[5]! : null;
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

  /** A uniform integer in [0, n), n <= 2^32, by rejection sampling (no modulo bias). */
  below(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator used when none is passed (like torch's default generator). */
export const defaultRng = new Rng(0);

/** Reseeds the default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultRng.seed(seed);
}

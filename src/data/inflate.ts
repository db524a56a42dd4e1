// zlib/DEFLATE decompression (RFC 1950/1951) in plain TypeScript, so the PNG decoder runs in a browser as
// in Node. Untrusted input: the output is bounded by the caller's limit before anything grows past it, and
// every malformed stream is an InflateError saying whether the data ended early or is corrupt.

export class InflateError extends Error {
  constructor(readonly kind: "truncated" | "corrupt" | "too-large", message: string) {
    super(message);
    this.name = "InflateError";
  }
}

// Base lengths and extra bits of length codes 257..285 and distance codes 0..29 (RFC 1951 3.2.5).
const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
// The order in which code-length code lengths are stored (RFC 1951 3.2.7).
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** A canonical Huffman code as counts per length and symbols in code order (decoded bit by bit). */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

function huffman(lengths: ArrayLike<number>, n: number): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < n; i++) counts[lengths[i]!]!++;
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = (left << 1) - counts[len]!;
    if (left < 0) throw new InflateError("corrupt", "over-subscribed Huffman code");
  }
  const offsets = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offsets[len + 1] = offsets[len]! + counts[len]!;
  const symbols = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i]) symbols[offsets[lengths[i]!]!++] = i;
  return { counts, symbols };
}

const FIXED_LIT = (() => {
  const l = new Uint8Array(288);
  l.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return huffman(l, 288);
})();
const FIXED_DIST = huffman(new Uint8Array(30).fill(5), 30);

class Inflater {
  private pos = 0;
  private bitBuf = 0;
  private bitCount = 0;
  private out: Uint8Array;
  private len = 0;

  constructor(private readonly src: Uint8Array, private readonly maxOutput: number) {
    this.out = new Uint8Array(Math.min(maxOutput, Math.max(1024, src.length * 4)));
  }

  bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.src.length) throw new InflateError("truncated", "unexpected end of compressed data");
      this.bitBuf |= this.src[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }

  decode(h: Huffman): number {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.counts[len]!;
      if (code - count < first) return h.symbols[index + (code - first)]!;
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw new InflateError("corrupt", "invalid Huffman code");
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need > this.maxOutput) throw new InflateError("too-large", `decompresses to more than ${this.maxOutput} bytes`);
    if (need <= this.out.length) return;
    const grown = new Uint8Array(Math.min(this.maxOutput, Math.max(need, this.out.length * 2)));
    grown.set(this.out.subarray(0, this.len));
    this.out = grown;
  }

  private stored(): void {
    this.bitBuf = 0;
    this.bitCount = 0;
    if (this.pos + 4 > this.src.length) throw new InflateError("truncated", "unexpected end of compressed data");
    const n = this.src[this.pos]! | (this.src[this.pos + 1]! << 8);
    const nn = this.src[this.pos + 2]! | (this.src[this.pos + 3]! << 8);
    if ((n ^ 0xffff) !== nn) throw new InflateError("corrupt", "stored block length check failed");
    this.pos += 4;
    if (this.pos + n > this.src.length) throw new InflateError("truncated", "unexpected end of compressed data");
    this.ensure(n);
    this.out.set(this.src.subarray(this.pos, this.pos + n), this.len);
    this.len += n;
    this.pos += n;
  }

  private codes(lit: Huffman, dist: Huffman): void {
    for (;;) {
      const sym = this.decode(lit);
      if (sym < 256) {
        this.ensure(1);
        this.out[this.len++] = sym;
        continue;
      }
      if (sym === 256) return;
      const li = sym - 257;
      if (li >= 29) throw new InflateError("corrupt", "invalid length code");
      const length = LENGTH_BASE[li]! + this.bits(LENGTH_EXTRA[li]!);
      const di = this.decode(dist);
      if (di >= 30) throw new InflateError("corrupt", "invalid distance code");
      const distance = DIST_BASE[di]! + this.bits(DIST_EXTRA[di]!);
      if (distance > this.len) throw new InflateError("corrupt", "distance too far back");
      this.ensure(length);
      // Byte by byte: a copy may overlap its own output (run-length encoding).
      for (let i = 0; i < length; i++, this.len++) this.out[this.len] = this.out[this.len - distance]!;
    }
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw new InflateError("corrupt", "too many length or distance codes");
    const clens = new Uint8Array(19);
    for (let i = 0; i < ncode; i++) clens[CLEN_ORDER[i]!] = this.bits(3);
    const clen = huffman(clens, 19);
    const lengths = new Uint8Array(nlen + ndist);
    for (let i = 0; i < nlen + ndist; ) {
      const sym = this.decode(clen);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let repeat: number;
      let value = 0;
      if (sym === 16) {
        if (i === 0) throw new InflateError("corrupt", "repeat with no previous length");
        value = lengths[i - 1]!;
        repeat = 3 + this.bits(2);
      } else repeat = sym === 17 ? 3 + this.bits(3) : 11 + this.bits(7);
      if (i + repeat > nlen + ndist) throw new InflateError("corrupt", "too many code lengths");
      lengths.fill(value, i, i + repeat);
      i += repeat;
    }
    if (lengths[256] === 0) throw new InflateError("corrupt", "no end-of-block code");
    this.codes(huffman(lengths, nlen), huffman(lengths.subarray(nlen), ndist));
  }

  run(): Uint8Array {
    for (let last = 0; !last; ) {
      last = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.codes(FIXED_LIT, FIXED_DIST);
      else if (type === 2) this.dynamic();
      else throw new InflateError("corrupt", "invalid block type");
    }
    return this.out.slice(0, this.len);
  }

  get consumed(): number {
    return this.pos;
  }
}

/** Decompresses a zlib stream (2-byte header, DEFLATE data, Adler-32), producing at most maxOutput bytes. */
export function inflateZlib(data: Uint8Array, maxOutput: number): Uint8Array {
  if (data.length < 2) throw new InflateError("truncated", "unexpected end of compressed data");
  const cmf = data[0]!;
  const flg = data[1]!;
  if ((cmf & 0x0f) !== 8 || ((cmf << 8) | flg) % 31 !== 0) throw new InflateError("corrupt", "incorrect header check");
  if (flg & 0x20) throw new InflateError("corrupt", "preset dictionary not supported");
  const inflater = new Inflater(data.subarray(2), maxOutput);
  const out = inflater.run();
  const end = 2 + inflater.consumed;
  if (end + 4 > data.length) throw new InflateError("truncated", "unexpected end of compressed data (checksum missing)");
  const want = ((data[end]! << 24) | (data[end + 1]! << 16) | (data[end + 2]! << 8) | data[end + 3]!) >>> 0;
  if (adler32(out) !== want) throw new InflateError("corrupt", "incorrect data check");
  return out;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    // 5552 bytes is the most that can be summed before b overflows 2^32 (zlib's NMAX).
    const end = Math.min(i + 5552, bytes.length);
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

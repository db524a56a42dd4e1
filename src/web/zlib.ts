// Node's zlib calls that the core's PNG code makes (inflateSync in the decoder, deflateSync in the encoder),
// in plain TypeScript for the browser, where no synchronous inflate exists. The page's bundle maps
// `node:zlib` here (scripts/build-web.mjs); Node keeps using its own zlib.
// inflateSync reads a zlib stream (RFC 1950) holding DEFLATE data (RFC 1951), written from those RFCs, and
// fails the way the PNG decoder expects Node's to: RangeError past maxOutputLength, "unexpected end of
// file" when the data stops early, another Error for corrupt data. deflateSync writes stored (uncompressed)
// blocks: valid for every reader, and the page only encodes small PNGs.

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** The order in which a dynamic block lists its code-length code lengths. */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
const MAX_BITS = 15;

/** A canonical Huffman code: how many codes have each length, and the symbols in code order. */
interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

const corrupt = (what: string): Error => new Error(`invalid deflate data: ${what}`);

function huffman(lengths: ArrayLike<number>): Huffman {
  const counts = new Uint16Array(MAX_BITS + 1);
  for (let i = 0; i < lengths.length; i++) counts[lengths[i]!]!++;
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len <= MAX_BITS; len++) {
    left = left * 2 - counts[len]!;
    if (left < 0) throw corrupt("over-subscribed Huffman code");
  }
  const offsets = new Uint16Array(MAX_BITS + 2);
  for (let len = 1; len <= MAX_BITS; len++) offsets[len + 1] = offsets[len]! + counts[len]!;
  const symbols = new Uint16Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) if (lengths[s]) symbols[offsets[lengths[s]!]!++] = s;
  return { counts, symbols };
}

const FIXED_LITERALS = huffman(Array.from({ length: 288 }, (_, s) => (s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8)));
const FIXED_DISTANCES = huffman(new Array<number>(30).fill(5));

class Inflater {
  private pos: number;
  private bitBuffer = 0;
  private bitCount = 0;
  private out: Uint8Array;
  private length = 0;

  constructor(
    private readonly data: Uint8Array,
    start: number,
    private readonly limit: number,
  ) {
    this.pos = start;
    this.out = new Uint8Array(Math.min(limit, Math.max(1024, data.length * 4)));
  }

  private bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.data.length) throw new Error("unexpected end of file");
      this.bitBuffer |= this.data[this.pos++]! << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuffer & ((1 << n) - 1);
    this.bitBuffer >>>= n;
    this.bitCount -= n;
    return v;
  }

  private room(n: number): void {
    const need = this.length + n;
    if (need > this.limit) throw new RangeError(`inflated data is larger than ${this.limit} bytes`);
    if (need <= this.out.length) return;
    const grown = new Uint8Array(Math.min(this.limit, Math.max(need, this.out.length * 2)));
    grown.set(this.out.subarray(0, this.length));
    this.out = grown;
  }

  private decode(h: Huffman): number {
    // Canonical codes of one length are consecutive: walk the lengths, one bit at a time.
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= MAX_BITS; len++) {
      code |= this.bits(1);
      const count = h.counts[len]!;
      if (code - first < count) return h.symbols[index + code - first]!;
      index += count;
      first = (first + count) * 2;
      code *= 2;
    }
    throw corrupt("invalid Huffman code");
  }

  private stored(): void {
    this.bitBuffer = 0;
    this.bitCount = 0;
    if (this.pos + 4 > this.data.length) throw new Error("unexpected end of file");
    const len = this.data[this.pos]! | (this.data[this.pos + 1]! << 8);
    const nlen = this.data[this.pos + 2]! | (this.data[this.pos + 3]! << 8);
    if ((len ^ 0xffff) !== nlen) throw corrupt("stored block length check failed");
    this.pos += 4;
    if (this.pos + len > this.data.length) throw new Error("unexpected end of file");
    this.room(len);
    this.out.set(this.data.subarray(this.pos, this.pos + len), this.length);
    this.length += len;
    this.pos += len;
  }

  private dynamicCodes(): [Huffman, Huffman] {
    const nlen = this.bits(5) + 257;
    const ndist = this.bits(5) + 1;
    const ncode = this.bits(4) + 4;
    if (nlen > 286 || ndist > 30) throw corrupt("too many length or distance codes");
    const codeLengths = new Uint8Array(19);
    for (let i = 0; i < ncode; i++) codeLengths[CODE_LENGTH_ORDER[i]!] = this.bits(3);
    const lengthCode = huffman(codeLengths);
    const lengths = new Uint8Array(nlen + ndist);
    for (let i = 0; i < nlen + ndist;) {
      const sym = this.decode(lengthCode);
      if (sym < 16) {
        lengths[i++] = sym;
        continue;
      }
      let repeat: number;
      let value = 0;
      if (sym === 16) {
        if (i === 0) throw corrupt("repeat with no previous length");
        value = lengths[i - 1]!;
        repeat = 3 + this.bits(2);
      } else repeat = sym === 17 ? 3 + this.bits(3) : 11 + this.bits(7);
      if (i + repeat > nlen + ndist) throw corrupt("too many code lengths");
      lengths.fill(value, i, i + repeat);
      i += repeat;
    }
    if (lengths[256] === 0) throw corrupt("no end-of-block code");
    return [huffman(lengths.subarray(0, nlen)), huffman(lengths.subarray(nlen))];
  }

  private compressed(literals: Huffman, distances: Huffman): void {
    for (;;) {
      const sym = this.decode(literals);
      if (sym < 256) {
        this.room(1);
        this.out[this.length++] = sym;
      } else if (sym === 256) return;
      else {
        const l = sym - 257;
        if (l >= 29) throw corrupt("invalid length code");
        const len = LENGTH_BASE[l]! + this.bits(LENGTH_EXTRA[l]!);
        const d = this.decode(distances);
        if (d >= 30) throw corrupt("invalid distance code");
        const dist = DIST_BASE[d]! + this.bits(DIST_EXTRA[d]!);
        if (dist > this.length) throw corrupt("distance too far back");
        this.room(len);
        // Byte by byte: a copy may overlap the bytes it produces (a run).
        for (let k = 0; k < len; k++, this.length++) this.out[this.length] = this.out[this.length - dist]!;
      }
    }
  }

  /** Inflates every block; returns the output and where the compressed data ended. */
  run(): { output: Uint8Array; end: number } {
    let last = 0;
    while (!last) {
      last = this.bits(1);
      const type = this.bits(2);
      if (type === 0) this.stored();
      else if (type === 1) this.compressed(FIXED_LITERALS, FIXED_DISTANCES);
      else if (type === 2) this.compressed(...this.dynamicCodes());
      else throw corrupt("invalid block type");
    }
    return { output: this.out.slice(0, this.length), end: this.pos };
  }
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length;) {
    // 5552 bytes is the most that can be summed before b may pass 2^32 (RFC 1950's NMAX).
    const end = Math.min(i + 5552, data.length);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return (b * 65536 + a) >>> 0;
}

/** Inflates a zlib stream, as Node's zlib.inflateSync(data, { maxOutputLength }). */
export function inflateSync(data: Uint8Array, options: { maxOutputLength?: number } = {}): Uint8Array {
  if (data.length < 2) throw new Error("unexpected end of file");
  const cmf = data[0]!;
  const flg = data[1]!;
  if ((cmf & 0x0f) !== 8 || (cmf >> 4) > 7 || (cmf * 256 + flg) % 31 !== 0) throw new Error("incorrect header check");
  if (flg & 0x20) throw new Error("a preset dictionary is not supported");
  const { output, end } = new Inflater(data, 2, options.maxOutputLength ?? 2 ** 31 - 1).run();
  if (end + 4 > data.length) throw new Error("unexpected end of file");
  const stored = ((data[end]! << 24) | (data[end + 1]! << 16) | (data[end + 2]! << 8) | data[end + 3]!) >>> 0;
  if (stored !== adler32(output)) throw new Error("incorrect data check");
  return output;
}

/** A zlib stream of stored DEFLATE blocks holding `data` (what zlib.deflateSync produces, uncompressed). */
export function deflateSync(data: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(2 + data.length + blocks * 5 + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let at = 2;
  for (let b = 0; b < blocks; b++) {
    const chunk = data.subarray(b * 65535, Math.min(data.length, (b + 1) * 65535));
    out[at] = b === blocks - 1 ? 1 : 0;
    out[at + 1] = chunk.length & 0xff;
    out[at + 2] = chunk.length >> 8;
    out[at + 3] = ~chunk.length & 0xff;
    out[at + 4] = (~chunk.length >> 8) & 0xff;
    out.set(chunk, at + 5);
    at += 5 + chunk.length;
  }
  const check = adler32(data);
  out.set([check >>> 24, (check >>> 16) & 0xff, (check >>> 8) & 0xff, check & 0xff], at);
  return out;
}

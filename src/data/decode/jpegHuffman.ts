// Entropy decoding for the JPEG decoder (ITU-T T.81 Annex F for sequential, Annex G for progressive
// Huffman coding): Huffman tables, the bit reader over the byte-stuffed scan data, and the per-block
// decoders that fill coefficient arrays. The data is untrusted: the reader feeds zeros once it reaches a
// marker or the end of the file, and `overrun()` tells the caller when zeros were actually consumed, so
// a truncated scan fails after at most one MCU instead of decoding garbage for the rest of the image.
import { ImageError } from "./error.js";

/** Natural (row-major) index of the k-th coefficient in zigzag order. */
export const ZIGZAG: Uint8Array = (() => {
  const order = new Uint8Array(64);
  let k = 0;
  for (let s = 0; s < 15; s++) {
    const lo = Math.max(0, s - 7);
    const hi = Math.min(s, 7);
    for (let i = lo; i <= hi; i++) {
      // odd anti-diagonals run top-right to bottom-left, even ones the other way
      const row = s % 2 === 1 ? i : s - i;
      order[k++] = row * 8 + (s - row);
    }
  }
  return order;
})();

/** Codes up to this length are resolved with one table lookup. */
const FAST_BITS = 9;

export interface HuffmanTable {
  /** (length << 8) | symbol for every FAST_BITS-bit prefix that starts with a short code; 0 otherwise. */
  fast: Uint16Array;
  /** Largest code of each length (index 1..16), -1 when there is none. */
  maxcode: Int32Array;
  /** Smallest code of each length. */
  mincode: Int32Array;
  /** Index in `symbols` of the first code of each length. */
  valptr: Int32Array;
  symbols: Uint8Array;
}

/** Builds a table from a DHT's 16 code-length counts and its symbols (T.81 Annex C). */
export function buildHuffmanTable(counts: Uint8Array, symbols: Uint8Array, file: string): HuffmanTable {
  const fast = new Uint16Array(1 << FAST_BITS);
  const maxcode = new Int32Array(18).fill(-1);
  const mincode = new Int32Array(18);
  const valptr = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    mincode[len] = code;
    valptr[len] = k;
    for (let i = 0; i < n; i++, code++, k++) {
      if (code >= 1 << len) throw new ImageError(file, "JPEG Huffman table has more codes than its lengths allow (corrupt DHT)");
      if (len <= FAST_BITS) {
        const shift = FAST_BITS - len;
        const entry = (len << 8) | symbols[k]!;
        fast.fill(entry, code << shift, (code + 1) << shift);
      }
    }
    if (n > 0) maxcode[len] = code - 1;
    code <<= 1;
  }
  return { fast, maxcode, mincode, valptr, symbols };
}

/** Reads bits MSB first from entropy-coded data, undoing 0xFF 0x00 stuffing and stopping at markers. */
export class BitReader {
  /** Bits not yet consumed are the low `count` bits of `buf` (count <= 23, so buf < 2^24). */
  private buf = 0;
  private count = 0;
  /** Zero bytes fed after the data ran out (a marker or the end of the file was reached). */
  private zeros = 0;

  constructor(
    readonly data: Uint8Array,
    /** Position of the next byte to read. */
    public pos: number,
    readonly file: string,
  ) {}

  private load(): void {
    let b = 0;
    const d = this.data;
    const p = this.pos;
    if (this.zeros === 0 && p < d.length) {
      const x = d[p]!;
      if (x !== 0xff) {
        b = x;
        this.pos = p + 1;
      } else if (p + 1 < d.length && d[p + 1] === 0) {
        b = 0xff;
        this.pos = p + 2;
      } else {
        this.zeros = 1; // a marker (or the end of the file): pos stays on its 0xFF
      }
    } else {
      this.zeros++;
    }
    this.buf = (this.buf << 8) | b;
    this.count += 8;
  }

  /** True once bits beyond the real data have been consumed: the scan is truncated or corrupt. */
  overrun(): boolean {
    return this.zeros * 8 > this.count;
  }

  bits(n: number): number {
    while (this.count < n) this.load();
    this.count -= n;
    const v = (this.buf >>> this.count) & ((1 << n) - 1);
    this.buf &= (1 << this.count) - 1;
    return v;
  }

  bit(): number {
    return this.bits(1);
  }

  /** Decodes one Huffman symbol. */
  decode(t: HuffmanTable): number {
    while (this.count < 16) this.load();
    const e = t.fast[(this.buf >>> (this.count - FAST_BITS)) & ((1 << FAST_BITS) - 1)]!;
    if (e !== 0) {
      this.count -= e >> 8;
      this.buf &= (1 << this.count) - 1;
      return e & 0xff;
    }
    const code16 = (this.buf >>> (this.count - 16)) & 0xffff;
    for (let len = FAST_BITS + 1; len <= 16; len++) {
      const c = code16 >>> (16 - len);
      if (c <= t.maxcode[len]!) {
        this.count -= len;
        this.buf &= (1 << this.count) - 1;
        return t.symbols[t.valptr[len]! + c - t.mincode[len]!]!;
      }
    }
    throw new ImageError(this.file, "JPEG scan data holds an invalid Huffman code (corrupt file)");
  }

  /** Reads `s` bits and sign-extends them as T.81 F.2.2.1 EXTEND does (s = 0 gives 0). */
  receiveExtend(s: number): number {
    if (s === 0) return 0;
    const v = this.bits(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  /** Drops buffered bits and consumes the restart marker RSTn that must come next. */
  restart(n: number): void {
    this.buf = 0;
    this.count = 0;
    this.zeros = 0;
    const p = findMarker(this.data, this.pos);
    const found = p < 0 ? -1 : this.data[p + 1]!;
    if (found !== 0xd0 + n) {
      const what = found < 0 ? "the end of the file" : `marker 0x${found.toString(16).toUpperCase()}`;
      throw new ImageError(this.file, `JPEG scan data is truncated or corrupt: expected restart marker RST${n}, found ${what}`);
    }
    this.pos = p + 2;
  }
}

/**
 * Position of the 0xFF that starts the next marker at or after `pos` (skipping stray bytes, stuffed
 * 0xFF 0x00 pairs and 0xFF fill bytes), or -1 at the end of the data.
 */
export function findMarker(d: Uint8Array, pos: number): number {
  for (let p = pos; p + 1 < d.length; p++) {
    if (d[p] !== 0xff) continue;
    const next = d[p + 1]!;
    if (next !== 0 && next !== 0xff) return p;
  }
  return -1;
}

/** A component's running DC prediction (reset at every scan and restart). */
export interface DcState {
  pred: number;
}

function checkDcSize(s: number, r: BitReader): void {
  if (s > 15) throw new ImageError(r.file, `JPEG scan data holds a DC difference of ${s} bits (corrupt file)`);
}

/** One block of a sequential scan: DC difference then run-length coded AC coefficients. */
export function decodeBlockBaseline(
  r: BitReader,
  dc: HuffmanTable,
  ac: HuffmanTable,
  coefs: Int16Array,
  o: number,
  st: DcState,
): void {
  const t = r.decode(dc);
  checkDcSize(t, r);
  st.pred += r.receiveExtend(t);
  coefs[o] = st.pred;
  for (let k = 1; k < 64; ) {
    const rs = r.decode(ac);
    const run = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (run !== 15) break; // end of block
      k += 16; // ZRL: sixteen zeros
      continue;
    }
    k += run;
    if (k > 63) throw new ImageError(r.file, "JPEG scan data runs past the end of a block (corrupt file)");
    coefs[o + ZIGZAG[k]!] = r.receiveExtend(s);
    k++;
  }
}

/** Progressive DC first scan: the DC difference, scaled by 2^al. */
export function decodeDcFirst(r: BitReader, dc: HuffmanTable, coefs: Int16Array, o: number, st: DcState, al: number): void {
  const t = r.decode(dc);
  checkDcSize(t, r);
  st.pred += r.receiveExtend(t);
  coefs[o] = st.pred * (1 << al);
}

/** Progressive DC refinement: one more bit of the DC coefficient. */
export function decodeDcRefine(r: BitReader, coefs: Int16Array, o: number, al: number): void {
  if (r.bit()) coefs[o] = coefs[o]! | (1 << al);
}

/** End-of-band run shared by the blocks of one AC scan (reset at restarts). */
export interface EobState {
  eobrun: number;
}

/**
 * Progressive AC first scan over zigzag band ss..se (T.81 G.1.2.2). `nz[b]` (b = o / 64) tracks one past
 * the block's highest non-zero zigzag index, so refinement scans can skip the all-zero tail of a block.
 */
export function decodeAcFirst(
  r: BitReader,
  ac: HuffmanTable,
  coefs: Int16Array,
  o: number,
  ss: number,
  se: number,
  al: number,
  st: EobState,
  nz: Uint8Array,
): void {
  if (st.eobrun > 0) {
    st.eobrun--;
    return;
  }
  for (let k = ss; k <= se; ) {
    const rs = r.decode(ac);
    const run = rs >> 4;
    const s = rs & 15;
    if (s === 0) {
      if (run < 15) {
        // EOBn: this block and 2^run - 1 + (run extra bits) more end here
        st.eobrun = (1 << run) - 1 + (run > 0 ? r.bits(run) : 0);
        break;
      }
      k += 16;
      continue;
    }
    k += run;
    if (k > se) throw new ImageError(r.file, "JPEG scan data runs past the end of its spectral band (corrupt file)");
    coefs[o + ZIGZAG[k]!] = r.receiveExtend(s) * (1 << al);
    k++;
    if (nz[o >> 6]! < k) nz[o >> 6] = k;
  }
}

/** Adds the next bit to an already non-zero coefficient, away from zero. */
function refine(r: BitReader, coefs: Int16Array, i: number, p1: number): void {
  const c = coefs[i]!;
  if (r.bit() && (c & p1) === 0) coefs[i] = c >= 0 ? c + p1 : c - p1;
}

/**
 * Progressive AC refinement over band ss..se (T.81 G.1.2.3): coefficients that are already non-zero get
 * one correction bit each; newly non-zero ones (magnitude 1 at this bit) are placed by zero-run counts
 * that skip the already non-zero coefficients.
 */
export function decodeAcRefine(
  r: BitReader,
  ac: HuffmanTable,
  coefs: Int16Array,
  o: number,
  ss: number,
  se: number,
  al: number,
  st: EobState,
  nz: Uint8Array,
): void {
  const p1 = 1 << al;
  const b = o >> 6;
  let k = ss;
  if (st.eobrun === 0) {
    for (; k <= se; k++) {
      const rs = r.decode(ac);
      let run = rs >> 4;
      const s = rs & 15;
      let value = 0;
      if (s !== 0) {
        if (s !== 1) throw new ImageError(r.file, `JPEG refinement scan holds a ${s}-bit coefficient (corrupt file)`);
        value = r.bit() ? p1 : -p1;
      } else if (run !== 15) {
        st.eobrun = (1 << run) + (run > 0 ? r.bits(run) : 0);
        break;
      }
      // skip `run` zero-history coefficients, refining the non-zero ones passed on the way
      for (; k <= se; k++) {
        const i = o + ZIGZAG[k]!;
        if (coefs[i] !== 0) refine(r, coefs, i, p1);
        else if (run === 0) break;
        else run--;
      }
      if (value !== 0) {
        if (k > se) throw new ImageError(r.file, "JPEG refinement data runs past the end of its spectral band (corrupt file)");
        coefs[o + ZIGZAG[k]!] = value;
        if (nz[b]! <= k) nz[b] = k + 1;
      }
    }
  }
  if (st.eobrun > 0) {
    // inside an end-of-band run: only the correction bits of non-zero coefficients remain, and none lie
    // beyond the block's last non-zero coefficient (this keeps long runs over empty blocks cheap)
    const end = Math.min(se, nz[b]! - 1);
    for (; k <= end; k++) {
      const i = o + ZIGZAG[k]!;
      if (coefs[i] !== 0) refine(r, coefs, i, p1);
    }
    st.eobrun--;
  }
}

// PNG decoder (ISO/IEC 15948 / W3C PNG 2nd edition) producing the grey pixels PIL's
// Image.open(f).convert('L') gives, for `alexnet predict`. Every colour type and bit depth, PLTE, Adam7
// interlacing and all five filters are handled; the input is untrusted, so every field is checked before
// it is used and every failure is an ImageError naming the file.
//
// How each type becomes grey, following PIL 9.4:
//   grey 1/2/4-bit: scaled to 0..255 (v * 255 / (2^depth - 1)); 8-bit as is;
//   grey 16-bit: the high byte. PIL opens it as mode 'I' and convert('L') clips to 0..255, which turns
//     nearly every pixel white; we keep the high byte as PIL does for all the other 16-bit types;
//   RGB, RGBA, palette: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16, alpha ignored (PIL drops it);
//     16-bit samples use their high byte; a palette index beyond PLTE gives grey = index, because PIL's
//     palette starts as a grey ramp and PLTE only overwrites its first entries;
//   grey + alpha: the grey sample. tRNS and other ancillary chunks do not change the grey values.
import { FlateErrorCode, Unzlib, type FlateError } from "fflate";
import { crc32, PNG_SIGNATURE } from "../crc32.js";
import { checkDimensions, ImageError, rgbToGray, type GrayImage } from "./error.js";

/** Adam7 passes: x offset, y offset, x step, y step. */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const TYPE_NAMES: Record<number, string> = { 0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA" };

/**
 * Deflate cannot expand by more than about 1032:1, so compressed data shorter than this fraction of what
 * the header promises is certainly truncated: refusing early keeps a tiny file that declares a huge image
 * from costing time and memory.
 */
const MAX_INFLATE_RATIO = 1040;

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== PNG_SIGNATURE[i]) return false;
  return true;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function chunkName(b: Uint8Array, o: number): string {
  let s = "";
  for (let i = 0; i < 4; i++) {
    const c = b[o + i]!;
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    s += letter ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

function parseHeader(data: Uint8Array, file: string): Header {
  if (data.length !== 13) throw new ImageError(file, `PNG IHDR chunk is ${data.length} bytes, expected 13`);
  const width = u32(data, 0);
  const height = u32(data, 4);
  const depth = data[8]!;
  const colorType = data[9]!;
  if (!(colorType in CHANNELS)) throw new ImageError(file, `PNG colour type ${colorType} is invalid (expected 0, 2, 3, 4 or 6)`);
  if (!ALLOWED_DEPTHS[colorType]!.includes(depth)) {
    throw new ImageError(
      file,
      `PNG bit depth ${depth} is invalid for colour type ${colorType} (${TYPE_NAMES[colorType]}); ` +
        `allowed: ${ALLOWED_DEPTHS[colorType]!.join(", ")}`,
    );
  }
  if (data[10] !== 0) throw new ImageError(file, `PNG compression method ${data[10]} is invalid (only 0, deflate)`);
  if (data[11] !== 0) throw new ImageError(file, `PNG filter method ${data[11]} is invalid (only 0)`);
  if (data[12]! > 1) throw new ImageError(file, `PNG interlace method ${data[12]} is invalid (0 or 1)`);
  checkDimensions(file, "PNG", width, height);
  return { width, height, depth, colorType, interlaced: data[12] === 1 };
}

/** Bytes in one filtered scanline of `w` pixels, without its filter byte. */
function rowBytes(h: Header, w: number): number {
  return Math.ceil((w * CHANNELS[h.colorType]! * h.depth) / 8);
}

/** The sub-images stored in the data: one for plain images, up to seven non-empty Adam7 passes. */
function passes(h: Header): { x0: number; y0: number; dx: number; dy: number; w: number; ht: number }[] {
  const list = h.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  const out = [];
  for (const [x0, y0, dx, dy] of list) {
    const w = Math.ceil((h.width - x0) / dx);
    const ht = Math.ceil((h.height - y0) / dy);
    // an empty pass stores nothing, not even filter bytes
    if (w > 0 && ht > 0) out.push({ x0, y0, dx, dy, w, ht });
  }
  return out;
}

/** Splits the file into chunks, checking CRCs and order; returns the header, palette and joined IDAT. */
function readChunks(bytes: Uint8Array, file: string): { header: Header; palette: Uint8Array | null; idat: Uint8Array } {
  let off = 8;
  let header: Header | null = null;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatLength = 0;
  let idatDone = false;
  for (;;) {
    if (off + 8 > bytes.length) {
      const where = header ? "before the IEND chunk" : "before the IHDR chunk";
      throw new ImageError(file, `PNG file is truncated: it ends at byte ${bytes.length} ${where}`);
    }
    const length = u32(bytes, off);
    const name = chunkName(bytes, off + 4);
    if (!/^[A-Za-z]{4}$/.test(name)) throw new ImageError(file, `PNG chunk at byte ${off} has an invalid type "${name}" (corrupt file)`);
    if (length > 0x7fffffff || off + 12 + length > bytes.length) {
      throw new ImageError(
        file,
        `PNG file is truncated: chunk ${name} at byte ${off} declares ${length} bytes but only ` +
          `${Math.max(0, bytes.length - off - 12)} remain`,
      );
    }
    const data = bytes.subarray(off + 8, off + 8 + length);
    const stored = u32(bytes, off + 8 + length);
    if (crc32(bytes.subarray(off + 4, off + 8 + length)) !== stored) {
      throw new ImageError(file, `PNG chunk ${name} at byte ${off} has a bad CRC (corrupt file)`);
    }
    off += 12 + length;
    if (!header && name !== "IHDR") throw new ImageError(file, `PNG file does not start with an IHDR chunk (found ${name})`);
    if (idat.length > 0 && name !== "IDAT") idatDone = true;
    switch (name) {
      case "IHDR":
        if (header) throw new ImageError(file, "PNG file has a second IHDR chunk");
        header = parseHeader(data, file);
        break;
      case "PLTE":
        if (idat.length > 0) throw new ImageError(file, "PNG PLTE chunk comes after the image data");
        if (palette) throw new ImageError(file, "PNG file has a second PLTE chunk");
        if (length === 0 || length % 3 !== 0 || length > 768) {
          throw new ImageError(file, `PNG PLTE chunk is ${length} bytes (must be 3 to 768, a multiple of 3)`);
        }
        palette = data;
        break;
      case "IDAT":
        if (idatDone) throw new ImageError(file, "PNG IDAT chunks are not consecutive (corrupt file)");
        idat.push(data);
        idatLength += length;
        break;
      case "IEND": {
        const h = header!;
        if (idat.length === 0) throw new ImageError(file, "PNG file has no image data (no IDAT chunk)");
        if (h.colorType === 3 && !palette) throw new ImageError(file, "PNG palette image has no PLTE chunk");
        const joined = new Uint8Array(idatLength);
        let o = 0;
        for (const part of idat) {
          joined.set(part, o);
          o += part.length;
        }
        return { header: h, palette, idat: joined };
      }
      default:
        // bit 5 of the first letter clear (upper case) marks a chunk a decoder must understand
        if (name.charCodeAt(0) < 97) throw new ImageError(file, `PNG file has an unknown critical chunk ${name}`);
    }
  }
}

/**
 * Compressed bytes fed to fflate per step: about the image's size / 1024, so one step (deflate expands at
 * most ~1032:1) never produces much more than the image itself, and at least 16 KiB (fflate allocates per
 * step, and smaller steps cost more than they save: 4 KiB steps made a 224x224 decode 6x slower).
 */
const inflateStep = (expected: number): number => Math.max(16384, Math.ceil(expected / 1024));

/**
 * zlib-decompresses the joined IDAT with fflate, stopping as soon as the output passes `expected` (so a
 * decompression bomb costs about one image's worth of work past the image), then checks the Adler-32 that
 * fflate leaves unchecked.
 */
function inflate(idat: Uint8Array, expected: number, h: Header, file: string): Uint8Array {
  const size = `${h.width}x${h.height}`;
  if (idat.length * MAX_INFLATE_RATIO + 64 < expected) {
    throw new ImageError(file, `PNG image data is truncated: ${idat.length} compressed bytes cannot hold a ${size} image`);
  }
  const tooLarge = () => new ImageError(file, `PNG image data holds more than the ${expected} bytes a ${size} image needs (corrupt file)`);
  const raw = new Uint8Array(expected);
  let len = 0;
  const stream = new Unzlib((part) => {
    if (len + part.length > expected) throw tooLarge();
    raw.set(part, len);
    len += part.length;
  });
  try {
    if (idat.length === 0) stream.push(idat, true);
    const step = inflateStep(expected);
    for (let at = 0; at < idat.length; at += step) stream.push(idat.subarray(at, at + step), at + step >= idat.length);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const code = (err as Partial<FlateError>).code;
    if (typeof code !== "number") throw err;
    if (code === FlateErrorCode.UnexpectedEOF) throw new ImageError(file, "PNG image data is truncated");
    throw new ImageError(file, `PNG image data is corrupt (zlib: ${(err as Error).message})`);
  }
  if (len < expected) {
    throw new ImageError(file, `PNG image data is truncated: ${len} of ${expected} bytes for a ${size} image`);
  }
  if (adler32(raw) !== u32(idat, idat.length - 4)) throw new ImageError(file, "PNG image data is corrupt (zlib: incorrect data check)");
  return raw;
}

/** zlib's Adler-32 (RFC 1950), which fflate does not verify when it decompresses. */
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

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Reverses the per-row filters of one pass in place; `start` is the pass's first filter byte. */
function unfilter(raw: Uint8Array, start: number, rows: number, stride: number, bpp: number, file: string): void {
  for (let y = 0; y < rows; y++) {
    const f = start + y * (stride + 1);
    const o = f + 1;
    const p = o - (stride + 1); // previous row's first byte (only read when y > 0)
    const type = raw[f]!;
    switch (type) {
      case 0:
        break;
      case 1:
        for (let i = bpp; i < stride; i++) raw[o + i] = (raw[o + i]! + raw[o + i - bpp]!) & 0xff;
        break;
      case 2:
        if (y > 0) for (let i = 0; i < stride; i++) raw[o + i] = (raw[o + i]! + raw[p + i]!) & 0xff;
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? raw[o + i - bpp]! : 0;
          const b = y > 0 ? raw[p + i]! : 0;
          raw[o + i] = (raw[o + i]! + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? raw[o + i - bpp]! : 0;
          const b = y > 0 ? raw[p + i]! : 0;
          const c = i >= bpp && y > 0 ? raw[p + i - bpp]! : 0;
          raw[o + i] = (raw[o + i]! + paeth(a, b, c)) & 0xff;
        }
        break;
      default:
        throw new ImageError(file, `PNG scanline ${y} has an invalid filter type ${type} (corrupt file)`);
    }
  }
}

/** Grey value of each palette index, PIL style: L of the PLTE colour, grey = index beyond the palette. */
function paletteGray(palette: Uint8Array): Uint8Array {
  const lut = new Uint8Array(256);
  const n = palette.length / 3;
  for (let i = 0; i < 256; i++) {
    lut[i] = i < n ? rgbToGray(palette[3 * i]!, palette[3 * i + 1]!, palette[3 * i + 2]!) : i;
  }
  return lut;
}

/** Converts one unfiltered scanline of `w` pixels to grey, writing out[dst + k * step] for pixel k. */
function rowToGray(
  h: Header,
  raw: Uint8Array,
  o: number,
  w: number,
  lut: Uint8Array | null,
  out: Uint8Array,
  dst: number,
  step: number,
): void {
  const { depth, colorType } = h;
  if (depth < 8) {
    const max = (1 << depth) - 1;
    const scale = 255 / max; // 255, 85 or 17: exact integers
    for (let x = 0; x < w; x++) {
      const bit = x * depth;
      const v = (raw[o + (bit >> 3)]! >> (8 - depth - (bit & 7))) & max;
      out[dst + x * step] = lut ? lut[v]! : v * scale;
    }
    return;
  }
  const bytesPerSample = depth >> 3; // 16-bit samples are big-endian: their high byte comes first
  const px = CHANNELS[colorType]! * bytesPerSample;
  const s = bytesPerSample;
  for (let x = 0; x < w; x++) {
    const i = o + x * px;
    let v: number;
    if (colorType === 0 || colorType === 4) v = raw[i]!;
    else if (colorType === 3) v = lut![raw[i]!]!;
    else v = rgbToGray(raw[i]!, raw[i + s]!, raw[i + 2 * s]!);
    out[dst + x * step] = v;
  }
}

/** Decodes a PNG file to PIL-equivalent grey pixels; throws ImageError for anything invalid. */
export function decodePng(bytes: Uint8Array, file: string): GrayImage {
  if (!isPng(bytes)) {
    throw new ImageError(file, bytes.length < 8 ? "PNG file is truncated (shorter than its signature)" : "not a PNG file (bad signature)");
  }
  const { header: h, palette, idat } = readChunks(bytes, file);
  const list = passes(h);
  let expected = 0;
  for (const p of list) expected += p.ht * (rowBytes(h, p.w) + 1);
  const raw = inflate(idat, expected, h, file);
  const lut = h.colorType === 3 ? paletteGray(palette!) : null;
  const bpp = Math.max(1, (CHANNELS[h.colorType]! * h.depth) >> 3);
  const gray = new Uint8Array(h.width * h.height);
  let start = 0;
  for (const p of list) {
    const stride = rowBytes(h, p.w);
    unfilter(raw, start, p.ht, stride, bpp, file);
    for (let y = 0; y < p.ht; y++) {
      const dst = (p.y0 + y * p.dy) * h.width + p.x0;
      rowToGray(h, raw, start + y * (stride + 1) + 1, p.w, lut, gray, dst, p.dx);
    }
    start += p.ht * (stride + 1);
  }
  return { width: h.width, height: h.height, gray };
}

// Chroma upsampling and colour conversion for the JPEG decoder, reproducing what libjpeg does by default
// (and so what PIL gets) followed by PIL's RGB -> L:
//   - "fancy" upsampling: a 2x step interpolates with the triangle filter (weights 3/4 and 1/4 of the
//     nearer and farther sample, with libjpeg's alternating rounding offsets), edge samples replicated;
//     for 2x2 the vertical step comes first and the horizontal one rounds their sum once. libjpeg uses
//     plain replication instead when the component is at most 2 samples wide, and for ratios other than
//     2x1, 1x2 and 2x2;
//   - YCbCr -> RGB in 16-bit fixed point with libjpeg's rounded tables, clamped to 0..255;
//   - L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16, PIL's convert('L').
import { rgbToGray } from "./error.js";

/** A decoded component: samples at plane[y * stride + x], x < width, y < height (its real size). */
export interface Plane {
  data: Uint8Array;
  stride: number;
  width: number;
  height: number;
}

/** Upsamples a component by integer factors hs x vs to width x height (row-major, no padding). */
export function upsample(p: Plane, hs: number, vs: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (hs === 2 && vs === 1 && p.width > 2) fancyH2V1(p, out, width, height);
  else if (hs === 1 && vs === 2) fancyH1V2(p, out, width, height);
  else if (hs === 2 && vs === 2 && p.width > 2) fancyH2V2(p, out, width, height);
  else replicate(p, hs, vs, out, width, height);
  return out;
}

function replicate(p: Plane, hs: number, vs: number, out: Uint8Array, width: number, height: number): void {
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / vs) * p.stride;
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = p.data[row + Math.floor(x / hs)]!;
  }
}

function fancyH2V1(p: Plane, out: Uint8Array, width: number, height: number): void {
  const { data, stride } = p;
  const last = p.width - 1;
  for (let y = 0; y < height; y++) {
    const r = y * stride;
    const o = y * width;
    for (let i = 0; i <= last; i++) {
      const a = data[r + i]! * 3;
      const left = data[r + (i > 0 ? i - 1 : 0)]!;
      const right = data[r + (i < last ? i + 1 : last)]!;
      if (2 * i < width) out[o + 2 * i] = (a + left + 1) >> 2;
      if (2 * i + 1 < width) out[o + 2 * i + 1] = (a + right + 2) >> 2;
    }
  }
}

function fancyH1V2(p: Plane, out: Uint8Array, width: number, height: number): void {
  const { data, stride } = p;
  const lastRow = p.height - 1;
  for (let y = 0; y < height; y++) {
    const j = y >> 1;
    const below = (y & 1) === 1;
    const near = j * stride;
    const far = (below ? Math.min(j + 1, lastRow) : Math.max(j - 1, 0)) * stride;
    const bias = below ? 2 : 1;
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = (data[near + x]! * 3 + data[far + x]! + bias) >> 2;
  }
}

function fancyH2V2(p: Plane, out: Uint8Array, width: number, height: number): void {
  const { data, stride } = p;
  const last = p.width - 1;
  const lastRow = p.height - 1;
  const sums = new Int32Array(p.width);
  for (let y = 0; y < height; y++) {
    const j = y >> 1;
    const below = (y & 1) === 1;
    const near = j * stride;
    const far = (below ? Math.min(j + 1, lastRow) : Math.max(j - 1, 0)) * stride;
    for (let i = 0; i <= last; i++) sums[i] = data[near + i]! * 3 + data[far + i]!;
    const o = y * width;
    for (let i = 0; i <= last; i++) {
      const a = sums[i]! * 3;
      const left = sums[i > 0 ? i - 1 : 0]!;
      const right = sums[i < last ? i + 1 : last]!;
      if (2 * i < width) out[o + 2 * i] = (a + left + 8) >> 4;
      if (2 * i + 1 < width) out[o + 2 * i + 1] = (a + right + 7) >> 4;
    }
  }
}

const SCALE = 16;
const HALF = 1 << (SCALE - 1);
/** libjpeg's FIX(): the constant in 16-bit fixed point, truncated after adding one half. */
const fix = (x: number): number => Math.floor(x * (1 << SCALE) + 0.5);

/** Per-value terms of the YCbCr -> RGB conversion (JFIF / T.871), as libjpeg tabulates them. */
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + HALF) >> SCALE;
  CB_B[i] = (fix(1.772) * x + HALF) >> SCALE;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + HALF;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Full-resolution Y, Cb, Cr planes -> grey, through RGB as libjpeg then PIL compute it. Writes into y. */
export function yccToGray(y: Uint8Array, cb: Uint8Array, cr: Uint8Array): Uint8Array {
  for (let i = 0; i < y.length; i++) {
    const l = y[i]!;
    const u = cb[i]!;
    const v = cr[i]!;
    const r = clamp(l + CR_R[v]!);
    const g = clamp(l + ((CB_G[u]! + CR_G[v]!) >> SCALE));
    const b = clamp(l + CB_B[u]!);
    y[i] = rgbToGray(r, g, b);
  }
  return y;
}

/** Full-resolution R, G, B planes (an RGB-coded JPEG) -> grey. Writes into r. */
export function rgbToGrayPlanes(r: Uint8Array, g: Uint8Array, b: Uint8Array): Uint8Array {
  for (let i = 0; i < r.length; i++) r[i] = rgbToGray(r[i]!, g[i]!, b[i]!);
  return r;
}

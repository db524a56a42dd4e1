// Image transforms that reproduce d2l's `transforms.Resize(n)` + `transforms.ToTensor()` bit for bit.
//
// torchvision resizes a PIL 'L' image with Image.resize(BILINEAR). Pillow (ImagingResample, Resample.c)
// resamples in two separable passes, horizontal then vertical, each producing a uint8 image:
//   - per output pixel x, the source interval is centred at (x + 0.5) * scale, scale = in/out; when
//     downsampling the triangle filter is stretched by `scale` (antialiasing, support = scale), when
//     upsampling it has support 1 (plain bilinear with half-pixel centres, edges clamped by renormalising);
//   - the weights are normalised to sum 1, then converted to fixed point with 22 fractional bits
//     (rounded half away from zero), and each output is (sum(pixel * weight) + 2^21) >> 22 clamped to
//     0..255: round half up of the exact fixed-point sum;
//   - a pass is skipped when that dimension does not change, so its rounding does not happen.
// ToTensor then converts uint8 to float32 as v / 255 in float32 arithmetic.
// This file follows that arithmetic step by step (JS doubles hold every intermediate exactly), and
// test/data.resize.test.ts checks it against fixtures written by torchvision (scripts/make_data_fixtures.py).

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Fixed-point weights of one resampling pass, as Pillow computes them. */
export interface ResamplePlan {
  inSize: number;
  outSize: number;
  /** Weights per output pixel (stride ksize). */
  ksize: number;
  /** Per output pixel: first source index and number of taps. */
  bounds: Int32Array;
  weights: Int32Array;
}

/** Pillow's bilinear (triangle) filter, support 1. */
function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

const planCache = new Map<string, ResamplePlan>();

/** The coefficients of a bilinear pass from inSize to outSize pixels (cached: they depend on sizes only). */
export function bilinearPlan(inSize: number, outSize: number): ResamplePlan {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new RangeError(`resize: sizes must be positive integers (got ${inSize} -> ${outSize})`);
  }
  const key = `${inSize}:${outSize}`;
  const cached = planCache.get(key);
  if (cached) return cached;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    // C's (int) cast truncates toward zero; that is what Pillow's "rounding" does here
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      total += w[x]!;
    }
    const fixed = new Int32Array(xmax);
    for (let x = 0; x < xmax; x++) {
      const k = total !== 0 ? w[x]! / total : w[x]!;
      fixed[x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    // taps whose fixed-point weight is 0 add exactly nothing: dropping them keeps results bit-exact and
    // leaves 2 taps per pixel when upsampling, which the resizer has a fast path for
    let first = 0;
    let last = xmax;
    while (first < last && fixed[first] === 0) first++;
    while (last > first && fixed[last - 1] === 0) last--;
    weights.set(fixed.subarray(first, last), xx * ksize);
    bounds[xx * 2] = xmin + first;
    bounds[xx * 2 + 1] = last - first;
  }
  const plan = { inSize, outSize, ksize, bounds, weights };
  planCache.set(key, plan);
  return plan;
}

function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS; // acc < 2^31 for uint8 input: the int32 shift is exact
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** ToTensor's uint8 -> float32 table: v / 255 rounded to float32 (exactly what torch's float32 division gives). */
export const TO_TENSOR_LUT: Float32Array = (() => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 255;
  return lut;
})();

/** torchvision ToTensor for a grayscale image: uint8 -> float32 in [0, 1]. */
export function toTensor(pixels: Uint8Array, out: Float32Array = new Float32Array(pixels.length), outOffset = 0): Float32Array {
  if (outOffset + pixels.length > out.length) throw new RangeError("toTensor: output too small");
  for (let i = 0; i < pixels.length; i++) out[outOffset + i] = TO_TENSOR_LUT[pixels[i]!]!;
  return out;
}

/** The output size of torchvision's Resize(size) for an int size: the shorter side becomes `size`. */
export function resizedSize(height: number, width: number, size: number): { height: number; width: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { height: size, width: Math.trunc((size * width) / height) };
}

/**
 * Resizes uint8 grayscale images of one size to another, reusing its coefficient tables and scratch
 * buffer. One instance per thread: `resize` is not reentrant.
 */
export class Resizer {
  private readonly horiz: ResamplePlan | null;
  private readonly vert: ResamplePlan | null;
  private readonly temp: Uint8Array;
  private readonly acc: Float64Array;

  constructor(
    readonly inWidth: number,
    readonly inHeight: number,
    readonly outWidth: number,
    readonly outHeight: number,
  ) {
    this.horiz = outWidth !== inWidth ? bilinearPlan(inWidth, outWidth) : null;
    this.vert = outHeight !== inHeight ? bilinearPlan(inHeight, outHeight) : null;
    this.temp = new Uint8Array(outWidth * inHeight);
    this.acc = new Float64Array(outWidth);
  }

  /** Resizes the image at src[srcOffset...] into `dst` as uint8 (what PIL returns). */
  resize(src: Uint8Array, srcOffset = 0, dst: Uint8Array = new Uint8Array(this.outWidth * this.outHeight)): Uint8Array {
    this.run(src, srcOffset, dst, null, 0);
    return dst;
  }

  /** Resize then ToTensor, written as float32 at dst[dstOffset...]: the loader's per-image step. */
  resizeToFloat(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number): void {
    if (dstOffset + this.outWidth * this.outHeight > dst.length) throw new RangeError("resize: output out of bounds");
    this.run(src, srcOffset, null, dst, dstOffset);
  }

  private run(src: Uint8Array, srcOffset: number, dst8: Uint8Array | null, dstF: Float32Array | null, dstOffset: number): void {
    const { inWidth: iw, inHeight: ih, outWidth: ow, outHeight: oh } = this;
    if (srcOffset + iw * ih > src.length) throw new RangeError("resize: source image out of bounds");
    // horizontal pass into temp (ow x ih), or the source itself when the width does not change
    let mid = src;
    let midOffset = srcOffset;
    const h = this.horiz;
    if (h) {
      const { bounds, weights, ksize } = h;
      const temp = this.temp;
      for (let y = 0; y < ih; y++) {
        const row = srcOffset + y * iw;
        const outRow = y * ow;
        for (let x = 0; x < ow; x++) {
          const xmin = bounds[2 * x]!;
          const n = bounds[2 * x + 1]!;
          const k = x * ksize;
          let acc = HALF;
          if (n === 2) acc += src[row + xmin]! * weights[k]! + src[row + xmin + 1]! * weights[k + 1]!;
          else for (let i = 0; i < n; i++) acc += src[row + xmin + i]! * weights[k + i]!;
          temp[outRow + x] = clip8(acc);
        }
      }
      mid = temp;
      midOffset = 0;
    }
    const v = this.vert;
    if (!v) {
      const n = ow * oh;
      if (dstF) for (let i = 0; i < n; i++) dstF[dstOffset + i] = TO_TENSOR_LUT[mid[midOffset + i]!]!;
      else dst8!.set(mid.subarray(midOffset, midOffset + n));
      return;
    }
    // vertical pass, row by row (each output row mixes whole source rows), written straight to the
    // float output when there is one
    const { bounds, weights, ksize } = v;
    const acc = this.acc;
    const lut = TO_TENSOR_LUT;
    for (let y = 0; y < oh; y++) {
      const ymin = bounds[2 * y]!;
      const n = bounds[2 * y + 1]!;
      const k = y * ksize;
      const o = y * ow;
      if (n === 2 && weights[k]! >= 0 && weights[k + 1]! >= 0) {
        // two non-negative weights sum to at most 2^22 + 1, so the result is already within 0..255
        const r0 = midOffset + ymin * ow;
        const r1 = r0 + ow;
        const w0 = weights[k]!;
        const w1 = weights[k + 1]!;
        if (dstF) {
          const of = dstOffset + o;
          for (let x = 0; x < ow; x++) dstF[of + x] = lut[(HALF + mid[r0 + x]! * w0 + mid[r1 + x]! * w1) >> PRECISION_BITS]!;
        } else {
          for (let x = 0; x < ow; x++) dst8![o + x] = (HALF + mid[r0 + x]! * w0 + mid[r1 + x]! * w1) >> PRECISION_BITS;
        }
        continue;
      }
      acc.fill(HALF);
      for (let i = 0; i < n; i++) {
        const r = midOffset + (ymin + i) * ow;
        const wi = weights[k + i]!;
        for (let x = 0; x < ow; x++) acc[x] += mid[r + x]! * wi;
      }
      if (dstF) for (let x = 0; x < ow; x++) dstF[dstOffset + o + x] = TO_TENSOR_LUT[clip8(acc[x]!)]!;
      else for (let x = 0; x < ow; x++) dst8![o + x] = clip8(acc[x]!);
    }
  }
}

/** One-off resize of a single uint8 grayscale image (PIL Image.resize((outWidth, outHeight), BILINEAR)). */
export function resizeBilinear(
  src: Uint8Array,
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  return new Resizer(inWidth, inHeight, outWidth, outHeight).resize(src);
}

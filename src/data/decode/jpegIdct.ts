// The inverse DCT of the JPEG decoder, written to give the same integers as libjpeg's default "islow"
// method (what PIL uses): the Loeffler-Ligtenberg-Moschytz factorisation with 13-bit fixed-point
// constants, a column pass whose results keep 2 extra fraction bits, then a row pass, each rounded by
// adding half before an arithmetic shift. Integer addition is associative, so matching the rounding points
// and constants is enough to match bit for bit. JS numbers hold every intermediate exactly (well below
// 2^53 for any coefficient an 8-bit file can carry), so the shifts are written as exact divisions.

const CONST_BITS = 13;
const PASS1_BITS = 2;

/** round(x * 2^13), the fixed-point constants of the factorisation. */
const F_0_298631336 = 2446;
const F_0_390180644 = 3196;
const F_0_541196100 = 4433;
const F_0_765366865 = 6270;
const F_0_899976223 = 7373;
const F_1_175875602 = 9633;
const F_1_501321110 = 12299;
const F_1_847759065 = 15137;
const F_1_961570560 = 16069;
const F_2_053119869 = 16819;
const F_2_562915447 = 20995;
const F_3_072711026 = 25172;

const PASS1_SCALE = 2 ** (CONST_BITS - PASS1_BITS);
const PASS1_HALF = PASS1_SCALE / 2;
const PASS2_SCALE = 2 ** (CONST_BITS + PASS1_BITS + 3);
const PASS2_HALF = PASS2_SCALE / 2;

/**
 * One 8-point pass over in[o + k * s], k = 0..7, written to out[d + k * t], each result rounded down after
 * adding `half` and dividing by `scale` (an arithmetic right shift).
 */
function idct1d(
  inp: Float64Array,
  o: number,
  s: number,
  out: Float64Array,
  d: number,
  t: number,
  scale: number,
  half: number,
): void {
  // even part: inputs 0, 2, 4, 6
  let z2 = inp[o + 2 * s]!;
  let z3 = inp[o + 6 * s]!;
  let z1 = (z2 + z3) * F_0_541196100;
  const e2 = z1 - z3 * F_1_847759065;
  const e3 = z1 + z2 * F_0_765366865;
  z2 = inp[o]!;
  z3 = inp[o + 4 * s]!;
  const e0 = (z2 + z3) * 2 ** CONST_BITS;
  const e1 = (z2 - z3) * 2 ** CONST_BITS;
  const t10 = e0 + e3;
  const t13 = e0 - e3;
  const t11 = e1 + e2;
  const t12 = e1 - e2;
  // odd part: inputs 7, 5, 3, 1
  let o0 = inp[o + 7 * s]!;
  let o1 = inp[o + 5 * s]!;
  let o2 = inp[o + 3 * s]!;
  let o3 = inp[o + s]!;
  z1 = o0 + o3;
  z2 = o1 + o2;
  z3 = o0 + o2;
  let z4 = o1 + o3;
  const z5 = (z3 + z4) * F_1_175875602;
  o0 *= F_0_298631336;
  o1 *= F_2_053119869;
  o2 *= F_3_072711026;
  o3 *= F_1_501321110;
  z1 *= -F_0_899976223;
  z2 *= -F_2_562915447;
  z3 = z3 * -F_1_961570560 + z5;
  z4 = z4 * -F_0_390180644 + z5;
  o0 += z1 + z3;
  o1 += z2 + z4;
  o2 += z2 + z3;
  o3 += z1 + z4;
  out[d] = Math.floor((t10 + o3 + half) / scale);
  out[d + 7 * t] = Math.floor((t10 - o3 + half) / scale);
  out[d + t] = Math.floor((t11 + o2 + half) / scale);
  out[d + 6 * t] = Math.floor((t11 - o2 + half) / scale);
  out[d + 2 * t] = Math.floor((t12 + o1 + half) / scale);
  out[d + 5 * t] = Math.floor((t12 - o1 + half) / scale);
  out[d + 3 * t] = Math.floor((t13 + o0 + half) / scale);
  out[d + 4 * t] = Math.floor((t13 - o0 + half) / scale);
}

/** Scratch space for idctBlock; one per decoder (not reentrant). */
export class IdctScratch {
  readonly block = new Float64Array(64);
  readonly work = new Float64Array(64);
  readonly rows = new Float64Array(64);
}

/**
 * Dequantises one block of coefficients (natural order, coefs[c..c+63]) with `quant` (natural order) and
 * writes its 8x8 samples, level-shifted by 128 and clamped to 0..255, at out[o + y * stride + x].
 */
export function idctBlock(
  coefs: Int16Array,
  c: number,
  quant: Int32Array,
  out: Uint8Array,
  o: number,
  stride: number,
  scratch: IdctScratch,
): void {
  const { block, work, rows } = scratch;
  let acZero = true;
  for (let i = 0; i < 64; i++) {
    const v = coefs[c + i]! * quant[i]!;
    block[i] = v;
    if (i > 0 && v !== 0) acZero = false;
  }
  if (acZero) {
    // a flat block: the full computation gives (dc * 4 + 16) >> 5 everywhere, as below
    const v = clamp(Math.floor((block[0]! * 4 + 16) / 32) + 128);
    for (let y = 0; y < 8; y++) out.fill(v, o + y * stride, o + y * stride + 8);
    return;
  }
  // columns, keeping PASS1_BITS more fraction bits
  for (let x = 0; x < 8; x++) idct1d(block, x, 8, work, x, 8, PASS1_SCALE, PASS1_HALF);
  // rows, removing the remaining scale (2^(CONST_BITS + PASS1_BITS) and the DCT's factor 8)
  for (let y = 0; y < 8; y++) idct1d(work, y * 8, 1, rows, y * 8, 1, PASS2_SCALE, PASS2_HALF);
  for (let y = 0; y < 8; y++) {
    const r = o + y * stride;
    for (let x = 0; x < 8; x++) out[r + x] = clamp(rows[y * 8 + x]! + 128);
  }
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

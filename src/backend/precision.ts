// Mixed precision (bf16) helpers shared by backends and the CLI: rounding float32 values to bfloat16 (the
// reference backend's emulation and the tests' tolerance model) and choosing a precision on a backend with
// the hardware check the user sees. Nothing here imports from Node.
import type { Backend, Precision, PrecisionSupport } from "./backend.js";

/** The precisions the CLI offers (fp16 joins when a GPU backend runs it). */
export const PRECISIONS: readonly Precision[] = ["fp32", "bf16"];

/** bfloat16 keeps float32's exponent and 8 significant bits: one rounding is off by at most 2^-8 relative. */
export const BF16_EPSILON = 2 ** -8;

/** The bits of the bfloat16 nearest to float32 bits `u` (ties to even), as oneDNN's conversions round;
 * NaN stays NaN. */
function roundBits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return u;
  return ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds one float32 value to the nearest bfloat16. */
export function roundBf16Scalar(v: number): number {
  f32[0] = v;
  u32[0] = roundBits(u32[0]!);
  return f32[0];
}

/** A copy of `a` with every value rounded to bfloat16 (still stored as float32). */
export function roundBf16(a: Float32Array): Float32Array {
  const out = Float32Array.from(a);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = roundBits(bits[i]!);
  return out;
}

/** Thrown when a backend cannot compute in the requested precision; says why and what to do instead. */
export class PrecisionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PrecisionError";
  }
}

/** How `backend` would run `precision`; a backend that cannot switch precision runs fp32 only. */
export function precisionSupportOf(backend: Backend, precision: Precision): PrecisionSupport {
  if (precision !== "fp32" && !backend.setPrecision) {
    return { level: "unsupported", detail: `the ${backend.name} backend computes in fp32 only` };
  }
  return backend.precisionSupport(precision);
}

/** Sets `precision` on `backend`. A mixed precision where it is emulated works, with a warning that it is
 * slower than fp32; where it is unsupported, a PrecisionError says why before any work starts. Returns the
 * support line for reports (null for fp32). */
export function applyPrecision(backend: Backend, precision: Precision, warn: (msg: string) => void): PrecisionSupport | null {
  if (precision === "fp32") {
    backend.setPrecision?.("fp32");
    return null;
  }
  const support = precisionSupportOf(backend, precision);
  if (support.level === "unsupported") {
    throw new PrecisionError(`${precision} is not available on ${backend.describe()}: ${support.detail}; use --precision fp32`);
  }
  if (support.level === "emulated") warn(`alexnet: warning: ${precision} runs emulated here and will be slower than fp32 (${support.detail})`);
  backend.setPrecision!(precision);
  return support;
}

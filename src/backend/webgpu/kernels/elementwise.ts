// Element-wise kernels: one invocation per element over flat views. Implements reference/layers.ts
// reluForward/reluBackward and dropoutForward/dropoutBackward, and reference/index.ts affine, unary,
// binary (NumPy broadcasting), transpose-free 2-D transpose and fill (sigmoid and tanh: activation.ts).
// Dropout recomputes its mask from the counter hash in the backward pass instead of storing it: the same
// lowbias32 as backend.ts dropoutUniform in u32 arithmetic, compared as integers so masks are bit-equal
// to the CPU backends'.
import { type BinaryOp, type UnaryOp } from "../../backend.js";

/** The uniform struct of the flat kernels; the f and u fields are per-kernel scalars. */
const MAP_PARAMS = `struct Params { n: u32, aOff: u32, bOff: u32, outOff: u32, f0: f32, f1: f32, u0: u32, u1: u32, u2: u32, u3: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

/** Linear invocation id over a grid folded into x and y (device.ts grid1d). */
export const LINEAR_ID = "let i = (wg.x + wg.y * nwg.x) * 256u + li;";
export const MAIN_SIGNATURE = `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32)`;

export const DROPOUT_HASH_WGSL = `
// backend.ts dropoutUniform(seed, index) >= prob, as integers: keep iff hash >= ceil(prob * 2^32).
fn dropoutKeep(index: u32) -> bool {
  if (p.u3 != 0u) { return false; }
  var h = (index * 0x9e3779b9u) ^ p.u1;
  h ^= h >> 16u;
  h *= 0x21f0aaadu;
  h ^= h >> 15u;
  h *= 0x735a2d97u;
  h ^= h >> 15u;
  return h >= p.u2;
}`;

/** A flat kernel over `inputs` (named a, b; loaded as x, y) writing `out[i] = expr`. */
export function mapShader(name: string, inputs: number, expr: string, extra = ""): string {
  const decls = ["a", "b"].slice(0, inputs).map((v, k) => `@group(0) @binding(${k + 1}) var<storage, read> ${v}: array<f32>;`);
  const loads = ["let x = a[p.aOff + i];", "let y = b[p.bOff + i];"].slice(0, inputs);
  return `// ${name}
${MAP_PARAMS}
${decls.join("\n")}
@group(0) @binding(${inputs + 1}) var<storage, read_write> out: array<f32>;
${extra}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  ${loads.join(" ")}
  out[p.outOff + i] = ${expr};
}`;
}

export const FILL = mapShader("fill", 0, "p.f0");
// ReLU as the reference's `x > 0 ? x : 0` (NaN maps to 0).
export const RELU = mapShader("relu", 1, "select(0.0, x, x > 0.0)");
// a = dy, b = y: dx = dy where y > 0.
export const RELU_BACKWARD = mapShader("relu backward", 2, "select(0.0, x, y > 0.0)");
export const AFFINE = mapShader("affine", 1, "x * p.f0 + p.f1");
export const UNARY: Record<UnaryOp, string> = {
  neg: mapShader("neg", 1, "-x"),
  exp: mapShader("exp", 1, "exp(x)"),
  log: mapShader("log", 1, "log(x)"),
  sqrt: mapShader("sqrt", 1, "sqrt(x)"),
};
// Forward and backward are the same map: x (or dy) times the mask value, 1/(1-p) or 0.
export const DROPOUT = mapShader("dropout", 1, "x * select(0.0, p.f0, dropoutKeep(p.u0 + i))", DROPOUT_HASH_WGSL);

/** Uniform fields of DROPOUT: scale f0; u0 index of the first element; u1 seed; u2 threshold; u3 drop all. */
export function dropoutFields(prob: number, seed: number): { scale: number; seed: number; threshold: number; dropAll: number } {
  // dropoutUniform(seed, i) = h / 2^32 >= prob  <=>  h >= ceil(prob * 2^32) for integer h; prob * 2^32 is
  // exact in double arithmetic. At or past 2^32 nothing is kept.
  const t = Math.ceil(prob * 4294967296);
  return {
    scale: prob < 1 ? 1 / (1 - prob) : 0,
    seed: seed >>> 0,
    threshold: t <= 0 ? 0 : Math.min(t, 4294967295),
    dropAll: t > 4294967295 ? 1 : 0,
  };
}

/** Transpose of a (R,C) into out (C,R): u0 = R, u1 = C. */
export const TRANSPOSE = `// transpose
${MAP_PARAMS}
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let row = i % p.u0; let col = i / p.u0;
  out[p.outOff + i] = a[p.aOff + row * p.u1 + col];
}`;

/** The most dimensions the broadcasting and reduction kernels index (two vec4 of sizes and strides). */
export const MAX_RANK = 8;

const BINARY_EXPR: Record<BinaryOp, string> = { add: "x + y", sub: "x - y", mul: "x * y", div: "x / y" };

/** out = a op b with NumPy broadcasting: sa/sb are a's and b's strides over the output's dims (0 where
 * broadcast), all padded to MAX_RANK with leading size-1 dims. */
export function binaryShader(op: BinaryOp): string {
  return `// binary ${op} (broadcasting)
struct Params { n: u32, rank: u32, aOff: u32, bOff: u32, outOff: u32, pad0: u32, pad1: u32, pad2: u32,
  shape: array<vec4<u32>, 2>, sa: array<vec4<u32>, 2>, sb: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  var rest = i;
  var ia = 0u;
  var ib = 0u;
  for (var d = ${MAX_RANK - 1}i; d >= 0; d--) {
    let size = p.shape[d / 4][d % 4];
    let c = rest % size;
    rest = rest / size;
    ia += c * p.sa[d / 4][d % 4];
    ib += c * p.sb[d / 4][d % 4];
  }
  let x = a[p.aOff + ia];
  let y = b[p.bOff + ib];
  out[p.outOff + i] = ${BINARY_EXPR[op]};
}`;
}

/** Row-major strides of `from` broadcast onto `to` (0 along broadcast dims), padded to MAX_RANK. */
export function broadcastStrides(from: readonly number[], to: readonly number[]): number[] {
  const out = new Array<number>(MAX_RANK).fill(0);
  let s = 1;
  for (let i = from.length - 1; i >= 0; i--) {
    const d = MAX_RANK - from.length + i;
    out[d] = from[i] === 1 && to[to.length - from.length + i] !== 1 ? 0 : s;
    s *= from[i]!;
  }
  return out;
}

/** `shape` padded to MAX_RANK with leading 1s. */
export function padShape(shape: readonly number[]): number[] {
  if (shape.length > MAX_RANK) throw new Error(`tensors of rank ${shape.length} exceed the webgpu backend's ${MAX_RANK}`);
  return [...new Array<number>(MAX_RANK - shape.length).fill(1), ...shape];
}

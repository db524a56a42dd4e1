// Sigmoid and tanh, forward and backward (reference/layers.ts sigmoid/tanh), as flat map kernels.
// Both are written to stay exact in f32 over the whole range: sigmoid never divides inf by inf (for
// x < 0 it is e/(1+e) with e = exp(x)), and tanh uses its Taylor series near 0 (where 1 - e cancels)
// and the builtin on a clamped argument elsewhere (tanh(±10) is ±1 in f32; some drivers return NaN for
// the builtin at large |x|). NaN passes through both.
import { mapShader } from "./elementwise.js";

const SIGMOID_FN = `
fn sigmoid(x: f32) -> f32 {
  if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); }
  let e = exp(x);
  return e / (1.0 + e);
}`;

const TANH_FN = `
fn tanhSafe(x: f32) -> f32 {
  if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return x; }
  let a = abs(x);
  if (a < 0.0625) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 - x2 * (17.0 / 315.0))));
  }
  return tanh(clamp(x, -10.0, 10.0));
}`;

export const SIGMOID = mapShader("sigmoid", 1, "sigmoid(x)", SIGMOID_FN);
// a = dy, b = y: dx = dy * y * (1 - y).
export const SIGMOID_BACKWARD = mapShader("sigmoid backward", 2, "x * y * (1.0 - y)");
export const TANH = mapShader("tanh", 1, "tanhSafe(x)", TANH_FN);
// a = dy, b = y: dx = dy * (1 - y^2).
export const TANH_BACKWARD = mapShader("tanh backward", 2, "x * (1.0 - y * y)");

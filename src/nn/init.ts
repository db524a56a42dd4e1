// Weight initialisation: Xavier (Glorot) uniform as d2l's train_ch6 applies it, and PyTorch's defaults
// for Conv2d/Linear (kaiming_uniform with a=sqrt(5) on the weight, which is U(-1/sqrt(fan_in), +) and
// the same bound for the bias). All draw from the seeded generator in tensor/random.ts.
import { defaultRng, type Rng } from "../tensor/random.js";
import { rand } from "../tensor/creation.js";
import type { Tensor } from "../tensor/tensor.js";

/** fan_in and fan_out of a weight as PyTorch computes them: (out, in, *kernel). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fan in/out need at least 2 dimensions, got [${shape.join(", ")}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/** A new tensor like `like`, uniform in [-bound, bound). */
export function uniformLike(like: Tensor, bound: number, rng: Rng = defaultRng): Tensor {
  return rand(like.shape, { low: -bound, high: bound, rng, dtype: like.dtype, backend: like.backend });
}

/** nn.init.xavier_uniform_: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)). */
export function xavierUniformBound(shape: readonly number[], gain = 1): number {
  const { fanIn, fanOut } = fans(shape);
  return gain * Math.sqrt(6 / (fanIn + fanOut));
}

/** PyTorch's default bound for Conv2d/Linear weights and biases: 1/sqrt(fan_in). */
export function defaultBound(weightShape: readonly number[]): number {
  const { fanIn } = fans(weightShape);
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

/** nn.init.xavier_uniform_, in place. */
export function xavierUniform_(t: Tensor, gain = 1, rng: Rng = defaultRng): Tensor {
  return fillUniform_(t, xavierUniformBound(t.shape, gain), rng);
}

/** In place: U(-bound, bound). */
export function fillUniform_(t: Tensor, bound: number, rng: Rng = defaultRng): Tensor {
  // A shape-only (meta) tensor has no values to draw: building a model there costs no time or memory.
  if (t.backend.name === "meta") return t;
  const values = uniformLike(t, bound, rng);
  t.copy_(values);
  values.dispose();
  return t;
}

// Factory functions: zeros, ones, full, rand, randn (from the seeded generator in random.ts).
import { numel } from "../backend/backend.js";
import { type Rng, defaultRng } from "./random.js";
import { Tensor, type TensorOptions, resolveBackend } from "./tensor.js";

export interface RandomOptions extends TensorOptions {
  rng?: Rng;
}

function make(shape: readonly number[], options: TensorOptions, fill: (data: Float32Array | Float64Array) => void): Tensor {
  const dtype = options.dtype ?? "float32";
  const data = dtype === "float64" ? new Float64Array(numel(shape)) : new Float32Array(numel(shape));
  fill(data);
  const backend = resolveBackend(options.backend);
  return new Tensor(backend.fromArray(data, shape, dtype), options.requiresGrad ?? false);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  const dtype = options.dtype ?? "float32";
  return new Tensor(resolveBackend(options.backend).fill(shape, dtype, 0), options.requiresGrad ?? false);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  const dtype = options.dtype ?? "float32";
  return new Tensor(resolveBackend(options.backend).fill(shape, dtype, value), options.requiresGrad ?? false);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Uniform in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const rng = options.rng ?? defaultRng;
  const low = options.low ?? 0;
  const span = (options.high ?? 1) - low;
  return make(shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = low + span * rng.uniform();
  });
}

/** Normal with the given mean and standard deviation (default standard normal). */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const rng = options.rng ?? defaultRng;
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  return make(shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  });
}

// Factory functions: zeros, ones, full, rand, randn (from the seeded generator in random.ts). Each checks its
// shape first, so a bad one is one ShapeError naming the function and the shape (`randn: shape [2, -3] has
// a negative dimension (-3 at index 1)`), never a backend's or a typed array's RangeError.
import { numel } from "../backend/backend.js";
import { ShapeError } from "../backend/shapes.js";
import { type Rng, defaultRng } from "./random.js";
import { Tensor, type TensorOptions, resolveBackend } from "./tensor.js";

export interface RandomOptions extends TensorOptions {
  rng?: Rng;
}

/** The largest element count one tensor's host buffer may have (a typed array's length limit here). */
const MAX_ELEMENTS = 2 ** 32 - 1;

/** Throws a ShapeError naming `fn` and the shape unless it is a list of whole numbers >= 0 whose product a
 * tensor can hold. */
export function checkShape(fn: string, shape: unknown): asserts shape is readonly number[] {
  const show = (s: unknown): string => {
    if (!Array.isArray(s)) return typeof s === "string" ? `'${s}'` : String(s);
    return `[${s.map((d) => (typeof d === "number" ? String(d) : JSON.stringify(d) ?? String(d))).join(", ")}]`;
  };
  if (!Array.isArray(shape)) throw new ShapeError(`${fn}: shape must be an array of dimensions such as [2, 3] (got ${show(shape)})`);
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== "number" || !Number.isInteger(d)) {
      throw new ShapeError(`${fn}: shape ${show(shape)} has a dimension that is not a whole number (${show([d]).slice(1, -1)} at index ${i})`);
    }
    if (d < 0) throw new ShapeError(`${fn}: shape ${show(shape)} has a negative dimension (${d} at index ${i})`);
  }
  const n = numel(shape as number[]);
  if (n > MAX_ELEMENTS) throw new ShapeError(`${fn}: shape ${show(shape)} has ${n.toExponential(2)} elements, more than one tensor can hold (${MAX_ELEMENTS})`);
}

function make(fn: string, shape: readonly number[], options: TensorOptions, fill: (data: Float32Array | Float64Array) => void): Tensor {
  checkShape(fn, shape);
  const dtype = options.dtype ?? "float32";
  let data: Float32Array | Float64Array;
  try {
    data = dtype === "float64" ? new Float64Array(numel(shape)) : new Float32Array(numel(shape));
  } catch (e) {
    throw new ShapeError(`${fn}: cannot allocate shape [${shape.join(", ")}] (${numel(shape)} ${dtype} values): ${(e as Error).message}`);
  }
  fill(data);
  const backend = resolveBackend(options.backend);
  return new Tensor(backend.fromArray(data, shape, dtype), options.requiresGrad ?? false);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  checkShape("zeros", shape);
  const dtype = options.dtype ?? "float32";
  return new Tensor(resolveBackend(options.backend).fill(shape, dtype, 0), options.requiresGrad ?? false);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return filled("full", shape, value, options);
}

function filled(fn: string, shape: readonly number[], value: number, options: TensorOptions): Tensor {
  checkShape(fn, shape);
  const dtype = options.dtype ?? "float32";
  return new Tensor(resolveBackend(options.backend).fill(shape, dtype, value), options.requiresGrad ?? false);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return filled("ones", shape, 1, options);
}

/** Uniform in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const rng = options.rng ?? defaultRng;
  const low = options.low ?? 0;
  const span = (options.high ?? 1) - low;
  return make("rand", shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = low + span * rng.uniform();
  });
}

/** Normal with the given mean and standard deviation (default standard normal). */
export function randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const rng = options.rng ?? defaultRng;
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  return make("randn", shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = mean + std * rng.normal();
  });
}

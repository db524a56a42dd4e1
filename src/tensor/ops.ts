// General differentiable ops: element-wise arithmetic with broadcasting, activations, reductions, softmax,
// concatenation, matmul, reshape.
// Each op calls the backend for its forward and records its backward beside it. Layer-sized ops
// (conv2d, pooling, linear, dropout, cross-entropy) are in functional.ts.
import type { Backend, BinaryOp, Storage } from "../backend/backend.js";
import { numel } from "../backend/backend.js";
import { checkReshape, concatShape, matmulShape, normalizeAxes, transposeShape } from "../backend/shapes.js";
import { isGradEnabled } from "./autograd.js";
import { keep } from "./scope.js";
import { Tensor } from "./tensor.js";

/** The backend shared by all operands; mixing backends is an error that names both. */
export function commonBackend(op: string, tensors: readonly Tensor[]): Backend {
  const backend = tensors[0]!.backend;
  for (const t of tensors) {
    if (t.backend !== backend) {
      throw new Error(`${op}: operands live on different backends (${backend.name} and ${t.backend.name}); move them first`);
    }
  }
  return backend;
}

/** Wraps an op's output, recording its backward when any input needs a gradient. */
export function record(
  op: string,
  out: Storage,
  inputs: readonly Tensor[],
  backward: (grad: Storage) => (Storage | null)[],
  release?: () => void,
): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) {
    release?.();
    return new Tensor(out);
  }
  return new Tensor(out, true, { op, inputs, backward, release });
}

/** Sums a broadcast gradient back down to `shape` (the inverse of NumPy broadcasting). */
function sumTo(backend: Backend, g: Storage, shape: readonly number[]): Storage {
  if (g.shape.join() === shape.join()) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.shape.length; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = backend.sum(g, axes, true);
  const out = backend.reshape(summed, shape);
  backend.dispose(summed);
  backend.dispose(g);
  return out;
}

/** A 0-d tensor for a number operand. Its op's node owns it (kept out of scopes): the backward of mul and
 * div reads it, even after the scope that made the op has closed. */
function scalarLike(a: Tensor, value: number): Tensor {
  return keep(new Tensor(a.backend.fill([], a.dtype, value)));
}

function binaryOp(op: BinaryOp, aIn: Tensor | number, bIn: Tensor | number): Tensor {
  if (typeof aIn === "number" && typeof bIn === "number") throw new Error(`${op}: at least one operand must be a tensor`);
  const a = typeof aIn === "number" ? scalarLike(bIn as Tensor, aIn) : aIn;
  const b = typeof bIn === "number" ? scalarLike(a, bIn) : bIn;
  const backend = commonBackend(op, [a, b]);
  const out = backend.binary(op, a.storage, b.storage);
  const result = record(op, out, [a, b], (g) => {
    let ga: Storage | null = null;
    let gb: Storage | null = null;
    if (op === "add" || op === "sub") {
      if (a.requiresGrad) ga = backend.copy(g);
      if (b.requiresGrad) gb = op === "add" ? backend.copy(g) : backend.affine(g, -1, 0);
    } else if (op === "mul") {
      if (a.requiresGrad) ga = backend.binary("mul", g, b.storage);
      if (b.requiresGrad) gb = backend.binary("mul", g, a.storage);
    } else {
      // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -(a/b)/b
      if (a.requiresGrad) ga = backend.binary("div", g, b.storage);
      if (b.requiresGrad) {
        const q = backend.binary("div", a.storage, b.storage);
        const qb = backend.binary("div", q, b.storage);
        const gq = backend.binary("mul", g, qb);
        gb = backend.affine(gq, -1, 0);
        [q, qb, gq].forEach((s) => backend.dispose(s));
      }
    }
    return [ga && sumTo(backend, ga, a.shape), gb && sumTo(backend, gb, b.shape)];
    // A scalar made from a number belongs to this node: mul and div read it in the backward.
  }, () => {
    if (typeof aIn === "number") a.dispose();
    if (typeof bIn === "number") b.dispose();
  });
  return result;
}

export const add = (a: Tensor | number, b: Tensor | number): Tensor => binaryOp("add", a, b);
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binaryOp("sub", a, b);
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binaryOp("mul", a, b);
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binaryOp("div", a, b);
export function neg(a: Tensor): Tensor {
  const backend = a.backend;
  return record("neg", backend.unary("neg", a.storage), [a], (g) => [backend.affine(g, -1, 0)]);
}

export function exp(a: Tensor): Tensor {
  const backend = a.backend;
  const y = backend.unary("exp", a.storage);
  // dy/dx = exp(x) = y; y is the output's own storage, alive as long as the output is.
  return record("exp", y, [a], (g) => [backend.binary("mul", g, y)]);
}

export function log(a: Tensor): Tensor {
  const backend = a.backend;
  return record("log", backend.unary("log", a.storage), [a], (g) => [backend.binary("div", g, a.storage)]);
}

export function sqrt(a: Tensor): Tensor {
  const backend = a.backend;
  const y = backend.unary("sqrt", a.storage);
  // dy/dx = 1 / (2 sqrt(x)) = 0.5 / y
  return record("sqrt", y, [a], (g) => {
    const half = backend.binary("div", g, y);
    const ga = backend.affine(half, 0.5, 0);
    backend.dispose(half);
    return [ga];
  });
}

export function relu(a: Tensor): Tensor {
  const backend = a.backend;
  const y = backend.relu(a.storage);
  return record("relu", y, [a], (g) => [backend.reluBackward(g, y)]);
}

export function sigmoid(a: Tensor): Tensor {
  const backend = a.backend;
  const y = backend.sigmoid(a.storage);
  return record("sigmoid", y, [a], (g) => [backend.sigmoidBackward(g, y)]);
}

export function tanh(a: Tensor): Tensor {
  const backend = a.backend;
  const y = backend.tanh(a.storage);
  return record("tanh", y, [a], (g) => [backend.tanhBackward(g, y)]);
}

/** Maximum over `axes` (all when empty), torch.amax. Not differentiable: it only shifts softmax. */
export function max(a: Tensor, axes: number | readonly number[] = [], keepDims = false): Tensor {
  return new Tensor(a.backend.max(a.storage, normalizeAxes(axes, a.ndim), keepDims));
}

/** log(softmax(x)) along `dim`: (x - m) - log(sum(exp(x - m))) with m the maximum (a constant shift). */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const [ax] = normalizeAxes([dim], x.ndim);
  const backend = x.backend;
  const y = logSoftmaxStorage(backend, x.storage, ax!);
  return record("logSoftmax", y, [x], (g) => {
    // dx = g - softmax * sum(g) along the axis
    const p = backend.unary("exp", y);
    const gs = backend.sum(g, [ax!], true);
    const pg = backend.binary("mul", p, gs);
    const dx = backend.binary("sub", g, pg);
    [p, gs, pg].forEach((t) => backend.dispose(t));
    return [dx];
  });
}

/** softmax(x) along `dim`, as exp(logSoftmax(x)) (stable for large logits). */
export function softmax(x: Tensor, dim: number): Tensor {
  const [ax] = normalizeAxes([dim], x.ndim);
  const backend = x.backend;
  const logY = logSoftmaxStorage(backend, x.storage, ax!);
  const y = backend.unary("exp", logY);
  backend.dispose(logY);
  return record("softmax", y, [x], (g) => {
    // dx = y * (g - sum(g * y)) along the axis
    const gy = backend.binary("mul", g, y);
    const s = backend.sum(gy, [ax!], true);
    const d = backend.binary("sub", g, s);
    const dx = backend.binary("mul", y, d);
    [gy, s, d].forEach((t) => backend.dispose(t));
    return [dx];
  });
}

function logSoftmaxStorage(backend: Backend, x: Storage, ax: number): Storage {
  const m = backend.max(x, [ax], true);
  const shifted = backend.binary("sub", x, m);
  const e = backend.unary("exp", shifted);
  const total = backend.sum(e, [ax], true);
  const lse = backend.unary("log", total);
  const y = backend.binary("sub", shifted, lse);
  [m, shifted, e, total, lse].forEach((t) => backend.dispose(t));
  return y;
}

/** Concatenation along `dim`, torch.cat; its backward splits the gradient into the inputs' sizes. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error("cat needs at least one tensor");
  concatShape(tensors.map((t) => t.shape), dim);
  const [ax] = normalizeAxes([dim], tensors[0]!.ndim);
  const backend = commonBackend("cat", tensors);
  const out = backend.concat(tensors.map((t) => t.storage), ax!);
  const sizes = tensors.map((t) => t.shape[ax!]!);
  return record("cat", out, tensors, (g) => {
    const parts: (Storage | null)[] = backend.split(g, ax!, sizes);
    return parts.map((part, i) => {
      if (tensors[i]!.requiresGrad) return part;
      backend.dispose(part!);
      return null;
    });
  });
}

export function sum(a: Tensor, axes: number | readonly number[] = [], keepDims = false): Tensor {
  return scaledSum("sum", a, axes, keepDims, false);
}

export function mean(a: Tensor, axes: number | readonly number[] = [], keepDims = false): Tensor {
  return scaledSum("mean", a, axes, keepDims, true);
}

function scaledSum(op: string, a: Tensor, axes: number | readonly number[], keepDims: boolean, average: boolean): Tensor {
  const backend = a.backend;
  const ax = normalizeAxes(axes, a.ndim);
  const count = ax.length === 0 ? a.numel : ax.reduce((n, i) => n * a.shape[i]!, 1);
  const scale = average ? 1 / count : 1;
  const total = backend.sum(a.storage, ax, keepDims);
  const out = average ? backend.affine(total, scale, 0) : total;
  if (average) backend.dispose(total);
  return record(op, out, [a], (g) => {
    // Broadcast g (times the scale) back over the reduced axes.
    const keptShape = a.shape.map((d, i) => (ax.length === 0 || ax.includes(i) ? 1 : d));
    const gk = backend.reshape(g, keptShape);
    const zero = backend.fill(a.shape, a.dtype, 0);
    const spread = backend.binary("add", zero, gk);
    const ga = average ? backend.affine(spread, scale, 0) : spread;
    if (average) backend.dispose(spread);
    [zero, gk].forEach((st) => backend.dispose(st));
    return [ga];
  });
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  matmulShape(a.shape, b.shape, false, false);
  const backend = commonBackend("matmul", [a, b]);
  const out = backend.matmul(a.storage, b.storage, false, false);
  return record("matmul", out, [a, b], (g) => [
    // g is (M,N): dA = g B^T (M,K), dB = A^T g (K,N)
    a.requiresGrad ? backend.matmul(g, b.storage, false, true) : null,
    b.requiresGrad ? backend.matmul(a.storage, g, true, false) : null,
  ]);
}

export function transpose(a: Tensor): Tensor {
  transposeShape(a.shape);
  const backend = a.backend;
  // a is (M,N) -> (N,M); the gradient (N,M) goes back through the same transpose
  return record("transpose", backend.transpose(a.storage), [a], (g) => [backend.transpose(g)]);
}

export function reshape(a: Tensor, shape: readonly number[]): Tensor {
  const resolved = resolveShape(shape, a.numel, a.shape);
  const backend = a.backend;
  return record("reshape", backend.reshape(a.storage, resolved), [a], (g) => [backend.reshape(g, a.shape)]);
}

/** Flattens dimensions startDim.. into one (nn.Flatten's default startDim is 1). */
export function flatten(a: Tensor, startDim = 1): Tensor {
  const keep = a.shape.slice(0, startDim);
  return reshape(a, [...keep, numel(a.shape.slice(startDim))]);
}

function resolveShape(shape: readonly number[], total: number, from: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const known = out.reduce((n, d, i) => (i === free ? n : n * d), 1);
    out[free] = known === 0 ? 0 : total / known;
  }
  checkReshape(from, out);
  return out;
}

// ---- Tensor's method forms ------------------------------------------------------------------------
// `x.add(y)`, `x.sum()`, ... are installed on Tensor here rather than written in tensor.ts, so that the two
// files do not import each other; every module that makes tensors by ops loads this one.

declare module "./tensor.js" {
  interface Tensor {
    add(other: Tensor | number): Tensor;
    sub(other: Tensor | number): Tensor;
    mul(other: Tensor | number): Tensor;
    div(other: Tensor | number): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    sum(axes?: number | number[], keepDims?: boolean): Tensor;
    mean(axes?: number | number[], keepDims?: boolean): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(...shape: number[] | [number[]]): Tensor;
    flatten(startDim?: number): Tensor;
    transpose(): Tensor;
  }
}

Object.assign(Tensor.prototype, {
  add(this: Tensor, other: Tensor | number) { return add(this, other); },
  sub(this: Tensor, other: Tensor | number) { return sub(this, other); },
  mul(this: Tensor, other: Tensor | number) { return mul(this, other); },
  div(this: Tensor, other: Tensor | number) { return div(this, other); },
  neg(this: Tensor) { return neg(this); },
  exp(this: Tensor) { return exp(this); },
  log(this: Tensor) { return log(this); },
  sqrt(this: Tensor) { return sqrt(this); },
  relu(this: Tensor) { return relu(this); },
  sigmoid(this: Tensor) { return sigmoid(this); },
  tanh(this: Tensor) { return tanh(this); },
  sum(this: Tensor, axes: number | number[] = [], keepDims = false) { return sum(this, axes, keepDims); },
  mean(this: Tensor, axes: number | number[] = [], keepDims = false) { return mean(this, axes, keepDims); },
  matmul(this: Tensor, other: Tensor) { return matmul(this, other); },
  reshape(this: Tensor, ...shape: number[] | [number[]]) { return reshape(this, Array.isArray(shape[0]) ? shape[0] : (shape as number[])); },
  flatten(this: Tensor, startDim = 1) { return flatten(this, startDim); },
  transpose(this: Tensor) { return transpose(this); },
});

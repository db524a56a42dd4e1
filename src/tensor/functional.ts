// Layer-sized differentiable ops (torch.nn.functional): conv2d, maxPool2d, linear, dropout, crossEntropy.
// Each checks its operands' shapes with a message that says what was expected, calls the backend's forward,
// and records the backend's backward with whatever context the forward saved.
import { type Backend, type Conv2dParams, type Pool2dParams, type Storage, windowOutSize } from "../backend/backend.js";
import { defaultRng, type Rng } from "./random.js";
import { commonBackend, record } from "./ops.js";
import { Tensor } from "./tensor.js";

import { relu } from "./ops.js";

export { relu };

/** A shape mismatch found by an op or layer; nn.Sequential adds the layer's index and name. */
export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShapeError";
  }
}

export const fmt = (shape: readonly (number | string)[]): string => `[${shape.join(", ")}]`;

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** Output shape of conv2d, validating the input (N,C,H,W) against the weight (O,C,KH,KW). */
export function conv2dShape(x: readonly number[], w: readonly number[], p: Conv2dParams): number[] {
  if (x.length !== 4) throw new ShapeError(`expected input (N, C, H, W) with 4 dimensions, got ${fmt(x)}`);
  const [n, c, h, wd] = x as [number, number, number, number];
  const [o, ci, kh, kw] = w as [number, number, number, number];
  if (c !== ci) throw new ShapeError(`expected input with ${ci} channels ${fmt(["N", ci, "H", "W"])}, got ${fmt(x)}`);
  const oh = windowOutSize(h, kh, p.stride[0], p.padding[0]);
  const ow = windowOutSize(wd, kw, p.stride[1], p.padding[1]);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(`kernel ${kh}x${kw} with padding ${p.padding[0]}x${p.padding[1]} does not fit input ${h}x${wd} (got ${fmt(x)})`);
  }
  return [n, o, oh, ow];
}

export function conv2d(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return convLayer(x, w, b, options, false);
}

/** relu(conv2d(x, w, b)): one pass where the backend fuses ReLU into the convolution (a oneDNN post-op),
 * else the two ops. The backward is reluBackward on the saved output, then the conv's. */
export function conv2dRelu(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions = {}): Tensor {
  return convLayer(x, w, b, options, true);
}

function convLayer(x: Tensor, w: Tensor, b: Tensor | null, options: Conv2dOptions, withRelu: boolean): Tensor {
  const p: Conv2dParams = { stride: pair(options.stride ?? 1), padding: pair(options.padding ?? 0) };
  conv2dShape(x.shape, w.shape, p);
  const operands = b ? [x, w, b] : [x, w];
  const backend = commonBackend("conv2d", operands);
  if (withRelu && !backend.conv2dRelu) return relu(convLayer(x, w, b, options, false));
  const y = withRelu ? backend.conv2dRelu!(x.storage, w.storage, b ? b.storage : null, p) : backend.conv2d(x.storage, w.storage, b ? b.storage : null, p);
  return record(withRelu ? "conv2dRelu" : "conv2d", y, operands, (dy) => {
    // dy is (N,O,OH,OW) [-> dz before the ReLU] -> dx (N,C,H,W), dw (O,C,KH,KW), db (O)
    const dz = withRelu ? backend.reluBackward(dy, y) : dy;
    const g = backend.conv2dBackward(dz, x.storage, w.storage, b !== null, p, x.requiresGrad);
    if (dz !== dy) backend.dispose(dz);
    return layerGrads(backend, g, w, b);
  });
}

/** What a conv2d/linear backward hands to autograd: dx, dw (freed when w is frozen), db when there is one. */
function layerGrads(backend: Backend, g: { dx: Storage | null; dw: Storage; db: Storage | null }, w: Tensor, b: Tensor | null): (Storage | null)[] {
  if (!w.requiresGrad) backend.dispose(g.dw);
  const dw = w.requiresGrad ? g.dw : null;
  return b ? [g.dx, dw, g.db] : [g.dx, dw];
}

export interface Pool2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

export function maxPool2dShape(x: readonly number[], p: Pool2dParams): number[] {
  if (x.length !== 4) throw new ShapeError(`expected input (N, C, H, W) with 4 dimensions, got ${fmt(x)}`);
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = p.kernel;
  if (p.padding[0] * 2 > kh || p.padding[1] * 2 > kw) {
    throw new ShapeError(`padding ${p.padding.join("x")} must be at most half of kernel ${kh}x${kw}`);
  }
  if (h + 2 * p.padding[0] < kh || w + 2 * p.padding[1] < kw) {
    throw new ShapeError(`pooling window ${kh}x${kw} is larger than the padded input ${h + 2 * p.padding[0]}x${w + 2 * p.padding[1]} (input ${fmt(x)})`);
  }
  return [n, c, windowOutSize(h, kh, p.stride[0], p.padding[0]), windowOutSize(w, kw, p.stride[1], p.padding[1])];
}

/** Max pooling; stride defaults to the kernel size, as in PyTorch. */
export function maxPool2d(x: Tensor, kernel: number | [number, number], options: Pool2dOptions = {}): Tensor {
  const k = pair(kernel);
  const p: Pool2dParams = { kernel: k, stride: pair(options.stride ?? k), padding: pair(options.padding ?? 0) };
  maxPool2dShape(x.shape, p);
  const backend = x.backend;
  const { y, ctx } = backend.maxPool2d(x.storage, p);
  return record(
    "maxPool2d", y, [x],
    (dy) => [backend.maxPool2dBackward(dy, x.storage, ctx, p)],
    () => ctx.dispose(),
  );
}

export function linearShape(x: readonly number[], w: readonly number[]): number[] {
  const [o, i] = w as [number, number];
  if (x.length !== 2 || x[1] !== i) {
    throw new ShapeError(`expected input ${fmt(["N", i])}, got ${fmt(x)}`);
  }
  return [x[0]!, o];
}

export function linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  return linearLayer(x, w, b, false);
}

/** relu(linear(x, w, b)), fused where the backend can (see conv2dRelu). */
export function linearRelu(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  return linearLayer(x, w, b, true);
}

function linearLayer(x: Tensor, w: Tensor, b: Tensor | null, withRelu: boolean): Tensor {
  linearShape(x.shape, w.shape);
  const operands = b ? [x, w, b] : [x, w];
  const backend = commonBackend("linear", operands);
  if (withRelu && !backend.linearRelu) return relu(linearLayer(x, w, b, false));
  const y = withRelu ? backend.linearRelu!(x.storage, w.storage, b ? b.storage : null) : backend.linear(x.storage, w.storage, b ? b.storage : null);
  return record(withRelu ? "linearRelu" : "linear", y, operands, (dy) => {
    // dy is (N,O) [-> dz before the ReLU] -> dx (N,I), dw (O,I), db (O)
    const dz = withRelu ? backend.reluBackward(dy, y) : dy;
    const g = backend.linearBackward(dz, x.storage, w.storage, b !== null, x.requiresGrad);
    if (dz !== dy) backend.dispose(dz);
    return layerGrads(backend, g, w, b);
  });
}

// Data parallelism (src/distributed) runs a contiguous shard of each global batch that starts at this row:
// the mask offset makes the shard's mask the rows the whole batch would get in one process.
let dropoutRowOffset = 0;

/** Sets the global-batch row at which this process's batches start (0 outside data parallelism). */
export function setDropoutRowOffset(row: number): void {
  dropoutRowOffset = row;
}

/** Inverted dropout; identity when not training or p == 0. The mask seed comes from `rng`. */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng = defaultRng): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout probability must be in [0, 1], got ${p}`);
  const backend = x.backend;
  if (!training || p === 0) {
    return record("dropout", backend.reshape(x.storage, x.shape), [x], (dy) => [backend.reshape(dy, dy.shape)]);
  }
  const offset = dropoutRowOffset * (x.shape[0] ? x.numel / x.shape[0] : 0);
  const { y, ctx } = backend.dropout(x.storage, p, rng.nextU32(), offset);
  return record("dropout", y, [x], (dy) => [backend.dropoutBackward(dy, ctx)], () => ctx.dispose());
}

/** Mean cross-entropy of logits (N,K) against integer labels (nn.CrossEntropyLoss). */
export function crossEntropy(logits: Tensor, labels: Int32Array | readonly number[]): Tensor {
  if (logits.ndim !== 2) throw new ShapeError(`cross-entropy expects logits (N, K), got ${fmt(logits.shape)}`);
  const lab = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  if (lab.length !== logits.shape[0]) {
    throw new ShapeError(`cross-entropy got ${lab.length} labels for logits ${fmt(logits.shape)}`);
  }
  const backend = logits.backend;
  const { loss, ctx } = backend.crossEntropy(logits.storage, lab);
  return record("crossEntropy", loss, [logits], (g) => [backend.crossEntropyBackward(g, ctx)], () => ctx.dispose());
}

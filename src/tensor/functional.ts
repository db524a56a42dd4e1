// Layer-sized differentiable ops (torch.nn.functional): conv2d, max/average/adaptive pooling, linear,
// batch normalization, dropout, crossEntropy.
// Each checks its operands' shapes (shapes.ts, with a message that says what was expected), calls the
// backend's forward, and records the backend's backward beside it with whatever context the forward saved.
import type { Backend, BatchNormParams, Conv2dParams, Pool2dParams, Storage } from "../backend/backend.js";
import {
  ShapeError, adaptiveAvgPool2dShape, avgPool2dShape, batchNormShape, conv2dShape, fmt, linearShape, maxPool2dShape,
} from "../backend/shapes.js";
import { defaultRng, type Rng } from "./random.js";
import { commonBackend, record, relu } from "./ops.js";
import { Tensor } from "./tensor.js";

export { relu, ShapeError, fmt, conv2dShape, linearShape, maxPool2dShape };

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
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
  conv2dShape(x.shape, w.shape, p, b?.shape);
  const operands = b ? [x, w, b] : [x, w];
  const backend = commonBackend("conv2d", operands);
  const y = backend.conv2d(x.storage, w.storage, b ? b.storage : null, p, { relu: withRelu });
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

/** Average pooling with PyTorch's defaults (count_include_pad=True, ceil_mode=False); stride defaults to
 * the kernel size. */
export function avgPool2d(x: Tensor, kernel: number | [number, number], options: Pool2dOptions = {}): Tensor {
  const k = pair(kernel);
  const p: Pool2dParams = { kernel: k, stride: pair(options.stride ?? k), padding: pair(options.padding ?? 0) };
  avgPool2dShape(x.shape, p);
  const backend = x.backend;
  // x is (N,C,H,W) -> y (N,C,OH,OW); dy -> dx (N,C,H,W)
  const y = backend.avgPool2d(x.storage, p);
  return record("avgPool2d", y, [x], (dy) => [backend.avgPool2dBackward(dy, x.shape, p)]);
}

/** Adaptive average pooling to `outSize` with PyTorch's bins. Uniform bins (H and W multiples of the
 * output) run as avgPool2d, the op fast backends have tuned. */
export function adaptiveAvgPool2d(x: Tensor, outSize: number | [number, number]): Tensor {
  const out = pair(outSize);
  adaptiveAvgPool2dShape(x.shape, out);
  const [, , h, w] = x.shape as [number, number, number, number];
  if (h % out[0] === 0 && w % out[1] === 0) {
    const k: [number, number] = [h / out[0], w / out[1]];
    return avgPool2d(x, k, { stride: k });
  }
  const backend = x.backend;
  const xShape = x.shape as [number, number, number, number];
  const y = backend.adaptiveAvgPool2d(x.storage, out);
  return record("adaptiveAvgPool2d", y, [x], (dy) => [backend.adaptiveAvgPool2dBackward(dy, xShape)]);
}

/** Batch normalization over channel axis 1 of (N,C) or (N,C,H,W), torch.nn.functional.batch_norm's
 * argument order. In training mode the running statistics are updated in place. */
export function batchNorm(
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor,
  training: boolean, momentum = 0.1, eps = 1e-5,
): Tensor {
  return batchNormLayer(x, runningMean, runningVar, weight, bias, { training, momentum, eps }, false);
}

/** relu(batchNorm(...)) in one pass where the backend fuses it (nn.Sequential uses it for BatchNorm, ReLU). */
export function batchNormRelu(
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor,
  training: boolean, momentum = 0.1, eps = 1e-5,
): Tensor {
  return batchNormLayer(x, runningMean, runningVar, weight, bias, { training, momentum, eps }, true);
}

function batchNormLayer(
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor, p: BatchNormParams, withRelu: boolean,
): Tensor {
  batchNormShape(x.shape, weight.shape[0] ?? 0, p.training);
  const backend = commonBackend("batchNorm", [x, weight, bias, runningMean, runningVar]);
  const { y, ctx } = backend.batchNorm(
    x.storage, weight.storage, bias.storage, runningMean.storage, runningVar.storage, p, { relu: withRelu },
  );
  return record(withRelu ? "batchNormRelu" : "batchNorm", y, [x, weight, bias], (dy) => {
    // dy is (N,C[,H,W]) [-> dz before the ReLU] -> dx like x, dweight (C), dbias (C)
    const dz = withRelu ? backend.reluBackward(dy, y) : dy;
    const g = backend.batchNormBackward(dz, x.storage, weight.storage, ctx);
    if (dz !== dy) backend.dispose(dz);
    const grads: (Storage | null)[] = [g.dx, g.dweight, g.dbias];
    [x, weight, bias].forEach((t, i) => {
      if (!t.requiresGrad) {
        backend.dispose(grads[i]!);
        grads[i] = null;
      }
    });
    return grads;
  }, () => ctx.dispose());
}

export function linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  return linearLayer(x, w, b, false);
}

/** relu(linear(x, w, b)), fused where the backend can (see conv2dRelu). */
export function linearRelu(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  return linearLayer(x, w, b, true);
}

function linearLayer(x: Tensor, w: Tensor, b: Tensor | null, withRelu: boolean): Tensor {
  linearShape(x.shape, w.shape, b?.shape);
  const operands = b ? [x, w, b] : [x, w];
  const backend = commonBackend("linear", operands);
  const y = backend.linear(x.storage, w.storage, b ? b.storage : null, { relu: withRelu });
  return record(withRelu ? "linearRelu" : "linear", y, operands, (dy) => {
    // dy is (N,O) [-> dz before the ReLU] -> dx (N,I), dw (O,I), db (O)
    const dz = withRelu ? backend.reluBackward(dy, y) : dy;
    const g = backend.linearBackward(dz, x.storage, w.storage, b !== null, x.requiresGrad);
    if (dz !== dy) backend.dispose(dz);
    return layerGrads(backend, g, w, b);
  });
}

let dropoutRowOffset = 0;

/** The global index of the batch's first row, for dropout masks (default 0). A data-parallel rank that
 * computes rows r0.. of the global batch sets r0, so its masks equal the single-process run's rows. */
export function setDropoutRowOffset(rows: number): void {
  if (!(Number.isInteger(rows) && rows >= 0)) throw new Error(`dropout row offset must be a non-negative integer, got ${rows}`);
  dropoutRowOffset = rows;
}

/** Inverted dropout; identity when not training or p == 0. The mask seed comes from `rng`; element i of
 * a (N, ...) input is hashed at (row offset) * (elements per row) + i. */
export function dropout(x: Tensor, p: number, training: boolean, rng: Rng = defaultRng): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout probability must be in [0, 1], got ${p}`);
  const backend = x.backend;
  if (!training || p === 0) {
    return record("dropout", backend.copy(x.storage), [x], (dy) => [backend.copy(dy)]);
  }
  const perRow = x.ndim > 0 && x.shape[0]! > 0 ? x.numel / x.shape[0]! : 0;
  const { y, ctx } = backend.dropout(x.storage, p, rng.nextU32(), dropoutRowOffset * perRow);
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

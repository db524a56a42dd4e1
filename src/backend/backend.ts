// The Backend contract: the coarse ops every device implements, forward and backward side by side. A backend
// owns its tensor memory (Storage) and may keep it in any layout; the front end only sees logical shapes
// (NCHW for images, (N, features) for matrices, OIHW for conv weights, (out, in) for linear). Reads may be
// asynchronous (a GPU can only read back that way). Shape rules live once, in shapes.ts. docs/ops.md maps
// every op to its front-end function, kernels, tests and bench. Nothing here imports from Node.

export type DType = "float32" | "float64";

/** Compute precision of conv2d and linear. "bf16" (CPU) and "fp16" (GPU, WebGPU's shader-f16) are mixed
 * precision as PyTorch's autocast does it: those layers read low-precision activations and copies of the
 * fp32 weights and accumulate in fp32; weight gradients, master weights, the SGD update, loss and softmax
 * stay fp32. Tensors still show dtype float32: the storage type is the backend's business, like layouts. */
export type Precision = "fp32" | "bf16" | "fp16";

/** How a backend runs a precision: "native" on the hardware's own instructions, "emulated" in software
 * (works, slower), "unsupported" (setPrecision throws). `detail` says why, for reports. */
export interface PrecisionSupport {
  level: "native" | "emulated" | "unsupported";
  detail: string;
}

/** Every compute op of the contract, by its method name. `supports(op, dtype)` answers per op, and a model,
 * its loss and its optimizer are checked before any work (Module.to, the trainer), never mid-training. */
export const OP_NAMES = [
  "conv2d", "conv2dBackward",
  "maxPool2d", "maxPool2dBackward",
  "relu", "reluBackward",
  "linear", "linearBackward",
  "dropout", "dropoutBackward",
  "sigmoid", "sigmoidBackward", "tanh", "tanhBackward",
  "avgPool2d", "avgPool2dBackward", "adaptiveAvgPool2d", "adaptiveAvgPool2dBackward",
  "batchNorm", "batchNormBackward",
  "concat", "split",
  "crossEntropy", "crossEntropyBackward", "correctCount",
  "sgdUpdate",
  "binary", "unary", "affine", "sum", "max", "matmul", "transpose",
  "reshape", "copy", "fill",
] as const;
export type OpName = (typeof OP_NAMES)[number];

/** A backend-owned buffer. `shape` is logical; how the bytes are laid out is the backend's business. */
export interface Storage {
  readonly backend: Backend;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** What a forward op saves for its backward (pool argmax/workspace, dropout mask). Opaque to the front end. */
export interface OpContext {
  dispose(): void;
}

export interface Conv2dParams {
  stride: [number, number];
  padding: [number, number];
}

export interface Pool2dParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

/** What a conv2d or linear applies to its output in the same pass (bias is an operand). With relu, the
 * front end's backward is reluBackward(dy, y) followed by the layer's backward. */
export interface Epilogue {
  relu?: boolean;
}

/** Batch normalization over the channel axis 1 of (N,C) or (N,C,H,W), as torch.nn.functional.batch_norm. */
export interface BatchNormParams {
  /** Batch statistics (and a running-statistics update) when true; the running statistics when false. */
  training: boolean;
  /** running = (1 - momentum) * running + momentum * batch; the variance with the unbiased batch variance. */
  momentum: number;
  eps: number;
}

export interface SgdParams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export type BinaryOp = "add" | "sub" | "mul" | "div";
export type UnaryOp = "neg" | "exp" | "log" | "sqrt";

export interface MemoryStats {
  liveBuffers: number;
  liveBytes: number;
  /** Highest liveBytes since the backend started or since resetPeak(). */
  peakBytes?: number;
}

export interface Backend {
  /** "reference", "native", "webgpu". */
  readonly name: string;
  /** "cpu" or "gpu". */
  readonly device: string;
  /** One line for reports, e.g. "cpu (native, 2 threads)", "gpu (webgpu, NVIDIA H200, Vulkan)". */
  describe(): string;
  supports(op: OpName, dtype: DType): boolean;
  /** Whether and how `p` would run on this backend and machine. */
  precisionSupport(p: Precision): PrecisionSupport;
  /** Optional: switches conv2d/linear (forward and backward) to mixed precision; backends without it
   * compute in fp32 only. Throws when the backend cannot run `p` here. Affects float32 tensors only. */
  setPrecision?(p: Precision): void;
  precision?(): Precision;

  // ---- memory -------------------------------------------------------------------------------------
  /** Copies `data` (row-major, logical shape) into a new buffer. */
  fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage;
  /** A new buffer with every element `value`. */
  fill(shape: readonly number[], dtype: DType, value: number): Storage;
  /** A new buffer with the same values (and layout) as `x`. */
  copy(x: Storage): Storage;
  /** Row-major copy of the values; resolves when the device has computed them. */
  read(s: Storage): Promise<Float32Array | Float64Array>;
  /** Synchronous read; CPU backends provide it, GPU backends do not. */
  readSync?(s: Storage): Float32Array | Float64Array;
  /** Optional: resolves when all work submitted so far has finished (GPU timing); CPU work is synchronous. */
  sync?(): Promise<void>;
  dispose(s: Storage): void;
  memoryStats(): MemoryStats;
  /** Starts a new peak measurement (optional; backends without it report no peak). */
  resetPeak?(): void;
  /** Optional: seconds spent in each kind of op since the backend started (kinds are the backend's own:
   * conv, pool, linear, relu, dropout, loss, sgd, other, ...). `alexnet bench` turns differences into
   * time shares. Backend-specific knobs (threads, conv algorithm) live in the backend's own options. */
  opSeconds?(): Record<string, number>;

  // ---- layer ops ----------------------------------------------------------------------------------
  /** x (N,C,H,W), w (O,C,KH,KW), b (O) or null -> y (N,O,OH,OW), with the epilogue applied. */
  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, epilogue?: Epilogue): Storage;
  /** dy (N,O,OH,OW) -> dx (N,C,H,W) when needDx, dw (O,C,KH,KW), db (O) when hasBias. */
  conv2dBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null };

  /** x (N,C,H,W) -> y (N,C,OH,OW); ctx remembers where each max came from (the first max on ties). */
  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext };
  maxPool2dBackward(dy: Storage, x: Storage, ctx: OpContext, p: Pool2dParams): Storage;

  /** y = max(x, 0), any shape. */
  relu(x: Storage): Storage;
  /** dx = dy where y > 0. */
  reluBackward(dy: Storage, y: Storage): Storage;

  /** x (N,I), w (O,I), b (O) or null -> y (N,O) = x w^T + b, with the epilogue applied. */
  linear(x: Storage, w: Storage, b: Storage | null, epilogue?: Epilogue): Storage;
  linearBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null };

  /** Inverted dropout: element i is kept iff dropoutUniform(seed, offset + i) >= p, and scaled by 1/(1-p).
   * `offset` keys masks by a global element index (a data-parallel rank passes its shard's first row). */
  dropout(x: Storage, p: number, seed: number, offset?: number): { y: Storage; ctx: OpContext };
  dropoutBackward(dy: Storage, ctx: OpContext): Storage;

  /** y = 1 / (1 + exp(-x)), any shape. */
  sigmoid(x: Storage): Storage;
  /** dx = dy * y * (1 - y). */
  sigmoidBackward(dy: Storage, y: Storage): Storage;
  /** y = tanh(x), any shape. */
  tanh(x: Storage): Storage;
  /** dx = dy * (1 - y^2). */
  tanhBackward(dy: Storage, y: Storage): Storage;

  /** Average pooling x (N,C,H,W) -> y (N,C,OH,OW): PyTorch's count_include_pad=True (padded zeros count in
   * the divisor, which is always KH*KW) and ceil_mode=False. */
  avgPool2d(x: Storage, p: Pool2dParams): Storage;
  /** dy (N,C,OH,OW) -> dx of shape `xShape`: each output's gradient spread evenly over its window. */
  avgPool2dBackward(dy: Storage, xShape: readonly number[], p: Pool2dParams): Storage;
  /** Adaptive average pooling x (N,C,H,W) -> (N,C,OH,OW) with PyTorch's bins: output row i averages input
   * rows floor(i*H/OH) .. ceil((i+1)*H/OH)-1 (columns likewise). */
  adaptiveAvgPool2d(x: Storage, outSize: readonly [number, number]): Storage;
  /** dy (N,C,OH,OW) -> dx of shape `xShape`. */
  adaptiveAvgPool2dBackward(dy: Storage, xShape: readonly [number, number, number, number]): Storage;

  /** x (N,C) or (N,C,H,W), weight and bias (C) -> y like x, normalized per channel. In training mode with
   * the biased batch variance, and runningMean/runningVar (C) are updated in place; in eval mode with the
   * running statistics (not written). `epilogue.relu` applies a ReLU to y in the same pass (the front end's
   * backward is then reluBackward(dy, y) first). ctx keeps what the backward needs (batch mean and 1/std). */
  batchNorm(
    x: Storage, weight: Storage, bias: Storage, runningMean: Storage, runningVar: Storage, p: BatchNormParams,
    epilogue?: Epilogue,
  ): { y: Storage; ctx: OpContext };
  /** dy like x -> dx like x, dweight (C), dbias (C), for the mode the forward ran in. */
  batchNormBackward(
    dy: Storage, x: Storage, weight: Storage, ctx: OpContext,
  ): { dx: Storage; dweight: Storage; dbias: Storage };

  /** Concatenation along `axis` (all other dimensions equal), torch.cat. */
  concat(xs: readonly Storage[], axis: number): Storage;
  /** The inverse of concat (its backward): consecutive parts of x along `axis` with the given sizes. */
  split(x: Storage, axis: number, sizes: readonly number[]): Storage[];

  /** Same values, new logical shape (row-major order). Returns a new Storage to dispose separately. */
  reshape(x: Storage, shape: readonly number[]): Storage;

  /** Mean over the batch of -log softmax(logits)[label]; logits (N,K), labels N ints in [0,K). -> scalar. */
  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext };
  /** dloss is a scalar; returns dlogits (N,K) = dloss * (softmax - onehot) / N. */
  crossEntropyBackward(dloss: Storage, ctx: OpContext): Storage;
  /** logits (N,K) -> scalar: how many rows have their first largest logit at the label (d2l's accuracy
   * count), so that metrics can stay on the device until the trainer reads them. */
  correctCount(logits: Storage, labels: Int32Array): Storage;

  /** In place, PyTorch's torch.optim.SGD rule. `velocity` (same shape) is required when momentum > 0;
   * `firstStep` tells whether the velocity buffer still has to be initialised with the gradient. */
  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, p: SgdParams, firstStep: boolean): void;

  // ---- small general ops (tests, metrics, gradient plumbing) --------------------------------------
  /** Element-wise with NumPy broadcasting. */
  binary(op: BinaryOp, a: Storage, b: Storage): Storage;
  unary(op: UnaryOp, a: Storage): Storage;
  /** a * alpha + beta, element-wise. */
  affine(a: Storage, alpha: number, beta: number): Storage;
  /** Sum over `axes` (all when empty); kept axes have size 1 when keepDims. */
  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage;
  /** Maximum over `axes` (all when empty), as sum (NaN propagates). Not differentiated: softmax's shift. */
  max(a: Storage, axes: readonly number[], keepDims: boolean): Storage;
  /** op(a) @ op(b) where op transposes when the flag is set: (M,K) @ (K,N) -> (M,N). 2-D only. */
  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage;
  /** (M,N) -> (N,M). */
  transpose(a: Storage): Storage;
}

/** Thrown when a backend is asked for something it cannot do; names op, dtype and device. */
export class UnsupportedOpError extends Error {
  constructor(op: string, dtype: DType, backend: Backend, neededBy?: string) {
    const by = neededBy ? ` (needed by ${neededBy})` : "";
    super(`op '${op}'${by} with dtype ${dtype} is not supported on ${backend.device} (${backend.name} backend)`);
    this.name = "UnsupportedOpError";
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "float64" ? 8 : 4;
}

/** The counter-based uniform in [0,1) that decides dropout masks, identical in every backend so that
 * masks are reproducible and comparable: a lowbias32 hash (Chris Wellons) of seed and index. */
export function dropoutUniform(seed: number, index: number): number {
  let h = (Math.imul(index, 0x9e3779b9) ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x21f0aaad);
  h ^= h >>> 15;
  h = Math.imul(h, 0x735a2d97);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

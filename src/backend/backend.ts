// The Backend interface: the dozen coarse ops every device implements, forward and backward side by side.
// A backend owns its tensor memory (Storage) and may keep it in any layout; the front end only sees
// logical shapes (NCHW for images, (N, features) for matrices, OIHW for conv weights, (out, in) for linear).
// Nothing here imports from Node: the core must run in a browser too.

export type DType = "float32" | "float64";

/** Compute precision of conv2d and linear. "bf16" is mixed precision as PyTorch's CPU autocast does it:
 * those layers read bfloat16 activations and bfloat16 copies of the fp32 weights and accumulate in fp32;
 * activations between them are stored as bf16 (pooling, ReLU and dropout keep the type); weight gradients,
 * master weights, the SGD update, loss and softmax stay fp32. Tensors still show dtype float32: the
 * storage type is the backend's business, like its layouts. */
export type Precision = "fp32" | "bf16";

/** How a backend runs bf16: "native" on bf16 instructions (AVX512-BF16, AMX), "emulated" in software
 * (works, slower than fp32), "unsupported" (setPrecision("bf16") throws). `detail` says why, for reports. */
export interface PrecisionSupport {
  level: "native" | "emulated" | "unsupported";
  detail: string;
}

/** Every op a backend can be asked for. `supports(op, dtype)` answers per op, so a model fails when it is
 * built or moved to a backend, not mid-training. */
export const OP_NAMES = [
  "conv2d",
  "maxPool2d",
  "relu",
  "linear",
  "dropout",
  "reshape",
  "crossEntropy",
  "sgdUpdate",
  "elementwise",
  "sum",
  "matmul",
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

export interface SgdParams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export type BinaryOp = "add" | "sub" | "mul" | "div";
export type UnaryOp = "neg" | "exp" | "log";

export interface MemoryStats {
  liveBuffers: number;
  liveBytes: number;
  /** Highest liveBytes since the backend started or since resetPeak(). */
  peakBytes?: number;
}

export interface Backend {
  /** "reference", "native", later "webgpu". */
  readonly name: string;
  /** "cpu", later "gpu". */
  readonly device: string;
  /** One line for reports, e.g. "cpu (native, 2 threads)". */
  describe(): string;
  /** Optional: how many CPU threads the backend's kernels use (`--threads N`); backends without a thread
   * pool of their own leave it out. describe() reflects the setting. */
  setThreads?(n: number): void;
  supports(op: OpName, dtype: DType): boolean;
  /** Optional: switches conv2d/linear (forward and backward) to mixed precision; backends without it
   * compute in fp32 only. Throws when the backend cannot run `p` here. Affects float32 tensors only. */
  setPrecision?(p: Precision): void;
  precision?(): Precision;
  /** Optional: whether and how bf16 would run on this backend and machine. */
  bf16Support?(): PrecisionSupport;

  // ---- memory -------------------------------------------------------------------------------------
  /** Copies `data` (row-major, logical shape) into a new buffer. */
  fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage;
  zeros(shape: readonly number[], dtype: DType): Storage;
  /** Row-major copy of the values. May resolve later (GPU read-back). */
  read(s: Storage): Promise<Float32Array | Float64Array>;
  /** Synchronous read; CPU backends provide it, GPU backends may not. */
  readSync?(s: Storage): Float32Array | Float64Array;
  dispose(s: Storage): void;
  memoryStats(): MemoryStats;
  /** Starts a new peak measurement (optional; backends without it report no peak). */
  resetPeak?(): void;
  /** Optional: seconds spent in each kind of op since the backend started (conv, pool, linear, relu,
   * dropout, loss, sgd, other, and "conversion" for layout and type conversions, which the ops that asked
   * for them do not count). `alexnet bench` turns differences into time shares. */
  opSeconds?(): Record<string, number>;

  // ---- layer ops ----------------------------------------------------------------------------------
  /** x (N,C,H,W), w (O,C,KH,KW), b (O) or null -> y (N,O,OH,OW). */
  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams): Storage;
  /** dy (N,O,OH,OW) -> dx (N,C,H,W) when needDx, dw (O,C,KH,KW), db (O) when hasBias. */
  conv2dBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null };

  /** Optional: relu(conv2d(x, w, b)) in one pass (oneDNN post-op), saving a pass over y. Its backward is
   * reluBackward(dy, y) followed by conv2dBackward. Measured on the native backend, AlexNet-28 batch 128:
   * ~5% faster inference, ~2% faster training. */
  conv2dRelu?(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams): Storage;

  /** x (N,C,H,W) -> y (N,C,OH,OW); ctx remembers where each max came from. */
  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext };
  maxPool2dBackward(dy: Storage, x: Storage, ctx: OpContext, p: Pool2dParams): Storage;

  /** y = max(x, 0), any shape. */
  relu(x: Storage): Storage;
  /** dx = dy where y > 0. */
  reluBackward(dy: Storage, y: Storage): Storage;

  /** x (N,I), w (O,I), b (O) or null -> y (N,O) = x w^T + b. */
  linear(x: Storage, w: Storage, b: Storage | null): Storage;
  linearBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null };
  /** Optional: relu(linear(x, w, b)) in one pass, as conv2dRelu. */
  linearRelu?(x: Storage, w: Storage, b: Storage | null): Storage;

  /** Inverted dropout: element i is kept iff dropoutUniform(seed, offset + i) >= p, and scaled by 1/(1-p).
   * offset (default 0) lets a shard of a batch draw the mask the whole batch would give its rows. */
  dropout(x: Storage, p: number, seed: number, offset?: number): { y: Storage; ctx: OpContext };
  dropoutBackward(dy: Storage, ctx: OpContext): Storage;

  /** Same values, new logical shape (row-major order). Returns a new Storage to dispose separately. */
  reshape(x: Storage, shape: readonly number[]): Storage;

  /** Mean over the batch of -log softmax(logits)[label]; logits (N,K), labels N ints in [0,K). -> scalar. */
  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext };
  /** dloss is a scalar; returns dlogits (N,K) = dloss * (softmax - onehot) / N. */
  crossEntropyBackward(dloss: Storage, ctx: OpContext): Storage;

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
  /** op(a) @ op(b) where op transposes when the flag is set: (M,K) @ (K,N) -> (M,N). 2-D only. */
  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage;
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

/** Output size of a convolution or pooling window along one axis (floor mode, as PyTorch's default). */
export function windowOutSize(inSize: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((inSize + 2 * padding - kernel) / stride) + 1;
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

// The WebGPU backend: every op of the Backend contract in WGSL, fp32. Storage is a pooled GPU buffer
// (row-major, the logical layout); nothing is read back except by read(); work is batched into few
// submits (device.ts). The class implements KernelHost (host.ts), the small interface through which the
// kernel hosts run: layers.ts (conv, max-pool, linear), training.ts (loss, SGD), reductions.ts (sum, max),
// pooling.ts (average pools), norm.ts (batch norm), concat.ts; kernels are in kernels/. Hosts never import
// this file. Browser-safe: the caller hands in a GPU object (navigator.gpu, or Dawn's from node.ts).
import {
  type Backend, type BatchNormParams, type BinaryOp, type Conv2dParams, type DType, type Epilogue, type MemoryStats, OP_NAMES,
  type OpContext, type OpName, type Pool2dParams, type Precision, type PrecisionSupport, type SgdParams, type Storage,
  type UnaryOp, UnsupportedOpError, numel,
} from "../backend.js";
import { PrecisionError } from "../precision.js";
import type { BackendFactory, BackendOptions } from "../registry.js";
import { checkReshape, checkSameShape, matmulShape } from "../shapes.js";
import { type BufferView, type GpuContext, GpuError, type OpenOptions, Params, openGpu } from "./device.js";
import * as concat from "./concat.js";
import * as general from "./general.js";
import { GpuStorage, type KernelHost, flat } from "./host.js";
import { SIGMOID, SIGMOID_BACKWARD, TANH, TANH_BACKWARD } from "./kernels/activation.js";
import { AFFINE, DROPOUT, FILL, RELU, RELU_BACKWARD, UNARY, dropoutFields } from "./kernels/elementwise.js";
import { type GemmOptions, type Tile } from "./kernels/gemm.js";
import { GpuVariantTimer, type TuneCache, type TuneMode, Tuner, type VariantTimer } from "./tuner.js";
import * as layers from "./layers.js";
import * as norm from "./norm.js";
import * as pooling from "./pooling.js";
import { reduce } from "./reductions.js";
import * as training from "./training.js";
import { BufferPool } from "./pool.js";

export { GpuError } from "./device.js";
export { GpuStorage } from "./host.js";

/** Every op of the contract runs here, in float32 only (WGSL has no f64). */
const WEBGPU_OPS: ReadonlySet<string> = new Set(OP_NAMES);

export interface WebGpuOptions extends OpenOptions {
  /** Shortest K range per split-K slice (tests lower it to reach the split path on small shapes). */
  minSplitK?: number;
  /** Forces one GEMM tile shape (tests run the big tiles on small shapes). */
  gemmTile?: Tile;
  /** GEMM variant tuning (tuner.ts): "auto" (default) tunes except on a CPU emulation; "off" is
   * --no-tune, "on" tunes even on SwiftShader (tests, `alexnet tune`). */
  tune?: TuneMode;
  /** Where tuned choices persist (node.ts: a JSON file in the user's cache directory; the page:
   * tuneCacheIdb.ts); none: this process only. */
  tuneCache?: TuneCache | null;
  /** How variants are timed (tests inject a fake timer); default: on the device (GpuVariantTimer). */
  tuneTimer?: VariantTimer;
  /** Where one-line tuner notes go (skipped variants, a corrupt cache); default console.warn. */
  warn?: (line: string) => void;
}

interface DropoutContext extends OpContext {
  prob: number;
  seed: number;
  offset: number;
}

export class WebGpuBackend implements Backend, KernelHost {
  readonly name = "webgpu";
  readonly device = "gpu";
  readonly pool: BufferPool;
  readonly gemmOptions: GemmOptions;
  readonly tuner: Tuner;
  private readonly tuneAsked: TuneMode;

  constructor(readonly ctx: GpuContext, opts: WebGpuOptions = {}) {
    this.pool = new BufferPool(ctx);
    this.gemmOptions = {
      minSplitK: opts.minSplitK ?? 256,
      maxPartialBytes: Math.min(64 * 2 ** 20, ctx.limits.maxStorageBufferBindingSize),
      maxSharedBytes: ctx.limits.maxComputeWorkgroupStorageSize,
      ...(opts.gemmTile ? { tile: opts.gemmTile } : {}),
    };
    this.tuneAsked = opts.tune ?? "auto";
    // A CPU emulation's timings say nothing about a GPU, and compiling every variant there takes minutes.
    const mode = this.tuneAsked === "auto" ? (ctx.adapter.software ? "off" : "on") : this.tuneAsked;
    const gemmOptions = (): GemmOptions => this.gemmOptions;
    const timer = opts.tuneTimer ?? new GpuVariantTimer(ctx, this.pool, gemmOptions);
    this.tuner = new Tuner(mode, ctx.adapter.key, opts.tuneCache ?? null, timer, gemmOptions, opts.warn ?? ((l) => console.warn(l)));
    if (mode === "on") this.gemmOptions.select = (spec, d, bytes, fallback) => this.tuner.select(spec, d, bytes, fallback);
  }

  /** The report line's device; says whether GEMM choices were tuned (not where tuning is off by default,
   * on a CPU emulation). */
  describe(): string {
    const a = this.ctx.adapter;
    const tuned = this.tuner.mode === "on" || this.tuneAsked === "off" ? this.tuner.summary() : "";
    return `gpu (webgpu, ${a.description}${a.api ? `, ${a.api}` : ""}${tuned})`;
  }

  /** Times the GEMM shapes first used since the last call (the tuner queues them); a no-op when tuning
   * is off or nothing is new. read() and sync() call it, when the queue is idle anyway. */
  async tune(): Promise<void> {
    if (this.tuner.hasPending) await this.tuner.tunePending();
  }

  /** Whether the adapter is a CPU emulation (SwiftShader, llvmpipe): `--device auto` never picks one. */
  isSoftware(): boolean {
    return this.ctx.adapter.software;
  }

  supports(op: OpName, dtype: DType): boolean {
    return dtype === "float32" && WEBGPU_OPS.has(op);
  }

  precisionSupport(p: Precision): PrecisionSupport {
    if (p === "fp32") return { level: "native", detail: "WGSL f32" };
    if (p === "fp16") {
      return {
        level: "unsupported",
        detail: this.ctx.adapter.hasShaderF16 ? "the adapter has shader-f16 but the webgpu backend has no fp16 kernels yet" : "the adapter lacks shader-f16",
      };
    }
    return { level: "unsupported", detail: "WGSL has no bfloat16 (fp16 mixed precision is the GPU's counterpart)" };
  }

  /** fp32 only for now; anything else throws a PrecisionError saying why. */
  setPrecision(p: Precision): void {
    if (p !== "fp32") throw new PrecisionError(`${p} is not available on ${this.describe()}: ${this.precisionSupport(p).detail}`);
  }

  precision(): Precision {
    return "fp32";
  }

  // ---- memory -------------------------------------------------------------------------------------

  /** A new live storage of `shape` (contents undefined until a kernel writes it). */
  alloc(shape: readonly number[], what: string): GpuStorage {
    return new GpuStorage(this, [...shape], "float32", this.pool.acquire(4 * numel(shape), what));
  }

  get(s: Storage): GpuStorage {
    if (!(s instanceof GpuStorage) || s.backend !== this) throw new Error(`storage of the ${s.backend.name} backend passed to the webgpu backend`);
    if (s.disposed) throw new Error("use of a disposed tensor");
    return s;
  }

  /** The binding of elements [start, start+count) of `s`; throws naming `what` past the binding limit. */
  view(s: GpuStorage, start: number, count: number, what: string): BufferView {
    const align = this.ctx.limits.minStorageBufferOffsetAlignment;
    const byteStart = 4 * start;
    const offset = Math.floor(byteStart / align) * align;
    const shift = (byteStart - offset) / 4;
    const size = Math.max(4, 4 * (shift + count));
    if (size > this.ctx.limits.maxStorageBufferBindingSize) {
      throw new GpuError(`${what}: a ${4 * count}-byte tensor [${s.shape.join(", ")}] exceeds this GPU's ${this.ctx.limits.maxStorageBufferBindingSize}-byte storage binding limit`);
    }
    return { buffer: s.buf.gpu, offset, size, shift };
  }

  private checkDtype(dtype: DType, op: OpName | "fromArray"): void {
    if (dtype !== "float32") throw new UnsupportedOpError(op, dtype, this);
  }

  fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage {
    this.checkDtype(dtype, "fromArray");
    if (data.length !== numel(shape)) throw new Error(`buffer of ${data.length} values does not fit shape [${shape.join(", ")}]`);
    const s = this.alloc(shape, `tensor [${shape.join(", ")}]`);
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    if (f32.length > 0) this.ctx.write(s.buf.gpu, 0, f32);
    return s;
  }

  /** Labels and other int32 data, as a storage the kernels read as array<i32>. */
  fromInt32(data: Int32Array): GpuStorage {
    const s = this.alloc([data.length], "labels");
    if (data.length > 0) this.ctx.write(s.buf.gpu, 0, data);
    return s;
  }

  fill(shape: readonly number[], dtype: DType, value: number): Storage {
    this.ctx.kind = "other";
    this.checkDtype(dtype, "fill");
    const s = this.alloc(shape, `tensor [${shape.join(", ")}]`);
    flat(this, FILL, numel(shape), [], s, (p) => p.f32(value, 0));
    return s;
  }

  async read(s: Storage): Promise<Float32Array> {
    const g = this.get(s);
    const n = numel(g.shape);
    if (n === 0) return new Float32Array(0);
    const out = new Float32Array(await this.ctx.readBytes(g.buf.gpu, 0, 4 * n));
    await this.tune();
    return out;
  }

  dispose(s: Storage): void {
    const g = s as GpuStorage;
    if (g.disposed) return;
    g.disposed = true;
    this.pool.release(g.buf);
  }

  memoryStats(): MemoryStats {
    return { liveBuffers: this.pool.liveBuffers, liveBytes: this.pool.liveBytes, peakBytes: this.pool.peakBytes };
  }

  resetPeak(): void {
    this.pool.resetPeak();
  }

  /** GPU seconds per kind of op (conv, pool, linear, relu, dropout, loss, sgd, other) from timestamp
   * queries. The first call starts the timing (and returns zeros); sync() brings the numbers up to date.
   * Empty where the adapter has no timestamp queries (then time the step around sync()). */
  opSeconds(): Record<string, number> {
    this.ctx.startProfiling();
    return this.ctx.profiledSeconds();
  }

  /** Resolves when all submitted work is done; rejects with a one-line GpuError after a device failure. */
  async sync(): Promise<void> {
    await this.ctx.sync();
    await this.tune();
  }

  /** Submits the work encoded so far without waiting for it. */
  flush(): void {
    this.ctx.flush();
  }

  /** For tests of the trainer's error path: every later op and read fails as after a real device loss. */
  simulateDeviceLoss(reason?: string): void {
    this.ctx.simulateLoss(reason);
  }

  destroy(): void {
    this.pool.trim();
    this.ctx.destroy();
  }

  // ---- layer ops (layers.ts) ----------------------------------------------------------------------

  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, epilogue?: Epilogue): Storage {
    this.ctx.kind = "conv";
    return layers.conv2d(this, this.get(x), this.get(w), b && this.get(b), p, epilogue?.relu === true);
  }

  conv2dBackward(dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean) {
    this.ctx.kind = "conv";
    return layers.conv2dBackward(this, this.get(dy), this.get(x), this.get(w), hasBias, p, needDx);
  }

  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext } {
    this.ctx.kind = "pool";
    return layers.maxPool2d(this, this.get(x), p);
  }

  maxPool2dBackward(dy: Storage, x: Storage, ctx: OpContext, p: Pool2dParams): Storage {
    this.ctx.kind = "pool";
    return layers.maxPool2dBackward(this, this.get(dy), this.get(x), ctx as layers.PoolContext, p);
  }

  relu(x: Storage): Storage {
    return this.map("relu", RELU, "relu", [this.get(x)]);
  }

  reluBackward(dy: Storage, y: Storage): Storage {
    return this.map("relu", RELU_BACKWARD, "relu backward", [this.get(dy), this.get(y)]);
  }

  linear(x: Storage, w: Storage, b: Storage | null, epilogue?: Epilogue): Storage {
    this.ctx.kind = "linear";
    return layers.linear(this, this.get(x), this.get(w), b && this.get(b), epilogue?.relu === true);
  }

  linearBackward(dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean) {
    this.ctx.kind = "linear";
    return layers.linearBackward(this, this.get(dy), this.get(x), this.get(w), hasBias, needDx);
  }

  /** Element i is kept iff dropoutUniform(seed, offset + i) >= p; the mask is recomputed in backward. */
  dropout(x: Storage, p: number, seed: number, offset = 0): { y: Storage; ctx: OpContext } {
    this.ctx.kind = "dropout";
    const g = this.get(x);
    const y = this.alloc(g.shape, "dropout");
    this.dropoutMap(g, y, p, seed, offset);
    const ctx: DropoutContext = { prob: p, seed, offset, dispose() {} };
    return { y, ctx };
  }

  dropoutBackward(dy: Storage, ctx: OpContext): Storage {
    this.ctx.kind = "dropout";
    const c = ctx as DropoutContext;
    const g = this.get(dy);
    const dx = this.alloc(g.shape, "dropout backward");
    this.dropoutMap(g, dx, c.prob, c.seed, c.offset);
    return dx;
  }

  private dropoutMap(src: GpuStorage, dst: GpuStorage, prob: number, seed: number, offset: number): void {
    const f = dropoutFields(prob, seed);
    flat(this, DROPOUT, numel(src.shape), [src], dst, (p, start) => p.f32(f.scale, 0).u32(offset + start, f.seed, f.threshold, f.dropAll));
  }

  // ---- d2l's later layers (pooling.ts, norm.ts, concat.ts; all f32 whatever the conv precision) ----

  sigmoid(x: Storage): Storage {
    return this.map("other", SIGMOID, "sigmoid", [this.get(x)]);
  }

  sigmoidBackward(dy: Storage, y: Storage): Storage {
    return this.map("other", SIGMOID_BACKWARD, "sigmoid backward", this.sameShape("sigmoidBackward", dy, y));
  }

  tanh(x: Storage): Storage {
    return this.map("other", TANH, "tanh", [this.get(x)]);
  }

  tanhBackward(dy: Storage, y: Storage): Storage {
    return this.map("other", TANH_BACKWARD, "tanh backward", this.sameShape("tanhBackward", dy, y));
  }

  avgPool2d(x: Storage, p: Pool2dParams): Storage {
    this.ctx.kind = "pool";
    return pooling.avgPool2d(this, this.get(x), p);
  }

  avgPool2dBackward(dy: Storage, xShape: readonly number[], p: Pool2dParams): Storage {
    this.ctx.kind = "pool";
    return pooling.avgPool2dBackward(this, this.get(dy), xShape, p);
  }

  adaptiveAvgPool2d(x: Storage, outSize: readonly [number, number]): Storage {
    this.ctx.kind = "pool";
    return pooling.adaptiveAvgPool2d(this, this.get(x), outSize);
  }

  adaptiveAvgPool2dBackward(dy: Storage, xShape: readonly [number, number, number, number]): Storage {
    this.ctx.kind = "pool";
    return pooling.adaptiveAvgPool2dBackward(this, this.get(dy), xShape);
  }

  batchNorm(
    x: Storage, weight: Storage, bias: Storage, runningMean: Storage, runningVar: Storage, p: BatchNormParams, epilogue?: Epilogue,
  ): { y: Storage; ctx: OpContext } {
    this.ctx.kind = "norm";
    const [w, b, rm, rv] = [weight, bias, runningMean, runningVar].map((s) => this.get(s)) as [GpuStorage, GpuStorage, GpuStorage, GpuStorage];
    return norm.batchNorm(this, this.get(x), w, b, rm, rv, p, epilogue?.relu === true);
  }

  batchNormBackward(dy: Storage, x: Storage, weight: Storage, ctx: OpContext): { dx: Storage; dweight: Storage; dbias: Storage } {
    this.ctx.kind = "norm";
    return norm.batchNormBackward(this, this.get(dy), this.get(x), this.get(weight), ctx as norm.BatchNormContext);
  }

  concat(xs: readonly Storage[], axis: number): Storage {
    this.ctx.kind = "other";
    return concat.concat(this, xs.map((x) => this.get(x)), axis);
  }

  split(x: Storage, axis: number, sizes: readonly number[]): Storage[] {
    this.ctx.kind = "other";
    return concat.split(this, this.get(x), axis, sizes);
  }

  /** A flat map kernel (kernels/elementwise.ts) over inputs of one shape into a new tensor of that shape. */
  private map(kind: string, code: string, what: string, inputs: GpuStorage[], extra?: (p: Params, start: number) => void): GpuStorage {
    this.ctx.kind = kind;
    const out = this.alloc(inputs[0]!.shape, what);
    flat(this, code, numel(out.shape), inputs, out, extra);
    return out;
  }

  private sameShape(op: string, dy: Storage, y: Storage): GpuStorage[] {
    const pair = [this.get(dy), this.get(y)];
    checkSameShape(op, pair[0]!.shape, pair[1]!.shape);
    return pair;
  }

  reshape(x: Storage, shape: readonly number[]): Storage {
    const g = this.get(x);
    checkReshape(g.shape, shape);
    g.buf.refs++; // the new storage shares the buffer; each dispose drops one reference
    return new GpuStorage(this, [...shape], g.dtype, g.buf);
  }

  copy(x: Storage): Storage {
    this.ctx.kind = "other";
    const g = this.get(x);
    const out = this.alloc(g.shape, "copy");
    const bytes = 4 * numel(g.shape);
    if (bytes > 0) this.ctx.copy(g.buf.gpu, 0, out.buf.gpu, 0, Math.ceil(bytes / 4) * 4);
    return out;
  }

  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext } {
    this.ctx.kind = "loss";
    return training.crossEntropy(this, this.get(logits), labels);
  }

  crossEntropyBackward(dloss: Storage, ctx: OpContext): Storage {
    this.ctx.kind = "loss";
    return training.crossEntropyBackward(this, this.get(dloss), ctx as training.LossContext);
  }

  /** Rows of logits (N,K) whose first maximum is at the label, as a scalar (metrics stay on the GPU). */
  correctCount(logits: Storage, labels: Int32Array): Storage {
    this.ctx.kind = "loss";
    return training.correctCount(this, this.get(logits), labels);
  }

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, p: SgdParams, firstStep: boolean): void {
    this.ctx.kind = "sgd";
    if (p.momentum !== 0 && !velocity) throw new Error("sgdUpdate with momentum needs a velocity buffer");
    training.sgdUpdate(this, this.get(param), this.get(grad), p.momentum !== 0 ? this.get(velocity!) : null, p, firstStep);
  }

  // ---- small general ops --------------------------------------------------------------------------

  binary(op: BinaryOp, a: Storage, b: Storage): Storage {
    this.ctx.kind = "other";
    return general.binary(this, op, this.get(a), this.get(b));
  }

  unary(op: UnaryOp, a: Storage): Storage {
    return this.map("other", UNARY[op], op, [this.get(a)]);
  }

  affine(a: Storage, alpha: number, beta: number): Storage {
    return this.map("other", AFFINE, "affine", [this.get(a)], (p) => p.f32(alpha, beta));
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    this.ctx.kind = "other";
    return reduce(this, "sum", this.get(a), axes, keepDims);
  }

  /** Maximum over axes; NaN propagates. */
  max(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    this.ctx.kind = "other";
    return reduce(this, "max", this.get(a), axes, keepDims);
  }

  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage {
    this.ctx.kind = "other";
    const ga = this.get(a);
    const gb = this.get(b);
    matmulShape(ga.shape, gb.shape, transA, transB);
    return layers.matmul(this, ga, gb, transA, transB, null, false, "matmul");
  }

  /** (R,C) -> (C,R). */
  transpose(a: Storage): Storage {
    this.ctx.kind = "other";
    return general.transpose(this, this.get(a));
  }
}

/** Opens the adapter of `gpu` and returns the backend, or one line saying why there is none. */
export async function createWebGpuBackend(gpu: GPU, opts: WebGpuOptions = {}): Promise<WebGpuBackend | { error: string }> {
  const ctx = await openGpu(gpu, opts);
  if ("error" in ctx) return ctx;
  const be = new WebGpuBackend(ctx, opts);
  await be.tuner.load();
  return be;
}

/** The WebGPU of a browser (navigator.gpu), or why there is none. */
export async function navigatorGpu(): Promise<GPU | { error: string }> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  return gpu ?? { error: "this browser has no WebGPU (navigator.gpu is missing)" };
}

/** A registry factory (registerBackendFactory("webgpu", ...)) over a source of GPU objects: Dawn's in
 * Node (node.ts), navigator.gpu in a browser. Options: maxBindingBytes, minSplitK, powerPreference,
 * apiHint. Rejects with one line when there is no package, driver or adapter. */
export function webGpuFactory(getGpu: () => Promise<GPU | { error: string }>, defaults: WebGpuOptions = {}): BackendFactory {
  return async (options: BackendOptions) => {
    const gpu = await getGpu();
    if ("error" in gpu) throw new GpuError(gpu.error);
    const be = await createWebGpuBackend(gpu, { ...defaults, ...(options as WebGpuOptions) });
    if ("error" in be) throw new GpuError(be.error);
    return be;
  };
}

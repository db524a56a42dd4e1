// The native CPU backend: every op runs in the C++ addon (native/, oneDNN + OpenMP loops); this class
// checks arguments, computes output shapes and owns the handles. A NativeStorage holds an integer handle
// to a C++ tensor whose physical layout (e.g. blocked nChw16c) only the addon knows; values come back
// row-major through read()/readSync(). Buffers are freed by dispose(); a FinalizationRegistry frees the
// ones a caller forgot, as a safety net only. The later-chapter layer ops (sigmoid, tanh, average pooling,
// batch norm, concat/split, max) are in layers2.ts. The addon is loaded by load.ts (Node-only); this file
// imports nothing from Node.
import {
  type Backend, type BatchNormParams, type BinaryOp, type Conv2dParams, type DType, type Epilogue, type MemoryStats, type OpContext,
  type OpName, type Pool2dParams, type Precision, type PrecisionSupport, type SgdParams, type Storage, type UnaryOp,
  OP_NAMES, UnsupportedOpError, numel,
} from "../backend.js";
import { PrecisionError } from "../precision.js";
import { correctCount as countCorrectRows } from "../reference/layers.js";
import {
  broadcastShapes, checkReshape, checkSameShape, conv2dShape, linearShape, matmulShape, maxPool2dShape, normalizeAxes, sumShape,
  transposeShape,
} from "../shapes.js";
import type { ConvAlgorithm, NativeAddon, NativeInfo } from "./addon.js";
import * as layers2 from "./layers2.js";

export type { ConvAlgorithm, NativeAddon, NativeInfo } from "./addon.js";

const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY_CODES: Record<UnaryOp, number> = { neg: 0, exp: 1, log: 2, sqrt: 3 };

export class NativeStorage implements Storage {
  readonly dtype: DType = "float32";
  disposed = false;
  constructor(
    readonly backend: NativeBackend,
    readonly shape: readonly number[],
    readonly handle: number,
  ) {}
}

/** Context that owns one native buffer (pooling workspace, softmax probabilities). */
class HandleContext implements OpContext {
  disposed = false;
  constructor(
    private readonly owner: NativeBackend,
    readonly handle: number,
  ) {}
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.owner.releaseHandle(this, this.handle);
  }
}

class CrossEntropyContext extends HandleContext {
  constructor(owner: NativeBackend, probs: number, readonly labels: Int32Array, readonly shape: readonly number[]) {
    super(owner, probs);
  }
}

/** Dropout keeps no buffer: the mask is a hash of (seed, index), so the backward recomputes it. */
class DropoutContext implements OpContext {
  constructor(readonly p: number, readonly seed: number, readonly offset: number) {}
  dispose(): void {}
}

export class NativeBackend implements Backend {
  readonly name = "native";
  readonly device = "cpu";
  // Frees buffers whose Storage was garbage-collected without dispose(); explicit dispose unregisters.
  private readonly registry: FinalizationRegistry<number>;
  // What layers2.ts (sigmoid, tanh, average pooling, batch norm, concat/split, max) needs of this class.
  private readonly host: layers2.NativeHost;

  constructor(private readonly addon: NativeAddon) {
    this.registry = new FinalizationRegistry((handle: number) => {
      try {
        addon.Dispose(handle);
      } catch {
        // The addon may already be gone at process exit; nothing left to free then.
      }
    });
    this.host = {
      addon,
      handle: (s) => this.h(s),
      wrap: (handle, shape) => this.wrap(handle, shape),
      register: (token, handle) => this.registry.register(token, handle, token),
      release: (token, handle) => this.releaseHandle(token, handle),
    };
  }

  describe(): string {
    const n = this.addon.Threads();
    const bf16 = this.precision() === "bf16" ? ", bf16" : "";
    return `cpu (native, ${n} ${n === 1 ? "thread" : "threads"}${bf16})`;
  }

  /** Mixed precision for conv2d and linear (see Precision). Throws where oneDNN has no bf16 kernels. */
  setPrecision(p: Precision): void {
    const support = this.precisionSupport(p);
    if (support.level === "unsupported") throw new PrecisionError(`${p} is not available on ${this.device} (native backend): ${support.detail}`);
    this.addon.SetPrecision(p);
  }

  precision(): Precision {
    return this.addon.Info().precision;
  }

  precisionSupport(p: Precision): PrecisionSupport {
    if (p === "fp32") return { level: "native", detail: "oneDNN fp32 kernels" };
    if (p === "fp16") return { level: "unsupported", detail: "fp16 is a GPU precision (WebGPU's shader-f16); on this CPU use bf16" };
    const { cpuIsa, bf16 } = this.addon.Info();
    const detail = {
      native: `CPU instruction set ${cpuIsa} has bf16 dot products`,
      emulated: `CPU instruction set ${cpuIsa} has AVX-512 but neither AVX512-BF16 nor AMX; oneDNN emulates the bf16 dot product`,
      unsupported: `CPU instruction set ${cpuIsa}: oneDNN has bf16 convolution kernels for AVX-512 CPUs only`,
    }[bf16];
    return { level: bf16, detail };
  }

  supports(op: OpName, dtype: DType): boolean {
    return OP_NAMES.includes(op) && dtype === "float32";
  }

  /** Number of OpenMP threads for oneDNN and the addon's own loops (default: all cores, or OMP_NUM_THREADS):
   * the most an op uses. An op with less work than a parallel region pays for (about 150 us of single-core
   * work per thread, ALEXNET_NATIVE_GRAIN_US) runs on fewer, down to one (native/threads.h). */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Error(`thread count must be a positive integer, got ${n}`);
    this.addon.SetThreads(n);
  }

  threads(): number {
    return this.addon.Threads();
  }

  /** Convolution algorithm: "auto" (Winograd where it is expected to gain: oneDNN's F(4x4,3x3) for 3x3 and
   * our F(4x4,5x5) for 5x5 stride-1 layers with enough tiles), "direct", or "winograd" (wherever available,
   * else direct). */
  setConvAlgorithm(name: ConvAlgorithm): void {
    this.addon.SetConvAlgorithm(name);
  }

  /** oneDNN version, conv algorithm, the implementation chosen for the last conv, cache and pool counters. */
  info(): NativeInfo {
    return this.addon.Info();
  }

  /** Returns the pooled (free) buffers to the system. */
  trimPool(): void {
    this.addon.Trim();
  }

  /** Whether a buffer is row-major (tests of the layout policy). */
  isRowMajor(s: Storage): boolean {
    return this.addon.IsPlain(this.h(s));
  }

  // ---- memory -------------------------------------------------------------------------------------

  private wrap(handle: number, shape: readonly number[]): NativeStorage {
    const s = new NativeStorage(this, [...shape], handle);
    this.registry.register(s, handle, s);
    return s;
  }

  /** Handle of a live storage of this backend. */
  private h(s: Storage): number {
    if (!(s instanceof NativeStorage) || s.backend !== this) {
      throw new Error(`storage of the ${s.backend.name} backend passed to the native backend`);
    }
    if (s.disposed) throw new Error("use of a disposed tensor");
    return s.handle;
  }

  /** Frees a context's native buffer (called by the context's dispose). */
  releaseHandle(token: object, handle: number): void {
    this.registry.unregister(token);
    this.addon.Dispose(handle);
  }

  private ctx(handle: number): HandleContext {
    const c = new HandleContext(this, handle);
    this.registry.register(c, handle, c);
    return c;
  }

  private checkDtype(op: string, dtype: DType): void {
    if (dtype !== "float32") throw new UnsupportedOpError(op, dtype, this);
  }

  fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage {
    this.checkDtype("fromArray", dtype);
    if (data.length !== numel(shape)) {
      throw new Error(`buffer of ${data.length} values does not fit shape [${shape.join(", ")}]`);
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.wrap(this.addon.Create([...shape], f32), shape);
  }

  fill(shape: readonly number[], dtype: DType, value: number): Storage {
    this.checkDtype("fill", dtype);
    return this.wrap(value === 0 ? this.addon.Create([...shape], null) : this.addon.Fill([...shape], value), shape);
  }

  copy(x: Storage): Storage {
    return this.wrap(this.addon.Copy(this.h(x)), x.shape);
  }

  readSync(s: Storage): Float32Array {
    const out = new Float32Array(numel(s.shape));
    this.addon.Read(this.h(s), out);
    return out;
  }

  /** Row-major values into a caller's buffer (data parallelism fills its gradient buckets without a
   * fresh array per gradient per step). */
  readInto(s: Storage, out: Float32Array): void {
    if (out.length !== numel(s.shape)) throw new Error(`readInto: ${out.length} values for shape [${s.shape.join(", ")}]`);
    this.addon.Read(this.h(s), out);
  }

  async read(s: Storage): Promise<Float32Array> {
    return this.readSync(s);
  }

  dispose(s: Storage): void {
    if (!(s instanceof NativeStorage) || s.backend !== this) {
      throw new Error(`storage of the ${s.backend.name} backend passed to the native backend`);
    }
    if (s.disposed) return;
    s.disposed = true;
    this.registry.unregister(s);
    this.addon.Dispose(s.handle);
  }

  memoryStats(): MemoryStats {
    const [liveBuffers, liveBytes, , peakBytes] = this.addon.Stats();
    return { liveBuffers, liveBytes, peakBytes };
  }

  resetPeak(): void {
    this.addon.ResetPeak();
  }

  opSeconds(): Record<string, number> {
    return this.addon.OpSeconds();
  }

  // ---- layer ops ----------------------------------------------------------------------------------

  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, epilogue: Epilogue = {}): Storage {
    // x is (N,C,H,W), w (O,C,KH,KW) -> y (N,O,OH,OW); ReLU is a oneDNN post-op
    const yShape = conv2dShape(x.shape, w.shape, p, b?.shape);
    const [sh, sw] = p.stride;
    const [ph, pw] = p.padding;
    const handle = this.addon.Conv2d(this.h(x), this.h(w), b ? this.h(b) : -1, sh, sw, ph, pw, epilogue.relu === true);
    return this.wrap(handle, yShape);
  }

  conv2dBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null } {
    // dy is (N,O,OH,OW) -> dx (N,C,H,W), dw (O,C,KH,KW), db (O)
    checkSameShape("conv2dBackward: dy against the conv's output", dy.shape, conv2dShape(x.shape, w.shape, p));
    const [sh, sw] = p.stride;
    const [ph, pw] = p.padding;
    const [dx, dw, db] = this.addon.Conv2dBackward(this.h(dy), this.h(x), this.h(w), hasBias, sh, sw, ph, pw, needDx);
    return {
      dx: dx >= 0 ? this.wrap(dx, x.shape) : null,
      dw: this.wrap(dw, w.shape),
      db: db >= 0 ? this.wrap(db, [w.shape[0]!]) : null,
    };
  }

  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext } {
    // x is (N,C,H,W) -> y (N,C,OH,OW); the context owns oneDNN's workspace (where each max came from)
    const yShape = maxPool2dShape(x.shape, p);
    const [y, ws] = this.addon.MaxPool2d(this.h(x), ...p.kernel, ...p.stride, ...p.padding);
    return { y: this.wrap(y, yShape), ctx: this.ctx(ws) };
  }

  maxPool2dBackward(dy: Storage, x: Storage, ctx: OpContext, p: Pool2dParams): Storage {
    // dy is (N,C,OH,OW) -> dx (N,C,H,W)
    if (!(ctx instanceof HandleContext) || ctx instanceof CrossEntropyContext) {
      throw new Error("maxPool2dBackward needs the context returned by maxPool2d of this backend");
    }
    if (ctx.disposed) throw new Error("maxPool2dBackward: context already disposed");
    const dx = this.addon.MaxPool2dBackward(this.h(dy), this.h(x), ctx.handle, ...p.kernel, ...p.stride, ...p.padding);
    return this.wrap(dx, x.shape);
  }

  relu(x: Storage): Storage {
    return this.wrap(this.addon.Relu(this.h(x)), x.shape);
  }

  reluBackward(dy: Storage, y: Storage): Storage {
    checkSameShape("reluBackward", dy.shape, y.shape);
    return this.wrap(this.addon.ReluBackward(this.h(dy), this.h(y)), y.shape);
  }

  linear(x: Storage, w: Storage, b: Storage | null, epilogue: Epilogue = {}): Storage {
    // x is (N,I), w (O,I) -> y (N,O); ReLU is a oneDNN post-op
    const yShape = linearShape(x.shape, w.shape, b?.shape);
    return this.wrap(this.addon.Linear(this.h(x), this.h(w), b ? this.h(b) : -1, epilogue.relu === true), yShape);
  }

  linearBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null } {
    // dy is (N,O) -> dx (N,I), dw (O,I), db (O)
    checkSameShape("linearBackward: dy against the layer's output", dy.shape, linearShape(x.shape, w.shape));
    const [dx, dw, db] = this.addon.LinearBackward(this.h(dy), this.h(x), this.h(w), hasBias, needDx);
    return {
      dx: dx >= 0 ? this.wrap(dx, x.shape) : null,
      dw: this.wrap(dw, w.shape),
      db: db >= 0 ? this.wrap(db, [w.shape[0]!]) : null,
    };
  }

  dropout(x: Storage, p: number, seed: number, offset = 0): { y: Storage; ctx: OpContext } {
    if (!(p >= 0 && p <= 1)) throw new Error(`dropout probability must be in [0, 1], got ${p}`);
    // The hash takes the seed as a 32-bit integer, as Math.imul/^ do in dropoutUniform.
    const s = seed >>> 0;
    return { y: this.wrap(this.addon.Dropout(this.h(x), p, s, offset), x.shape), ctx: new DropoutContext(p, s, offset) };
  }

  dropoutBackward(dy: Storage, ctx: OpContext): Storage {
    if (!(ctx instanceof DropoutContext)) throw new Error("dropoutBackward needs the context returned by dropout of this backend");
    return this.wrap(this.addon.Dropout(this.h(dy), ctx.p, ctx.seed, ctx.offset), dy.shape);
  }

  // sigmoid, tanh, average pooling, batch norm, concat/split: see layers2.ts (native/addon_layers2.cc)
  sigmoid(x: Storage): Storage {
    return layers2.sigmoid(this.host, x);
  }
  sigmoidBackward(dy: Storage, y: Storage): Storage {
    return layers2.sigmoidBackward(this.host, dy, y);
  }
  tanh(x: Storage): Storage {
    return layers2.tanh(this.host, x);
  }
  tanhBackward(dy: Storage, y: Storage): Storage {
    return layers2.tanhBackward(this.host, dy, y);
  }
  avgPool2d(x: Storage, p: Pool2dParams): Storage {
    return layers2.avgPool2d(this.host, x, p);
  }
  avgPool2dBackward(dy: Storage, xShape: readonly number[], p: Pool2dParams): Storage {
    return layers2.avgPool2dBackward(this.host, dy, xShape, p);
  }
  adaptiveAvgPool2d(x: Storage, outSize: readonly [number, number]): Storage {
    return layers2.adaptiveAvgPool2d(this.host, x, outSize);
  }
  adaptiveAvgPool2dBackward(dy: Storage, xShape: readonly [number, number, number, number]): Storage {
    return layers2.adaptiveAvgPool2dBackward(this.host, dy, xShape);
  }
  batchNorm(
    x: Storage, weight: Storage, bias: Storage, runningMean: Storage, runningVar: Storage, p: BatchNormParams,
    epilogue?: Epilogue,
  ): { y: Storage; ctx: OpContext } {
    return layers2.batchNorm(this.host, x, weight, bias, runningMean, runningVar, p, epilogue);
  }
  batchNormBackward(dy: Storage, x: Storage, weight: Storage, ctx: OpContext): { dx: Storage; dweight: Storage; dbias: Storage } {
    return layers2.batchNormBackward(this.host, dy, x, weight, ctx);
  }
  concat(xs: readonly Storage[], axis: number): Storage {
    return layers2.concat(this.host, xs, axis);
  }
  split(x: Storage, axis: number, sizes: readonly number[]): Storage[] {
    return layers2.split(this.host, x, axis, sizes);
  }

  reshape(x: Storage, shape: readonly number[]): Storage {
    checkReshape(x.shape, shape);
    return this.wrap(this.addon.Reshape(this.h(x), [...shape]), shape);
  }

  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext } {
    // logits is (N,K) -> scalar loss; the context keeps softmax (N,K) for the backward
    if (logits.shape.length !== 2) throw new Error(`crossEntropy needs logits (N,K), got [${logits.shape.join(", ")}]`);
    if (labels.length !== logits.shape[0]) throw new Error(`cross-entropy got ${labels.length} labels for ${logits.shape[0]} rows`);
    const own = labels.slice();
    const [loss, probs] = this.addon.CrossEntropy(this.h(logits), own);
    const ctx = new CrossEntropyContext(this, probs, own, logits.shape);
    this.registry.register(ctx, probs, ctx);
    return { loss: this.wrap(loss, []), ctx };
  }

  crossEntropyBackward(dloss: Storage, ctx: OpContext): Storage {
    if (!(ctx instanceof CrossEntropyContext)) throw new Error("crossEntropyBackward needs the context returned by crossEntropy of this backend");
    if (ctx.disposed) throw new Error("crossEntropyBackward: context already disposed");
    return this.wrap(this.addon.CrossEntropyBackward(this.h(dloss), ctx.handle, ctx.labels), ctx.shape);
  }

  /** logits are (N,K) and small: counted on the host (the CPU is the device here). */
  correctCount(logits: Storage, labels: Int32Array): Storage {
    const n = countCorrectRows(this.readSync(logits), logits.shape, labels);
    return this.fill([], "float32", n);
  }

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, p: SgdParams, firstStep: boolean): void {
    if (p.momentum !== 0 && !velocity) throw new Error("sgdUpdate with momentum needs a velocity buffer");
    this.addon.SgdUpdate(
      this.h(param), this.h(grad), velocity ? this.h(velocity) : -1,
      p.lr, p.momentum, p.dampening, p.weightDecay, p.nesterov, firstStep,
    );
  }

  // ---- small general ops --------------------------------------------------------------------------

  binary(op: BinaryOp, a: Storage, b: Storage): Storage {
    const shape = broadcastShapes(a.shape, b.shape);
    return this.wrap(this.addon.Binary(BINARY_CODES[op], this.h(a), this.h(b), shape), shape);
  }

  unary(op: UnaryOp, a: Storage): Storage {
    return this.wrap(this.addon.Unary(UNARY_CODES[op], this.h(a)), a.shape);
  }

  affine(a: Storage, alpha: number, beta: number): Storage {
    return this.wrap(this.addon.Affine(this.h(a), alpha, beta), a.shape);
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    const shape = sumShape(a.shape, axes, keepDims);
    const reduced = new Set(normalizeAxes(axes, a.shape.length));
    const reduce = a.shape.map((_, i) => axes.length === 0 || reduced.has(i));
    return this.wrap(this.addon.Sum(this.h(a), reduce, shape), shape);
  }

  max(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    return layers2.max(this.host, a, axes, keepDims);
  }

  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage {
    const shape = matmulShape(a.shape, b.shape, transA, transB);
    return this.wrap(this.addon.Matmul(this.h(a), this.h(b), transA, transB), shape);
  }

  transpose(a: Storage): Storage {
    const shape = transposeShape(a.shape);
    return this.wrap(this.addon.Transpose(this.h(a)), shape);
  }
}

// The native CPU backend: every op runs in the C++ addon (native/, oneDNN + OpenMP loops); this class
// checks arguments, computes output shapes and owns the handles. A NativeStorage holds an integer handle
// to a C++ tensor whose physical layout (e.g. blocked nChw16c) only the addon knows; values come back
// row-major through read()/readSync(). Buffers are freed by dispose(); a FinalizationRegistry frees the
// ones a caller forgot, as a safety net only. The addon is loaded by load.ts (Node-only); this file
// imports nothing from Node.
import {
  type Backend, type BinaryOp, type Conv2dParams, type DType, type MemoryStats, type OpContext, type OpName,
  type Pool2dParams, type Precision, type PrecisionSupport, type SgdParams, type Storage, type UnaryOp,
  UnsupportedOpError, numel, windowOutSize,
} from "../backend.js";
import { PrecisionError } from "../precision.js";

/** The functions alexnet_native.node exports (native/addon.cc). Handles are integers; -1 means none. */
export interface NativeAddon {
  Create(shape: number[], data: Float32Array | null): number;
  Read(h: number, out: Float32Array): void;
  Dispose(h: number): void;
  /** [live buffers, live bytes, bytes cached in the pool] */
  Stats(): [number, number, number, number];
  ResetPeak(): void;
  IsPlain(h: number): boolean;
  Trim(): void;
  SetPoolLimit(bytes: number): void;
  SetThreads(n: number): void;
  Threads(): number;
  SetConvAlgorithm(name: string): void;
  SetPrecision(name: Precision): void;
  Info(): NativeInfo;
  OpSeconds(): Record<string, number>;
  Conv2d(x: number, w: number, b: number, sh: number, sw: number, ph: number, pw: number, relu: boolean): number;
  Conv2dBackward(
    dy: number, x: number, w: number, hasBias: boolean, sh: number, sw: number, ph: number, pw: number, needDx: boolean,
  ): [number, number, number];
  MaxPool2d(x: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): [number, number];
  MaxPool2dBackward(
    dy: number, x: number, ws: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number,
  ): number;
  Relu(x: number): number;
  ReluBackward(dy: number, y: number): number;
  Linear(x: number, w: number, b: number, relu: boolean): number;
  LinearBackward(dy: number, x: number, w: number, hasBias: boolean, needDx: boolean): [number, number, number];
  Dropout(x: number, p: number, seed: number, offset?: number): number;
  Reshape(x: number, shape: number[]): number;
  CrossEntropy(logits: number, labels: Int32Array): [number, number];
  CrossEntropyBackward(dloss: number, probs: number, labels: Int32Array): number;
  SgdUpdate(
    param: number, grad: number, velocity: number, lr: number, momentum: number, dampening: number,
    weightDecay: number, nesterov: boolean, firstStep: boolean,
  ): void;
  Binary(op: number, a: number, b: number, outShape: number[]): number;
  Unary(op: number, a: number): number;
  Affine(a: number, alpha: number, beta: number): number;
  Sum(a: number, reduce: boolean[], outShape: number[]): number;
  Matmul(a: number, b: number, transA: boolean, transB: boolean): number;
}

export type ConvAlgorithm = "auto" | "direct" | "winograd";

export interface NativeInfo {
  onednn: string;
  convAlgorithm: string;
  precision: Precision;
  /** The instruction set oneDNN dispatches to, e.g. "avx512_core_bf16", "avx512_core_amx", "avx2". */
  cpuIsa: string;
  /** How bf16 convolutions run on this CPU: "native", "emulated" or "unsupported". */
  bf16: PrecisionSupport["level"];
  /** The implementation oneDNN picked for the last conv forward, e.g. "jit_wino_4x3:avx512_core". */
  lastConvImpl: string;
  threads: number;
  /** Primitives created and kept (one per op, shape and layout). */
  cachedPrimitives: number;
  /** Buffers ever taken from the system rather than from the pool; flat across steady-state steps. */
  freshAllocations: number;
  /** Bytes of freed buffers kept for reuse (not counted in memoryStats). */
  pooledBytes: number;
}

const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY_CODES: Record<UnaryOp, number> = { neg: 0, exp: 1, log: 2 };

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

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

export class NativeBackend implements Backend {
  readonly name = "native";
  readonly device = "cpu";
  // Frees buffers whose Storage was garbage-collected without dispose(); explicit dispose unregisters.
  private readonly registry: FinalizationRegistry<number>;

  constructor(private readonly addon: NativeAddon) {
    this.registry = new FinalizationRegistry((handle: number) => {
      try {
        addon.Dispose(handle);
      } catch {
        // The addon may already be gone at process exit; nothing left to free then.
      }
    });
  }

  describe(): string {
    const n = this.addon.Threads();
    const bf16 = this.precision() === "bf16" ? ", bf16" : "";
    return `cpu (native, ${n} ${n === 1 ? "thread" : "threads"}${bf16})`;
  }

  /** Mixed precision for conv2d and linear (see Precision). Throws where oneDNN has no bf16 kernels. */
  setPrecision(p: Precision): void {
    if (p === "bf16") {
      const support = this.bf16Support();
      if (support.level === "unsupported") throw new PrecisionError(`bf16 is not available on ${this.device} (native backend): ${support.detail}`);
    }
    this.addon.SetPrecision(p);
  }

  precision(): Precision {
    return this.addon.Info().precision;
  }

  bf16Support(): PrecisionSupport {
    const { cpuIsa, bf16 } = this.addon.Info();
    const detail = {
      native: `CPU instruction set ${cpuIsa} has bf16 dot products`,
      emulated: `CPU instruction set ${cpuIsa} has AVX-512 but neither AVX512-BF16 nor AMX; oneDNN emulates the bf16 dot product`,
      unsupported: `CPU instruction set ${cpuIsa}: oneDNN has bf16 convolution kernels for AVX-512 CPUs only`,
    }[bf16];
    return { level: bf16, detail };
  }

  supports(_op: OpName, dtype: DType): boolean {
    return dtype === "float32";
  }

  /** Number of OpenMP threads for oneDNN and the addon's own loops (default: all cores, or OMP_NUM_THREADS). */
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
      throw new Error(`buffer of ${data.length} values does not fit shape ${shapeStr(shape)}`);
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.wrap(this.addon.Create([...shape], f32), shape);
  }

  zeros(shape: readonly number[], dtype: DType): Storage {
    this.checkDtype("zeros", dtype);
    return this.wrap(this.addon.Create([...shape], null), shape);
  }

  readSync(s: Storage): Float32Array {
    const out = new Float32Array(numel(s.shape));
    this.addon.Read(this.h(s), out);
    return out;
  }

  /** Row-major values into a caller's buffer (data parallelism fills its gradient buckets without a
   * fresh array per gradient per step). */
  readInto(s: Storage, out: Float32Array): void {
    if (out.length !== numel(s.shape)) throw new Error(`readInto: ${out.length} values for shape ${shapeStr(s.shape)}`);
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

  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams): Storage {
    return this.convForward(x, w, b, p, false);
  }

  /** relu(conv2d(x, w, b)) in one pass (oneDNN post-op); its backward is reluBackward then conv2dBackward. */
  conv2dRelu(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams): Storage {
    return this.convForward(x, w, b, p, true);
  }

  private convForward(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, relu: boolean): Storage {
    // x is (N,C,H,W), w (O,C,KH,KW) -> y (N,O,OH,OW)
    const yShape = this.convOutShape(x.shape, w.shape, b, p);
    const [sh, sw] = p.stride;
    const [ph, pw] = p.padding;
    const handle = this.addon.Conv2d(this.h(x), this.h(w), b ? this.h(b) : -1, sh, sw, ph, pw, relu);
    return this.wrap(handle, yShape);
  }

  conv2dBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null } {
    // dy is (N,O,OH,OW) -> dx (N,C,H,W), dw (O,C,KH,KW), db (O)
    const yShape = this.convOutShape(x.shape, w.shape, null, p);
    if (shapeStr(dy.shape) !== shapeStr(yShape)) {
      throw new Error(`conv2dBackward: dy is ${shapeStr(dy.shape)}, expected ${shapeStr(yShape)}`);
    }
    const [sh, sw] = p.stride;
    const [ph, pw] = p.padding;
    const [dx, dw, db] = this.addon.Conv2dBackward(this.h(dy), this.h(x), this.h(w), hasBias, sh, sw, ph, pw, needDx);
    return {
      dx: dx >= 0 ? this.wrap(dx, x.shape) : null,
      dw: this.wrap(dw, w.shape),
      db: db >= 0 ? this.wrap(db, [w.shape[0]!]) : null,
    };
  }

  private convOutShape(xs: readonly number[], ws: readonly number[], b: Storage | null, p: Conv2dParams): number[] {
    if (xs.length !== 4 || ws.length !== 4) {
      throw new Error(`conv2d needs x (N,C,H,W) and w (O,C,KH,KW), got ${shapeStr(xs)} and ${shapeStr(ws)}`);
    }
    const [n, c, h, wd] = xs as [number, number, number, number];
    const [o, wc, kh, kw] = ws as [number, number, number, number];
    if (c !== wc) throw new Error(`conv2d: x has ${c} channels, w expects ${wc}`);
    if (b && (b.shape.length !== 1 || b.shape[0] !== o)) throw new Error(`conv2d: bias must be (${o}), got ${shapeStr(b.shape)}`);
    const oh = windowOutSize(h, kh, p.stride[0], p.padding[0]);
    const ow = windowOutSize(wd, kw, p.stride[1], p.padding[1]);
    if (oh <= 0 || ow <= 0) throw new Error(`conv2d: kernel ${kh}x${kw} does not fit the padded ${h}x${wd} input`);
    return [n, o, oh, ow];
  }

  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext } {
    // x is (N,C,H,W) -> y (N,C,OH,OW); the context owns oneDNN's workspace (where each max came from)
    if (x.shape.length !== 4) throw new Error(`maxPool2d needs x (N,C,H,W), got ${shapeStr(x.shape)}`);
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const oh = windowOutSize(h, p.kernel[0], p.stride[0], p.padding[0]);
    const ow = windowOutSize(w, p.kernel[1], p.stride[1], p.padding[1]);
    if (oh <= 0 || ow <= 0) throw new Error(`maxPool2d: window does not fit the padded ${h}x${w} input`);
    const [y, ws] = this.addon.MaxPool2d(this.h(x), ...p.kernel, ...p.stride, ...p.padding);
    return { y: this.wrap(y, [n, c, oh, ow]), ctx: this.ctx(ws) };
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
    if (shapeStr(dy.shape) !== shapeStr(y.shape)) throw new Error(`reluBackward: dy ${shapeStr(dy.shape)} vs y ${shapeStr(y.shape)}`);
    return this.wrap(this.addon.ReluBackward(this.h(dy), this.h(y)), y.shape);
  }

  linear(x: Storage, w: Storage, b: Storage | null): Storage {
    return this.linearForward(x, w, b, false);
  }

  /** relu(linear(x, w, b)) in one pass (oneDNN post-op). */
  linearRelu(x: Storage, w: Storage, b: Storage | null): Storage {
    return this.linearForward(x, w, b, true);
  }

  private linearForward(x: Storage, w: Storage, b: Storage | null, relu: boolean): Storage {
    // x is (N,I), w (O,I) -> y (N,O)
    this.checkLinear(x.shape, w.shape, b);
    const handle = this.addon.Linear(this.h(x), this.h(w), b ? this.h(b) : -1, relu);
    return this.wrap(handle, [x.shape[0]!, w.shape[0]!]);
  }

  linearBackward(
    dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean,
  ): { dx: Storage | null; dw: Storage; db: Storage | null } {
    // dy is (N,O) -> dx (N,I), dw (O,I), db (O)
    this.checkLinear(x.shape, w.shape, null);
    if (dy.shape.length !== 2 || dy.shape[0] !== x.shape[0] || dy.shape[1] !== w.shape[0]) {
      throw new Error(`linearBackward: dy is ${shapeStr(dy.shape)}, expected [${x.shape[0]}, ${w.shape[0]}]`);
    }
    const [dx, dw, db] = this.addon.LinearBackward(this.h(dy), this.h(x), this.h(w), hasBias, needDx);
    return {
      dx: dx >= 0 ? this.wrap(dx, x.shape) : null,
      dw: this.wrap(dw, w.shape),
      db: db >= 0 ? this.wrap(db, [w.shape[0]!]) : null,
    };
  }

  private checkLinear(xs: readonly number[], ws: readonly number[], b: Storage | null): void {
    if (xs.length !== 2 || ws.length !== 2 || xs[1] !== ws[1]) {
      throw new Error(`linear needs x (N,I) and w (O,I), got ${shapeStr(xs)} and ${shapeStr(ws)}`);
    }
    if (b && (b.shape.length !== 1 || b.shape[0] !== ws[0])) throw new Error(`linear: bias must be (${ws[0]}), got ${shapeStr(b.shape)}`);
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

  reshape(x: Storage, shape: readonly number[]): Storage {
    if (numel(shape) !== numel(x.shape)) throw new Error(`cannot reshape ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    return this.wrap(this.addon.Reshape(this.h(x), [...shape]), shape);
  }

  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext } {
    // logits is (N,K) -> scalar loss; the context keeps softmax (N,K) for the backward
    if (logits.shape.length !== 2) throw new Error(`crossEntropy needs logits (N,K), got ${shapeStr(logits.shape)}`);
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

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, p: SgdParams, firstStep: boolean): void {
    if (p.momentum !== 0 && !velocity) throw new Error("sgdUpdate with momentum needs a velocity buffer");
    this.addon.SgdUpdate(
      this.h(param), this.h(grad), velocity ? this.h(velocity) : -1,
      p.lr, p.momentum, p.dampening, p.weightDecay, p.nesterov, firstStep,
    );
  }

  // ---- small general ops --------------------------------------------------------------------------

  binary(op: BinaryOp, a: Storage, b: Storage): Storage {
    const shape = broadcast(a.shape, b.shape);
    return this.wrap(this.addon.Binary(BINARY_CODES[op], this.h(a), this.h(b), shape), shape);
  }

  unary(op: UnaryOp, a: Storage): Storage {
    return this.wrap(this.addon.Unary(UNARY_CODES[op], this.h(a)), a.shape);
  }

  affine(a: Storage, alpha: number, beta: number): Storage {
    return this.wrap(this.addon.Affine(this.h(a), alpha, beta), a.shape);
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    const rank = a.shape.length;
    const reduce = new Array<boolean>(rank).fill(axes.length === 0);
    for (const ax of axes) {
      const k = ax < 0 ? ax + rank : ax;
      if (!(k >= 0 && k < rank)) throw new Error(`sum: axis ${ax} out of range for ${shapeStr(a.shape)}`);
      reduce[k] = true;
    }
    const shape = keepDims ? a.shape.map((d, i) => (reduce[i] ? 1 : d)) : a.shape.filter((_, i) => !reduce[i]);
    return this.wrap(this.addon.Sum(this.h(a), reduce, shape), shape);
  }

  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage {
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      throw new Error(`matmul needs 2-D operands, got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
    }
    const [ar, ac] = a.shape as [number, number];
    const [br, bc] = b.shape as [number, number];
    const [m, k] = transA ? [ac, ar] : [ar, ac];
    const [k2, n] = transB ? [bc, br] : [br, bc];
    if (k !== k2) {
      throw new Error(`matmul inner sizes differ: ${shapeStr(a.shape)}${transA ? "^T" : ""} @ ${shapeStr(b.shape)}${transB ? "^T" : ""}`);
    }
    return this.wrap(this.addon.Matmul(this.h(a), this.h(b), transA, transB), [m, n]);
  }
}

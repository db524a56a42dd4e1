// The WebGPU backend: every op of the Backend contract in WGSL, fp32. Storage is a pooled GPU buffer
// (row-major, the logical layout); nothing is read back except by read(); work is batched into few
// submits (device.ts). Layer ops are in layers.ts, loss and SGD in training.ts, kernels in kernels/. Browser-safe: the caller hands in
// a GPU object (navigator.gpu, or Dawn's from node.ts).
import {
  type Backend, type BinaryOp, type Conv2dParams, type DType, type Epilogue, type MemoryStats, OP_NAMES, type OpContext,
  type OpName, type Pool2dParams, type Precision, type PrecisionSupport, type SgdParams, type Storage, type UnaryOp,
  UnsupportedOpError, numel,
} from "../backend.js";
import { PrecisionError } from "../precision.js";
import type { BackendFactory, BackendOptions } from "../registry.js";
import { broadcastShapes, checkReshape, matmulShape, normalizeAxes, sumShape, transposeShape } from "../shapes.js";
import { type BufferView, type GpuContext, GpuError, type OpenOptions, Params, grid1d, openGpu } from "./device.js";
import {
  AFFINE, DROPOUT, FILL, RELU, RELU_BACKWARD, TRANSPOSE, UNARY, binaryShader, broadcastStrides, dropoutFields, padShape,
} from "./kernels/elementwise.js";
import { SUM, sumLayout } from "./kernels/reduce.js";
import { type GemmOptions, type Tile } from "./kernels/gemm.js";
import * as layers from "./layers.js";
import * as training from "./training.js";
import { BufferPool, type PooledBuffer } from "./pool.js";

export { GpuError } from "./device.js";

/** Every op of the contract runs here, in float32 only (WGSL has no f64). */
const WEBGPU_OPS: ReadonlySet<string> = new Set(OP_NAMES);

export class GpuStorage implements Storage {
  disposed = false;
  constructor(
    readonly backend: WebGpuBackend,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly buf: PooledBuffer,
  ) {}
}

export interface WebGpuOptions extends OpenOptions {
  /** Shortest K range per split-K slice (tests lower it to reach the split path on small shapes). */
  minSplitK?: number;
  /** Forces one GEMM tile shape (tests run the big tiles on small shapes). */
  gemmTile?: Tile;
}

interface DropoutContext extends OpContext {
  prob: number;
  seed: number;
  offset: number;
}

export class WebGpuBackend implements Backend {
  readonly name = "webgpu";
  readonly device = "gpu";
  readonly pool: BufferPool;
  readonly gemmOptions: GemmOptions;

  constructor(readonly ctx: GpuContext, opts: WebGpuOptions = {}) {
    this.pool = new BufferPool(ctx);
    this.gemmOptions = {
      minSplitK: opts.minSplitK ?? 256,
      maxPartialBytes: Math.min(64 * 2 ** 20, ctx.limits.maxStorageBufferBindingSize),
      maxSharedBytes: ctx.limits.maxComputeWorkgroupStorageSize,
      ...(opts.gemmTile ? { tile: opts.gemmTile } : {}),
    };
  }

  describe(): string {
    const a = this.ctx.adapter;
    return `gpu (webgpu, ${a.description}${a.api ? `, ${a.api}` : ""})`;
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
    this.flat(FILL, numel(shape), [], s, (p) => p.f32(value, 0));
    return s;
  }

  async read(s: Storage): Promise<Float32Array> {
    const g = this.get(s);
    const n = numel(g.shape);
    if (n === 0) return new Float32Array(0);
    return new Float32Array(await this.ctx.readBytes(g.buf.gpu, 0, 4 * n));
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
  sync(): Promise<void> {
    return this.ctx.sync();
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
    this.ctx.kind = "relu";
    const g = this.get(x);
    const y = this.alloc(g.shape, "relu");
    this.flat(RELU, numel(g.shape), [g], y);
    return y;
  }

  reluBackward(dy: Storage, y: Storage): Storage {
    this.ctx.kind = "relu";
    const gy = this.get(dy);
    const dx = this.alloc(gy.shape, "relu backward");
    this.flat(RELU_BACKWARD, numel(gy.shape), [gy, this.get(y)], dx);
    return dx;
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
    this.flat(DROPOUT, numel(src.shape), [src], dst, (p, start) => p.f32(f.scale, 0).u32(offset + start, f.seed, f.threshold, f.dropAll));
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
    const ga = this.get(a);
    const gb = this.get(b);
    const shape = broadcastShapes(ga.shape, gb.shape);
    const out = this.alloc(shape, `binary ${op}`);
    const n = numel(shape);
    const params = new Params().u32(n, shape.length, 0, 0, 0, 0, 0, 0)
      .u32(...padShape(shape), ...broadcastStrides(ga.shape, shape), ...broadcastStrides(gb.shape, shape));
    const what = `binary ${op}`;
    this.ctx.dispatch(binaryShader(op), params.bytes(),
      [this.view(ga, 0, numel(ga.shape), what), this.view(gb, 0, numel(gb.shape), what), this.view(out, 0, n, what)], grid1d(Math.ceil(n / 256)));
    return out;
  }

  unary(op: UnaryOp, a: Storage): Storage {
    this.ctx.kind = "other";
    const g = this.get(a);
    const out = this.alloc(g.shape, op);
    this.flat(UNARY[op], numel(g.shape), [g], out);
    return out;
  }

  affine(a: Storage, alpha: number, beta: number): Storage {
    this.ctx.kind = "other";
    const g = this.get(a);
    const out = this.alloc(g.shape, "affine");
    this.flat(AFFINE, numel(g.shape), [g], out, (p) => p.f32(alpha, beta));
    return out;
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    this.ctx.kind = "other";
    const g = this.get(a);
    const reduce = new Set(axes.length === 0 ? g.shape.map((_, i) => i) : normalizeAxes(axes, g.shape.length));
    const shape = sumShape(g.shape, axes, keepDims);
    const out = this.alloc(shape, "sum");
    this.sumInto(g, g.shape, 0, reduce, out, 0);
    return out;
  }

  /** Sum over `axes` of a tensor whose first axis is the batch, chunked along it to respect the binding
   * limit: each chunk's sums land in one row of a (chunks, ...) buffer that a last sum folds. */
  sumBatchChunked(s: GpuStorage, axes: readonly number[], chunk: number, what: string): GpuStorage {
    const N = s.shape[0]!;
    const axisSet = new Set(axes);
    const keptShape = s.shape.filter((_, i) => !axisSet.has(i));
    if (chunk >= N) {
      const out = this.alloc(keptShape, what);
      this.sumInto(s, s.shape, 0, axisSet, out, 0);
      return out;
    }
    if (!axisSet.has(0)) throw new Error("sumBatchChunked reduces over the batch axis");
    const chunks = Math.ceil(N / chunk);
    const rows = this.alloc([chunks, ...keptShape], what);
    const per = numel(s.shape) / N;
    const kept = numel(keptShape);
    for (let c = 0; c < chunks; c++) {
      const nb = Math.min(chunk, N - c * chunk);
      this.sumInto(s, [nb, ...s.shape.slice(1)], c * chunk * per, axisSet, rows, c * kept);
    }
    const out = this.alloc(keptShape, what);
    this.sumInto(rows, rows.shape, 0, new Set([0]), out, 0);
    this.dispose(rows);
    return out;
  }

  /** Sums elements [start, start+numel(shape)) of `a`, seen as `shape`, over `axes` into `out` at `outStart`. */
  private sumInto(a: GpuStorage, shape: readonly number[], start: number, axes: ReadonlySet<number>, out: GpuStorage, outStart: number): void {
    const l = sumLayout(shape, axes);
    const av = this.view(a, start, numel(shape), "sum");
    const ov = this.view(out, outStart, l.nOut, "sum");
    const params = new Params().u32(l.nOut, l.nRed, av.shift, ov.shift, 0, 0, 0, 0)
      .u32(...l.keptShape, ...l.keptStr, ...l.redShape, ...l.redStr);
    this.ctx.dispatch(SUM, params.bytes(), [av, ov], grid1d(l.nOut));
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
    const g = this.get(a);
    const [C, R] = transposeShape(g.shape);
    const out = this.alloc([C, R], "transpose");
    const n = R * C;
    const av = this.view(g, 0, n, "transpose");
    const ov = this.view(out, 0, n, "transpose");
    this.ctx.dispatch(TRANSPOSE, new Params().u32(n, av.shift, 0, ov.shift).f32(0, 0).u32(R, C, 0, 0).bytes(), [av, ov], grid1d(Math.ceil(n / 256)));
    return out;
  }

  // ---- flat kernels -------------------------------------------------------------------------------

  /** Calls `fn` on ranges of at most one binding's worth of elements, each starting 256-byte aligned. */
  forChunks(n: number, fn: (start: number, count: number) => void): void {
    const perChunk = Math.floor((this.ctx.limits.maxStorageBufferBindingSize - 256) / 256) * 64;
    for (let start = 0; start < n; start += perChunk) fn(start, Math.min(perChunk, n - start));
  }

  /** Runs a kernels/elementwise.ts map kernel over n elements of `inputs` into `out`; `extra` writes the
   * f0, f1, u0.. fields (given the chunk's first element). */
  private flat(code: string, n: number, inputs: GpuStorage[], out: GpuStorage, extra?: (p: Params, start: number) => void): void {
    this.forChunks(n, (start, count) => {
      const views = inputs.map((s) => this.view(s, start, count, "element-wise op"));
      const ov = this.view(out, start, count, "element-wise op");
      const p = new Params().u32(count, views[0]?.shift ?? 0, views[1]?.shift ?? 0, ov.shift);
      if (extra) extra(p, start);
      this.ctx.dispatch(code, p.bytes(), [...views, ov], grid1d(Math.ceil(count / 256)));
    });
  }
}

/** Opens the adapter of `gpu` and returns the backend, or one line saying why there is none. */
export async function createWebGpuBackend(gpu: GPU, opts: WebGpuOptions = {}): Promise<WebGpuBackend | { error: string }> {
  const ctx = await openGpu(gpu, opts);
  if ("error" in ctx) return ctx;
  return new WebGpuBackend(ctx, opts);
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

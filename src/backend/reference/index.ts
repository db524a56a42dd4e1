// The reference backend: every op in plain TypeScript over row-major typed arrays. It is the readable
// definition of each op and the oracle the fast backends are tested against, so it favours clarity over
// speed. Layer ops live in layers.ts; this file holds memory and the small general ops.
import {
  type Backend, type BatchNormParams, type BinaryOp, type Conv2dParams, type DType, type Epilogue, type MemoryStats, type OpContext,
  type OpName, type Pool2dParams, type Precision, type PrecisionSupport, type SgdParams, type Storage, type UnaryOp,
  OP_NAMES, numel, bytesPerElement,
} from "../backend.js";
import {
  adaptiveAvgPool2dShape, avgPool2dShape, batchNormShape, broadcastShapes, checkReshape, checkSameShape, concatShape,
  conv2dShape, linearShape, matmulShape, normalizeAxes, splitShapes, transposeShape,
} from "../shapes.js";
import { PrecisionError, roundBf16 } from "../precision.js";
import * as blocks from "./blocks.js";
import * as layers from "./layers.js";

export type Data = Float32Array | Float64Array;

export class RefStorage implements Storage {
  disposed = false;
  constructor(
    readonly backend: ReferenceBackend,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly data: Data,
  ) {}
}

export function alloc(dtype: DType, n: number): Data {
  return dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
}

export class ReferenceBackend implements Backend {
  readonly name: string = "reference";
  readonly device = "cpu";
  private live = 0;
  private liveBytes = 0;
  private peakBytes = 0;

  private mode: Precision = "fp32";

  describe(): string {
    return `cpu (reference, 1 thread${this.mode === "bf16" ? ", bf16 emulated" : ""})`;
  }

  /** bf16 is emulated: conv2d and linear round their operands and results to bfloat16 and compute in
   * float32 between, which models what a bf16 backend computes (up to summation order). */
  setPrecision(p: Precision): void {
    if (p === "fp16") throw new PrecisionError(`fp16 is not available on cpu (reference backend): ${this.precisionSupport(p).detail}`);
    this.mode = p;
  }

  precision(): Precision {
    return this.mode;
  }

  precisionSupport(p: Precision): PrecisionSupport {
    if (p === "fp32") return { level: "native", detail: "the reference backend computes in float32/float64" };
    if (p === "bf16") return { level: "emulated", detail: "the reference backend rounds conv2d/linear operands and results to bf16 in software" };
    return { level: "unsupported", detail: "fp16 is a GPU precision (WebGPU's shader-f16); the reference backend has bf16 emulation only" };
  }

  /** The values a conv2d/linear reads: rounded to bf16 in bf16 mode (float32 tensors only). */
  private operand(s: Storage): Data {
    const d = this.get(s);
    return this.mode === "bf16" && d instanceof Float32Array ? roundBf16(d) : d;
  }

  /** An activation a conv2d/linear writes: stored as bf16 in bf16 mode. */
  private result(d: Data): Data {
    return this.mode === "bf16" && d instanceof Float32Array ? roundBf16(d) : d;
  }

  supports(op: OpName, dtype: DType): boolean {
    return OP_NAMES.includes(op) && (dtype === "float32" || dtype === "float64");
  }

  // ---- memory -------------------------------------------------------------------------------------

  /** Wraps `data` (taken over, not copied) as a new live buffer. */
  wrap(data: Data, shape: readonly number[], dtype: DType = data instanceof Float64Array ? "float64" : "float32"): RefStorage {
    if (data.length !== numel(shape)) {
      throw new Error(`buffer of ${data.length} values does not fit shape [${shape.join(", ")}]`);
    }
    this.live++;
    this.liveBytes += data.length * bytesPerElement(dtype);
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return new RefStorage(this, [...shape], dtype, data);
  }

  /** The typed array behind a storage of this backend; throws on foreign or disposed storage. */
  get(s: Storage): Data {
    if (!(s instanceof RefStorage) || s.backend !== this) {
      throw new Error(`storage of the ${s.backend.name} backend passed to the reference backend`);
    }
    if (s.disposed) throw new Error("use of a disposed tensor");
    return s.data;
  }

  fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage {
    const copy = alloc(dtype, data.length);
    copy.set(data);
    return this.wrap(copy, shape, dtype);
  }

  fill(shape: readonly number[], dtype: DType, value: number): Storage {
    return this.wrap(alloc(dtype, numel(shape)).fill(value), shape, dtype);
  }

  copy(x: Storage): Storage {
    return this.wrap(this.get(x).slice(), x.shape, x.dtype);
  }

  readSync(s: Storage): Data {
    return this.get(s).slice();
  }

  async read(s: Storage): Promise<Data> {
    return this.readSync(s);
  }

  dispose(s: Storage): void {
    const r = s as RefStorage;
    if (r.disposed) return;
    r.disposed = true;
    this.live--;
    this.liveBytes -= r.data.length * bytesPerElement(r.dtype);
  }

  memoryStats(): MemoryStats {
    return { liveBuffers: this.live, liveBytes: this.liveBytes, peakBytes: this.peakBytes };
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  // ---- layer ops (layers.ts) ----------------------------------------------------------------------

  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, epilogue: Epilogue = {}): Storage {
    conv2dShape(x.shape, w.shape, p, b?.shape);
    const y = layers.conv2dForward(this.operand(x), x.shape, this.operand(w), w.shape, b && this.get(b), p);
    return this.wrap(this.result(epilogue.relu ? layers.reluForward(y.data) : y.data), y.shape, x.dtype);
  }

  conv2dBackward(dy: Storage, x: Storage, w: Storage, hasBias: boolean, p: Conv2dParams, needDx: boolean) {
    const g = layers.conv2dBackward(this.operand(dy), dy.shape, this.operand(x), x.shape, this.operand(w), w.shape, p, needDx);
    return {
      dx: g.dx ? this.wrap(this.result(g.dx), x.shape, x.dtype) : null,
      dw: this.wrap(g.dw, w.shape, w.dtype),
      db: hasBias ? this.wrap(g.db, [w.shape[0]!], w.dtype) : null,
    };
  }

  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext } {
    const r = layers.maxPool2dForward(this.get(x), x.shape, p);
    return { y: this.wrap(r.data, r.shape, x.dtype), ctx: { argmax: r.argmax, dispose() {} } as OpContext };
  }

  maxPool2dBackward(dy: Storage, x: Storage, ctx: OpContext, _p: Pool2dParams): Storage {
    const argmax = (ctx as unknown as { argmax: Int32Array }).argmax;
    return this.wrap(layers.maxPool2dBackward(this.get(dy), argmax, numel(x.shape)), x.shape, x.dtype);
  }

  relu(x: Storage): Storage {
    return this.wrap(layers.reluForward(this.get(x)), x.shape, x.dtype);
  }

  reluBackward(dy: Storage, y: Storage): Storage {
    return this.wrap(layers.reluBackward(this.get(dy), this.get(y)), y.shape, y.dtype);
  }

  linear(x: Storage, w: Storage, b: Storage | null, epilogue: Epilogue = {}): Storage {
    const shape = linearShape(x.shape, w.shape, b?.shape);
    const y = layers.linearForward(this.operand(x), x.shape, this.operand(w), w.shape, b && this.get(b));
    return this.wrap(this.result(epilogue.relu ? layers.reluForward(y) : y), shape, x.dtype);
  }

  linearBackward(dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean) {
    const g = layers.linearBackward(this.operand(dy), this.operand(x), x.shape, this.operand(w), w.shape, needDx);
    return {
      dx: g.dx ? this.wrap(this.result(g.dx), x.shape, x.dtype) : null,
      dw: this.wrap(g.dw, w.shape, w.dtype),
      db: hasBias ? this.wrap(g.db, [w.shape[0]!], w.dtype) : null,
    };
  }

  dropout(x: Storage, p: number, seed: number, offset = 0): { y: Storage; ctx: OpContext } {
    const r = layers.dropoutForward(this.get(x), p, seed, offset);
    return { y: this.wrap(r.y, x.shape, x.dtype), ctx: { mask: r.mask, dispose() {} } as OpContext };
  }

  dropoutBackward(dy: Storage, ctx: OpContext): Storage {
    const mask = (ctx as unknown as { mask: Data }).mask;
    return this.wrap(layers.dropoutBackward(this.get(dy), mask), dy.shape, dy.dtype);
  }

  sigmoid(x: Storage): Storage {
    return this.wrap(blocks.sigmoidForward(this.get(x)), x.shape, x.dtype);
  }

  sigmoidBackward(dy: Storage, y: Storage): Storage {
    checkSameShape("sigmoidBackward", dy.shape, y.shape);
    return this.wrap(blocks.sigmoidBackward(this.get(dy), this.get(y)), y.shape, y.dtype);
  }

  tanh(x: Storage): Storage {
    return this.wrap(blocks.tanhForward(this.get(x)), x.shape, x.dtype);
  }

  tanhBackward(dy: Storage, y: Storage): Storage {
    checkSameShape("tanhBackward", dy.shape, y.shape);
    return this.wrap(blocks.tanhBackward(this.get(dy), this.get(y)), y.shape, y.dtype);
  }

  avgPool2d(x: Storage, p: Pool2dParams): Storage {
    avgPool2dShape(x.shape, p);
    const r = blocks.avgPool2dForward(this.get(x), x.shape, p);
    return this.wrap(r.data, r.shape, x.dtype);
  }

  avgPool2dBackward(dy: Storage, xShape: readonly number[], p: Pool2dParams): Storage {
    checkSameShape("avgPool2dBackward", dy.shape, avgPool2dShape(xShape, p));
    return this.wrap(blocks.avgPool2dBackward(this.get(dy), xShape, p), xShape, dy.dtype);
  }

  adaptiveAvgPool2d(x: Storage, outSize: readonly [number, number]): Storage {
    const shape = adaptiveAvgPool2dShape(x.shape, outSize);
    return this.wrap(blocks.adaptiveAvgPool2dForward(this.get(x), x.shape, outSize), shape, x.dtype);
  }

  adaptiveAvgPool2dBackward(dy: Storage, xShape: readonly [number, number, number, number]): Storage {
    checkSameShape("adaptiveAvgPool2dBackward", dy.shape, adaptiveAvgPool2dShape(xShape, [dy.shape[2]!, dy.shape[3]!]));
    return this.wrap(blocks.adaptiveAvgPool2dBackward(this.get(dy), dy.shape, xShape), xShape, dy.dtype);
  }

  batchNorm(
    x: Storage, weight: Storage, bias: Storage, runningMean: Storage, runningVar: Storage, p: BatchNormParams,
    epilogue: Epilogue = {},
  ): { y: Storage; ctx: OpContext } {
    const channels = weight.shape[0]!;
    batchNormShape(x.shape, channels, p.training);
    for (const [name, s] of [["bias", bias], ["running_mean", runningMean], ["running_var", runningVar]] as const) {
      checkSameShape(`batchNorm ${name}`, s.shape, [channels]);
    }
    const r = blocks.batchNormForward(
      this.get(x), x.shape, this.get(weight), this.get(bias), this.get(runningMean), this.get(runningVar), p,
    );
    const y = epilogue.relu ? layers.reluForward(r.y) : r.y;
    return { y: this.wrap(y, x.shape, x.dtype), ctx: { saved: r.saved, training: p.training, dispose() {} } as OpContext };
  }

  batchNormBackward(dy: Storage, x: Storage, weight: Storage, ctx: OpContext) {
    checkSameShape("batchNormBackward", dy.shape, x.shape);
    const c = ctx as unknown as { saved: blocks.BatchNormSaved; training: boolean };
    const g = blocks.batchNormBackward(this.get(dy), this.get(x), x.shape, this.get(weight), c.saved, c.training);
    return {
      dx: this.wrap(g.dx, x.shape, x.dtype),
      dweight: this.wrap(g.dweight, weight.shape, weight.dtype),
      dbias: this.wrap(g.dbias, weight.shape, weight.dtype),
    };
  }

  concat(xs: readonly Storage[], axis: number): Storage {
    const shape = concatShape(xs.map((x) => x.shape), axis);
    const [ax] = normalizeAxes([axis], shape.length);
    const data = blocks.concat(xs.map((x) => this.get(x)), xs.map((x) => x.shape), ax!, shape);
    return this.wrap(data, shape, xs[0]!.dtype);
  }

  split(x: Storage, axis: number, sizes: readonly number[]): Storage[] {
    const shapes = splitShapes(x.shape, axis, sizes);
    const [ax] = normalizeAxes([axis], x.shape.length);
    return blocks.split(this.get(x), x.shape, ax!, sizes).map((d, i) => this.wrap(d, shapes[i]!, x.dtype));
  }

  reshape(x: Storage, shape: readonly number[]): Storage {
    checkReshape(x.shape, shape);
    return this.wrap(this.get(x).slice(), shape, x.dtype);
  }

  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext } {
    const r = layers.crossEntropyForward(this.get(logits), logits.shape, labels);
    const loss = alloc(logits.dtype, 1);
    loss[0] = r.loss;
    const ctx = { probs: r.probs, labels, shape: logits.shape, dispose() {} };
    return { loss: this.wrap(loss, [], logits.dtype), ctx };
  }

  crossEntropyBackward(dloss: Storage, ctx: OpContext): Storage {
    const c = ctx as unknown as { probs: Data; labels: Int32Array; shape: readonly number[] };
    const d = layers.crossEntropyBackward(this.get(dloss)[0]!, c.probs, c.shape, c.labels);
    return this.wrap(d, c.shape, dloss.dtype);
  }

  correctCount(logits: Storage, labels: Int32Array): Storage {
    const n = layers.correctCount(this.get(logits), logits.shape, labels);
    return this.wrap(alloc(logits.dtype, 1).fill(n), [], logits.dtype);
  }

  sgdUpdate(param: Storage, grad: Storage, velocity: Storage | null, p: SgdParams, firstStep: boolean): void {
    layers.sgdUpdate(this.get(param), this.get(grad), velocity && this.get(velocity), p, firstStep);
  }

  // ---- small general ops --------------------------------------------------------------------------

  binary(op: BinaryOp, a: Storage, b: Storage): Storage {
    const shape = broadcastShapes(a.shape, b.shape);
    const out = alloc(a.dtype, numel(shape));
    const ia = broadcastIndex(a.shape, shape);
    const ib = broadcastIndex(b.shape, shape);
    const A = this.get(a);
    const B = this.get(b);
    const f = BINARY[op];
    for (let i = 0; i < out.length; i++) out[i] = f(A[ia[i]!]!, B[ib[i]!]!);
    return this.wrap(out, shape, a.dtype);
  }

  unary(op: UnaryOp, a: Storage): Storage {
    const A = this.get(a);
    const out = alloc(a.dtype, A.length);
    const f = UNARY[op];
    for (let i = 0; i < A.length; i++) out[i] = f(A[i]!);
    return this.wrap(out, a.shape, a.dtype);
  }

  affine(a: Storage, alpha: number, beta: number): Storage {
    const A = this.get(a);
    const out = alloc(a.dtype, A.length);
    for (let i = 0; i < A.length; i++) out[i] = A[i]! * alpha + beta;
    return this.wrap(out, a.shape, a.dtype);
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    const rank = a.shape.length;
    const reduce = new Set(axes.length === 0 ? a.shape.map((_, i) => i) : normalizeAxes(axes, rank));
    const keptShape = a.shape.map((d, i) => (reduce.has(i) ? 1 : d));
    const out = alloc(a.dtype, numel(keptShape));
    // Each input element adds into the output cell found by broadcasting the kept shape back to a's shape.
    const target = broadcastIndex(keptShape, a.shape);
    const A = this.get(a);
    for (let i = 0; i < A.length; i++) out[target[i]!] += A[i]!;
    const shape = keepDims ? keptShape : a.shape.filter((_, i) => !reduce.has(i));
    return this.wrap(out, shape, a.dtype);
  }

  max(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    const rank = a.shape.length;
    const reduce = new Set(axes.length === 0 ? a.shape.map((_, i) => i) : normalizeAxes(axes, rank));
    const keptShape = a.shape.map((d, i) => (reduce.has(i) ? 1 : d));
    const out = alloc(a.dtype, numel(keptShape)).fill(-Infinity);
    const target = broadcastIndex(keptShape, a.shape);
    const A = this.get(a);
    for (let i = 0; i < A.length; i++) {
      const t = target[i]!;
      // once NaN, a cell stays NaN (NaN > v and v > NaN are both false), as torch.amax
      if (A[i]! > out[t]! || Number.isNaN(A[i]!)) out[t] = A[i]!;
    }
    const shape = keepDims ? keptShape : a.shape.filter((_, i) => !reduce.has(i));
    return this.wrap(out, shape, a.dtype);
  }

  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage {
    const [m, n] = matmulShape(a.shape, b.shape, transA, transB);
    const ac = a.shape[1]!;
    const bc = b.shape[1]!;
    const k = transA ? a.shape[0]! : ac;
    const A = this.get(a);
    const B = this.get(b);
    const out = alloc(a.dtype, m * n);
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) {
        const aip = transA ? A[p * ac + i]! : A[i * ac + p]!;
        for (let j = 0; j < n; j++) out[i * n + j] += aip * (transB ? B[j * bc + p]! : B[p * bc + j]!);
      }
    }
    return this.wrap(out, [m, n], a.dtype);
  }

  transpose(a: Storage): Storage {
    return this.wrap(layers.transpose(this.get(a), a.shape), transposeShape(a.shape), a.dtype);
  }
}

const BINARY: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
};

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
};

/** For every element of `to` (row-major), the flat index of the element of `from` broadcast onto it. */
function broadcastIndex(from: readonly number[], to: readonly number[]): Int32Array {
  const n = numel(to);
  const idx = new Int32Array(n);
  const offset = to.length - from.length;
  const strides = new Array<number>(to.length).fill(0);
  let s = 1;
  for (let i = from.length - 1; i >= 0; i--) {
    strides[i + offset] = from[i] === 1 ? 0 : s;
    s *= from[i]!;
  }
  const coord = new Array<number>(to.length).fill(0);
  let flat = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = flat;
    for (let d = to.length - 1; d >= 0; d--) {
      coord[d]!++;
      flat += strides[d]!;
      if (coord[d]! < to[d]!) break;
      flat -= strides[d]! * to[d]!;
      coord[d] = 0;
    }
  }
  return idx;
}

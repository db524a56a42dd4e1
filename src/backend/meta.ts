// The shape-only backend (PyTorch's "meta" device): every op checks its operands with the rules of
// shapes.ts and returns a storage that has a shape and a dtype but no values and no memory. Running a
// Module's forward on it gives every layer's output shape without computing anything (traceShapes in
// src/nn/trace.ts); reads fail. In-place ops (SGD, batch-norm running statistics) write nothing.
import {
  type Backend, type BatchNormParams, type BinaryOp, type Conv2dParams, type DType, type Epilogue, type MemoryStats,
  type OpContext, type OpName, type Pool2dParams, type Precision, type PrecisionSupport, type Storage, type UnaryOp,
  OP_NAMES,
} from "./backend.js";
import {
  adaptiveAvgPool2dShape, avgPool2dShape, batchNormShape, broadcastShapes, checkReshape, checkSameShape, concatShape,
  conv2dShape, linearShape, matmulShape, maxPool2dShape, splitShapes, sumShape, transposeShape,
} from "./shapes.js";

export class MetaStorage implements Storage {
  constructor(
    readonly backend: MetaBackend,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {}
}

const NO_CONTEXT: OpContext = { dispose() {} };

/** The ops a forward op's backward runs besides its own `...Backward` (for the up-front op check). */
const BACKWARD_EXTRA: Partial<Record<OpName, OpName[]>> = {
  concat: ["split"],
  binary: ["binary", "sum", "reshape", "affine", "copy"],
  unary: ["binary", "affine"],
  sum: ["reshape", "fill", "binary", "affine"],
  max: ["unary", "sum", "binary"],
  reshape: ["reshape"],
};

export class MetaBackend implements Backend {
  readonly name = "meta";
  readonly device = "meta";
  private recording: Set<OpName> | null = null;

  constructor() {
    // Each op notes itself and what its backward will need while a trace records.
    for (const op of OP_NAMES) {
      const self = this as unknown as Record<string, (...args: unknown[]) => unknown>;
      const run = self[op]!;
      self[op] = (...args: unknown[]) => {
        if (this.recording) {
          this.recording.add(op);
          const backwardOp = `${op}Backward` as OpName;
          if (OP_NAMES.includes(backwardOp)) this.recording.add(backwardOp);
          for (const extra of BACKWARD_EXTRA[op] ?? []) this.recording.add(extra);
        }
        return run.apply(this, args);
      };
    }
  }

  /** Starts noting every op called (traces nest: each gets its own set, the outer one sees all). */
  startRecording(): Set<OpName> {
    const set = new Set<OpName>();
    const outer = this.recording;
    this.recording = set;
    (set as Set<OpName> & { outer?: Set<OpName> | null }).outer = outer;
    return set;
  }

  stopRecording(set: Set<OpName>): void {
    const outer = (set as Set<OpName> & { outer?: Set<OpName> | null }).outer ?? null;
    if (outer) for (const op of set) outer.add(op);
    this.recording = outer;
  }

  describe(): string {
    return "meta (shapes only)";
  }

  supports(op: OpName, _dtype: DType): boolean {
    return OP_NAMES.includes(op);
  }

  precisionSupport(_p: Precision): PrecisionSupport {
    return { level: "native", detail: "the meta backend computes no values" };
  }

  private make(shape: readonly number[], dtype: DType): Storage {
    return new MetaStorage(this, [...shape], dtype);
  }

  fromArray(_data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage {
    return this.make(shape, dtype);
  }

  fill(shape: readonly number[], dtype: DType, _value: number): Storage {
    return this.make(shape, dtype);
  }

  copy(x: Storage): Storage {
    return this.make(x.shape, x.dtype);
  }

  read(_s: Storage): Promise<Float32Array | Float64Array> {
    return Promise.reject(new Error("a meta tensor has a shape but no values (it was made by a shape-only trace)"));
  }

  dispose(_s: Storage): void {}

  memoryStats(): MemoryStats {
    return { liveBuffers: 0, liveBytes: 0 };
  }

  conv2d(x: Storage, w: Storage, b: Storage | null, p: Conv2dParams, _e?: Epilogue): Storage {
    return this.make(conv2dShape(x.shape, w.shape, p, b?.shape), x.dtype);
  }

  conv2dBackward(_dy: Storage, x: Storage, w: Storage, hasBias: boolean, _p: Conv2dParams, needDx: boolean) {
    return { dx: needDx ? this.copy(x) : null, dw: this.copy(w), db: hasBias ? this.make([w.shape[0]!], w.dtype) : null };
  }

  maxPool2d(x: Storage, p: Pool2dParams): { y: Storage; ctx: OpContext } {
    return { y: this.make(maxPool2dShape(x.shape, p), x.dtype), ctx: NO_CONTEXT };
  }

  maxPool2dBackward(_dy: Storage, x: Storage): Storage {
    return this.copy(x);
  }

  relu(x: Storage): Storage {
    return this.copy(x);
  }

  reluBackward(dy: Storage, y: Storage): Storage {
    checkSameShape("reluBackward", dy.shape, y.shape);
    return this.copy(y);
  }

  linear(x: Storage, w: Storage, b: Storage | null, _e?: Epilogue): Storage {
    return this.make(linearShape(x.shape, w.shape, b?.shape), x.dtype);
  }

  linearBackward(_dy: Storage, x: Storage, w: Storage, hasBias: boolean, needDx: boolean) {
    return { dx: needDx ? this.copy(x) : null, dw: this.copy(w), db: hasBias ? this.make([w.shape[0]!], w.dtype) : null };
  }

  dropout(x: Storage): { y: Storage; ctx: OpContext } {
    return { y: this.copy(x), ctx: NO_CONTEXT };
  }

  dropoutBackward(dy: Storage): Storage {
    return this.copy(dy);
  }

  sigmoid(x: Storage): Storage {
    return this.copy(x);
  }

  sigmoidBackward(_dy: Storage, y: Storage): Storage {
    return this.copy(y);
  }

  tanh(x: Storage): Storage {
    return this.copy(x);
  }

  tanhBackward(_dy: Storage, y: Storage): Storage {
    return this.copy(y);
  }

  avgPool2d(x: Storage, p: Pool2dParams): Storage {
    return this.make(avgPool2dShape(x.shape, p), x.dtype);
  }

  avgPool2dBackward(dy: Storage, xShape: readonly number[]): Storage {
    return this.make(xShape, dy.dtype);
  }

  adaptiveAvgPool2d(x: Storage, outSize: readonly [number, number]): Storage {
    return this.make(adaptiveAvgPool2dShape(x.shape, outSize), x.dtype);
  }

  adaptiveAvgPool2dBackward(dy: Storage, xShape: readonly [number, number, number, number]): Storage {
    return this.make(xShape, dy.dtype);
  }

  batchNorm(
    x: Storage, weight: Storage, _bias: Storage, _rm: Storage, _rv: Storage, p: BatchNormParams,
  ): { y: Storage; ctx: OpContext } {
    batchNormShape(x.shape, weight.shape[0]!, p.training);
    return { y: this.copy(x), ctx: NO_CONTEXT };
  }

  batchNormBackward(_dy: Storage, x: Storage, weight: Storage) {
    return { dx: this.copy(x), dweight: this.copy(weight), dbias: this.copy(weight) };
  }

  concat(xs: readonly Storage[], axis: number): Storage {
    return this.make(concatShape(xs.map((x) => x.shape), axis), xs[0]!.dtype);
  }

  split(x: Storage, axis: number, sizes: readonly number[]): Storage[] {
    return splitShapes(x.shape, axis, sizes).map((s) => this.make(s, x.dtype));
  }

  reshape(x: Storage, shape: readonly number[]): Storage {
    checkReshape(x.shape, shape);
    return this.make(shape, x.dtype);
  }

  crossEntropy(logits: Storage, labels: Int32Array): { loss: Storage; ctx: OpContext } {
    if (logits.shape.length !== 2 || logits.shape[0] !== labels.length) {
      throw new Error(`cross-entropy got ${labels.length} labels for logits [${logits.shape.join(", ")}]`);
    }
    return { loss: this.make([], logits.dtype), ctx: NO_CONTEXT };
  }

  crossEntropyBackward(_dloss: Storage, _ctx: OpContext): Storage {
    throw new Error("the meta backend does not differentiate cross-entropy (it keeps no logits shape in its context)");
  }

  correctCount(logits: Storage): Storage {
    return this.make([], logits.dtype);
  }

  sgdUpdate(): void {}

  binary(_op: BinaryOp, a: Storage, b: Storage): Storage {
    return this.make(broadcastShapes(a.shape, b.shape), a.dtype);
  }

  unary(_op: UnaryOp, a: Storage): Storage {
    return this.copy(a);
  }

  affine(a: Storage): Storage {
    return this.copy(a);
  }

  sum(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    return this.make(sumShape(a.shape, axes, keepDims), a.dtype);
  }

  max(a: Storage, axes: readonly number[], keepDims: boolean): Storage {
    return this.make(sumShape(a.shape, axes, keepDims), a.dtype);
  }

  matmul(a: Storage, b: Storage, transA: boolean, transB: boolean): Storage {
    return this.make(matmulShape(a.shape, b.shape, transA, transB), a.dtype);
  }

  transpose(a: Storage): Storage {
    return this.make(transposeShape(a.shape), a.dtype);
  }
}

/** The one shape-only backend (it holds no state). */
export const metaBackend = new MetaBackend();

// The typings of alexnet_native.node (native/addon.h lists the same entry points): what the native backend
// calls and what the addon reports about itself. Handles are integers; -1 means none.
import type { Precision, PrecisionSupport } from "../backend.js";

/** The functions alexnet_native.node exports (native/addon.cc). Handles are integers; -1 means none. */
export interface NativeAddon {
  Create(shape: number[], data: Float32Array | null): number;
  Fill(shape: number[], value: number): number;
  Copy(h: number): number;
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
  Dropout(x: number, p: number, seed: number, offset: number): number;
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
  Transpose(a: number): number;
  // native/addon_layers2.cc
  Sigmoid(x: number): number;
  SigmoidBackward(dy: number, y: number): number;
  Tanh(x: number): number;
  TanhBackward(dy: number, y: number): number;
  AvgPool2d(x: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): number;
  AvgPool2dBackward(dy: number, xShape: number[], kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): number;
  AdaptiveAvgPool2d(x: number, oh: number, ow: number): number;
  AdaptiveAvgPool2dBackward(dy: number, xShape: number[]): number;
  /** -> [y, stats]: stats is a (2,C) buffer (mean, biased variance used) that the backward reads. */
  BatchNorm(
    x: number, weight: number, bias: number, runningMean: number, runningVar: number, training: boolean, momentum: number,
    eps: number, relu: boolean,
  ): [number, number];
  /** -> [dx, dweight, dbias] */
  BatchNormBackward(dy: number, x: number, weight: number, stats: number): [number, number, number];
  Concat(xs: number[], axis: number): number;
  Split(x: number, axis: number, sizes: number[]): number[];
  Max(a: number, reduce: boolean[], outShape: number[]): number;
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

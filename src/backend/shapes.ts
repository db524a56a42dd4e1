// Shape rules, written once: conv/pool output sizes, linear and matmul operands, NumPy broadcasting, axes,
// reshape. The front end (functional.ts, ops.ts), every TypeScript backend and the bench call these; the C++
// addon checks only what memory safety needs and its messages point here. A ShapeError says what was
// expected; nn.Sequential adds the layer's index and name.
import { numel } from "./backend.js";
import type { Conv2dParams, Pool2dParams } from "./backend.js";

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShapeError";
  }
}

export const fmt = (shape: readonly (number | string)[]): string => `[${shape.join(", ")}]`;

/** Output size of a convolution or pooling window along one axis (floor mode, as PyTorch's default). */
export function windowOutSize(inSize: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((inSize + 2 * padding - kernel) / stride) + 1;
}

/** Output shape of conv2d: x (N,C,H,W), w (O,C,KH,KW), b (O) or absent -> (N,O,OH,OW). */
export function conv2dShape(x: readonly number[], w: readonly number[], p: Conv2dParams, bias?: readonly number[] | null): number[] {
  if (x.length !== 4) throw new ShapeError(`expected input (N, C, H, W) with 4 dimensions, got ${fmt(x)}`);
  if (w.length !== 4) throw new ShapeError(`expected weight (O, C, KH, KW) with 4 dimensions, got ${fmt(w)}`);
  const [n, c, h, wd] = x as [number, number, number, number];
  const [o, ci, kh, kw] = w as [number, number, number, number];
  if (c !== ci) throw new ShapeError(`expected input with ${ci} channels ${fmt(["N", ci, "H", "W"])}, got ${fmt(x)}`);
  if (bias && (bias.length !== 1 || bias[0] !== o)) throw new ShapeError(`expected bias ${fmt([o])}, got ${fmt(bias)}`);
  const oh = windowOutSize(h, kh, p.stride[0], p.padding[0]);
  const ow = windowOutSize(wd, kw, p.stride[1], p.padding[1]);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(`kernel ${kh}x${kw} with padding ${p.padding[0]}x${p.padding[1]} does not fit input ${h}x${wd} (got ${fmt(x)})`);
  }
  return [n, o, oh, ow];
}

/** Output shape of max pooling: x (N,C,H,W) -> (N,C,OH,OW); padding at most half the window, as PyTorch. */
export function maxPool2dShape(x: readonly number[], p: Pool2dParams): number[] {
  if (x.length !== 4) throw new ShapeError(`expected input (N, C, H, W) with 4 dimensions, got ${fmt(x)}`);
  const [n, c, h, w] = x as [number, number, number, number];
  const [kh, kw] = p.kernel;
  if (p.padding[0] * 2 > kh || p.padding[1] * 2 > kw) {
    throw new ShapeError(`padding ${p.padding.join("x")} must be at most half of kernel ${kh}x${kw}`);
  }
  if (h + 2 * p.padding[0] < kh || w + 2 * p.padding[1] < kw) {
    throw new ShapeError(`pooling window ${kh}x${kw} is larger than the padded input ${h + 2 * p.padding[0]}x${w + 2 * p.padding[1]} (input ${fmt(x)})`);
  }
  return [n, c, windowOutSize(h, kh, p.stride[0], p.padding[0]), windowOutSize(w, kw, p.stride[1], p.padding[1])];
}

/** Output shape of linear: x (N,I), w (O,I), b (O) or absent -> (N,O). */
export function linearShape(x: readonly number[], w: readonly number[], bias?: readonly number[] | null): number[] {
  if (w.length !== 2) throw new ShapeError(`expected weight (O, I) with 2 dimensions, got ${fmt(w)}`);
  const [o, i] = w as [number, number];
  if (x.length !== 2 || x[1] !== i) throw new ShapeError(`expected input ${fmt(["N", i])}, got ${fmt(x)}`);
  if (bias && (bias.length !== 1 || bias[0] !== o)) throw new ShapeError(`expected bias ${fmt([o])}, got ${fmt(bias)}`);
  return [x[0]!, o];
}

/** Output shape of op(a) @ op(b), where op transposes when its flag is set: (M,K) @ (K,N) -> (M,N). */
export function matmulShape(a: readonly number[], b: readonly number[], transA: boolean, transB: boolean): [number, number] {
  if (a.length !== 2 || b.length !== 2) throw new ShapeError(`matmul needs 2-D operands, got ${fmt(a)} and ${fmt(b)}`);
  const [m, k] = transA ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [k2, n] = transB ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (k !== k2) throw new ShapeError(`matmul inner sizes differ: ${fmt(a)}${transA ? "^T" : ""} @ ${fmt(b)}${transB ? "^T" : ""}`);
  return [m, n];
}

/** NumPy broadcasting of two shapes; throws naming both when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(`shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Axes as non-negative indices (negative ones count from the end); an empty list means every axis. */
export function normalizeAxes(axes: number | readonly number[], rank: number): number[] {
  const list = typeof axes === "number" ? [axes] : [...axes];
  return list.map((ax) => {
    const a = ax < 0 ? ax + rank : ax;
    if (!(Number.isInteger(a) && a >= 0 && a < rank)) throw new ShapeError(`axis ${ax} out of range for rank ${rank}`);
    return a;
  });
}

/** Shape of a sum over `axes` (all when empty). */
export function sumShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  const reduce = new Set(axes.length === 0 ? shape.map((_, i) => i) : normalizeAxes(axes, shape.length));
  return keepDims ? shape.map((d, i) => (reduce.has(i) ? 1 : d)) : shape.filter((_, i) => !reduce.has(i));
}

/** Checks a reshape keeps the element count. */
export function checkReshape(from: readonly number[], to: readonly number[]): void {
  if (numel(to) !== numel(from) || to.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`cannot reshape ${fmt(from)} (${numel(from)} values) to ${fmt(to)}`);
  }
}

/** Checks two operands have the same shape (gradients against their forward values). */
export function checkSameShape(op: string, a: readonly number[], b: readonly number[]): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) throw new ShapeError(`${op}: ${fmt(a)} and ${fmt(b)} differ`);
}

/** Shape of a 2-D transpose: (M,N) -> (N,M). */
export function transposeShape(a: readonly number[]): [number, number] {
  if (a.length !== 2) throw new ShapeError(`transpose needs a 2-D tensor, got ${fmt(a)}`);
  return [a[1]!, a[0]!];
}

/** Output shape of average pooling (the same window rule and padding limit as max pooling). */
export function avgPool2dShape(x: readonly number[], p: Pool2dParams): number[] {
  return maxPool2dShape(x, p);
}

/** Output shape of adaptive average pooling: x (N,C,H,W) -> (N,C,OH,OW); any OH, OW >= 1. */
export function adaptiveAvgPool2dShape(x: readonly number[], out: readonly [number, number]): number[] {
  if (x.length !== 4) throw new ShapeError(`expected input (N, C, H, W) with 4 dimensions, got ${fmt(x)}`);
  if (!out.every((d) => Number.isInteger(d) && d >= 1)) throw new ShapeError(`output size must be positive integers, got ${fmt(out)}`);
  if (x[2]! < 1 || x[3]! < 1) throw new ShapeError(`input ${fmt(x)} has an empty spatial size`);
  return [x[0]!, x[1]!, out[0], out[1]];
}

/** First and one-past-last input index of adaptive pooling's bin i (PyTorch's start/end index rule). */
export function adaptiveBin(i: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}

/** Checks a batch-norm input (N,C) or (N,C,H,W) against `channels`; returns the number of values per channel. */
export function batchNormShape(x: readonly number[], channels: number, training: boolean): number {
  if (x.length !== 2 && x.length !== 4) {
    throw new ShapeError(`expected input (N, ${channels}) or (N, ${channels}, H, W), got ${fmt(x)}`);
  }
  if (x[1] !== channels) {
    const want = x.length === 2 ? ["N", channels] : ["N", channels, "H", "W"];
    throw new ShapeError(`expected input with ${channels} channels ${fmt(want)}, got ${fmt(x)}`);
  }
  const count = numel(x) / channels;
  if (training && count <= 1) {
    throw new ShapeError(`expected more than 1 value per channel when training, got input ${fmt(x)}`);
  }
  return count;
}

/** Output shape of concatenation along `axis`: every other dimension must agree. */
export function concatShape(shapes: readonly (readonly number[])[], axis: number): number[] {
  if (shapes.length === 0) throw new ShapeError("cat needs at least one tensor");
  const first = shapes[0]!;
  const [ax] = normalizeAxes([axis], first.length);
  const out = [...first];
  out[ax!] = 0;
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, i) => i !== ax && d !== first[i])) {
      throw new ShapeError(`cat along dimension ${axis}: ${fmt(s)} does not match ${fmt(first)} outside that dimension`);
    }
    out[ax!] += s[ax!]!;
  }
  return out;
}

/** Shapes of split's parts; the sizes must add up to the axis' length. */
export function splitShapes(x: readonly number[], axis: number, sizes: readonly number[]): number[][] {
  const [ax] = normalizeAxes([axis], x.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x[ax!] || sizes.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`cannot split dimension ${axis} of ${fmt(x)} into sizes ${fmt(sizes)}`);
  }
  return sizes.map((d) => x.map((v, i) => (i === ax ? d : v)));
}

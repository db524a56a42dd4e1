// The native backend's TypeScript side of the layer ops d2l's later CNN chapters add: sigmoid, tanh,
// average and adaptive average pooling, batch normalization, concat / split and max. Each checks its
// arguments with the shape rules of src/backend/shapes.ts and calls one addon entry (native/addon_layers2.cc);
// NativeBackend (index.ts) delegates to these through a NativeHost, which lends them its handle table.
// Imports nothing from Node.
import type { BatchNormParams, Epilogue, OpContext, Pool2dParams, Storage } from "../backend.js";
import {
  adaptiveAvgPool2dShape, avgPool2dShape, batchNormShape, checkSameShape, concatShape, fmt, normalizeAxes, ShapeError, splitShapes,
  sumShape,
} from "../shapes.js";
import type { NativeAddon } from "./addon.js";

/** What these ops need of NativeBackend: the addon, handles of its storages, and its FinalizationRegistry. */
export interface NativeHost {
  readonly addon: NativeAddon;
  /** Handle of a live storage of this backend (throws for another backend's or a disposed one). */
  handle(s: Storage): number;
  wrap(handle: number, shape: readonly number[]): Storage;
  /** Registers `token` to free `handle` should it be garbage-collected undisposed. */
  register(token: object, handle: number): void;
  /** Unregisters `token` and frees `handle`. */
  release(token: object, handle: number): void;
}

/** batchNorm's context: one native (2,C) buffer with the mean and variance the forward used and its mode. */
export class BatchNormContext implements OpContext {
  disposed = false;
  constructor(
    private readonly host: NativeHost,
    readonly handle: number,
    readonly xShape: readonly number[],
  ) {
    host.register(this, handle);
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.host.release(this, this.handle);
  }
}

export function sigmoid(host: NativeHost, x: Storage): Storage {
  return host.wrap(host.addon.Sigmoid(host.handle(x)), x.shape);
}

export function sigmoidBackward(host: NativeHost, dy: Storage, y: Storage): Storage {
  checkSameShape("sigmoidBackward", dy.shape, y.shape);
  return host.wrap(host.addon.SigmoidBackward(host.handle(dy), host.handle(y)), y.shape);
}

export function tanh(host: NativeHost, x: Storage): Storage {
  return host.wrap(host.addon.Tanh(host.handle(x)), x.shape);
}

export function tanhBackward(host: NativeHost, dy: Storage, y: Storage): Storage {
  checkSameShape("tanhBackward", dy.shape, y.shape);
  return host.wrap(host.addon.TanhBackward(host.handle(dy), host.handle(y)), y.shape);
}

export function avgPool2d(host: NativeHost, x: Storage, p: Pool2dParams): Storage {
  // x is (N,C,H,W) -> y (N,C,OH,OW), padded zeros counted in every window's divisor (KH*KW)
  const yShape = avgPool2dShape(x.shape, p);
  return host.wrap(host.addon.AvgPool2d(host.handle(x), ...p.kernel, ...p.stride, ...p.padding), yShape);
}

export function avgPool2dBackward(host: NativeHost, dy: Storage, xShape: readonly number[], p: Pool2dParams): Storage {
  // dy is (N,C,OH,OW) -> dx of xShape
  checkSameShape("avgPool2dBackward: dy against the pool's output", dy.shape, avgPool2dShape(xShape, p));
  return host.wrap(host.addon.AvgPool2dBackward(host.handle(dy), [...xShape], ...p.kernel, ...p.stride, ...p.padding), xShape);
}

export function adaptiveAvgPool2d(host: NativeHost, x: Storage, outSize: readonly [number, number]): Storage {
  const yShape = adaptiveAvgPool2dShape(x.shape, outSize);
  return host.wrap(host.addon.AdaptiveAvgPool2d(host.handle(x), outSize[0], outSize[1]), yShape);
}

export function adaptiveAvgPool2dBackward(host: NativeHost, dy: Storage, xShape: readonly [number, number, number, number]): Storage {
  if (dy.shape.length !== 4) throw new ShapeError(`adaptiveAvgPool2dBackward: expected dy (N, C, OH, OW), got ${fmt(dy.shape)}`);
  const yShape = adaptiveAvgPool2dShape(xShape, [dy.shape[2]!, dy.shape[3]!]);
  checkSameShape("adaptiveAvgPool2dBackward: dy against the pool's output", dy.shape, yShape);
  return host.wrap(host.addon.AdaptiveAvgPool2dBackward(host.handle(dy), [...xShape]), xShape);
}

export function batchNorm(
  host: NativeHost, x: Storage, weight: Storage, bias: Storage, runningMean: Storage, runningVar: Storage, p: BatchNormParams,
  epilogue: Epilogue = {},
): { y: Storage; ctx: OpContext } {
  // x is (N,C) or (N,C,H,W); weight, bias, runningMean, runningVar (C); the running ones updated in place
  if (weight.shape.length !== 1) throw new ShapeError(`batchNorm weight: expected (C), got ${fmt(weight.shape)}`);
  const channels = weight.shape[0]!;
  batchNormShape(x.shape, channels, p.training);
  for (const [name, s] of [["bias", bias], ["running_mean", runningMean], ["running_var", runningVar]] as const) {
    checkSameShape(`batchNorm ${name}`, s.shape, [channels]);
  }
  const [y, stats] = host.addon.BatchNorm(
    host.handle(x), host.handle(weight), host.handle(bias), host.handle(runningMean), host.handle(runningVar),
    p.training, p.momentum, p.eps, epilogue.relu === true,
  );
  return { y: host.wrap(y, x.shape), ctx: new BatchNormContext(host, stats, x.shape) };
}

export function batchNormBackward(
  host: NativeHost, dy: Storage, x: Storage, weight: Storage, ctx: OpContext,
): { dx: Storage; dweight: Storage; dbias: Storage } {
  if (!(ctx instanceof BatchNormContext)) throw new Error("batchNormBackward needs the context returned by batchNorm of this backend");
  if (ctx.disposed) throw new Error("batchNormBackward: context already disposed");
  checkSameShape("batchNormBackward", dy.shape, x.shape);
  checkSameShape("batchNormBackward: x against the forward's input", x.shape, ctx.xShape);
  checkSameShape("batchNormBackward weight", weight.shape, [x.shape[1]!]);
  const [dx, dw, db] = host.addon.BatchNormBackward(host.handle(dy), host.handle(x), host.handle(weight), ctx.handle);
  return { dx: host.wrap(dx, x.shape), dweight: host.wrap(dw, weight.shape), dbias: host.wrap(db, weight.shape) };
}

export function concat(host: NativeHost, xs: readonly Storage[], axis: number): Storage {
  const shape = concatShape(xs.map((x) => x.shape), axis);
  const [ax] = normalizeAxes([axis], shape.length);
  return host.wrap(host.addon.Concat(xs.map((x) => host.handle(x)), ax!), shape);
}

export function split(host: NativeHost, x: Storage, axis: number, sizes: readonly number[]): Storage[] {
  const shapes = splitShapes(x.shape, axis, sizes);
  const [ax] = normalizeAxes([axis], x.shape.length);
  const handles = host.addon.Split(host.handle(x), ax!, [...sizes]);
  return handles.map((h, i) => host.wrap(h, shapes[i]!));
}

export function max(host: NativeHost, a: Storage, axes: readonly number[], keepDims: boolean): Storage {
  const shape = sumShape(a.shape, axes, keepDims);
  const reduced = new Set(normalizeAxes(axes, a.shape.length));
  const reduce = a.shape.map((_, i) => axes.length === 0 || reduced.has(i));
  return host.wrap(host.addon.Max(host.handle(a), reduce, shape), shape);
}

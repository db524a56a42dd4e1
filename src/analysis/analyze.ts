// Where the memory and the compute of a Sequential go, per layer, computed from the network as built:
// parameters and their bytes (weights, gradients, optimizer state), activation bytes kept for the backward
// pass at batch B, multiply-accumulates and FLOPs forward and backward, and element operations of pooling,
// ReLU and dropout, and the bytes each pass must move (traffic.ts). Answers the seed's two questions from
// these numbers; roofline.ts answers the third (memory bandwidth) from them and the machine's figures.
import { Conv2d } from "../nn/conv.js";
import { Linear } from "../nn/linear.js";
import { MaxPool2d } from "../nn/pool.js";
import { ReLU } from "../nn/activation.js";
import { Dropout } from "../nn/dropout.js";
import type { Module } from "../nn/module.js";
import type { Sequential } from "../nn/sequential.js";
import { type ModuleCall, traceCalls } from "../models/trace.js";
import { layerTraffic, type Traffic } from "./traffic.js";

/** One row of the table (stable JSON schema, see docs in analyze CLI). */
export interface LayerStats {
  index: number;
  type: string;
  /** PyTorch's repr of the layer. */
  layer: string;
  outputShape: number[];
  params: number;
  paramBytes: number;
  /** Values of the layer's buffers: state that is not trained by gradients (BatchNorm's running
   * statistics and batch count), counted apart from the parameters. */
  buffers: number;
  bufferBytes: number;
  gradBytes: number;
  optimizerBytes: number;
  /** Bytes of this layer's output at the batch size: what the network, run layer by layer (unfused, as
   * PyTorch runs d2l's nn.Sequential), allocates for it in the forward pass. */
  outputBytes: number;
  /** Bytes this layer's output and workspace occupy while kept for the backward pass, at the batch size. */
  activationBytes: number;
  /** Multiply-accumulates of the forward pass (conv, linear), per example. */
  macs: number;
  /** Forward FLOPs per example: 2 per MAC for conv/linear, element operations otherwise. */
  flops: number;
  /** Backward FLOPs: input gradient and weight gradient, each about the forward's (none for the first layer's input). */
  backwardFlops: number;
  /** Comparisons (pooling) or element-wise operations (ReLU, dropout) of the forward pass, per example. */
  elementOps: number;
  /** Bytes the forward pass must read and write at the batch size: each input, parameter and output once
   * (the definition is in traffic.ts). */
  bytesForward: number;
  /** Bytes the backward pass must read and write at the batch size (gradients in and out, saved tensors,
   * parameter gradients). */
  bytesBackward: number;
  /** The part of bytesForward + bytesBackward that is parameters and their gradients (independent of the batch). */
  paramTrafficBytes: number;
}

export interface NetworkStats {
  batchSize: number;
  inputShape: number[];
  bytesPerValue: number;
  layers: LayerStats[];
  totals: {
    params: number;
    paramBytes: number;
    buffers: number;
    bufferBytes: number;
    gradBytes: number;
    optimizerBytes: number;
    activationBytes: number;
    outputBytes: number;
    inputBytes: number;
    trainingBytes: number;
    macs: number;
    flops: number;
    backwardFlops: number;
    bytesForward: number;
    bytesBackward: number;
  };
}

export interface AnalyzeOptions {
  /** Bytes per stored value (4 for fp32). */
  bytesPerValue?: number;
  /** Whether the optimizer keeps a momentum buffer per parameter (SGD with momentum > 0). */
  momentum?: boolean;
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Per-layer statistics for `net` on an input of shape [B, C, H, W]. */
export function analyzeNetwork(net: Sequential, inputShape: readonly number[], options: AnalyzeOptions = {}): NetworkStats {
  const bpv = options.bytesPerValue ?? 4;
  const shapes = net.layerShapes(inputShape);
  const layers = [...net];
  // A child with children of its own (a block of d2l's VGG, GoogLeNet, ResNet, DenseNet) counts the work
  // of everything inside it, at the shapes one traced forward gives each submodule.
  const calls = layers.some((l) => l.children().length > 0) ? traceCalls(net, [1, ...inputShape.slice(1)]) : null;
  const rows: LayerStats[] = layers.map((layer, i) => {
    const outShape = shapes[i]!;
    const params = layer.parameters().reduce((n, p) => n + p.numel, 0);
    const buffers = layer.buffers().reduce((n, t) => n + t.numel, 0);
    const batch = inputShape[0]!;
    const nested = calls !== null && layer.children().length > 0;
    const work = nested ? nestedWork(layer, calls!, i === 0) : layerWork(layer, numel(outShape) / batch, i === 0);
    const traffic = nested ? nestedTraffic(layer, calls!, i === 0, batch, bpv)
      : layerTraffic(layer, numel(i === 0 ? inputShape : shapes[i - 1]!), numel(outShape), i !== 0, bpv);
    return {
      index: i,
      type: layer.constructor.name,
      layer: layer.toString(),
      outputShape: outShape,
      params,
      paramBytes: params * bpv,
      buffers,
      bufferBytes: buffers * bpv,
      gradBytes: params * bpv,
      optimizerBytes: options.momentum ? params * bpv : 0,
      // Flatten returns a view of its input, as PyTorch's does: nothing new is allocated.
      outputBytes: layer.constructor.name === "Flatten" ? 0 : numel(outShape) * bpv,
      activationBytes: keptBytes(layers, i, outShape, bpv),
      ...work,
      bytesForward: traffic.forward,
      bytesBackward: traffic.backward,
      paramTrafficBytes: traffic.params,
    };
  });
  const sum = (key: keyof LayerStats): number => rows.reduce((n, r) => n + (r[key] as number), 0);
  const inputBytes = numel(inputShape) * bpv;
  const totals = {
    params: sum("params"),
    paramBytes: sum("paramBytes"),
    buffers: sum("buffers"),
    bufferBytes: sum("bufferBytes"),
    gradBytes: sum("gradBytes"),
    optimizerBytes: sum("optimizerBytes"),
    activationBytes: sum("activationBytes"),
    outputBytes: sum("outputBytes"),
    inputBytes,
    trainingBytes: 0,
    macs: sum("macs"),
    flops: sum("flops"),
    backwardFlops: sum("backwardFlops"),
    bytesForward: sum("bytesForward"),
    bytesBackward: sum("bytesBackward"),
  };
  totals.trainingBytes = totals.paramBytes + totals.bufferBytes + totals.gradBytes + totals.optimizerBytes + totals.activationBytes + inputBytes;
  return { batchSize: inputShape[0]!, inputShape: [...inputShape], bytesPerValue: bpv, layers: rows, totals };
}

/** The work of a block: the sum of layerWork over every call of every module inside it (a Conv2d, Linear,
 * pooling, ReLU or Dropout module; functions a forward calls, such as a Residual's relu(add(...)), are not
 * modules and are not counted). The first Conv2d/Linear of the network's first block has no input gradient. */
function nestedWork(block: Module, calls: ReadonlyMap<Module, ModuleCall[]>, first: boolean) {
  const total = { macs: 0, flops: 0, backwardFlops: 0, elementOps: 0 };
  let firstWeighted = first;
  for (const m of block.modules()) {
    if (m.children().length > 0) continue;
    for (const c of calls.get(m) ?? []) {
      const isWeighted = m instanceof Conv2d || m instanceof Linear;
      const w = layerWork(m, numel(c.output) / c.output[0]!, isWeighted && firstWeighted);
      if (isWeighted) firstWeighted = false;
      total.macs += w.macs;
      total.flops += w.flops;
      total.backwardFlops += w.backwardFlops;
      total.elementOps += w.elementOps;
    }
  }
  return total;
}

/** The traffic of a block: layerTraffic summed over every call of every module inside it, at the batch
 * size (the trace ran at batch 1). Only the first module called in the network's first block skips dx. */
function nestedTraffic(block: Module, calls: ReadonlyMap<Module, ModuleCall[]>, first: boolean, batch: number, bpv: number): Traffic {
  const total = { forward: 0, backward: 0, params: 0 };
  let needDx = !first;
  for (const m of block.modules()) {
    if (m.children().length > 0) continue;
    for (const c of calls.get(m) ?? []) {
      const t = layerTraffic(m, (numel(c.input) / c.input[0]!) * batch, (numel(c.output) / c.output[0]!) * batch, needDx, bpv);
      needDx = true;
      total.forward += t.forward;
      total.backward += t.backward;
      total.params += t.params;
    }
  }
  return total;
}

/** Work per example; `outputs` is the number of output values per example. */
function layerWork(layer: Module, outputs: number, first: boolean) {
  if (layer instanceof Conv2d) {
    const [kh, kw] = layer.kernelSize;
    const macs = outputs * layer.inChannels * kh * kw;
    const flops = 2 * macs;
    // Weight gradient costs one forward; input gradient another, except for the first layer.
    return { macs, flops, backwardFlops: first ? flops : 2 * flops, elementOps: 0 };
  }
  if (layer instanceof Linear) {
    const macs = outputs * layer.inFeatures;
    const flops = 2 * macs;
    return { macs, flops, backwardFlops: first ? flops : 2 * flops, elementOps: 0 };
  }
  if (layer instanceof MaxPool2d) {
    // k*k - 1 comparisons per output forward; backward routes one gradient per output.
    const ops = outputs * (layer.kernelSize * layer.kernelSize - 1);
    return { macs: 0, flops: ops, backwardFlops: outputs, elementOps: ops };
  }
  if (layer instanceof ReLU || layer instanceof Dropout) {
    return { macs: 0, flops: outputs, backwardFlops: outputs, elementOps: outputs };
  }
  return { macs: 0, flops: 0, backwardFlops: 0, elementOps: 0 };
}

/** Bytes of layer i's output kept for a backward pass (by itself or the next layer), plus its workspace. */
function keptBytes(layers: Module[], i: number, outShape: number[], bpv: number): number {
  const layer = layers[i]!;
  const next = layers[i + 1];
  const outBytes = numel(outShape) * bpv;
  // Which backward needs which tensor: conv and linear need their input; ReLU its output; max pooling its
  // input shape and argmax (int32 per output); dropout its mask (one value per element).
  const nextNeedsInput = next instanceof Conv2d || next instanceof Linear || next instanceof MaxPool2d;
  const selfNeedsOutput = layer instanceof ReLU;
  let bytes = nextNeedsInput || selfNeedsOutput ? outBytes : 0;
  if (layer instanceof MaxPool2d) bytes += numel(outShape) * 4;
  if (layer instanceof Dropout) bytes += outBytes;
  return bytes;
}

/** The Conv2d/Linear layers followed by a ReLU: a backend that fuses the pair (nn.Sequential runs them as
 * one op) never stores their pre-ReLU outputs. */
export function reluFusedLayers(stats: NetworkStats): LayerStats[] {
  return stats.layers.filter((l, i) => (l.type === "Conv2d" || l.type === "Linear") && stats.layers[i + 1]?.type === "ReLU");
}

const SHORT_NAMES: Record<string, string> = { Conv2d: "conv", Linear: "fc", MaxPool2d: "pool", ReLU: "relu", Dropout: "drop", Flatten: "flatten" };

/** Short layer names as papers and d2l's text use them, numbered per kind: conv1..conv5, pool1, fc1..fc3. */
export function layerNames(stats: NetworkStats): string[] {
  const seen = new Map<string, number>();
  return stats.layers.map((l) => {
    const base = SHORT_NAMES[l.type] ?? l.type.toLowerCase();
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const only = stats.layers.filter((m) => (SHORT_NAMES[m.type] ?? m.type.toLowerCase()) === base).length === 1;
    return only && base === "flatten" ? base : `${base}${n}`;
  });
}

/** The seed's two answers, computed from the table. */
export interface Answers {
  mostParams: LayerStats;
  mostParamsShare: number;
  mostCompute: LayerStats;
  mostComputeShare: number;
  mostActivation: LayerStats;
  mostActivationShare: number;
}

export function answers(stats: NetworkStats): Answers {
  const argmax = (key: keyof LayerStats): LayerStats =>
    stats.layers.reduce((best, r) => ((r[key] as number) > (best[key] as number) ? r : best));
  const mostParams = argmax("params");
  const mostCompute = argmax("macs");
  const mostActivation = argmax("activationBytes");
  return {
    mostParams,
    mostParamsShare: mostParams.params / stats.totals.params,
    mostCompute,
    mostComputeShare: mostCompute.macs / stats.totals.macs,
    mostActivation,
    mostActivationShare: mostActivation.activationBytes / stats.totals.activationBytes,
  };
}

// Measured counterparts of the analysis: the memory peak of one real training step on a backend, and
// per-layer forward and backward times (median over repeats) with the achieved GFLOP/s.
import type { Backend } from "../backend/backend.js";
import type { Sequential } from "../nn/sequential.js";
import type { GradNode } from "../tensor/autograd.js";
import { noGrad, setBackwardObserver } from "../tensor/autograd.js";
import { ones, randn } from "../tensor/creation.js";
import { crossEntropy } from "../tensor/functional.js";
import { Rng } from "../tensor/random.js";
import { tidy } from "../tensor/scope.js";
import type { Tensor } from "../tensor/tensor.js";
import { SGD } from "../optim/sgd.js";
import type { NetworkStats } from "./analyze.js";

/** One training step (forward, cross-entropy, backward, SGD) on random data; the net is on `backend`. Without
 * `onLayer` the forward runs as training runs it (Conv2d/Linear + ReLU fused where the backend fuses);
 * with it, layer by layer so that each layer's output is seen. */
function trainingStep(net: Sequential, inputShape: readonly number[], backend: Backend, opt: SGD, rng: Rng,
  onLayer?: (index: number, ms: number, node: GradNode | null) => void, afterForward?: () => void): void {
  tidy(() => {
    const x = randn(inputShape, { backend, rng });
    const classes = net.outputShape(inputShape)[1]!;
    const labels = Int32Array.from({ length: inputShape[0]! }, () => rng.nextU32() % classes);
    let last = performance.now();
    const out = onLayer
      ? net.forwardEach(x, (_layer, i, y) => {
        const now = performance.now();
        onLayer(i, now - last, y.node);
        last = performance.now();
      })
      : net.forward(x);
    afterForward?.();
    opt.zeroGrad();
    crossEntropy(out, labels).backward();
    opt.step();
  });
  opt.zeroGrad();
}

/** Where a training step's memory peak came, and what the backend held then (bytes). */
export interface PeakBreakdown {
  /** "forward" (the forward pass and the loss) or the op whose backward held the peak, e.g. "conv2dRelu". */
  phase: string;
  /** The layer of that op (its first layer, for a fused Conv2d/Linear + ReLU), when it can be told. */
  layer: number | null;
  /** Held before the step: parameters, optimizer state. */
  steadyBytes: number;
  /** What the forward pass added and the step holds until it ends: every op's output (and pooling indices,
   * dropout masks), whether or not the backward needs it. */
  forwardBytes: number;
  /** Parameter gradients written by the backward so far, at the peak. */
  paramGradBytes: number;
  /** The rest of the peak: gradients of activations in flight (the incoming one, a fused ReLU's, dx). */
  inFlightBytes: number;
}

export interface MemoryMeasurement {
  /** Highest bytes held by the backend during the step (null when the backend does not track a peak). */
  peakBytes: number | null;
  /** Bytes held between steps (parameters, optimizer state). */
  steadyBytes: number;
  /** Growth of the process's resident set during the step, when the caller can read it. */
  rssGrowthBytes: number | null;
  /** What made up the peak (null when the backend does not track a peak). */
  breakdown: PeakBreakdown | null;
}

const OP_LAYER: Record<string, string> = {
  conv2d: "Conv2d", conv2dRelu: "Conv2d", linear: "Linear", linearRelu: "Linear", maxPool2d: "MaxPool2d",
  relu: "ReLU", dropout: "Dropout", reshape: "Flatten",
};

/** Runs one training step (after a warm-up step) as training runs it and reports the backend's peak, the
 * RSS growth and, where the backend tracks a peak, which phase held it and what it was made of. */
export function measureTrainingMemory(net: Sequential, inputShape: readonly number[], backend: Backend,
  options: { momentum?: number; rss?: () => number } = {}): MemoryMeasurement {
  const opt = new SGD(net.parameters(), { lr: 0, momentum: options.momentum ?? 0 });
  const rng = new Rng(1);
  const layers = [...net];
  const shapes = net.layerShapes(inputShape);
  const paramBytes = layers.map((l) => l.parameters().reduce((n, p) => n + p.numel * 4, 0));
  /** The layer an op's backward belongs to: the first of that type whose input has the op's input shape. */
  const layerOf = (node: GradNode): number | null => {
    const type = OP_LAYER[node.op];
    const input = node.inputs[0]?.shape.join();
    const i = layers.findIndex((l, k) => l.constructor.name === type && (k === 0 ? [...inputShape] : shapes[k - 1]!).join() === input);
    return i < 0 ? null : i;
  };
  try {
    trainingStep(net, inputShape, backend, opt, rng);
    backend.resetPeak?.();
    const steady = backend.memoryStats().liveBytes;
    const rssBefore = options.rss?.() ?? null;
    const tracked = backend.resetPeak !== undefined && backend.memoryStats().peakBytes !== undefined;
    let forwardEnd = steady;
    let best: { breakdown: PeakBreakdown; peak: number } | null = null;
    const consider = (phase: string, layer: number | null, peak: number, gradBytes: number) => {
      if (best && peak <= best.peak) return;
      const inFlightBytes = Math.max(0, peak - forwardEnd - gradBytes);
      best = { peak, breakdown: { phase, layer, steadyBytes: steady, forwardBytes: forwardEnd - steady, paramGradBytes: gradBytes, inFlightBytes } };
    };
    const gradsFrom = (layer: number | null) => (layer === null ? 0 : paramBytes.slice(layer).reduce((a, b) => a + b, 0));
    if (tracked) {
      setBackwardObserver((node) => {
        const layer = layerOf(node);
        consider(node.op, layer, backend.memoryStats().peakBytes!, gradsFrom(layer));
        backend.resetPeak!();
      });
    }
    try {
      trainingStep(net, inputShape, backend, opt, rng, undefined, () => {
        if (!tracked) return;
        const s = backend.memoryStats();
        forwardEnd = s.liveBytes;
        consider("forward", null, s.peakBytes!, 0);
        best!.breakdown.forwardBytes = s.peakBytes! - steady;
        backend.resetPeak!();
      });
    } finally {
      if (tracked) setBackwardObserver(null);
    }
    const rssAfter = options.rss?.() ?? null;
    const tail = backend.memoryStats().peakBytes;
    // What remains after the last backward node: the optimizer step (every parameter gradient is written).
    if (tracked) consider("optimizer step", 0, tail!, gradsFrom(0));
    const found = best as { breakdown: PeakBreakdown; peak: number } | null;
    const peakBytes = tail === undefined ? null : Math.max(tail, found?.peak ?? 0);
    const breakdown = found?.breakdown ?? null;
    return {
      peakBytes,
      steadyBytes: steady,
      rssGrowthBytes: rssBefore !== null && rssAfter !== null ? Math.max(0, rssAfter - rssBefore) : null,
      breakdown,
    };
  } finally {
    opt.dispose();
  }
}

export interface LayerTiming {
  index: number;
  forwardMs: number;
  backwardMs: number;
  /** Share of the whole step's measured layer time. */
  share: number;
  /** Achieved GFLOP/s over forward + backward (0 for layers without MACs). */
  gflops: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median forward and backward milliseconds per layer over `repeats` steps after one warm-up step. On a
 * backend that runs asynchronously (no readSync: a GPU) the layers are timed one by one between fences. */
export async function profileLayers(net: Sequential, inputShape: readonly number[], backend: Backend, stats: NetworkStats,
  repeats = 3): Promise<LayerTiming[]> {
  const { fwd, bwd } = backend.readSync ? inStepTimes(net, inputShape, backend, repeats) : await fencedTimes(net, inputShape, backend, repeats);
  const rows = stats.layers.map((layer, i) => {
    const forwardMs = median(fwd[i]!);
    const backwardMs = median(bwd[i]!);
    const flops = (layer.flops + layer.backwardFlops) * stats.batchSize;
    const seconds = (forwardMs + backwardMs) / 1000;
    return { index: i, forwardMs, backwardMs, share: 0, gflops: layer.macs > 0 && seconds > 0 ? flops / seconds / 1e9 : 0 };
  });
  const total = rows.reduce((t, r) => t + r.forwardMs + r.backwardMs, 0);
  for (const r of rows) r.share = total > 0 ? (r.forwardMs + r.backwardMs) / total : 0;
  return rows;
}

interface RawTimes {
  /** Per layer, one forward / backward time in ms per repeat. */
  fwd: number[][];
  bwd: number[][];
}

/** Times inside real training steps: the wall clock around each layer's forward and each backward node. */
function inStepTimes(net: Sequential, inputShape: readonly number[], backend: Backend, repeats: number): RawTimes {
  const n = net.length;
  const fwd: number[][] = Array.from({ length: n }, () => []);
  const bwd: number[][] = Array.from({ length: n }, () => []);
  const opt = new SGD(net.parameters(), { lr: 0 });
  const rng = new Rng(2);
  try {
    for (let r = 0; r <= repeats; r++) {
      const nodeLayer = new Map<GradNode, number>();
      const stepBwd = new Array<number>(n).fill(0);
      setBackwardObserver((node, ms) => {
        const i = nodeLayer.get(node);
        if (i !== undefined) stepBwd[i]! += ms;
      });
      try {
        trainingStep(net, inputShape, backend, opt, rng, (i, ms, node) => {
          if (r > 0) fwd[i]!.push(ms);
          if (node) nodeLayer.set(node, i);
        });
      } finally {
        setBackwardObserver(null);
      }
      if (r > 0) stepBwd.forEach((ms, i) => bwd[i]!.push(ms));
    }
  } finally {
    opt.dispose();
  }
  return { fwd, bwd };
}

/**
 * Times on an asynchronous backend, where a call's wall clock is only the time to queue its work: each layer
 * runs alone between two sync() fences, on the input it gets inside the network (from one forward pass).
 * Forward: the fenced forward (graph recorded, as in training). Backward: the fenced forward + backward
 * (into the parameters and, past layer 0, the input, as in training) less that forward.
 */
async function fencedTimes(net: Sequential, inputShape: readonly number[], backend: Backend, repeats: number): Promise<RawTimes> {
  const sync = async (): Promise<void> => backend.sync?.();
  const n = net.length;
  const fwd: number[][] = Array.from({ length: n }, () => []);
  const bwd: number[][] = Array.from({ length: n }, () => []);
  // inputs[i] is layer i's input, gradsOut[i] a gradient for its output, both held until the end
  const { inputs, gradsOut } = tidy(() => noGrad(() => {
    const xs = [randn(inputShape, { backend, rng: new Rng(2) })];
    const gs: Tensor[] = [];
    net.forwardEach(xs[0]!, (_layer, _i, y) => {
      xs.push(y);
      gs.push(ones(y.shape, { backend }));
    });
    return { inputs: xs.slice(0, n).map((x, i) => x.requiresGrad_(i > 0)), gradsOut: gs };
  }));
  const opt = new SGD(net.parameters(), { lr: 0 });
  const time = async (fn: () => void): Promise<number> => {
    await sync();
    const start = performance.now();
    tidy(fn);
    await sync();
    return performance.now() - start;
  };
  try {
    for (let r = 0; r <= repeats; r++) {
      for (let i = 0; i < n; i++) {
        const layer = net.at(i);
        const x = inputs[i]!;
        const forwardMs = await time(() => void layer.call(x));
        const bothMs = await time(() => layer.call(x).backward(gradsOut[i]!));
        opt.zeroGrad();
        x.grad?.dispose();
        x.grad = null;
        if (r > 0) {
          fwd[i]!.push(forwardMs);
          bwd[i]!.push(Math.max(0, bothMs - forwardMs));
        }
      }
    }
  } finally {
    opt.dispose();
    for (const t of [...inputs, ...gradsOut]) t.dispose();
  }
  return { fwd, bwd };
}

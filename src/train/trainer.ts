// d2l's train_ch6 in TypeScript: per epoch, SGD steps over shuffled batches accumulating (loss x n, correct,
// n), five training points per epoch and the test accuracy at each epoch end (evaluation mode), a timer that
// counts only the training steps. A step reads nothing back: its loss and correct count stay on the backend
// until the next plot point or checkpoint, when they are read together (a GPU reads back only
// asynchronously, and a read per step would stall it). The loop can stop after any step and resume from a
// saved TrainState to the same weights and metrics; a NaN or infinite loss stops it with a clear error.
// Browser-safe: the event-loop yield between steps comes from platform.ts.
import type { Backend, OpName } from "../backend/backend.js";
import type { Batch } from "../data/batch.js";
import { getBackend } from "../backend/registry.js";
import { initWeights } from "../models/alexnet.js";
import { checkOps } from "../nn/module.js";
import type { Module } from "../nn/module.js";
import { SGD } from "../optim/sgd.js";
import { noGrad } from "../tensor/autograd.js";
import { crossEntropy } from "../tensor/functional.js";
import { defaultRng } from "../tensor/random.js";
import { tidy } from "../tensor/scope.js";
import { Tensor, tensor } from "../tensor/tensor.js";
import { yieldToEventLoop } from "./platform.js";

/** What trainCh6 needs of a data loader (src/data/loader.ts in Node; the web page has its own). */
export interface BatchSource {
  readonly numBatches: number;
  readonly batchSize: number;
  /** The batches of `epoch` (a pure function of it for shuffled loaders), from batch `start` on. */
  iterate(epoch: number, start?: number): AsyncIterable<Batch>;
}

/** One point of d2l's animated plot: training points carry loss and accuracy, epoch ends the test accuracy. */
export interface MetricPoint {
  /** Fractional epoch, d2l's x (epoch + (i + 1) / num_batches). */
  x: number;
  trainLoss?: number;
  trainAcc?: number;
  testAcc?: number;
}

/** Everything needed to continue a run exactly where it stopped (stored in checkpoints as JSON). */
export interface TrainState {
  /** The epoch in progress (0-based) and the next batch to run in it. */
  epoch: number;
  batch: number;
  /** Training steps done in total. */
  step: number;
  /** d2l's Accumulator(3) for the epoch in progress: loss x n, correct, n. */
  metric: [number, number, number];
  /** Seconds spent in training steps so far (d2l's timer.sum()). */
  timerSum: number;
  points: MetricPoint[];
  /** State of the generator that draws dropout masks. */
  rng: number[];
  lastTestAcc: number | null;
}

export function initialTrainState(): TrainState {
  return { epoch: 0, batch: 0, step: 0, metric: [0, 0, 0], timerSum: 0, points: [], rng: defaultRng.getState(), lastTestAcc: null };
}

export interface StepInfo {
  epoch: number;
  batch: number;
  numBatches: number;
  batchSize: number;
  /** Means over the epoch's steps up to the last read (plot point); null before the epoch's first read. */
  trainLoss: number | null;
  trainAcc: number | null;
  /** Examples per second of the training steps so far in this epoch. */
  examplesPerSec: number;
}

export interface TrainerHooks {
  /** After every step, for progress; trainLoss/trainAcc are as of the last read (plot point), null before it. */
  onStep?(info: StepInfo, state: TrainState): void;
  onPoint?(point: MetricPoint, state: TrainState): void;
  /** Steps between calls of onCheckpoint (0 or absent: none); the state it gets has its metrics read. */
  checkpointEvery?: number;
  onCheckpoint?(state: TrainState): void | Promise<void>;
  /** Called after each epoch's evaluation, with the state to checkpoint. */
  onEpochEnd?(state: TrainState): void | Promise<void>;
  /** Checked after every step; true stops the loop (state then points after the last completed step). */
  shouldStop?(state: TrainState): boolean;
  /** Called after each evaluation batch (for progress). */
  onEvalBatch?(done: number, total: number): void;
}

export class DivergedError extends Error {
  constructor(readonly state: TrainState, readonly value: number, lr: number) {
    super(
      `the loss became ${value} at epoch ${state.epoch + 1}, batch ${state.batch + 1} (step ${state.step + 1}); ` +
        `training stopped and the last good checkpoint was kept. Try a lower --lr (now ${lr}).`,
    );
    this.name = "DivergedError";
  }
}

/** Data parallelism (src/distributed/session.ts), set only under `--distributed`: each batch is this rank's
 * shard of the global batch; the hooks average gradients and sum metrics across ranks. */
export interface DistributedHooks {
  /** Before the forward of global batch `batch` of the epoch, whose shard here has `rows` rows. */
  beginStep(batch: number, rows: number): void;
  /** After backward: averages the gradients across ranks (in place on the parameters) and returns the sums
   * of (loss x rows, correct, rows, any rank wants to stop) over all ranks. */
  endStep(lossTimesN: number, correct: number, n: number, stop: boolean): { lossSum: number; correct: number; n: number; stop: boolean };
  /** Sums an evaluation's (correct, n) over all ranks. */
  reduceCounts(correct: number, n: number): [number, number];
}

export interface TrainOptions {
  epochs: number;
  backend: Backend;
  trainLoader: BatchSource;
  testLoader: BatchSource;
  optimizer: SGD;
  hooks?: TrainerHooks;
  distributed?: DistributedHooks;
}

export interface TrainResult {
  state: TrainState;
  trainLoss: number;
  trainAcc: number;
  testAcc: number;
  examplesPerSec: number;
  /** False when shouldStop ended the run early. */
  completed: boolean;
}

function batchTensor(batch: Batch, backend: Backend): Tensor {
  return tensor(batch.images, { shape: batch.shape, backend });
}

/** Index of the largest value in each row of a (N, K) row-major array (first one on ties, as torch.argmax). */
export function argmaxRows(values: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (values[i * k + j]! > values[i * k + best]!) best = j;
    out[i] = best;
  }
  return out;
}

/** Every op a training step and evaluation use beyond the model's own (loss, optimizer, metrics, autograd). */
export const TRAINING_OPS: readonly { op: OpName; neededBy: string }[] = [
  { op: "crossEntropy", neededBy: "the loss (cross-entropy)" },
  { op: "crossEntropyBackward", neededBy: "the loss (cross-entropy)" },
  { op: "correctCount", neededBy: "the accuracy metric" },
  { op: "binary", neededBy: "the accuracy metric and gradient accumulation" },
  { op: "fill", neededBy: "autograd and SGD momentum" },
  { op: "sgdUpdate", neededBy: "the optimizer (SGD)" },
];

/** d2l's evaluate_accuracy_gpu: accuracy over a whole loader in evaluation mode, without a graph. The
 * correct counts add up on the backend and are read once at the end. */
export async function evaluateAccuracy(net: Module, loader: BatchSource, backend: Backend,
  onBatch?: (done: number, total: number) => void, reduce?: DistributedHooks["reduceCounts"]): Promise<number> {
  const wasTraining = net.training;
  net.eval();
  let correct: Tensor | null = null;
  let n = 0;
  let done = 0;
  try {
    for await (const batch of loader.iterate(0)) {
      const batchCorrect = tidy(() => noGrad(() => correctCountOf(net.call(batchTensor(batch, backend)), batch.labels)));
      if (correct) {
        const sum: Tensor = correct.add(batchCorrect);
        correct.dispose();
        batchCorrect.dispose();
        correct = sum;
      } else correct = batchCorrect;
      n += batch.labels.length;
      onBatch?.(++done, loader.numBatches);
      await yieldToEventLoop();
    }
    let total = n === 0 ? 0 : (await correct!.data())[0]!;
    if (reduce) [total, n] = reduce(total, n);
    return n === 0 ? 0 : total / n;
  } finally {
    correct?.dispose();
    net.train(wasTraining);
  }
}

function correctCountOf(logits: Tensor, labels: Int32Array): Tensor {
  return new Tensor(logits.backend.correctCount(logits.storage, labels));
}

/** One step's results, on the backend until read, and where the loop stood before it. */
interface PendingStep {
  loss: Tensor;
  correct: Tensor;
  n: number;
  before: Pick<TrainState, "epoch" | "batch" | "step" | "rng">;
}

function disposeSteps(steps: PendingStep[]): void {
  for (const p of steps) {
    p.loss.dispose();
    p.correct.dispose();
  }
}

/** d2l's `train_ch6(net, train_iter, test_iter, num_epochs, lr, device)`: Xavier-uniform init of every
 * Conv2d and Linear weight, the model moved to `device`, plain SGD, cross-entropy; prints d2l's two closing
 * lines. Any Module trains, a Sequential or one with its own forward. */
export async function trainCh6(
  net: Module, trainIter: BatchSource, testIter: BatchSource, numEpochs: number, lr: number, device?: Backend,
): Promise<TrainResult>;
/** Runs (or continues, from `state`) d2l's training loop. Every op it needs is checked before the first step. */
export async function trainCh6(net: Module, options: TrainOptions, state?: TrainState): Promise<TrainResult>;
export async function trainCh6(
  net: Module, ...args: [TrainOptions, TrainState?] | [BatchSource, BatchSource, number, number, Backend?]
): Promise<TrainResult> {
  if (args.length >= 4) {
    const [trainLoader, testLoader, epochs, lr, device] = args as [BatchSource, BatchSource, number, number, Backend?];
    const backend = device ?? net.parameters()[0]?.backend ?? getBackend();
    initWeights(net);
    await net.to(backend);
    const optimizer = new SGD(net.parameters(), { lr });
    const result = await runTraining(net, { epochs, backend, trainLoader, testLoader, optimizer }, initialTrainState());
    for (const line of finalLines(result, backend.describe())) console.log(line);
    return result;
  }
  const [options, state] = args as [TrainOptions, TrainState?];
  return runTraining(net, options, state ?? initialTrainState());
}

async function runTraining(net: Module, options: TrainOptions, state: TrainState): Promise<TrainResult> {
  const { epochs, backend, trainLoader, testLoader, optimizer, hooks = {}, distributed: dist } = options;
  checkOps(backend, [...net.requiredOps(), ...TRAINING_OPS], "float32");
  const numBatches = trainLoader.numBatches;
  const pointEvery = Math.max(1, Math.floor(numBatches / 5));
  const checkpointEvery = hooks.onCheckpoint ? hooks.checkpointEvery ?? 0 : 0;
  defaultRng.setState(state.rng);
  const pending: PendingStep[] = [];
  // Reads the pending steps' losses and counts, in order, into d2l's accumulator (the same float64 sums a
  // read per step gives); a non-finite loss rewinds the state to before its step and stops. The wait counts
  // as training time: on an asynchronous backend that is when the steps' work finishes.
  const settle = async (): Promise<number> => {
    if (pending.length === 0) return 0;
    const started = performance.now();
    const steps = pending.splice(0);
    try {
      const values = await Promise.all(steps.map(async (p) => [(await p.loss.data())[0]!, (await p.correct.data())[0]!] as const));
      values.forEach(([loss, correct], k) => {
        const p = steps[k]!;
        if (!Number.isFinite(loss)) {
          Object.assign(state, p.before);
          throw new DivergedError(state, loss, optimizer.options.lr);
        }
        state.metric = [state.metric[0] + loss * p.n, state.metric[1] + correct, state.metric[2] + p.n];
      });
    } finally {
      disposeSteps(steps);
    }
    const waited = (performance.now() - started) / 1000;
    state.timerSum += waited;
    return waited;
  };
  let stopped = false;
  try {
    while (state.epoch < epochs && !stopped) {
      net.train();
      if (state.batch === 0) state.metric = [0, 0, 0];
      let epochSeconds = 0;
      let epochExamples = 0;
      for await (const batch of trainLoader.iterate(state.epoch, state.batch)) {
        const started = performance.now();
        const before = { epoch: state.epoch, batch: state.batch, step: state.step, rng: state.rng };
        let n = batch.labels.length;
        let stopAll = false;
        dist?.beginStep(state.batch, n);
        const { loss, correct } = tidy(() => {
          optimizer.zeroGrad();
          const logits = net.call(batchTensor(batch, backend));
          const l = crossEntropy(logits, batch.labels);
          l.backward();
          if (dist) {
            // Every rank joins every collective, even with a non-finite loss; the summed loss decides for all.
            // (Data parallelism runs on the CPU, where reading the step's loss costs nothing.)
            const sum = dist.endStep(l.item() * n, correctCountOf(logits, batch.labels).item(), n, hooks.shouldStop?.(state) ?? false);
            [n, stopAll] = [sum.n, sum.stop];
            const global = sum.lossSum / sum.n;
            if (Number.isFinite(global)) optimizer.step();
            return { loss: new Tensor(backend.fill([], "float32", global)), correct: new Tensor(backend.fill([], "float32", sum.correct)) };
          }
          optimizer.step();
          return { loss: l.detach(), correct: correctCountOf(logits, batch.labels) };
        });
        pending.push({ loss, correct, n, before });
        const seconds = (performance.now() - started) / 1000;
        state.timerSum += seconds;
        epochSeconds += seconds;
        epochExamples += n;
        const i = state.batch;
        state.batch++;
        state.step++;
        state.rng = defaultRng.getState();
        const atPoint = (i + 1) % pointEvery === 0 || i === numBatches - 1;
        const atCheckpoint = checkpointEvery > 0 && state.step % checkpointEvery === 0;
        if (atPoint || atCheckpoint) epochSeconds += await settle();
        const [sumLoss, sumCorrect, count] = state.metric;
        if (atPoint) {
          const point = { x: state.epoch + (i + 1) / numBatches, trainLoss: sumLoss / count, trainAcc: sumCorrect / count };
          state.points.push(point);
          hooks.onPoint?.(point, state);
        }
        // After the point: a checkpoint must include it.
        if (atCheckpoint) await hooks.onCheckpoint!(state);
        hooks.onStep?.({ epoch: state.epoch, batch: i, numBatches, batchSize: trainLoader.batchSize,
          trainLoss: count > 0 ? sumLoss / count : null, trainAcc: count > 0 ? sumCorrect / count : null, examplesPerSec: epochExamples / Math.max(epochSeconds, 1e-9) }, state);
        await yieldToEventLoop();
        if (dist ? stopAll : hooks.shouldStop?.(state)) {
          await settle();
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      await settle();
      optimizer.zeroGrad();
      const testAcc = await evaluateAccuracy(net, testLoader, backend, hooks.onEvalBatch, dist?.reduceCounts);
      state.lastTestAcc = testAcc;
      const point = { x: state.epoch + 1, testAcc };
      state.points.push(point);
      hooks.onPoint?.(point, state);
      // The epoch's metric stays until the next epoch starts: d2l's final line prints the last epoch's values.
      state.epoch++;
      state.batch = 0;
      await hooks.onEpochEnd?.(state);
    }
  } catch (e) {
    optimizer.zeroGrad();
    throw e;
  } finally {
    disposeSteps(pending.splice(0));
  }
  const [sumLoss, sumCorrect, count] = state.metric;
  return {
    state,
    trainLoss: count ? sumLoss / count : NaN,
    trainAcc: count ? sumCorrect / count : NaN,
    testAcc: state.lastTestAcc ?? NaN,
    // d2l: metric[2] * num_epochs / timer.sum()
    examplesPerSec: state.timerSum > 0 ? (count * epochs) / state.timerSum : 0,
    completed: !stopped && state.epoch >= epochs,
  };
}

/** d2l's two final lines. */
export function finalLines(result: TrainResult, device: string): string[] {
  return [
    `loss ${result.trainLoss.toFixed(3)}, train acc ${result.trainAcc.toFixed(3)}, test acc ${result.testAcc.toFixed(3)}`,
    `${result.examplesPerSec.toFixed(1)} examples/sec on ${device}`,
  ];
}

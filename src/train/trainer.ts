// d2l's train_ch6 in TypeScript: per epoch, SGD steps over shuffled batches accumulating (loss x n, correct,
// n), five training points per epoch and the test accuracy at each epoch end (evaluation mode), a timer that
// counts only the training steps. The loop can stop after any step and resume from a saved TrainState to the
// same weights and metrics; a NaN or infinite loss stops it with a clear error.
import type { Backend } from "../backend/backend.js";
import type { Batch, DataLoader } from "../data/loader.js";
import type { Sequential } from "../nn/sequential.js";
import type { SGD } from "../optim/sgd.js";
import { noGrad } from "../tensor/autograd.js";
import { crossEntropy } from "../tensor/functional.js";
import { defaultRng } from "../tensor/random.js";
import { tidy } from "../tensor/scope.js";
import { Tensor, tensor } from "../tensor/tensor.js";

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
  trainLoss: number;
  trainAcc: number;
  /** Examples per second of the training steps so far in this epoch. */
  examplesPerSec: number;
}

export interface TrainerHooks {
  onStep?(info: StepInfo, state: TrainState): void;
  onPoint?(point: MetricPoint, state: TrainState): void;
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
  trainLoader: DataLoader;
  testLoader: DataLoader;
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

/** Number of rows whose largest logit is at the label (d2l's accuracy, as a count). */
export function countCorrect(logits: Tensor, labels: Int32Array): number {
  const predicted = argmaxRows(logits.dataSync(), labels.length, logits.shape[1]!);
  return predicted.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0);
}

/** Lets signals and timers run between steps. The loader worker's replies arrive as a stream of messages that
 * Node drains, with their promise continuations, in one go: without this, a Ctrl-C would wait for the epoch's end. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** d2l's evaluate_accuracy_gpu: accuracy over a whole loader in evaluation mode, without a graph. */
export async function evaluateAccuracy(net: Sequential, loader: DataLoader, backend: Backend,
  onBatch?: (done: number, total: number) => void, reduce?: DistributedHooks["reduceCounts"]): Promise<number> {
  const wasTraining = net.training;
  net.eval();
  let correct = 0;
  let n = 0;
  let done = 0;
  try {
    for await (const batch of loader.iterate(0)) {
      correct += tidy(() => noGrad(() => countCorrect(net.call(batchTensor(batch, backend)), batch.labels)));
      n += batch.labels.length;
      onBatch?.(++done, loader.numBatches);
      await yieldToEventLoop();
    }
  } finally {
    net.train(wasTraining);
  }
  if (reduce) [correct, n] = reduce(correct, n);
  return n === 0 ? 0 : correct / n;
}

/** Runs (or continues, from `state`) d2l's training loop. */
export async function trainCh6(net: Sequential, options: TrainOptions, state: TrainState = initialTrainState()): Promise<TrainResult> {
  const { epochs, backend, trainLoader, testLoader, optimizer, hooks = {}, distributed: dist } = options;
  const numBatches = trainLoader.numBatches;
  const pointEvery = Math.max(1, Math.floor(numBatches / 5));
  defaultRng.setState(state.rng);
  let stopped = false;
  while (state.epoch < epochs && !stopped) {
    net.train();
    if (state.batch === 0) state.metric = [0, 0, 0];
    const epochStart = state.metric[2];
    let epochSeconds = 0;
    for await (const batch of trainLoader.iterate(state.epoch, state.batch)) {
      const started = performance.now();
      let n = batch.labels.length;
      let stopAll = false;
      dist?.beginStep(state.batch, n);
      const [loss, correct] = tidy(() => {
        optimizer.zeroGrad();
        const logits = net.call(batchTensor(batch, backend));
        const l = crossEntropy(logits, batch.labels);
        const value = l.item();
        if (dist) {
          // Every rank joins every collective, even with a non-finite loss; the summed loss decides for all.
          l.backward();
          const sum = dist.endStep(value * n, countCorrect(logits, batch.labels), n, hooks.shouldStop?.(state) ?? false);
          [n, stopAll] = [sum.n, sum.stop];
          const global = sum.lossSum / sum.n;
          if (Number.isFinite(global)) optimizer.step();
          return [global, sum.correct];
        }
        if (!Number.isFinite(value)) return [value, 0];
        l.backward();
        optimizer.step();
        return [value, countCorrect(logits, batch.labels)];
      });
      if (!Number.isFinite(loss)) {
        optimizer.zeroGrad();
        throw new DivergedError(state, loss, optimizer.options.lr);
      }
      state.metric = [state.metric[0] + loss * n, state.metric[1] + correct, state.metric[2] + n];
      const seconds = (performance.now() - started) / 1000;
      state.timerSum += seconds;
      epochSeconds += seconds;
      const i = state.batch;
      state.batch++;
      state.step++;
      state.rng = defaultRng.getState();
      const [sumLoss, sumCorrect, count] = state.metric;
      if ((i + 1) % pointEvery === 0 || i === numBatches - 1) {
        const point = { x: state.epoch + (i + 1) / numBatches, trainLoss: sumLoss / count, trainAcc: sumCorrect / count };
        state.points.push(point);
        hooks.onPoint?.(point, state);
      }
      // After the point: a checkpoint taken in onStep must include it.
      hooks.onStep?.({ epoch: state.epoch, batch: i, numBatches, batchSize: trainLoader.batchSize, trainLoss: sumLoss / count, trainAcc: sumCorrect / count,
        examplesPerSec: (count - epochStart) / Math.max(epochSeconds, 1e-9) }, state);
      await yieldToEventLoop();
      if (dist ? stopAll : hooks.shouldStop?.(state)) {
        stopped = true;
        break;
      }
    }
    if (stopped) break;
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

// Between a live training run and checkpoint data: parameters by PyTorch state_dict name, momentum buffers
// as `<name>.momentum_buffer`, and the TrainState (epoch, batch, step, metric, timer, plot points, RNG).
import type { Module } from "../nn/module.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import type { SGD } from "../optim/sgd.js";
import { keep, tidy } from "../tensor/scope.js";
import { type Tensor, tensor } from "../tensor/tensor.js";
import type { CheckpointData } from "../checkpoint/checkpointData.js";
import type { TrainState } from "./trainer.js";

const MOMENTUM = ".momentum_buffer";

/** The run as checkpoint data; values are read asynchronously, so a GPU backend's run checkpoints too. */
export async function snapshot(net: Module, optimizer: SGD, state: TrainState): Promise<CheckpointData> {
  const params = net.namedParameters();
  const values = async (t: Tensor): Promise<Float32Array> => Float32Array.from(await t.data());
  const model = await modelTensors(net);
  const moments = await Promise.all(params.map(async ([name, p]) => {
    const v = optimizer.velocity.get(p);
    return v ? [{ name: name + MOMENTUM, shape: [...v.shape], data: await values(v) }] : [];
  }));
  return { model, optimizer: moments.flat(), state: { ...state, optimizerSteps: optimizer.stepCount } };
}

/** Parameters and buffers in state_dict order, read asynchronously; batch counts are stored as I64 as
 * PyTorch does (`num_batches_tracked`). */
export async function modelTensors(net: Module): Promise<NamedTensor[]> {
  return Promise.all(net.namedState().map(async ([name, t]) => ({
    name,
    shape: [...t.shape],
    data: Float32Array.from(await t.data()),
    ...(name.endsWith("num_batches_tracked") ? { dtype: "I64" as const } : {}),
  })));
}

/** Loads weights and momentum buffers into the live objects and returns the TrainState to continue from. */
export function restoreTraining(net: Module, optimizer: SGD, data: CheckpointData): TrainState {
  const params = net.namedParameters();
  const backend = params[0]![1].backend;
  tidy(() => {
    net.loadStateDict(new Map(data.model.map((t) => [t.name, tensor(t.data, { shape: t.shape, backend })])));
  });
  const byName = new Map(data.optimizer.map((t) => [t.name, t]));
  for (const v of optimizer.velocity.values()) v.dispose();
  optimizer.velocity.clear();
  for (const [name, p] of params) {
    const buf = byName.get(name + MOMENTUM);
    if (!buf) continue;
    if (buf.shape.join() !== p.shape.join()) throw new Error(`checkpoint momentum buffer '${name}${MOMENTUM}' has shape [${buf.shape.join(", ")}], expected [${p.shape.join(", ")}]`);
    optimizer.velocity.set(p, keep(tensor(buf.data, { shape: buf.shape, backend, dtype: p.dtype })));
  }
  const s = data.state;
  const state = validateState(s);
  optimizer.stepCount = typeof s.optimizerSteps === "number" ? s.optimizerSteps : 0;
  return state;
}

function validateState(s: Record<string, unknown>): TrainState {
  // state.json is read back from disk: every number must be finite (a file may say 1e400, which JSON.parse
  // reads as Infinity) and every plot point an object with a finite x, or the resumed run would carry
  // garbage into its metrics, plots and timer.
  const isInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
  const isNums = (v: unknown, n?: number): v is number[] =>
    Array.isArray(v) && (n === undefined || v.length === n) && v.every(isNum);
  const isPoint = (p: unknown): boolean => typeof p === "object" && p !== null && !Array.isArray(p) &&
    isNum((p as Record<string, unknown>).x) &&
    ["trainLoss", "trainAcc", "testAcc"].every((k) => (p as Record<string, unknown>)[k] === undefined || isNum((p as Record<string, unknown>)[k]));
  if (!isInt(s.epoch) || !isInt(s.batch) || !isInt(s.step) || !isNums(s.metric, 3) || !isNum(s.timerSum) || s.timerSum < 0 ||
    !Array.isArray(s.points) || !s.points.every(isPoint) || !isNums(s.rng, 6) || !(s.lastTestAcc === null || isNum(s.lastTestAcc)) ||
    !(s.optimizerSteps === undefined || isInt(s.optimizerSteps))) {
    throw new Error("checkpoint training state is malformed (epoch, batch, step, metric, timerSum, points, rng, lastTestAcc, optimizerSteps)");
  }
  const rng = s.rng as number[];
  return {
    epoch: s.epoch, batch: s.batch, step: s.step, metric: s.metric as [number, number, number], timerSum: s.timerSum,
    points: s.points as TrainState["points"], rng, lastTestAcc: s.lastTestAcc as number | null,
  };
}

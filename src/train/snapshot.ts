// Between a live training run and checkpoint data: parameters by PyTorch state_dict name, momentum buffers
// as `<name>.momentum_buffer`, and the TrainState (epoch, batch, step, metric, timer, plot points, RNG).
import type { Sequential } from "../nn/sequential.js";
import type { SGD } from "../optim/sgd.js";
import { keep, tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import type { CheckpointData } from "./checkpoint.js";
import type { TrainState } from "./trainer.js";

const MOMENTUM = ".momentum_buffer";

export function snapshot(net: Sequential, optimizer: SGD, state: TrainState): CheckpointData {
  const params = net.namedParameters();
  return {
    model: params.map(([name, p]) => ({ name, shape: [...p.shape], data: p.toFloat32Array() })),
    optimizer: params.flatMap(([name, p]) => {
      const v = optimizer.velocity.get(p);
      return v ? [{ name: name + MOMENTUM, shape: [...v.shape], data: v.toFloat32Array() }] : [];
    }),
    state: { ...state, optimizerSteps: optimizer.stepCount },
  };
}

/** Loads weights and momentum buffers into the live objects and returns the TrainState to continue from. */
export function restoreTraining(net: Sequential, optimizer: SGD, data: CheckpointData): TrainState {
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
  optimizer.stepCount = typeof s.optimizerSteps === "number" ? s.optimizerSteps : 0;
  return validateState(s);
}

function validateState(s: Record<string, unknown>): TrainState {
  const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const isNums = (v: unknown, n?: number): v is number[] =>
    Array.isArray(v) && (n === undefined || v.length === n) && v.every((x) => typeof x === "number");
  if (!isInt(s.epoch) || !isInt(s.batch) || !isInt(s.step) || !isNums(s.metric, 3) || typeof s.timerSum !== "number" ||
    !Array.isArray(s.points) || !isNums(s.rng, 6) || !(s.lastTestAcc === null || typeof s.lastTestAcc === "number")) {
    throw new Error("checkpoint training state is malformed (epoch, batch, step, metric, timerSum, points, rng, lastTestAcc)");
  }
  const rng = s.rng as number[];
  return {
    epoch: s.epoch, batch: s.batch, step: s.step, metric: s.metric as [number, number, number], timerSum: s.timerSum,
    points: s.points as TrainState["points"], rng, lastTestAcc: s.lastTestAcc as number | null,
  };
}

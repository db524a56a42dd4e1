// `alexnet bench`: training and inference throughput of AlexNet on random data (timed like d2l: data
// loading excluded), median over timed steps after warm-up, per precision (fp32, bf16 or both): examples/s,
// effective TFLOP/s from the analysis, the share of time per kind of op, and how bf16 runs on this CPU.
// --machine instead measures the machine's memory bandwidth and peak FLOP/s (analyze's roofline) and caches them.
import { ALEXNET_VARIANTS, initWeights } from "../models/alexnet.js";
import type { Module } from "../nn/module.js";
import { Sequential } from "../nn/sequential.js";
import { analyzeNetwork } from "../analysis/analyze.js";
import { SGD } from "../optim/sgd.js";
import { noGrad } from "../tensor/autograd.js";
import { rand } from "../tensor/creation.js";
import { crossEntropy } from "../tensor/functional.js";
import { manualSeed, Rng } from "../tensor/random.js";
import { keep, tidy } from "../tensor/scope.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { type ModelChoice, buildChecked, buildMeta, chooseFromFlags, MODEL_FLAGS, trainInput } from "./modelChoice.js";
import type { Backend, Precision } from "../backend/backend.js";
import { applyPrecision, precisionSupportOf, PRECISIONS } from "../backend/precision.js";
import { DISTRIBUTED_FLAGS } from "./distributed.js"; // distributed: --distributed runs src/cli/distributedBench.ts

const FLAGS: FlagSpecs = {
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ALEXNET_VARIANTS, help: "AlexNet's variant (default here: 28)" },
  "batch-size": { type: "int", min: 1, help: "batch size (default: the model's recipe; AlexNet 128)" },
  resize: { type: "int", min: 1, help: "input size N x N (default: the model's recipe, e.g. 96 for ResNet-18; AlexNet 28: 28)" },
  steps: { type: "int", min: 1, default: 10, help: "timed steps (median reported)" },
  warmup: { type: "int", min: 0, default: 2, help: "untimed steps first" },
  mode: { type: "string", choices: ["both", "train", "infer"], default: "both", help: "what to time" },
  json: { type: "boolean", help: "print one JSON object per precision" },
  machine: { type: "boolean", help: "measure this machine's memory bandwidth (STREAM-style; a GPU buffer copy with --device gpu) and peak FLOP/s (a large GEMM) on the backend, print them and cache them for analyze's roofline" },
  ...BACKEND_FLAGS,
  precision: { type: "string", choices: [...PRECISIONS, "both"], default: "fp32", help: "fp32, bf16 (mixed precision) or both, one after the other" },
  ...DISTRIBUTED_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Where a step's time goes: the backend's op timers (when it has them) against the wall clock. The layer
 * kinds every backend can time, plus "conversion" (layout and type conversions) where the backend reports it. */
const LAYER_KINDS = ["conv", "pool", "linear"] as const;
type Shares = Record<string, number>;

/** Times `step` (which may return before an asynchronous backend has finished: sync() waits for it). */
async function timeSteps(backend: Backend, warmup: number, steps: number, step: () => void | Promise<void>): Promise<{ times: number[]; shares: Shares | null }> {
  const run = async (): Promise<void> => {
    await step();
    await backend.sync?.();
  };
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  const before = backend.opSeconds?.();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  const after = backend.opSeconds?.();
  if (!before || !after) return { times, shares: null };
  const wall = times.reduce((a, b) => a + b, 0);
  const shares: Shares = { other: 1 };
  for (const k of [...LAYER_KINDS, ...("conversion" in after ? ["conversion"] : [])]) {
    shares[k] = ((after[k] ?? 0) - (before[k] ?? 0)) / wall;
    shares.other -= shares[k];
  }
  return { times, shares };
}

interface BenchOptions {
  choice: ModelChoice;
  /** One example's shape (C, H, W). */
  input: [number, number, number];
  batch: number;
  steps: number;
  warmup: number;
  mode: string;
}

/** One precision: training and inference on random data, timed like d2l (data loading excluded). */
async function benchPrecision(backend: Backend, precision: Precision, o: BenchOptions, warn: (msg: string) => void) {
  const support = applyPrecision(backend, precision, warn);
  manualSeed(0);
  const built: Module = buildChecked(o.choice, 10, o.input);
  const net = await built.to(backend);
  initWeights(net);
  const shape = [o.batch, ...o.input];
  const stats = analyzeNetwork(net instanceof Sequential ? net : new Sequential(net), shape);
  const rng = new Rng(1);
  const x = keep(rand(shape, { backend, rng }));
  const labels = Int32Array.from({ length: o.batch }, () => rng.nextU32() % 10);
  const opt = new SGD(net.parameters(), { lr: 0.01 });
  let train: Awaited<ReturnType<typeof timeSteps>> = { times: [], shares: null };
  let infer: Awaited<ReturnType<typeof timeSteps>> = { times: [], shares: null };
  try {
    if (o.mode !== "infer") {
      net.train();
      train = await timeSteps(backend, o.warmup, o.steps, () => tidy(() => {
        opt.zeroGrad();
        const loss = crossEntropy(net.call(x), labels);
        loss.backward();
        opt.step();
      }));
    }
    if (o.mode !== "train") {
      net.eval();
      infer = await timeSteps(backend, o.warmup, o.steps, async () => {
        const y = tidy(() => noGrad(() => net.call(x)));
        await y.data();
        y.dispose();
      });
    }
  } finally {
    opt.dispose();
    x.dispose();
    net.dispose();
  }
  const trainRate = train.times.length ? o.batch / median(train.times) : null;
  const inferRate = infer.times.length ? o.batch / median(infer.times) : null;
  const perExampleTrain = stats.totals.flops + stats.totals.backwardFlops;
  const threads = (backend as { threads?: () => number }).threads?.() ?? 1;
  return {
    model: o.choice.record.model, ...(o.choice.record.variant ? { variant: o.choice.record.variant } : {}), input: o.input, batch_size: o.batch, steps: o.steps, warmup: o.warmup, backend: backend.name, device: backend.describe(),
    precision, bf16: precision === "bf16" ? support : null, threads,
    train_examples_per_sec: trainRate, infer_examples_per_sec: inferRate,
    train_tflops: trainRate ? (trainRate * perExampleTrain) / 1e12 : null,
    infer_tflops: inferRate ? (inferRate * stats.totals.flops) / 1e12 : null,
    train_time_shares: train.shares, infer_time_shares: infer.shares,
    train_step_seconds: train.times, infer_step_seconds: infer.times,
  };
}

function sharesLine(shares: Shares | null): string {
  if (!shares) return "";
  const order = [...LAYER_KINDS, "conversion", "other"].filter((k) => k in shares);
  const parts = order.map((k) => `${k === "conversion" ? "layout/type conversion" : k} ${(100 * shares[k]!).toFixed(0)}%`);
  return `\n       time: ${parts.join(", ")}`;
}

export const benchCommand: Command = defineCommand("bench", "[flags]", FLAGS, async ({ flags }) => {
    if (flags.distributed) {
      // distributed: AlexNet only (src/cli/distributedBench.ts), with this command's AlexNet defaults.
      if (flags.model !== "alexnet") throw new UsageError("bench --distributed times AlexNet only; drop --model");
      return (await import("./distributedBench.js")).runDistributedBench({ ...flags, variant: flags.variant ?? "28", "batch-size": flags["batch-size"] ?? 128 });
    }
    if (flags.machine) {
      const backend = await selectBackend({ ...flags, precision: flags.precision === "both" ? "fp32" : flags.precision });
      for (const line of await (await import("../analysis/machine.js")).benchMachine(backend, { json: flags.json === true })) console.log(line);
      return 0;
    }
    const choice = await chooseFromFlags(flags, "28");
    const input = trainInput((flags.resize as number | undefined) ?? choice.recipe.resize);
    buildMeta(choice, 10, input).dispose(); // a model that does not fit the input fails before any work
    const opts: BenchOptions = {
      choice, input, batch: (flags["batch-size"] as number | undefined) ?? choice.recipe.batchSize, steps: flags.steps as number,
      warmup: flags.warmup as number, mode: flags.mode as string,
    };
    const which = flags.precision as string;
    const precisions: Precision[] = which === "both" ? ["fp32", "bf16"] : [which as Precision];
    const backend = await selectBackend({ ...flags, precision: precisions[0] });
    if (!flags.json) {
      const support = precisionSupportOf(backend, "bf16");
      console.log(`${choice.title.replace(/^AlexNet \(variant (\w+)\)$/, "AlexNet variant $1")}, input [${input.join(", ")}], batch ${opts.batch}, on ${backend.describe().replace(", bf16", "")}; median of ${opts.steps} steps after ${opts.warmup} warm-up; TFLOP/s effective counts direct-convolution FLOPs`);
      console.log(`bf16 here: ${support.level} (${support.detail})`);
      if (support.level === "native" && backend.name === "native") console.log(BF16_LAYER_CHOICE);
    }
    try {
      for (const precision of precisions) {
        if (precision === "bf16" && which === "both" && precisionSupportOf(backend, "bf16").level === "unsupported") {
          console.log("bf16: skipped, not available here (see above)");
          continue;
        }
        // selectBackend has warned about the first precision already.
        const warn = precision === precisions[0] ? () => {} : (m: string) => console.error(m);
        const r = await benchPrecision(backend, precision, opts, warn);
        if (flags.json) {
          console.log(JSON.stringify(r));
          continue;
        }
        if (r.train_examples_per_sec) {
          console.log(`${precision} train: ${r.train_examples_per_sec.toFixed(1)} examples/s (${(median(r.train_step_seconds) * 1000).toFixed(0)} ms/step, ${r.train_tflops!.toFixed(3)} TFLOP/s)${sharesLine(r.train_time_shares)}`);
        }
        if (r.infer_examples_per_sec) {
          console.log(`${precision} infer: ${r.infer_examples_per_sec.toFixed(1)} examples/s (${(median(r.infer_step_seconds) * 1000).toFixed(0)} ms/batch, ${r.infer_tflops!.toFixed(3)} TFLOP/s)${sharesLine(r.infer_time_shares)}`);
        }
      }
    } finally {
      backend.setPrecision?.("fp32");
    }
    return 0;
});

const BF16_LAYER_CHOICE =
  "bf16 mode computes a conv layer in bf16 unless an fp32 Winograd is faster for it (3x3 stride-1 layers in " +
  "oneDNN's F(4x4,3x3), 5x5 stride-1 layers in alexnet-ts's F(4x4,5x5), where bf16 has no AMX and only doubles " +
  "fp32 throughput; with AMX every layer is bf16); linear layers in bf16";

// `alexnet bench`: training and inference throughput of AlexNet on random data (timed like d2l: data
// loading excluded), median over timed steps after warm-up, with the effective GFLOP/s from the analysis.
import { alexNet, alexNetInputShape, ALEXNET_VARIANTS, initWeights, type AlexNetVariant } from "../models/alexnet.js";
import { analyzeNetwork } from "../analysis/analyze.js";
import { SGD } from "../optim/sgd.js";
import { noGrad } from "../tensor/autograd.js";
import { rand } from "../tensor/creation.js";
import { crossEntropy } from "../tensor/functional.js";
import { manualSeed, Rng } from "../tensor/random.js";
import { keep, tidy } from "../tensor/scope.js";
import { type Command, type FlagSpecs, parseArgs, usage } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";

const FLAGS: FlagSpecs = {
  variant: { type: "string", choices: ALEXNET_VARIANTS, default: "28", help: "network variant" },
  "batch-size": { type: "int", min: 1, default: 128, help: "batch size" },
  steps: { type: "int", min: 1, default: 10, help: "timed steps (median reported)" },
  warmup: { type: "int", min: 0, default: 2, help: "untimed steps first" },
  mode: { type: "string", choices: ["both", "train", "infer"], default: "both", help: "what to time" },
  json: { type: "boolean", help: "print one JSON object" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function timeSteps(warmup: number, steps: number, step: () => void): number[] {
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

export const benchCommand: Command = {
  name: "bench",
  async run(argv) {
    const { flags } = parseArgs(argv, FLAGS);
    if (flags.help) {
      console.log(usage("bench", "[flags]", FLAGS));
      return 0;
    }
    const variant = flags.variant as AlexNetVariant;
    const batch = flags["batch-size"] as number;
    const steps = flags.steps as number;
    const warmup = flags.warmup as number;
    const mode = flags.mode as string;
    const backend = selectBackend(flags);
    manualSeed(0);
    const net = alexNet({ variant }).to(backend);
    initWeights(net);
    const shape = [batch, ...alexNetInputShape({ variant })];
    const stats = analyzeNetwork(net, shape);
    const rng = new Rng(1);
    const x = keep(rand(shape, { backend, rng }));
    const labels = Int32Array.from({ length: batch }, () => rng.nextU32() % 10);
    const opt = new SGD(net.parameters(), { lr: 0.01 });
    let train: number[] = [];
    let infer: number[] = [];
    try {
      if (mode !== "infer") {
        net.train();
        train = timeSteps(warmup, steps, () => tidy(() => {
          opt.zeroGrad();
          const loss = crossEntropy(net.call(x), labels);
          loss.backward();
          opt.step();
          loss.item(); // wait for the step to finish on asynchronous backends
        }));
      }
      if (mode !== "train") {
        net.eval();
        infer = timeSteps(warmup, steps, () => tidy(() => noGrad(() => net.call(x).dataSync())));
      }
    } finally {
      opt.dispose();
      x.dispose();
      net.dispose();
    }
    const trainRate = train.length ? batch / median(train) : null;
    const inferRate = infer.length ? batch / median(infer) : null;
    const perExampleTrain = stats.totals.flops + stats.totals.backwardFlops;
    const threads = (backend as { threads?: () => number }).threads?.() ?? 1;
    const result = {
      variant, batch_size: batch, steps, warmup, backend: backend.name, device: backend.describe(), precision: "fp32", threads,
      train_examples_per_sec: trainRate, infer_examples_per_sec: inferRate,
      train_gflops: trainRate ? (trainRate * perExampleTrain) / 1e9 : null,
      infer_gflops: inferRate ? (inferRate * stats.totals.flops) / 1e9 : null,
      train_step_seconds: train, infer_step_seconds: infer,
    };
    if (flags.json) {
      console.log(JSON.stringify(result));
      return 0;
    }
    console.log(`AlexNet variant ${variant}, batch ${batch}, fp32, on ${backend.describe()}; median of ${steps} steps after ${warmup} warm-up`);
    if (trainRate) console.log(`train: ${trainRate.toFixed(1)} examples/s (${(median(train) * 1000).toFixed(0)} ms/step, ${result.train_gflops!.toFixed(1)} GFLOP/s effective)`);
    if (inferRate) console.log(`infer: ${inferRate.toFixed(1)} examples/s (${(median(infer) * 1000).toFixed(0)} ms/batch, ${result.infer_gflops!.toFixed(1)} GFLOP/s effective)`);
    return 0;
  },
};

// `alexnet tune --device gpu [--model NAME]`: tunes the webgpu backend's GEMM kernels ahead of a run. It
// builds the model on the GPU, runs one training step on random data (every conv and linear GEMM shape of
// training: forward and both backwards), lets the tuner time each new shape's variants, and prints the
// choices; they land in the tuner's cache ($XDG_CACHE_HOME/alexnet-ts/webgpu-tuning.json), which later
// runs on the same GPU read instead of timing. Shapes found in the cache are not timed again.
import { initWeights, ALEXNET_VARIANTS } from "../models/alexnet.js";
import { SGD } from "../optim/sgd.js";
import { rand } from "../tensor/creation.js";
import { crossEntropy } from "../tensor/functional.js";
import { manualSeed, Rng } from "../tensor/random.js";
import { keep, tidy } from "../tensor/scope.js";
import { registerBackend } from "../backend/registry.js";
import { FileTuneCache, createNodeWebGpuBackend } from "../backend/webgpu/node.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { buildChecked, buildMeta, chooseFromFlags, MODEL_FLAGS, trainInput } from "./modelChoice.js";

const FLAGS: FlagSpecs = {
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ALEXNET_VARIANTS, help: "AlexNet's variant (default: 224, d2l's run)" },
  "width-scale": { type: "number", default: 1, help: "AlexNet's width multiplier (1 is d2l's)" },
  "batch-size": { type: "int", min: 1, help: "batch size (default: the model's recipe; AlexNet 128): shapes are tuned per batch size" },
  resize: { type: "int", min: 1, help: "input size N x N (default: the model's recipe)" },
  device: { type: "string", default: "gpu", choices: ["gpu"], help: "gpu (the kernels tuned are the webgpu backend's)" },
  json: { type: "boolean", help: "print one JSON object per GEMM shape" },
  help: { type: "boolean", help: "show this help" },
};

const us = (s: number | null | undefined): string => (s === null || s === undefined ? "failed" : `${(s * 1e6).toFixed(0)} us`);

export const tuneCommand: Command = defineCommand("tune", "--device gpu [flags]", FLAGS, async ({ flags }) => {
  const choice = await chooseFromFlags(flags, "224");
  const input = trainInput((flags.resize as number | undefined) ?? choice.recipe.resize);
  buildMeta(choice, 10, input).dispose(); // a model that does not fit the input fails before the GPU opens
  const batch = (flags["batch-size"] as number | undefined) ?? choice.recipe.batchSize;
  const cache = new FileTuneCache();
  // "on": tune even on a CPU emulation (SwiftShader), since it was asked for by name
  const backend = await createNodeWebGpuBackend({ tune: "on", tuneCache: cache });
  if ("error" in backend) throw new UsageError(`alexnet tune needs a GPU: ${backend.error}`);
  registerBackend(backend);
  if (backend.isSoftware()) console.error(`alexnet: ${backend.ctx.adapter.description} is a CPU emulation: its timings say nothing about a GPU, and tuning is slow`);
  const t0 = performance.now();
  manualSeed(0);
  const net = await buildChecked(choice, 10, input).to(backend);
  initWeights(net);
  const rng = new Rng(1);
  const x = keep(rand([batch, ...input], { backend, rng }));
  const labels = Int32Array.from({ length: batch }, () => rng.nextU32() % 10);
  const opt = new SGD(net.parameters(), { lr: 0.01 });
  try {
    net.train();
    tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(net.call(x), labels);
      loss.backward();
      opt.step();
    });
    await backend.sync(); // the tuner times every shape the step queued
  } finally {
    opt.dispose();
    x.dispose();
    net.dispose();
  }
  const tuned = backend.tuner.tuned();
  if (flags.json) {
    for (const t of tuned) console.log(JSON.stringify(t));
  } else {
    console.log(`${choice.title}, input [${input.join(", ")}], batch ${batch}, on ${backend.describe()}`);
    for (const t of tuned) {
      const times = t.seconds ? `  (${Object.entries(t.seconds).map(([v, s]) => `${v} ${us(s)}`).join(", ")})` : "";
      console.log(`${t.shape}: ${t.choice} [${t.source}]${times}`);
    }
    console.log(`${tuned.length} GEMM shapes in ${((performance.now() - t0) / 1000).toFixed(1)} s; choices cached in ${cache.where}` +
      (backend.tuner.notes.length ? `; ${backend.tuner.notes.length} notes above` : ""));
  }
  backend.destroy();
  return 0;
});

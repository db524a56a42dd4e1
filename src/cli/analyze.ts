// `alexnet analyze`: the per-layer table of parameters, memory and compute for the network as built, the
// seed's two answers computed from it, training memory at batch B (estimated and measured), and with
// --profile the measured time per layer.
import { ALEXNET_VARIANTS } from "../models/alexnet.js";
import { Sequential } from "../nn/sequential.js";
import { analyzeNetwork, answers, reluFusedLayers, type NetworkStats } from "../analysis/analyze.js";
import { measureTrainingMemory, profileLayers, type LayerTiming, type MemoryMeasurement } from "../analysis/profile.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { buildChecked, buildMeta, chooseFromFlags, MODEL_FLAGS, trainInput } from "./modelChoice.js";
import { parseInput } from "./summary.js";

const FLAGS: FlagSpecs = {
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ALEXNET_VARIANTS, help: "AlexNet's variant: 224 (default) or 28" },
  "batch-size": { type: "int", min: 1, help: "batch size for activation and training memory (default: the model's recipe)" },
  input: { type: "string", help: "input as CxHxW (default: the model's training input, e.g. 1x224x224; AlexNet 28: 1x28x28)" },
  classes: { type: "int", min: 1, default: 10, help: "output classes" },
  momentum: { type: "number", min: 0, default: 0, help: "SGD momentum (> 0 adds a buffer per parameter)" },
  measure: { type: "boolean", help: "measure a real training step's memory (default: on with the native backend)" },
  "no-measure": { type: "boolean", help: "skip the measured training step" },
  profile: { type: "boolean", help: "measure forward and backward time per layer" },
  repeats: { type: "int", min: 1, default: 3, help: "profiled steps (median)" },
  plot: { type: "string", help: "write per-layer bars (params, FLOPs, time) to file.svg or file.png" },
  json: { type: "boolean", help: "print one JSON object instead of the table" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

const MiB = (b: number): string => (b / 2 ** 20).toFixed(1);
const int = (n: number): string => n.toLocaleString("en-US");
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;


export const analyzeCommand: Command = defineCommand("analyze", "[flags]", FLAGS, async ({ flags }) => {
    const plot = flags.plot as string | undefined;
    if (plot !== undefined && !/\.(svg|png)$/.test(plot)) throw new UsageError(`--plot needs a file ending in .svg or .png (got '${plot}')`);
    const choice = await chooseFromFlags(flags);
    const input = flags.input === undefined ? trainInput(choice.recipe.resize) : parseInput(flags.input as string);
    const [c, h] = input;
    const batch = (flags["batch-size"] as number | undefined) ?? choice.recipe.batchSize;
    const classes = flags.classes as number;
    buildMeta(choice, classes, input).dispose(); // a model that does not fit the input fails before any work
    const backend = await selectBackend(flags);
    const built = buildChecked(choice, classes, input);
    // The table's rows are the top-level layers of a Sequential; another Module is one row.
    const net = await (built instanceof Sequential ? built : new Sequential(built)).to(backend);
    const inputShape = [batch, c, h, h];
    const momentum = flags.momentum as number;
    const stats = analyzeNetwork(net, inputShape, { momentum: momentum > 0 });
    const measure = !flags["no-measure"] && (flags.measure === true || backend.name !== "reference");
    const memory = measure
      ? measureTrainingMemory(net, inputShape, backend, { momentum, rss: () => process.memoryUsage().rss })
      : null;
    const timings = flags.profile ? await profileLayers(net, inputShape, backend, stats, flags.repeats as number) : null;
    if (flags.plot) {
      const { writeAnalysisPlot } = await import("../analysis/plot.js");
      writeAnalysisPlot(flags.plot as string, stats, timings);
    }
    const description = `${choice.title}, input [${inputShape.join(", ")}], ${flags.classes} classes, ${backend.precision?.() === "bf16" ? "bf16 mixed precision (the estimate counts fp32 storage; the measured step stores bf16 activations)" : "fp32"}, SGD${momentum > 0 ? ` with momentum ${momentum}` : " without momentum"}`;
    if (flags.json) {
      console.log(JSON.stringify(toJson(stats, memory, timings, description, backend.describe()), null, 2));
    } else {
      const skipped = measure ? null : flags["no-measure"] ? "--no-measure" : `the ${backend.name} backend is slow at this size; --measure forces it`;
      console.log(report(stats, memory, timings, description, backend.describe(), backend.name, skipped).join("\n"));
      if ([...net].some((l) => l.children().length > 0)) {
        console.log("\nRows are the network's top-level layers. A block's params, MACs, FLOPs and element ops are those of every layer inside it " +
          "(each Conv2d, Linear, pooling, ReLU and Dropout module at the shapes one traced forward gives it; a forward's own relu/add/cat are not counted); " +
          "its out and saved MiB count only the block's output, not the activations inside it.");
      }
      if (flags.plot) console.log(`\nplot written to ${flags.plot}`);
    }
    net.dispose();
    return 0;
});

/** The JSON schema: { description, backend, batchSize, inputShape, layers: LayerStats[] (macs, flops,
 * backwardFlops, elementOps per example; bytes at the batch size), totals, answers, memory, profile }. */
function toJson(stats: NetworkStats, memory: MemoryMeasurement | null, timings: LayerTiming[] | null, description: string, backend: string) {
  const a = answers(stats);
  return {
    description,
    backend,
    batchSize: stats.batchSize,
    inputShape: stats.inputShape,
    layers: stats.layers.map((l, i) => ({ ...l, ...(timings ? { forwardMs: timings[i]!.forwardMs, backwardMs: timings[i]!.backwardMs, timeShare: timings[i]!.share, gflops: timings[i]!.gflops } : {}) })),
    totals: stats.totals,
    answers: {
      mostParams: { index: a.mostParams.index, layer: a.mostParams.layer, params: a.mostParams.params, share: a.mostParamsShare },
      mostCompute: { index: a.mostCompute.index, layer: a.mostCompute.layer, macs: a.mostCompute.macs, share: a.mostComputeShare },
      mostActivation: { index: a.mostActivation.index, layer: a.mostActivation.layer, bytes: a.mostActivation.activationBytes, share: a.mostActivationShare },
    },
    memory,
  };
}

/** Backends that run a Conv2d/Linear and the ReLU after it in one pass (a oneDNN post-op, a shader epilogue);
 * the reference backend takes the fused call but computes the two passes. */
const FUSING_BACKENDS: Record<string, string> = { native: "a oneDNN post-op", webgpu: "a shader epilogue" };

function report(stats: NetworkStats, memory: MemoryMeasurement | null, timings: LayerTiming[] | null, description: string, backend: string,
  backendName: string, skipped: string | null): string[] {
  const t = stats.totals;
  const b = stats.batchSize;
  const header = ["#", "layer", "output shape", "params", "% params", "param MiB", "grad MiB", "optim MiB", `out MiB @${b}`, `saved MiB @${b}`, "MACs/example", "% MACs", "GFLOP fwd/ex", "GFLOP bwd/ex", "elem ops/ex"];
  if (timings) header.push("fwd ms", "bwd ms", "% time", "GFLOP/s");
  const rows = stats.layers.map((l, i) => {
    const row = [String(l.index), l.type, `[${l.outputShape.join(", ")}]`, int(l.params), pct(l.params / t.params), MiB(l.paramBytes), MiB(l.gradBytes),
      MiB(l.optimizerBytes), MiB(l.outputBytes), MiB(l.activationBytes), int(l.macs), pct(l.macs / t.macs), (l.flops / 1e9).toFixed(3), (l.backwardFlops / 1e9).toFixed(3), int(l.elementOps)];
    if (timings) {
      const tm = timings[i]!;
      row.push(tm.forwardMs.toFixed(1), tm.backwardMs.toFixed(1), pct(tm.share), tm.gflops ? tm.gflops.toFixed(0) : "");
    }
    return row;
  });
  const total = ["", "total", "", int(t.params), "100%", MiB(t.paramBytes), MiB(t.gradBytes), MiB(t.optimizerBytes), MiB(t.outputBytes), MiB(t.activationBytes), int(t.macs), "100%",
    (t.flops / 1e9).toFixed(3), (t.backwardFlops / 1e9).toFixed(3), int(stats.layers.reduce((n, l) => n + l.elementOps, 0))];
  if (timings) {
    const f = timings.reduce((s, x) => s + x.forwardMs, 0);
    const bw = timings.reduce((s, x) => s + x.backwardMs, 0);
    total.push(f.toFixed(1), bw.toFixed(1), "100%", "");
  }
  const table = [header, ...rows, total];
  const widths = header.map((_, j) => Math.max(...table.map((r) => (r[j] ?? "").length)));
  const fmtRow = (r: string[]): string => r.map((cell, j) => (j === 1 || j === 2 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join("  ").trimEnd();
  const a = answers(stats);
  const lines = [description, `on ${backend}`, "", fmtRow(header), ...rows.map(fmtRow), fmtRow(total), ""];
  lines.push(
    `out MiB: the layer's output, as the network run layer by layer (PyTorch's nn.Sequential) allocates it in the forward pass; ` +
      "saved MiB: what the backward pass needs kept (a ReLU keeps its output, so the convolution before it keeps nothing: ReLU's backward needs only its own output).",
  );
  const fused = reluFusedLayers(stats);
  if (fused.length > 0) {
    const bytes = fused.reduce((n, l) => n + l.outputBytes, 0);
    const which = `layers ${fused.map((l) => l.index).join(", ")}: ${MiB(bytes)} MiB at batch ${b}, the largest ${MiB(Math.max(...fused.map((l) => l.outputBytes)))} MiB`;
    lines.push(FUSING_BACKENDS[backendName]
      ? `ReLU fusion: ${backend} runs each Conv2d/Linear and the ReLU after it as one op (${FUSING_BACKENDS[backendName]}), so their pre-ReLU outputs are never stored (${which}); ` +
        "unfused, each is allocated in the forward pass until its ReLU has run."
      : `ReLU fusion: ${backend} computes each Conv2d/Linear and the ReLU after it as two passes, so it allocates their pre-ReLU outputs for a moment (${which}); the native and WebGPU backends fuse them and do not.`);
  }
  if (t.buffers > 0) {
    lines.push(`Buffers (state without gradients: batch normalization's running statistics and batch counts): ${int(t.buffers)} values, ` +
      `${MiB(t.bufferBytes)} MiB, counted apart from the ${int(t.params)} parameters; the optimizer never touches them.`);
  }
  lines.push("");
  lines.push(
    `Most parameters and parameter memory: layer ${a.mostParams.index} ${a.mostParams.layer}, ${int(a.mostParams.params)} parameters, ` +
      `${pct(a.mostParamsShare)} of ${int(t.params)} (${MiB(a.mostParams.paramBytes)} of ${MiB(t.paramBytes)} MiB in fp32).`,
    `Most compute: layer ${a.mostCompute.index} ${a.mostCompute.layer}, ${int(a.mostCompute.macs)} MACs per example, ` +
      `${pct(a.mostComputeShare)} of ${int(t.macs)}.`,
    `Most activation memory at batch ${b}: layer ${a.mostActivation.index} ${a.mostActivation.layer}, ${MiB(a.mostActivation.activationBytes)} MiB, ` +
      `${pct(a.mostActivationShare)} of ${MiB(t.activationBytes)} MiB kept for the backward pass.`,
    "",
    `Training memory at batch ${b} (estimate): parameters ${MiB(t.paramBytes)}${t.bufferBytes > 0 ? ` + buffers ${MiB(t.bufferBytes)}` : ""} + gradients ${MiB(t.gradBytes)} + optimizer state ${MiB(t.optimizerBytes)} ` +
      `+ saved activations ${MiB(t.activationBytes)} + input ${MiB(t.inputBytes)} = ${MiB(t.trainingBytes)} MiB.`,
  );
  if (memory) {
    const peak = memory.peakBytes === null ? "not tracked by this backend" : `${MiB(memory.peakBytes)} MiB`;
    const rss = memory.rssGrowthBytes === null ? "" : `; process RSS grew ${MiB(memory.rssGrowthBytes)} MiB during the step`;
    lines.push(`Measured during a training step on ${backend}: peak ${peak} held by the backend (${MiB(memory.steadyBytes)} MiB between steps)${rss}.`);
    const d = memory.breakdown;
    if (d && memory.peakBytes !== null) {
      const fusedOp = /Relu$/.test(d.phase) ? "+ReLU" : "";
      const where = d.phase === "forward" ? "in the forward pass"
        : d.phase === "optimizer step" ? "in the optimizer step"
          : `in the backward of ${d.layer === null ? d.phase : `layer ${d.layer} (${stats.layers[d.layer]!.type}${fusedOp})`}`;
      const diff = memory.peakBytes - t.trainingBytes;
      lines.push(
        `Why the measured peak is ${diff >= 0 ? "above" : "below"} the estimate (${diff >= 0 ? "+" : ""}${MiB(diff)} MiB): it came ${where}, when the backend held ` +
          `parameters and optimizer state ${MiB(d.steadyBytes)} + the forward's outputs ${MiB(d.forwardBytes)} (held until the step ends) ` +
          `+ parameter gradients so far ${MiB(d.paramGradBytes)} + gradients of activations in flight ${MiB(d.inFlightBytes)} ` +
          "(the incoming gradient, the ReLU's and the input's), a term the estimate does not have. Neither counts the backend's scratch space or cached weight layouts.",
      );
    }
  } else {
    lines.push(`Measured: skipped (${skipped ?? "not requested"}).`);
  }
  return lines;
}

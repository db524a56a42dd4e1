// `alexnet analyze`: the per-layer table of parameters, memory and compute for the network as built, the
// seed's two answers computed from it, training memory at batch B (estimated and measured), the bytes each
// layer moves and where the machine's roofline puts it (the third answer: memory bandwidth), and with
// --profile the measured time per layer.
import { ALEXNET_VARIANTS } from "../models/alexnet.js";
import { Sequential } from "../nn/sequential.js";
import { analyzeNetwork, answers, reluFusedLayers, type NetworkStats } from "../analysis/analyze.js";
import { measureTrainingMemory, profileLayers, type LayerTiming, type MemoryMeasurement } from "../analysis/profile.js";
import { fmtBalance, machineCachePath, machineFigures, machineKey, readMachineCache, type MachineFigures } from "../analysis/machine.js";
import { balance, bandwidthAnswer, fmt, mostTraffic, roofline, type RooflineRow } from "../analysis/roofline.js";
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
  "no-measure": { type: "boolean", help: "skip the measured training step, and the machine's bandwidth and peak FLOP/s unless cached" },
  profile: { type: "boolean", help: "measure forward and backward time per layer" },
  repeats: { type: "int", min: 1, default: 3, help: "profiled steps (median)" },
  plot: { type: "string", help: "write per-layer bars (params, FLOPs, time) to file.svg or file.png, and the roofline to file-roofline.svg and .png" },
  json: { type: "boolean", help: "print one JSON object instead of the table" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

const MiB = (b: number): string => (b / 2 ** 20).toFixed(1);
const int = (n: number): string => n.toLocaleString("en-US");
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
/** FLOP per byte with about three significant digits (0.0625 .. 1,234). */
const intensity = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(2));


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
    // The roofline's two figures: cached per backend, CPU and threads, else measured now (about a second).
    const machine: MachineState = flags["no-measure"]
      ? { figures: readMachineCache(backend), source: "cached", path: machineCachePath() }
      : await machineFigures(backend);
    const roof = machine.figures ? { bandwidth: machine.figures.bandwidth, peakFlops: machine.figures.peakFlops } : null;
    const rows = roofline(stats, roof, timings);
    let rooflineFiles: string[] = [];
    if (flags.plot) {
      const { writeAnalysisPlot, writeRooflinePlots } = await import("../analysis/plot.js");
      writeAnalysisPlot(flags.plot as string, stats, timings);
      if (roof) {
        const title = `${choice.title} roofline, batch ${batch}, ${backend.describe()}${timings ? ", measured" : ", attainable"} FLOP/s per layer`;
        rooflineFiles = writeRooflinePlots(flags.plot as string, stats, rows, roof, title);
      }
    }
    const description = `${choice.title}, input [${inputShape.join(", ")}], ${flags.classes} classes, ${backend.precision?.() === "bf16" ? "bf16 mixed precision (the estimate counts fp32 storage; the measured step stores bf16 activations)" : "fp32"}, SGD${momentum > 0 ? ` with momentum ${momentum}` : " without momentum"}`;
    if (flags.json) {
      console.log(JSON.stringify(toJson(stats, memory, timings, description, backend.describe(), machine, rows), null, 2));
    } else {
      const skipped = measure ? null : flags["no-measure"] ? "--no-measure" : `the ${backend.name} backend is slow at this size; --measure forces it`;
      const roofLines = machineLines(stats, rows, machine, machineKey(backend), flags["no-measure"] === true);
      console.log(report(stats, memory, timings, description, backend.describe(), backend.name, skipped, rows, roofLines).join("\n"));
      if ([...net].some((l) => l.children().length > 0)) {
        console.log("\nRows are the network's top-level layers. A block's params, MACs, FLOPs and element ops are those of every layer inside it " +
          "(each Conv2d, Linear, pooling, ReLU and Dropout module at the shapes one traced forward gives it; a forward's own relu/add/cat are not counted); " +
          "its out and saved MiB count only the block's output, not the activations inside it.");
      }
      if (flags.plot) console.log(`\nplot written to ${flags.plot}${rooflineFiles.length ? `, roofline to ${rooflineFiles.join(" and ")}` : ""}`);
    }
    net.dispose();
    return 0;
});

interface MachineState {
  figures: MachineFigures | null;
  source: "cached" | "measured";
  path: string;
  cacheError?: string;
}

/** The JSON schema: { description, backend, batchSize, inputShape, layers: LayerStats[] (macs, flops,
 * backwardFlops, elementOps per example; bytes, bytesForward, bytesBackward at the batch size; intensity
 * FLOP/B, bound, lowerBoundMs), totals, answers, memory, machine (bandwidth B/s, peakFlops FLOP/s, balance,
 * source), profile }. */
function toJson(stats: NetworkStats, memory: MemoryMeasurement | null, timings: LayerTiming[] | null, description: string, backend: string,
  machine: MachineState, rows: RooflineRow[]) {
  const a = answers(stats);
  const f = machine.figures;
  const traffic = mostTraffic(stats);
  return {
    description,
    backend,
    batchSize: stats.batchSize,
    inputShape: stats.inputShape,
    layers: stats.layers.map((l, i) => ({
      ...l,
      intensity: rows[i]!.intensity, bound: rows[i]!.bound, lowerBoundMs: rows[i]!.lowerBoundMs,
      ...(timings ? { forwardMs: timings[i]!.forwardMs, backwardMs: timings[i]!.backwardMs, timeShare: timings[i]!.share, gflops: timings[i]!.gflops } : {}),
    })),
    totals: stats.totals,
    answers: {
      mostParams: { index: a.mostParams.index, layer: a.mostParams.layer, params: a.mostParams.params, share: a.mostParamsShare },
      mostCompute: { index: a.mostCompute.index, layer: a.mostCompute.layer, macs: a.mostCompute.macs, share: a.mostComputeShare },
      mostActivation: { index: a.mostActivation.index, layer: a.mostActivation.layer, bytes: a.mostActivation.activationBytes, share: a.mostActivationShare },
      mostTraffic: { index: traffic.layer.index, layer: traffic.layer.layer, bytes: traffic.bytes, share: traffic.share },
      bandwidth: f ? bandwidthAnswer(stats, rows, f, "this machine") : null,
    },
    memory,
    machine: f ? { ...f, balance: balance(f), source: machine.source } : null,
  };
}

/** Backends that run a Conv2d/Linear and the ReLU after it in one pass (a oneDNN post-op, a shader epilogue);
 * the reference backend takes the fused call but computes the two passes. */
const FUSING_BACKENDS: Record<string, string> = { native: "a oneDNN post-op", webgpu: "a shader epilogue" };

function report(stats: NetworkStats, memory: MemoryMeasurement | null, timings: LayerTiming[] | null, description: string, backend: string,
  backendName: string, skipped: string | null, roofRows: RooflineRow[], roofLines: { notes: string[]; answer: string[] }): string[] {
  const t = stats.totals;
  const b = stats.batchSize;
  const header = ["#", "layer", "output shape", "params", "% params", "param MiB", "grad MiB", "optim MiB", `out MiB @${b}`, `saved MiB @${b}`, "MACs/example", "% MACs", "GFLOP fwd/ex", "GFLOP bwd/ex", "elem ops/ex"];
  // The roofline's columns: bytes moved and intensity always; bound and its time with the machine's figures.
  const roofed = roofRows.some((r) => r.lowerBoundMs !== null);
  header.push(`MiB moved @${b}`, "FLOP/B");
  if (roofed) header.push("bound", "min ms");
  if (timings) header.push("fwd ms", "bwd ms", "% time", "GFLOP/s");
  if (timings && roofed) header.push("x min");
  const rows = stats.layers.map((l, i) => {
    const row = [String(l.index), l.type, `[${l.outputShape.join(", ")}]`, int(l.params), pct(l.params / t.params), MiB(l.paramBytes), MiB(l.gradBytes),
      MiB(l.optimizerBytes), MiB(l.outputBytes), MiB(l.activationBytes), int(l.macs), pct(l.macs / t.macs), (l.flops / 1e9).toFixed(3), (l.backwardFlops / 1e9).toFixed(3), int(l.elementOps)];
    const r = roofRows[i]!;
    row.push(MiB(r.bytes), r.intensity === null ? "-" : intensity(r.intensity));
    if (roofed) row.push(r.bound ?? "-", r.bound ? r.lowerBoundMs!.toFixed(2) : "-");
    if (timings) {
      const tm = timings[i]!;
      row.push(tm.forwardMs.toFixed(1), tm.backwardMs.toFixed(1), pct(tm.share), tm.gflops ? tm.gflops.toFixed(0) : "");
    }
    if (timings && roofed) row.push(r.bound && r.lowerBoundMs! > 0 ? (r.measuredMs! / r.lowerBoundMs!).toFixed(1) : "-");
    return row;
  });
  const total = ["", "total", "", int(t.params), "100%", MiB(t.paramBytes), MiB(t.gradBytes), MiB(t.optimizerBytes), MiB(t.outputBytes), MiB(t.activationBytes), int(t.macs), "100%",
    (t.flops / 1e9).toFixed(3), (t.backwardFlops / 1e9).toFixed(3), int(stats.layers.reduce((n, l) => n + l.elementOps, 0))];
  const bytes = roofRows.reduce((n, r) => n + r.bytes, 0);
  const flops = roofRows.reduce((n, r) => n + r.flops, 0);
  const minMs = roofRows.reduce((n, r) => n + (r.bound ? r.lowerBoundMs! : 0), 0);
  total.push(MiB(bytes), bytes > 0 ? intensity(flops / bytes) : "-");
  if (roofed) total.push("", minMs.toFixed(2));
  if (timings) {
    const f = timings.reduce((s, x) => s + x.forwardMs, 0);
    const bw = timings.reduce((s, x) => s + x.backwardMs, 0);
    total.push(f.toFixed(1), bw.toFixed(1), "100%", "");
    if (roofed) total.push(minMs > 0 ? ((f + bw) / minMs).toFixed(1) : "-");
  }
  const table = [header, ...rows, total];
  const widths = header.map((_, j) => Math.max(...table.map((r) => (r[j] ?? "").length)));
  const fmtRow = (r: string[]): string => r.map((cell, j) => (j === 1 || j === 2 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join("  ").trimEnd();
  const a = answers(stats);
  const traffic = mostTraffic(stats);
  const lines = [description, `on ${backend}`, "", fmtRow(header), ...rows.map(fmtRow), fmtRow(total), ""];
  lines.push(
    `out MiB: the layer's output, as the network run layer by layer (PyTorch's nn.Sequential) allocates it in the forward pass; ` +
      "saved MiB: what the backward pass needs kept (a ReLU keeps its output, so the convolution before it keeps nothing: ReLU's backward needs only its own output).",
    ...roofLines.notes,
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
    `Most memory traffic at batch ${b}: layer ${traffic.layer.index} ${traffic.layer.layer}, ${MiB(traffic.bytes)} MiB moved by its forward and backward, ` +
      `${pct(traffic.share)} of ${MiB(traffic.total)} MiB per training step.`,
    ...roofLines.answer,
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

/** The machine's figures (cached or measured now, and where), what the roofline columns mean, and the answer
 * to exercise 4c. */
function machineLines(stats: NetworkStats, rows: RooflineRow[], machine: MachineState, key: string, noMeasure: boolean): { notes: string[]; answer: string[] } {
  const notes = [
    `MiB moved: what the layer's forward and backward must read and write at batch ${stats.batchSize}, each tensor once (inputs, weights, outputs, ` +
      "and in the backward the output's gradient, saved tensors, the input's and the weights' gradients; fp32); FLOP/B: its forward and backward FLOPs per byte moved.",
  ];
  const f = machine.figures;
  if (!f) {
    return {
      notes,
      answer: [
        `Machine: not measured (${noMeasure ? "--no-measure" : "unavailable"}) and nothing cached in ${machine.path} for ${key}; ` +
          "`alexnet bench --machine` measures its memory bandwidth and peak FLOP/s for the roofline.",
        "Memory bandwidth: without this machine's figures no layer can be called bandwidth- or compute-bound; the lowest intensity is " +
          `${lowest(stats, rows)}.`,
      ],
    };
  }
  const faster = rows.filter((r) => r.measuredMs !== null && r.lowerBoundMs !== null && r.bound !== null && r.measuredMs < r.lowerBoundMs);
  notes.push("bound: bandwidth when the layer's FLOP/B is below the machine's balance point (peak FLOP/s over bandwidth), else compute; " +
    "min ms: the roofline's lower bound max(FLOPs / peak, bytes / bandwidth)" + (rows.some((r) => r.measuredMs !== null) ? "; x min: measured over that bound." : "."));
  if (faster.length > 0) {
    notes.push(`x min below 1 (layers ${faster.map((r) => r.index).join(", ")}): faster than the bound allows, as a Winograd convolution does fewer ` +
      "multiplies than the direct-convolution FLOPs counted, a tensor that fits in the caches moves faster than memory bandwidth, and figures measured " +
      "while other work shared the cores are low (`alexnet bench --machine` measures them again).");
  }
  const when = machine.source === "cached"
    ? `cached in ${machine.path} from ${f.measuredAt.slice(0, 16).replace("T", " ")} UTC (\`alexnet bench --machine\` measures again)`
    : `measured now in ${f.seconds.toFixed(1)} s, nothing being cached for this backend, CPU and thread count, ` +
      (machine.cacheError ? `and not cached (${machine.cacheError})` : `and cached in ${machine.path}`);
  const answer = [`Machine: ${(f.bandwidth / 1e9).toFixed(1)} GB/s memory bandwidth (${f.bandwidthKernel}), ${fmt(f.peakFlops / 1e9)} GFLOP/s peak ` +
    `(${f.peakKernel}), balance ${fmtBalance(balance(f))} FLOP/B; ${when}.`, bandwidthAnswer(stats, rows, f, "this machine")];
  return { notes, answer };
}

function lowest(stats: NetworkStats, rows: RooflineRow[]): string {
  const moving = rows.filter((r) => r.intensity !== null);
  if (moving.length === 0) return "undefined (no layer moves data)";
  const r = moving.reduce((best, x) => (x.intensity! < best.intensity! ? x : best));
  return `layer ${r.index} ${stats.layers[r.index]!.type}'s ${intensity(r.intensity!)} FLOP/B`;
}

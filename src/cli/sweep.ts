// `alexnet sweep --batch-sizes 32,64,...` (d2l 7.1 exercise 3: "modify the batch size, and observe the
// changes in accuracy and GPU memory"): one `alexnet train` per batch size, each in its own process (so
// each point's peak memory is its own) and its own run directory under the sweep's, then a table and
// three bar charts (accuracy, examples/s, memory) of what each run measured, beside analyze's estimate.
// Rerunning the same command with the same --sweep-dir continues: finished points are kept, an unfinished
// one resumes from its last checkpoint. A point that fails (--memory-limit, a crash) is one line in the
// table and the sweep goes on.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeNetwork } from "../analysis/analyze.js";
import { Sequential } from "../nn/index.js";
import type { ChartSpec } from "../plot/chart.js";
import { writeChart, writeFileAtomic } from "../plot/render.js";
import { readResult, type RunResult, timeStamp } from "../train/runDir.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS } from "./backendFlags.js";
import { buildMeta, chooseFromFlags, MODEL_FLAGS, trainInput } from "./modelChoice.js";

const FLAGS: FlagSpecs = {
  "batch-sizes": { type: "string", default: "32,64,128,256,512", help: "the batch sizes to train with, comma-separated" },
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ["224", "28"], help: "AlexNet's variant" },
  "width-scale": { type: "number", help: "multiply all channel and hidden widths" },
  epochs: { type: "int", min: 1, help: "epochs per run (default: the model's recipe)" },
  lr: { type: "number", min: 0, help: "learning rate (default: the model's recipe)" },
  "lr-scale": { type: "string", default: "fixed", choices: ["fixed", "linear"], help: "linear: lr x batch / the recipe's batch (Goyal et al.)" },
  resize: { type: "int", min: 1, help: "resize images to N x N (default: the model's recipe)" },
  seed: { type: "int", min: 0, help: "seed of every run" },
  "train-limit": { type: "int", min: 1, help: "use only the first N training examples" },
  "test-limit": { type: "int", min: 1, help: "use only the first N test examples" },
  "data-dir": { type: "string", help: "the Fashion-MNIST directory (as train's)" },
  "memory-limit": { type: "string", help: "a run whose backend memory passes SIZE (512M, 2G) stops: that point fails, the sweep goes on" },
  "sweep-dir": { type: "string", help: "where the runs go, one per batch size (default runs/sweep-<date-time>); the same directory again continues" },
  json: { type: "boolean", help: "print one JSON object per batch size instead of the table" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

/** The flags every run gets as the sweep got them; a resumed run takes only those train --resume does. */
const FORWARDED = ["model", "variant", "width-scale", "epochs", "resize", "seed", "train-limit", "test-limit", "data-dir", "memory-limit", "device", "backend", "threads", "precision"];
const ON_RESUME = new Set(["epochs", "device", "backend", "threads", "data-dir", "memory-limit"]);

export interface SweepPoint {
  batchSize: number;
  lr: number;
  runDir: string;
  /** analyze's estimate of training memory at this batch size (weights, gradients, activations). */
  estimateBytes: number;
  result: RunResult | null;
  /** Why the point has no result (the run's last line). */
  error: string | null;
}

export function parseBatchSizes(spec: string): number[] {
  const sizes = spec.split(",").map((s) => Number(s.trim()));
  if (sizes.length === 0 || !sizes.every((n) => Number.isSafeInteger(n) && n >= 1)) throw new UsageError(`--batch-sizes takes positive whole numbers, comma-separated (got '${spec}')`);
  return [...new Set(sizes)];
}

const CLI = fileURLToPath(new URL("./main.js", import.meta.url));

/** One `alexnet train` (or `--resume`), its output passed to stderr; resolves to its last stderr line on failure. */
function trainOnce(args: string[]): Promise<string | null> {
  return new Promise((resolvePromise, reject) => {
    // The runs' output goes to stderr: stdout is the sweep's table (or JSON) alone.
    const child = spawn(process.execPath, [CLI, "train", ...args], { stdio: ["ignore", process.stderr, "pipe"] });
    let tail = "";
    child.stderr.on("data", (d: Buffer) => {
      process.stderr.write(d);
      tail = (tail + d.toString()).slice(-4000);
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) return resolvePromise(null);
      const lines = tail.split(/[\r\n]/).map((l) => l.trim()).filter(Boolean);
      resolvePromise(lines.at(-1)?.replace(/^alexnet train: /, "") ?? `alexnet train ended with ${signal ?? `exit code ${code}`}`);
    });
  });
}

const mib = (bytes: number | null): string => (bytes === null ? "-" : `${(bytes / 2 ** 20).toFixed(1)}`);

export function sweepTable(points: readonly SweepPoint[]): string[] {
  const header = ["batch", "lr", "test acc", "examples/s", "peak MiB (backend)", "max RSS MiB", "estimate MiB (analyze)"];
  const rows = points.map((p) => p.result
    ? [String(p.batchSize), String(p.lr), p.result.testAcc.toFixed(3), p.result.examplesPerSec.toFixed(1), mib(p.result.peakBytes), mib(p.result.maxRssBytes), mib(p.estimateBytes)]
    : [String(p.batchSize), String(p.lr), "-", "-", "-", "-", mib(p.estimateBytes)]);
  const table = [header, ...rows];
  const widths = header.map((_, j) => Math.max(...table.map((row) => row[j]!.length)));
  const lines = table.map((row) => row.map((c, j) => c.padStart(widths[j]!)).join("  "));
  return lines.map((line, i) => (i > 0 && points[i - 1]!.error !== null ? `${line}  failed: ${points[i - 1]!.error}` : line));
}

/** The three charts: accuracy, speed and memory against the batch size (bars; a failed point is empty). */
export function sweepCharts(points: readonly SweepPoint[]): Record<"accuracy" | "speed" | "memory", ChartSpec> {
  const categories = points.map((p) => String(p.batchSize));
  const measured = (value: (r: RunResult) => number | null) => (p: SweepPoint): number | null => (p.result ? value(p.result) : null);
  const series = (name: string, color: [number, number, number], value: (p: SweepPoint) => number | null) => ({
    name, color, points: points.flatMap((p, i) => {
      const v = value(p);
      return v === null ? [] : [[i, v] as [number, number]];
    }),
  });
  const bar = (title: string, yLabel: string, s: ChartSpec["series"]): ChartSpec => ({ kind: "bar", title, xLabel: "batch size", yLabel, categories, series: s, width: 420, height: 300 });
  return {
    accuracy: bar("final test accuracy", "test acc", [series("test acc", [0, 128, 0], measured((r) => r.testAcc))]),
    speed: bar("training speed", "examples/s", [series("examples/s", [31, 119, 180], measured((r) => r.examplesPerSec))]),
    memory: bar("memory", "MiB", [
      series("peak (backend)", [214, 39, 40], measured((r) => (r.peakBytes === null ? null : r.peakBytes / 2 ** 20))),
      series("max RSS", [127, 127, 127], measured((r) => r.maxRssBytes / 2 ** 20)),
      series("estimate (analyze)", [255, 127, 14], (p) => p.estimateBytes / 2 ** 20),
    ]),
  };
}

export const sweepCommand: Command = defineCommand("sweep", "[flags]", FLAGS, async ({ flags }, argv) => {
  const sizes = parseBatchSizes(flags["batch-sizes"] as string);
  const choice = await chooseFromFlags(flags); // a bad model fails here, before any run
  const input = trainInput((flags.resize as number | undefined) ?? choice.recipe.resize);
  const baseLr = (flags.lr as number | undefined) ?? choice.recipe.lr;
  const dir = resolve((flags["sweep-dir"] as string | undefined) ?? join("runs", `sweep-${timeStamp()}`));
  const given = new Set(argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=")[0]!));
  const forward = (keep: (flag: string) => boolean): string[] =>
    FORWARDED.filter((f) => given.has(f) && flags[f] !== undefined && keep(f)).flatMap((f) => [`--${f}`, String(flags[f])]);
  const meta = buildMeta(choice, 10, input);
  const net = meta instanceof Sequential ? meta : new Sequential(meta);
  const points: SweepPoint[] = [];
  try {
    for (const batchSize of sizes) {
      const lr = flags["lr-scale"] === "linear" ? (baseLr * batchSize) / choice.recipe.batchSize : baseLr;
      const runDir = join(dir, `batch-${batchSize}`);
      const estimateBytes = analyzeNetwork(net, [batchSize, ...input]).totals.trainingBytes;
      let result = existsSync(runDir) ? readResult(runDir) : null;
      let error: string | null = null;
      if (result) console.error(`batch ${batchSize}: finished before (${runDir}), kept`);
      else {
        const resume = existsSync(join(runDir, "config.json"));
        console.error(`batch ${batchSize}: ${resume ? "resuming" : "training"}, lr ${lr}, in ${runDir}`);
        const args = resume ? ["--resume", runDir, "--plain", ...forward((f) => ON_RESUME.has(f))]
          : [...forward(() => true), "--batch-size", String(batchSize), "--lr", String(lr), "--run-dir", runDir, "--plain"];
        error = await trainOnce(args);
        result = error === null ? readResult(runDir) : null;
        if (error !== null) console.error(`batch ${batchSize}: failed: ${error}; going on`);
      }
      points.push({ batchSize, lr, runDir, estimateBytes, result, error });
    }
  } finally {
    meta.dispose();
  }
  writeFileAtomic(join(dir, "sweep.json"), `${JSON.stringify(points, null, 2)}\n`);
  const charts = sweepCharts(points);
  for (const [name, spec] of Object.entries(charts)) {
    writeChart(join(dir, `${name}.svg`), spec);
    writeChart(join(dir, `${name}.png`), spec);
  }
  if (flags.json) for (const p of points) console.log(JSON.stringify(p));
  else {
    console.log(`${choice.title}, batch sizes ${sizes.join(", ")}; lr ${flags["lr-scale"] === "linear" ? `${baseLr} x batch / ${choice.recipe.batchSize}` : baseLr}; runs in ${dir}`);
    for (const line of sweepTable(points)) console.log(line);
    console.log(`plots: ${["accuracy", "speed", "memory"].map((n) => join(dir, `${n}.svg`)).join(", ")} (and .png)`);
  }
  return points.every((p) => p.result !== null) ? 0 : 1;
});

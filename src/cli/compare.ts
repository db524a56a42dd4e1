// `alexnet compare RUN_DIR...`: runs side by side (d2l 7.1's exercises: AlexNet against LeNet, 10 epochs
// against 20): one table of final metrics, training examples/s, wall time, parameters and MACs per example,
// and every run's curves overlaid in one plot (SVG and PNG). Reads what `alexnet train` leaves in a run
// directory (config.json, metrics.jsonl, result.json once completed); runs of any models compare.
import { basename, resolve } from "node:path";
import type { ChartSpec, Rgb, Series } from "../plot/chart.js";
import { writeChart } from "../plot/render.js";
import { readConfig, readMetrics, readResult, type RunResult } from "../train/runDir.js";
import type { MetricPoint } from "../train/trainer.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";

const FLAGS: FlagSpecs = {
  out: { type: "string", default: "compare", help: "write the overlaid curves to OUT.svg and OUT.png" },
  json: { type: "boolean", help: "print one JSON object per run instead of the table" },
  help: { type: "boolean", help: "show this help" },
};

export interface ComparedRun {
  label: string;
  dir: string;
  model: string;
  epochs: number;
  /** Null when the run has not completed (its last points stand in for the metrics). */
  result: RunResult | null;
  trainLoss: number | null;
  trainAcc: number | null;
  testAcc: number | null;
  points: MetricPoint[];
}

const last = (points: readonly MetricPoint[], key: "trainLoss" | "trainAcc" | "testAcc"): number | null =>
  [...points].reverse().find((p) => p[key] !== undefined)?.[key] ?? null;

export function readRun(dir: string, label: string): ComparedRun {
  const config = readConfig(dir); // "DIR is not a run directory (no config.json)"
  const settings = (config.settings ?? {}) as { model?: string; epochs?: number };
  const points = readMetrics(dir);
  const result = readResult(dir);
  return {
    label, dir, result, points,
    model: result?.title ?? settings.model ?? "alexnet",
    epochs: result?.epochs ?? settings.epochs ?? Math.ceil(Math.max(0, ...points.map((p) => p.x))),
    trainLoss: result?.trainLoss ?? last(points, "trainLoss"),
    trainAcc: result?.trainAcc ?? last(points, "trainAcc"),
    testAcc: result?.testAcc ?? last(points, "testAcc"),
  };
}

/** Short labels: each directory's name, or its path as given where two names clash. */
export function runLabels(dirs: readonly string[]): string[] {
  const names = dirs.map((d) => basename(resolve(d)));
  return names.map((n, i) => (names.filter((m) => m === n).length > 1 ? dirs[i]! : n));
}

const fixed = (x: number | null, digits: number): string => (x === null ? "-" : x.toFixed(digits));
const count = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}k`);
const duration = (s: number): string => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`);

export function compareTable(runs: readonly ComparedRun[]): string[] {
  const header = ["run", "model", "epochs", "train loss", "train acc", "test acc", "examples/s", "wall", "params", "MACs/example"];
  const rows = runs.map((r) => [
    r.label, r.model, r.result ? String(r.epochs) : `${r.epochs} (incomplete)`, fixed(r.trainLoss, 3), fixed(r.trainAcc, 3), fixed(r.testAcc, 3),
    r.result ? r.result.examplesPerSec.toFixed(1) : "-", r.result ? duration(r.result.wallSeconds) : "-",
    r.result ? count(r.result.params) : "-", r.result ? count(r.result.macsPerExample) : "-",
  ]);
  const table = [header, ...rows];
  const widths = header.map((_, j) => Math.max(...table.map((row) => row[j]!.length)));
  return table.map((row) => row.map((c, j) => (j < 2 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ").trimEnd());
}

/** matplotlib's tab10: a color per run. */
const PALETTE: Rgb[] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];

/** Every run's test accuracy (solid) and train loss (dashed) against the epoch, one color per run. */
export function compareChart(runs: readonly ComparedRun[]): ChartSpec {
  const series: Series[] = [];
  runs.forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pick = (key: "trainLoss" | "testAcc"): [number, number][] => r.points.filter((p) => p[key] !== undefined).map((p) => [p.x, p[key]!]);
    series.push({ name: `${r.label} test acc`, color, points: pick("testAcc"), dash: "solid" });
    series.push({ name: `${r.label} train loss`, color, points: pick("trainLoss"), dash: "dashed" });
  });
  const xs = runs.flatMap((r) => r.points.map((p) => p.x));
  return {
    kind: "line", xLabel: "epoch", width: 520, height: 340, series,
    xRange: [Math.min(1, ...xs), Math.max(1, ...runs.map((r) => r.epochs), ...xs)],
  };
}

export const compareCommand: Command = defineCommand("compare", "RUN_DIR... [flags]", FLAGS, async ({ flags, positional }) => {
  if (positional.length === 0) throw new UsageError("give one or more run directories (as `alexnet train --run-dir` wrote them)");
  const labels = runLabels(positional);
  const runs = positional.map((dir, i) => readRun(dir, labels[i]!));
  if (flags.json) {
    for (const r of runs) console.log(JSON.stringify({ run: r.dir, model: r.model, epochs: r.epochs, completed: r.result !== null, trainLoss: r.trainLoss, trainAcc: r.trainAcc, testAcc: r.testAcc, ...(r.result ?? {}) }));
  } else {
    for (const line of compareTable(runs)) console.log(line);
  }
  const out = flags.out as string;
  const chart = compareChart(runs);
  writeChart(`${out}.svg`, chart);
  writeChart(`${out}.png`, chart);
  if (!flags.json) console.log(`curves: ${out}.svg, ${out}.png (solid: test acc, dashed: train loss)`);
  return 0;
});

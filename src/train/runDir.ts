// A training run's directory: config.json (every setting, backend, versions), metrics.jsonl (one line per
// plot point), and d2l's plot of train loss, train acc and test acc against epoch as training.svg and
// training.png, rewritten atomically at every point so a viewer can keep them open; result.json when the
// run completes (what `alexnet compare` tabulates).
import { mkdirSync, appendFileSync, readFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { renderPng, renderSvg, writeFileAtomic } from "../plot/render.js";
import { trainingChart } from "../plot/trainingChart.js";
import type { MetricPoint } from "./trainer.js";

/** YYYYMMDD-hhmmss in local time, as run directories are named. */
export function timeStamp(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, "0");
  return `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

export function defaultRunDir(now = new Date()): string {
  return resolve("runs", timeStamp(now));
}

export function writeConfig(runDir: string, config: Record<string, unknown>): void {
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
}

export function readConfig(runDir: string): Record<string, unknown> {
  const file = join(runDir, "config.json");
  if (!existsSync(file)) throw new Error(`${runDir} is not a run directory (no config.json)`);
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not a valid config: ${(e as Error).message}`);
  }
}

/** What a completed run measured, beside its curves (result.json). */
export interface RunResult {
  /** The model as --model names it, and as people call it. */
  model: string;
  title: string;
  params: number;
  /** Conv2d and Linear multiply-accumulates of one example's forward pass at the run's input. */
  macsPerExample: number;
  /** (C, H, W) */
  input: number[];
  epochs: number;
  trainLoss: number;
  trainAcc: number;
  testAcc: number;
  /** d2l's figure: training examples per second of training time (evaluation excluded). */
  examplesPerSec: number;
  /** Wall time of the last `alexnet train` invocation that worked on the run (a resumed run: its last part). */
  wallSeconds: number;
  device: string;
  finished: string;
  /** The backend's own high-water mark of live tensor bytes (native pool, GPU buffers, reference arrays). */
  peakBytes: number | null;
  /** The process's peak resident set (the CPU's whole footprint: data, code, the backend's memory). */
  maxRssBytes: number;
}

export function writeResult(runDir: string, result: RunResult): void {
  writeFileAtomic(join(runDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
}

/** result.json, or null when the run has not completed (or predates it). */
export function readResult(runDir: string): RunResult | null {
  const file = join(runDir, "result.json");
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as RunResult;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The plot points of metrics.jsonl (a line cut short by a crash is skipped). */
export function readMetrics(runDir: string): MetricPoint[] {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return [];
  const points: MetricPoint[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const p = JSON.parse(line) as MetricPoint;
      if (typeof p.x === "number") points.push(p);
    } catch {
      // the last line of a killed run may be partial
    }
  }
  return points;
}

export class RunDirectory {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  get metricsFile(): string {
    return join(this.dir, "metrics.jsonl");
  }

  /** Appends one point to metrics.jsonl and redraws the plots. */
  addPoint(point: MetricPoint, all: readonly MetricPoint[], epochs: number): void {
    appendFileSync(this.metricsFile, `${JSON.stringify(point)}\n`);
    this.writePlots(all, epochs);
  }

  /** Rewrites metrics.jsonl from the checkpoint's points (a crash may have left lines past it). */
  resetMetrics(points: readonly MetricPoint[], epochs: number): void {
    writeFileAtomic(this.metricsFile, points.map((p) => `${JSON.stringify(p)}\n`).join(""));
    this.writePlots(points, epochs);
  }

  writePlots(points: readonly MetricPoint[], epochs: number): void {
    const spec = trainingChart(points, epochs);
    writeFileAtomic(join(this.dir, "training.svg"), renderSvg(spec));
    writeFileAtomic(join(this.dir, "training.png"), renderPng(spec));
  }
}

// Side-by-side benchmark, model by model: `alexnet bench --json` and its PyTorch peer (bench/pytorch_zoo.py,
// d2l's own definitions, with Debian's python3-torch) alternately in one invocation, `--rounds` times each,
// then the medians and the ratios (alexnet-ts / PyTorch) in one table.
// Usage: node dist/bench/compare.js [--model NAME | --models a,b,c | --models all] [--variant 28|224]
//          [--resize N | --resize name=N,...] [--batch-size B | --batch-size name=B,...] [--steps 5] [--warmup 2]
//          [--rounds 3] [--threads N] [--precision fp32|bf16|both] [--markdown] [--json] [--python PATH]
// Each model runs at its recipe (src/models/registry.ts): input size, batch size, and (PyTorch's side) lr;
// `--resize` and `--batch-size` override it for all models, or per model as `resnet18=64,googlenet=64`.
// AlexNet: `--variant` (default 28 with --model, as `alexnet bench`; with --models, 224, its recipe).
// bf16: ours mixed precision against PyTorch's CPU autocast. A model that fails on one side is reported in
// its row and the exit status is 1; the other models still run.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ZOO, zooModel } from "../src/models/registry.js";

export interface BenchResult {
  device: string;
  train_examples_per_sec: number | null;
  infer_examples_per_sec: number | null;
}

/** One model's run: what both sides are given. */
export interface ModelPlan {
  model: string;
  /** AlexNet's variant; absent for the other models. */
  variant?: "28" | "224";
  /** The input's side (1 x size x size). */
  size: number;
  batch: number;
  /** The recipe's lr (PyTorch's SGD; `alexnet bench` times its own fixed-lr SGD step, the same work). */
  lr: number;
}

export interface CompareOptions {
  plans: ModelPlan[];
  steps: number;
  warmup: number;
  rounds: number;
  threads: number;
  python: string;
  precisions: string[];
  markdown: boolean;
  json: boolean;
}

/** One row of the table: medians over the rounds (NaN: no successful round), or why a side failed. */
export interface Row {
  plan: ModelPlan;
  precision: string;
  ours: { train: number; infer: number; device: string } | { error: string };
  pytorch: { train: number; infer: number; device: string } | { error: string } | null;
}

const FLAGS = new Set(["model", "models", "variant", "resize", "batch-size", "steps", "warmup", "rounds", "threads", "python", "precision"]);
const SWITCHES = new Set(["markdown", "json", "help"]);

/** Reads a `name=value,...` override list or a single value for all models. */
function overrides(spec: string | undefined, flag: string, names: readonly string[]): (model: string) => number | undefined {
  if (spec === undefined) return () => undefined;
  const positive = (s: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: '${s}' is not a positive integer`);
    return n;
  };
  if (!spec.includes("=")) {
    const all = positive(spec);
    return () => all;
  }
  const byName = new Map<string, number>();
  for (const part of spec.split(",")) {
    const [name, value] = part.split("=");
    if (!name || value === undefined) throw new Error(`--${flag}: '${part}' is not name=value`);
    if (!names.includes(name)) throw new Error(`--${flag}: '${name}' is not one of the models run (${names.join(", ")})`);
    byName.set(name, positive(value));
  }
  return (model) => byName.get(model);
}

/** The command line as options; throws with a one-line message on a bad flag. */
export function parseCompareArgs(args: readonly string[], cores = availableParallelism()): CompareOptions | "help" {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.startsWith("--") ? a.slice(2) : "";
    if (SWITCHES.has(name)) switches.add(name);
    else if (FLAGS.has(name)) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value`);
      values.set(name, v);
      i++;
    } else throw new Error(`unknown argument '${a}' (see the header of bench/compare.ts)`);
  }
  if (switches.has("help")) return "help";
  if (values.has("model") && values.has("models")) throw new Error("give --model or --models, not both");
  const list = values.get("models");
  const names = list === undefined ? [values.get("model") ?? "alexnet"] : list === "all" ? ZOO.map((z) => z.name) : list.split(",").filter(Boolean);
  if (names.length === 0) throw new Error("--models: no model named");
  for (const n of names) if (!ZOO.some((z) => z.name === n)) throw new Error(`unknown model '${n}' (models: ${ZOO.map((z) => z.name).join(", ")}, or all)`);
  const variant = values.get("variant");
  if (variant !== undefined && variant !== "28" && variant !== "224") throw new Error(`--variant: 28 or 224 (got ${variant})`);
  if (variant !== undefined && !names.includes("alexnet")) throw new Error("--variant is AlexNet's, and AlexNet is not run");
  const resize = overrides(values.get("resize"), "resize", names);
  const batch = overrides(values.get("batch-size"), "batch-size", names);
  const plans = names.map((model): ModelPlan => {
    const { recipe } = zooModel(model);
    const v = model === "alexnet" ? (variant ?? (list === undefined ? "28" : "224")) : undefined;
    // AlexNet's variant 28 trains on the 28x28 images themselves; the others take the recipe's resize.
    const recipeSize = v === "28" ? 28 : (recipe.resize ?? 28);
    return { model, ...(v ? { variant: v as "28" | "224" } : {}), size: resize(model) ?? recipeSize, batch: batch(model) ?? recipe.batchSize, lr: recipe.lr };
  });
  const count = (flag: string, def: number, min: number): number => {
    const s = values.get(flag);
    const n = s === undefined ? def : Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag}: an integer >= ${min} (got ${s})`);
    return n;
  };
  const precision = values.get("precision") ?? "fp32";
  if (!["fp32", "bf16", "both"].includes(precision)) throw new Error(`--precision: fp32, bf16 or both (got ${precision})`);
  return {
    plans,
    steps: count("steps", 5, 1),
    warmup: count("warmup", 2, 0),
    rounds: count("rounds", 3, 1),
    // Both sides get the same thread count (PyTorch alone would pick the physical cores, 1 here).
    threads: count("threads", cores, 1),
    python: values.get("python") ?? "/usr/bin/python3",
    precisions: precision === "both" ? ["fp32", "bf16"] : [precision],
    markdown: switches.has("markdown"),
    json: switches.has("json"),
  };
}

/** The flags both sides get for one model (PyTorch's side also gets the recipe's lr). */
export function benchArgs(plan: ModelPlan, o: Pick<CompareOptions, "steps" | "warmup" | "threads">, precision: string): string[] {
  return [
    "--model", plan.model, ...(plan.variant ? ["--variant", plan.variant] : []), "--resize", String(plan.size),
    "--batch-size", String(plan.batch), "--steps", String(o.steps), "--warmup", String(o.warmup),
    "--threads", String(o.threads), "--precision", precision,
  ];
}

export function median(xs: (number | null)[]): number {
  const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
}

const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "-");
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : "-");

/** The table: one row per model (and precision, when more than fp32 is timed), as text or Markdown. */
export function formatTable(rows: readonly Row[], markdown: boolean): string {
  const withPrecision = rows.some((r) => r.precision !== "fp32");
  const head = ["model", "input", "batch", ...(withPrecision ? ["precision"] : []),
    "alexnet-ts train ex/s", "PyTorch train ex/s", "ratio", "alexnet-ts infer ex/s", "PyTorch infer ex/s", "ratio"];
  const numeric = head.map((h, i) => i >= 2 && h !== "precision");
  const body = rows.map((r) => {
    const name = r.plan.model;
    const ours = "error" in r.ours ? { train: NaN, infer: NaN } : r.ours;
    const theirs = r.pytorch === null || "error" in r.pytorch ? { train: NaN, infer: NaN } : r.pytorch;
    return [markdown ? `\`${name}\`` : name, `${r.plan.size}x${r.plan.size}`, String(r.plan.batch), ...(withPrecision ? [r.precision] : []),
      fmt(ours.train), fmt(theirs.train), ratio(ours.train, theirs.train), fmt(ours.infer), fmt(theirs.infer), ratio(ours.infer, theirs.infer)];
  });
  if (markdown) {
    const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
    return [line(head), line(numeric.map((n) => (n ? "---:" : "---"))), ...body.map(line)].join("\n");
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(head), ...body.map(line)].join("\n");
}

/** Notes under the table: the devices, and each side's failures. */
function notes(rows: readonly Row[], o: CompareOptions): string[] {
  const devices = (side: "ours" | "pytorch"): string =>
    [...new Set(rows.map((r) => r[side]).filter((s): s is { train: number; infer: number; device: string } => s !== null && !("error" in s)).map((s) => s.device))].join("; ") || "-";
  const out = [
    `alexnet-ts: ${devices("ours")}; PyTorch: ${rows.some((r) => r.pytorch !== null) ? devices("pytorch") : "not run"}.`,
    `Random data, data loading excluded; per side the median of ${o.rounds} round(s), each the median of ${o.steps} steps after ${o.warmup} warm-up; ratio = alexnet-ts / PyTorch.`,
  ];
  for (const r of rows) {
    if ("error" in r.ours) out.push(`${r.plan.model} (${r.precision}): alexnet-ts failed: ${r.ours.error}`);
    if (r.pytorch && "error" in r.pytorch) out.push(`${r.plan.model} (${r.precision}): PyTorch failed: ${r.pytorch.error}`);
  }
  return out;
}

/** Runs one side once; its last stdout line is the JSON result. */
function runOnce(root: string, cmd: string, argv: string[]): BenchResult {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || String(r.error ?? `exit ${r.status}`)).trim().split("\n").filter(Boolean);
    throw new Error(why[why.length - 1] ?? `exit ${r.status}`);
  }
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as BenchResult;
}

function summarize(results: BenchResult[]): { train: number; infer: number; device: string } {
  return { train: median(results.map((x) => x.train_examples_per_sec)), infer: median(results.map((x) => x.infer_examples_per_sec)), device: results[0]!.device };
}

export function runCompare(o: CompareOptions, root: string, log: (msg: string) => void): Row[] {
  const torchAvailable = existsSync(o.python) && spawnSync(o.python, ["-c", "import torch"]).status === 0;
  if (!torchAvailable) log(`PyTorch peer not available (${o.python} cannot import torch; apt-get install python3-torch libopenblas0): timing alexnet-ts alone`);
  const cli = resolve(root, "dist/src/cli/main.js");
  const peer = resolve(root, "bench/pytorch_zoo.py");
  const rows: Row[] = [];
  for (const plan of o.plans) {
    for (const precision of o.precisions) {
      const argv = benchArgs(plan, o, precision);
      const ours: BenchResult[] = [];
      const theirs: BenchResult[] = [];
      let oursError: string | null = null;
      let theirError: string | null = null;
      // Alternating sides round by round, so that a slow spell of the (shared) machine hits both.
      for (let r = 0; r < o.rounds && !oursError; r++) {
        try {
          ours.push(runOnce(root, process.execPath, [cli, "bench", "--json", ...argv]));
        } catch (e) {
          oursError = (e as Error).message;
          break;
        }
        if (torchAvailable && !theirError) {
          try {
            theirs.push(runOnce(root, o.python, [peer, ...argv, "--lr", String(plan.lr)]));
          } catch (e) {
            theirError = (e as Error).message;
          }
        }
        const last = (x: BenchResult[]): string => (x.length ? `${fmt(x[x.length - 1]!.train_examples_per_sec ?? NaN)} / ${fmt(x[x.length - 1]!.infer_examples_per_sec ?? NaN)}` : "-");
        log(`${plan.model} ${plan.size}x${plan.size} batch ${plan.batch} ${precision}, round ${r + 1}/${o.rounds}: train / infer examples/s alexnet-ts ${last(ours)}${torchAvailable ? `, PyTorch ${theirError ? "failed" : last(theirs)}` : ""}`);
      }
      rows.push({
        plan, precision,
        ours: oursError ? { error: oursError } : summarize(ours),
        pytorch: !torchAvailable || oursError ? null : theirError ? { error: theirError } : summarize(theirs),
      });
    }
  }
  return rows;
}

function main(): number {
  let o: CompareOptions | "help";
  try {
    o = parseCompareArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`compare: ${(e as Error).message}`);
    return 2;
  }
  if (o === "help") {
    console.log("node dist/bench/compare.js [--model NAME | --models a,b,c | --models all] [--variant 28|224] [--resize N|name=N,...] " +
      "[--batch-size B|name=B,...] [--steps 5] [--warmup 2] [--rounds 3] [--threads N] [--precision fp32|bf16|both] [--markdown] [--json] [--python PATH]");
    return 0;
  }
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const rows = runCompare(o, root, (m) => console.error(m));
  if (o.json) console.log(JSON.stringify(rows));
  else {
    console.log(formatTable(rows, o.markdown));
    console.log();
    for (const n of notes(rows, o)) console.log(n);
  }
  return rows.some((r) => "error" in r.ours || (r.pytorch !== null && "error" in r.pytorch)) ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();

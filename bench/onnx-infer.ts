// Inference against ONNX Runtime: each network is exported with exportOnnx and run by onnxruntime-node (a
// devDependency) next to our native backend, in one process, same input batch, same threads (ORT:
// intraOpNumThreads = --threads, one inter-op thread, sequential, all graph optimizations; ours: the native
// backend's OpenMP threads). Each round times ours, then ORT, then the next configuration (the order
// alternates every round), so a machine whose load changes treats both alike; a round's value is the median
// step of at least --min-seconds of steps after warm-up, and the table shows the median over rounds:
// examples/s of each and the ratio ORT / ours (> 1: ONNX Runtime is faster). A step is the forward pass and
// the read of the logits into JavaScript on both sides.
//   node dist/bench/onnx-infer.js [--threads N] [--rounds 3] [--min-seconds 1] [--only alexnet-224,lenet]
//                                 [--batches 1,128] [--profile alexnet-224:128] [--json]
// --profile NAME:BATCH also breaks one configuration down: ours by timing each layer's forward (the native
// backend computes synchronously), summed by layer type; ORT by operator from its own profiler (after its
// graph optimizations: FusedConv, the NCHWc layout's ReorderInput/ReorderOutput, ...).
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import type { Backend } from "../src/backend/backend.js";
import { createBackend, registerBackendFactory } from "../src/backend/registry.js";
import { createNativeBackend } from "../src/backend/native/load.js";
import { exportOnnx } from "../src/export/onnx.js";
import { alexNet } from "../src/models/alexnet.js";
import { leNet } from "../src/models/lenet.js";
import { resNet18 } from "../src/models/resnet.js";
import type { Module } from "../src/nn/index.js";
import { noGrad } from "../src/tensor/autograd.js";
import { tidy } from "../src/tensor/scope.js";
import { tensor } from "../src/tensor/tensor.js";

const args = process.argv.slice(2);
const get = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const threads = Number(get("threads", String(availableParallelism())));
const rounds = Number(get("rounds", "3"));
const minSeconds = Number(get("min-seconds", "1"));
const batches = get("batches", "1,128").split(",").map(Number);
const only = args.includes("--only") ? get("only", "").split(",") : null;
const profile = args.includes("--profile") ? get("profile", "") : null;
const json = args.includes("--json");

interface Network {
  name: string;
  /** (C, H, W) */
  input: [number, number, number];
  build(): Module;
}

const NETWORKS: Network[] = [
  { name: "alexnet-28", input: [1, 28, 28], build: () => alexNet({ variant: "28" }) },
  { name: "alexnet-224", input: [1, 224, 224], build: () => alexNet({ variant: "224" }) },
  { name: "lenet", input: [1, 28, 28], build: () => leNet() },
  // d2l trains ResNet-18 on Fashion-MNIST resized to 96x96.
  { name: "resnet18", input: [1, 96, 96], build: () => resNet18() },
];

interface Runner {
  step(): Promise<void>;
  dispose(): void;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median seconds per step over at least minSeconds (and 3 steps), after `warmup` steps. */
async function time(runner: Runner, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await runner.step();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    await runner.step();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

function randomInput(n: number): Float32Array {
  let s = 12345;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  });
}

function ortOptions(extra: ort.InferenceSession.SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", ...extra };
}

interface Config {
  network: Network;
  batch: number;
  ours: Runner;
  theirs: Runner;
  session: ort.InferenceSession;
  net: Module;
  x: Float32Array;
}

async function setUp(network: Network, batch: number, native: Backend): Promise<Config> {
  const net = network.build().eval();
  const bytes = exportOnnx(net, [1, ...network.input]);
  await net.to(native);
  const shape = [batch, ...network.input];
  const x = randomInput(shape.reduce((a, b) => a * b, 1));
  const xt = tensor(x, { shape, backend: native });
  const session = await ort.InferenceSession.create(bytes, ortOptions());
  const feeds = { x: new ort.Tensor("float32", x, shape) };
  const ours: Runner = {
    async step() {
      const y = tidy(() => noGrad(() => net.call(xt)));
      await y.data();
      y.dispose();
    },
    dispose() {
      xt.dispose();
      net.dispose();
    },
  };
  const theirs: Runner = {
    async step() {
      const out = await session.run(feeds);
      void out.logits!.data;
    },
    dispose() {
      void session.release();
    },
  };
  return { network, batch, ours, theirs, session, net, x };
}

/** Milliseconds per forward by kind of layer (Conv2d+ReLU when fused): each leaf module's forward timed. */
async function oursPerLayer(c: Config, native: Backend, steps: number): Promise<{ byType: Map<string, number>; byLayer: Map<string, number> }> {
  const totals = new Map<string, number>();
  const byLayer = new Map<string, number>();
  const restore: (() => void)[] = [];
  for (const [path, m] of c.net.namedModules()) {
    if (m.namedChildren().length > 0) continue;
    for (const method of ["forward", "forwardRelu"] as const) {
      const target = m as unknown as Record<string, unknown>;
      const original = target[method];
      if (typeof original !== "function") continue;
      const key = `${m.constructor.name}${method === "forwardRelu" ? "+ReLU" : ""}`;
      target[method] = function (this: unknown, x: unknown): unknown {
        const t0 = performance.now();
        const y = (original as (x: unknown) => unknown).call(this, x);
        const ms = performance.now() - t0;
        totals.set(key, (totals.get(key) ?? 0) + ms);
        byLayer.set(`${path} ${key}`, (byLayer.get(`${path} ${key}`) ?? 0) + ms);
        return y;
      };
      restore.push(() => delete target[method]);
    }
  }
  const shape = [c.batch, ...c.network.input];
  const xt = tensor(c.x, { shape, backend: native });
  try {
    for (let i = 0; i < steps + 1; i++) {
      if (i === 1) {
        totals.clear();
        for (const k of byLayer.keys()) byLayer.set(k, 0);
      }
      const t0 = performance.now();
      const y = tidy(() => noGrad(() => c.net.call(xt)));
      await y.data();
      y.dispose();
      totals.set("(step)", (totals.get("(step)") ?? 0) + performance.now() - t0);
    }
  } finally {
    xt.dispose();
    for (const undo of restore) undo();
  }
  for (const m of [totals, byLayer]) for (const [k, v] of m) m.set(k, v / steps);
  return { byType: totals, byLayer };
}

/** Milliseconds per run by ONNX operator (FusedConv, ReorderOutput, ...) from ONNX Runtime's profiler. */
async function ortPerOp(c: Config, steps: number): Promise<{ byOp: Map<string, number>; byNode: Map<string, number>; step: number }> {
  const prefix = join(tmpdir(), `onnx-infer-${process.pid}`);
  const bytes = exportOnnx(c.net, [1, ...c.network.input]);
  const session = await ort.InferenceSession.create(bytes, ortOptions({ enableProfiling: true, profileFilePrefix: prefix }));
  const shape = [c.batch, ...c.network.input];
  const feeds = { x: new ort.Tensor("float32", c.x, shape) };
  await session.run(feeds);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await session.run(feeds);
  const step = (performance.now() - t0) / steps;
  session.endProfiling();
  await session.release();
  const file = findProfile(prefix);
  const events = JSON.parse(readFileSync(file, "utf8")) as { cat: string; name: string; dur: number; args?: { op_name?: string; activation?: string } }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  const byNode = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time")) continue;
    const op = e.args?.op_name ?? "?";
    const ms = e.dur / 1000 / (steps + 1);
    byOp.set(op, (byOp.get(op) ?? 0) + ms);
    const node = `${e.name.replace(/_kernel_time$/, "")} ${op}`;
    byNode.set(node, (byNode.get(node) ?? 0) + ms);
  }
  return { byOp, byNode, step };
}

/** The profile ONNX Runtime wrote: `<prefix>_<date>.json`. */
function findProfile(prefix: string): string {
  const dir = tmpdir();
  const base = prefix.slice(dir.length + 1);
  const hit = readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith(".json")).sort().pop();
  if (!hit) throw new Error(`ONNX Runtime wrote no profile at ${prefix}*.json`);
  return join(dir, hit);
}

registerBackendFactory("native", createNativeBackend);
const native = await createBackend("native", { threads });
const nets = NETWORKS.filter((n) => !only || only.includes(n.name));
const configs: Config[] = [];
for (const network of nets) for (const batch of batches) configs.push(await setUp(network, batch, native));

const results = new Map<Config, { ours: number[]; theirs: number[] }>(configs.map((c) => [c, { ours: [], theirs: [] }]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? configs : [...configs].reverse();
  for (const c of order) {
    const res = results.get(c)!;
    // Which runtime goes first alternates too.
    if (r % 2 === 0) {
      res.ours.push(c.batch / (await time(c.ours)));
      res.theirs.push(c.batch / (await time(c.theirs)));
    } else {
      res.theirs.push(c.batch / (await time(c.theirs)));
      res.ours.push(c.batch / (await time(c.ours)));
    }
  }
}

const cpu = `${native.describe()}; onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common} CPU, ${threads} intra-op threads`;
if (!json) {
  console.log(`inference, examples/s (median of ${rounds} rounds; a round: median step of >= ${minSeconds}s after 2 warm-up steps)`);
  console.log(`ours: ${cpu.split(";")[0]}; ${cpu.split("; ")[1]}`);
  console.log(`${"network".padEnd(12)} ${"input".padEnd(11)} ${"batch".padStart(5)} ${"alexnet-ts".padStart(11)} ${"ONNX RT".padStart(11)} ${"ORT/ours".padStart(9)}`);
}
const rows = [];
for (const c of configs) {
  const res = results.get(c)!;
  const a = median(res.ours);
  const b = median(res.theirs);
  rows.push({ network: c.network.name, input: c.network.input, batch: c.batch, ours: a, onnxruntime: b, ratio: b / a, ours_rounds: res.ours, onnxruntime_rounds: res.theirs });
  if (!json) {
    console.log(`${c.network.name.padEnd(12)} ${c.network.input.join("x").padEnd(11)} ${String(c.batch).padStart(5)} ${a.toFixed(1).padStart(11)} ${b.toFixed(1).padStart(11)} ${(b / a).toFixed(2).padStart(8)}x`);
  }
}
if (json) console.log(JSON.stringify({ device: cpu, threads, rounds, rows }));

if (profile) {
  const [name, batchText] = profile.split(":");
  const c = configs.find((k) => k.network.name === name && k.batch === Number(batchText));
  if (!c) throw new Error(`--profile ${profile}: not among the configurations run (NAME:BATCH)`);
  const steps = Math.max(3, Math.min(500, Math.round(3 / (c.batch / median(results.get(c)!.ours)))));
  const ours = await oursPerLayer(c, native, steps);
  const theirs = await ortPerOp(c, steps);
  const sum = (xs: [string, number][]): number => xs.reduce((t, [, v]) => t + v, 0);
  const columns = (title: string, left: [string, number][], right: [string, number][], width = 24): void => {
    console.log(`\n${title}`);
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      const a = left[i];
      const b = right[i];
      console.log(`${(a ? a[0] : "").padEnd(width)} ${(a ? a[1].toFixed(2) : "").padStart(9)}    ${(b ? b[0] : "").padEnd(width + 8)} ${(b ? b[1].toFixed(2) : "").padStart(9)}`);
    }
    console.log(`${"sum".padEnd(width)} ${sum(left).toFixed(2).padStart(9)}    ${"sum".padEnd(width + 8)} ${sum(right).toFixed(2).padStart(9)}`);
  };
  const byTime = (m: Map<string, number>): [string, number][] => [...m].filter(([k]) => k !== "(step)").sort((a, b) => b[1] - a[1]);
  const head = `ms per forward of ${c.network.name} at batch ${c.batch} (${steps} steps; whole step: ours ${ours.byType.get("(step)")!.toFixed(2)}, ONNX Runtime ${theirs.step.toFixed(2)} with its profiler on)`;
  columns(`${head}\nby layer type (ours) and by operator after ONNX Runtime's graph optimizations`, byTime(ours.byType), byTime(theirs.byOp));
  columns("in execution order: our layers (path, type) and ONNX Runtime's nodes (fused nodes are named after their output)", [...ours.byLayer], [...theirs.byNode]);
}

for (const c of configs) {
  c.ours.dispose();
  c.theirs.dispose();
}

// One thread against two on the native backend, alternated: training steps (forward, backward, SGD) of
// small and large networks on random data, each measurement in a fresh process (the OpenMP runtime reads
// its environment once, when the addon loads), in the order t1, t2, t2, t1, ... round after round, so a
// machine whose load changes during the run treats both thread counts alike. Prints the median examples/s
// of each (network, batch, threads) and the ratio 2 threads / 1 thread.
//   node dist/bench/threads.js [--rounds 5] [--steps 12] [--warmup 3] [--only lenet-256,alexnet-narrow-32,...]
//                              [--build label=path/to/alexnet_native.node[,KEY=VALUE...]]... [--json]
// --build (repeatable) compares addons (e.g. a copy of the addon made before a change, and the current
// one) and environments, alternated within each round; without it the current addon runs as loaded. The
// addon before issue 26.11 waited with libgomp's default spin; compare it with GOMP_SPINCOUNT=300000 (that
// default), since the loader now sets a passive wait policy where the user set none:
//   --build before=/tmp/before.node,GOMP_SPINCOUNT=300000 --build after=build/Release/alexnet_native.node
// Configurations: AlexNet-28 at width 1/8 ("narrow", the regime of small networks) and full width at
// batch 32 and 128, d2l's LeNet and BN-LeNet at batch 256 (d2l's recipe) and LeNet at 32, timed in this
// process's child (examples / time over the timed steps, slow steps included); and the command line's
// own measurements: `alexnet bench` of AlexNet-28 (cli-bench-*: its 5 timed training steps after 2) and issue 26.11's
// `alexnet train --variant 28 --width-scale 0.125 --batch-size 32 --train-limit 1024 --epochs 2`
// (cli-train-narrow-32: the examples/sec it prints, data loading in its worker thread included; needs
// Fashion-MNIST where `alexnet data` put it).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alexNet, alexNetInputShape, initWeights } from "../src/models/alexnet.js";
import { leNet, leNetBn } from "../src/models/lenet.js";
import type { Module } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { rand } from "../src/tensor/creation.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { manualSeed, Rng } from "../src/tensor/random.js";
import { keep, tidy } from "../src/tensor/scope.js";

interface Config {
  name: string;
  batch: number;
  build(): Module;
  input: number[];
}

const A28 = alexNetInputShape({ variant: "28" });
const CONFIGS: Config[] = [
  { name: "alexnet-narrow-32", batch: 32, build: () => alexNet({ variant: "28", widthScale: 0.125 }), input: A28 },
  { name: "alexnet-narrow-128", batch: 128, build: () => alexNet({ variant: "28", widthScale: 0.125 }), input: A28 },
  { name: "alexnet-32", batch: 32, build: () => alexNet({ variant: "28" }), input: A28 },
  { name: "alexnet-128", batch: 128, build: () => alexNet({ variant: "28" }), input: A28 },
  { name: "lenet-256", batch: 256, build: () => leNet(), input: [1, 28, 28] },
  { name: "lenet-32", batch: 32, build: () => leNet(), input: [1, 28, 28] },
  { name: "lenet-bn-256", batch: 256, build: () => leNetBn(), input: [1, 28, 28] },
];

// The command line's own measurements: argv for `alexnet` (threads appended) and how to read examples/s.
interface CliConfig {
  name: string;
  argv(runDir: string): string[];
  rate(stdout: string): number;
}

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const cliBench = (batch: number, steps: number, warmup: number): CliConfig => ({
  name: `cli-bench-alexnet-${batch}`,
  argv: () => ["bench", "--variant", "28", "--batch-size", String(batch), "--mode", "train", "--steps", String(steps), "--warmup", String(warmup), "--json"],
  rate: (stdout) => {
    const r = JSON.parse(stdout.trim().split("\n").at(-1)!) as { train_step_seconds: number[] };
    return (batch * r.train_step_seconds.length) / r.train_step_seconds.reduce((a, t) => a + t, 0);
  },
});
const CLI_CONFIGS: CliConfig[] = [
  {
    name: "cli-train-narrow-32",
    argv: (runDir) => ["train", "--variant", "28", "--width-scale", "0.125", "--batch-size", "32", "--train-limit", "1024", "--epochs", "2", "--plain", "--run-dir", runDir],
    rate: (stdout) => {
      const m = /([\d.]+) examples\/sec on /.exec(stdout);
      if (!m) throw new Error(`no examples/sec line in: ${stdout.slice(-300)}`);
      return Number(m[1]);
    },
  },
  cliBench(32, 5, 2),
  cliBench(128, 5, 2),
];

interface Build {
  label: string;
  addon: string | null;
  env: Record<string, string>;
}

interface Args {
  rounds: number;
  steps: number;
  warmup: number;
  only: string[] | null;
  builds: Build[];
  json: boolean;
  child: string | null;
}

function parseBuild(spec: string): Build {
  const eq = spec.indexOf("=");
  if (eq < 1) throw new Error(`--build wants label=path[,KEY=VALUE...], got '${spec}'`);
  const [path, ...env] = spec.slice(eq + 1).split(",");
  return {
    label: spec.slice(0, eq),
    addon: path ? path : null,
    env: Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
  };
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 5, steps: 12, warmup: 3, only: null, builds: [], json: false, child: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${k} needs a value`);
      return next;
    };
    if (k === "--rounds") a.rounds = Number(v());
    else if (k === "--steps") a.steps = Number(v());
    else if (k === "--warmup") a.warmup = Number(v());
    else if (k === "--only") a.only = v().split(",");
    else if (k === "--build") a.builds.push(parseBuild(v()));
    else if (k === "--json") a.json = true;
    else if (k === "--child") a.child = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (a.builds.length === 0) a.builds.push({ label: "current", addon: null, env: {} });
  return a;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]! ) / 2;
};

// ---- one measurement (the child process) ----------------------------------------------------------------

interface Job {
  config: string;
  threads: number;
  steps: number;
  warmup: number;
}

async function measure(job: Job): Promise<{ rate: number; threads: number; device: string }> {
  const { loadNativeBackend } = await import("../src/backend/native/load.js");
  const r = loadNativeBackend();
  if ("error" in r) throw new Error(r.error);
  const b = r.backend;
  b.setThreads(job.threads);
  const config = CONFIGS.find((c) => c.name === job.config)!;
  manualSeed(0);
  const net = await config.build().to(b);
  initWeights(net);
  const shape = [config.batch, ...config.input];
  const rng = new Rng(1);
  const x = keep(rand(shape, { backend: b, rng }));
  const labels = Int32Array.from({ length: config.batch }, () => rng.nextU32() % 10);
  const opt = new SGD(net.parameters(), { lr: 0.01 });
  net.train();
  const times: number[] = [];
  for (let i = 0; i < job.warmup + job.steps; i++) {
    const t0 = performance.now();
    tidy(() => {
      opt.zeroGrad();
      crossEntropy(net.call(x), labels).backward();
      opt.step();
    });
    if (i >= job.warmup) times.push((performance.now() - t0) / 1000);
  }
  opt.dispose();
  x.dispose();
  net.dispose();
  // Throughput over all timed steps, not the median step: the slow steps (a parallel region waiting for a
  // thread that is not running) are what this benchmark is about.
  return { rate: (config.batch * times.length) / times.reduce((a, t) => a + t, 0), threads: b.threads(), device: b.describe() };
}

// ---- the alternation (the parent process) -----------------------------------------------------------------

function runChild(build: Build, job: Job): number {
  const env: NodeJS.ProcessEnv = { ...process.env, ...build.env };
  if (build.addon) env.ALEXNET_NATIVE_ADDON = build.addon;
  const cli = CLI_CONFIGS.find((c) => c.name === job.config);
  if (cli) {
    const runDir = mkdtempSync(join(tmpdir(), "alexnet-threads-"));
    try {
      const r = spawnSync(process.execPath, [CLI, ...cli.argv(runDir), "--threads", String(job.threads)], { env, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${build.label} ${job.config} t${job.threads} failed: ${r.stderr || r.stdout}`);
      return cli.rate(r.stdout);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  }
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(job)], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${build.label} ${job.config} t${job.threads} failed: ${r.stderr || r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { rate: number; threads: number };
  if (out.threads !== job.threads) throw new Error(`asked for ${job.threads} threads, the backend has ${out.threads}`);
  return out.rate;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) {
    console.log(JSON.stringify(await measure(JSON.parse(args.child) as Job)));
    return;
  }
  const all: { name: string }[] = [...CONFIGS, ...CLI_CONFIGS];
  const configs = args.only ? all.filter((c) => args.only!.includes(c.name)) : all;
  const unknown = (args.only ?? []).filter((n) => !all.some((c) => c.name === n));
  if (configs.length === 0 || unknown.length) throw new Error(`unknown configuration ${unknown.join(", ")} (have: ${all.map((c) => c.name).join(", ")})`);
  // Every (build, threads) pair of a configuration once per round; the order reverses every other round.
  const pairs = args.builds.flatMap((build) => [1, 2].map((threads) => ({ build, threads })));
  const rates = new Map<string, number[]>();
  const key = (c: string, b: string, t: number): string => `${c}|${b}|${t}`;
  for (let round = 0; round < args.rounds; round++) {
    for (const config of configs) {
      const order = round % 2 ? [...pairs].reverse() : pairs;
      for (const { build, threads } of order) {
        const rate = runChild(build, { config: config.name, threads, steps: args.steps, warmup: args.warmup });
        const k = key(config.name, build.label, threads);
        rates.set(k, [...(rates.get(k) ?? []), rate]);
        if (!args.json) process.stderr.write(`round ${round + 1}/${args.rounds} ${config.name} ${build.label} t${threads}: ${rate.toFixed(0)} ex/s\n`);
      }
    }
  }
  const rows = configs.flatMap((c) => args.builds.map((b) => {
    const t1 = rates.get(key(c.name, b.label, 1))!;
    const t2 = rates.get(key(c.name, b.label, 2))!;
    return { config: c.name, build: b.label, t1: median(t1), t2: median(t2), ratio: median(t2) / median(t1), t1_all: t1, t2_all: t2 };
  }));
  if (args.json) {
    console.log(JSON.stringify(rows));
    return;
  }
  console.log(`training examples/s, median of ${args.rounds} alternated runs (each ${args.steps} steps after ${args.warmup} warm-up, examples / time)`);
  const head = ["network", "build", "1 thread", "2 threads", "2t/1t"];
  const table = rows.map((r) => [r.config, r.build, r.t1.toFixed(0), r.t2.toFixed(0), r.ratio.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [head, ...table]) console.log(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

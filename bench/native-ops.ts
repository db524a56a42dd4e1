// Micro benchmark of the native backend: forward, backward-data and backward-weights of each of AlexNet's
// convs at the variant's shapes, straight on the Backend (GFLOP/s), then a whole AlexNet training step
// (forward, backward, SGD) and an inference pass through nn.Sequential and autograd (examples/s).
//   node dist/bench/native-ops.js [--variant 28|224] [--batch 128] [--steps 5] [--fused] [--algo auto|direct|winograd]
//                                 [--threads N] [--only ops|net] [--json]
// Without --fused each ReLU runs as its own op, as it did before the backend could fuse it. Data loading is
// excluded (the batch is created before the clock starts), as d2l times it.
import { analyzeNetwork, type LayerStats } from "../src/analysis/analyze.js";
import { numel } from "../src/backend/backend.js";
import type { ConvAlgorithm, NativeBackend } from "../src/backend/native/index.js";
import { loadNativeBackend } from "../src/backend/native/load.js";
import { alexNet, alexNetInputShape, initWeights } from "../src/models/alexnet.js";
import { Conv2d, type Sequential } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { noGrad } from "../src/tensor/autograd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { tidy } from "../src/tensor/scope.js";
import { Tensor } from "../src/tensor/tensor.js";

interface Args {
  variant: "28" | "224";
  batch: number;
  steps: number;
  fused: boolean;
  algo: ConvAlgorithm | null;
  threads: number | null;
  only: "ops" | "net" | null;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { variant: "28", batch: 128, steps: 5, fused: false, algo: null, threads: null, only: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${k} needs a value`);
      return next;
    };
    if (k === "--variant") a.variant = v() === "224" ? "224" : "28";
    else if (k === "--batch") a.batch = Number(v());
    else if (k === "--steps") a.steps = Number(v());
    else if (k === "--fused") a.fused = true;
    else if (k === "--algo") a.algo = v() as ConvAlgorithm;
    else if (k === "--threads") a.threads = Number(v());
    else if (k === "--only") a.only = v() === "net" ? "net" : "ops";
    else if (k === "--json") a.json = true;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function uniform(n: number, scale: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return a;
}

/** Seconds of each of `reps` runs of fn, after one untimed run (primitive creation, layout adoption, pool fill). */
function time(fn: () => void, reps: number): number[] {
  fn();
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

/** Forward FLOPs of a conv or linear layer for the whole batch (2 per multiply-add); 0 for other layers. */
const batchFlops = (row: LayerStats, batch: number): number => 2 * row.macs * batch;

// ---- conv micro benchmark, straight on the Backend -------------------------------------------------------

interface OpRow {
  layer: string;
  fwd_ms: number;
  fwd_gflops: number;
  bwd_ms: number;
  bwd_gflops: number;
  impl: string;
}

/** Each Conv2d of `net` (already on `b`) at its input shape: forward, then backward for the weights and,
 * except for the first layer, the data. */
function benchConvs(b: NativeBackend, net: Sequential, input: number[], rows: LayerStats[], steps: number): OpRow[] {
  const out: OpRow[] = [];
  let convIndex = 0;
  [...net].forEach((layer, i) => {
    if (!(layer instanceof Conv2d)) return;
    convIndex++;
    const xs = i === 0 ? input : rows[i - 1]!.outputShape;
    const ys = rows[i]!.outputShape;
    const p = { stride: layer.stride, padding: layer.padding };
    const w = layer.weight.storage;
    const bias = layer.bias!.storage;
    const x = b.fromArray(uniform(numel(xs), 1, i), xs, "float32");
    const dy = b.fromArray(uniform(numel(ys), 0.01, i + 2), ys, "float32");
    const needDx = i !== 0;
    const fwd = time(() => b.dispose(b.conv2d(x, w, bias, p)), steps);
    const impl = b.info().lastConvImpl;
    const bwd = time(() => {
      const g = b.conv2dBackward(dy, x, w, true, p, needDx);
      for (const s of [g.dx, g.dw, g.db]) if (s) b.dispose(s);
    }, steps);
    const f = batchFlops(rows[i]!, input[0]!);
    const tf = median(fwd);
    const tb = median(bwd);
    out.push({
      layer: `conv${convIndex} ${layer.inChannels}->${layer.outChannels} k${layer.kernelSize[0]} s${p.stride[0]} p${p.padding[0]} on ${xs[2]}x${xs[3]}`,
      fwd_ms: tf * 1e3, fwd_gflops: f / tf / 1e9,
      bwd_ms: tb * 1e3, bwd_gflops: (needDx ? 2 : 1) * f / tb / 1e9,
      impl,
    });
    for (const s of [x, dy]) b.dispose(s);
  });
  return out;
}

// ---- whole network through nn.Sequential and autograd ---------------------------------------------------

function benchNet(b: NativeBackend, net: Sequential, input: number[], rows: LayerStats[], args: Args) {
  const batch = input[0]!;
  const fwdFlops = rows.reduce((s, r) => s + batchFlops(r, batch), 0);
  // Training: forward, weights backward everywhere, data backward except for the first layer.
  const trainFlops = 3 * fwdFlops - batchFlops(rows[0]!, batch);
  // Sequential fuses a ReLU into the conv or linear before it unless a per-layer callback watches.
  const forward = (x: Tensor): Tensor => (args.fused ? net.call(x) : net.forwardEach(x, () => {}));
  initWeights(net);
  const x = new Tensor(b.fromArray(uniform(numel(input), 1, 7).map((v) => (v + 1) / 2), input, "float32"));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const optimizer = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
  const baseline = b.memoryStats();
  let freshBefore = 0;
  const trainTimes: number[] = [];
  net.train();
  for (let i = 0; i < args.steps + 1; i++) {
    const t0 = performance.now();
    tidy(() => {
      optimizer.zeroGrad();
      crossEntropy(forward(x), labels).backward();
      optimizer.step();
    });
    const t = (performance.now() - t0) / 1000;
    if (i > 0) trainTimes.push(t); // the first step creates primitives and fills the buffer pool
    if (i === 1) freshBefore = b.info().freshAllocations;
  }
  optimizer.zeroGrad();
  net.eval();
  const inferTimes: number[] = [];
  for (let i = 0; i < args.steps + 1; i++) {
    const t0 = performance.now();
    tidy(() => void noGrad(() => forward(x)));
    if (i > 0) inferTimes.push((performance.now() - t0) / 1000);
  }
  // The momentum buffers the first step created are the optimizer's, not a leak.
  const leaked = b.memoryStats().liveBuffers - baseline.liveBuffers - optimizer.velocity.size;
  const fresh = b.info().freshAllocations - freshBefore;
  optimizer.dispose();
  x.dispose();
  const tt = median(trainTimes);
  const ti = median(inferTimes);
  return {
    train_examples_per_sec: batch / tt,
    infer_examples_per_sec: batch / ti,
    train_step_ms: tt * 1e3,
    infer_ms: ti * 1e3,
    train_gflops: trainFlops / tt / 1e9,
    infer_gflops: fwdFlops / ti / 1e9,
    leaked_buffers: leaked,
    // Buffers taken from the system (not the pool) after the first two training steps.
    fresh_allocations_after_warmup: fresh,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const r = loadNativeBackend();
  if ("error" in r) {
    console.error(r.error);
    process.exit(1);
  }
  const b = r.backend;
  if (args.threads) b.setThreads(args.threads);
  if (args.algo) b.setConvAlgorithm(args.algo);
  const info = b.info();
  const head = `alexnet ${args.variant}, batch ${args.batch}, ${b.describe()}, oneDNN ${info.onednn}, conv ${info.convAlgorithm}${args.fused ? ", fused ReLU" : ""}`;
  const net = await alexNet({ variant: args.variant }).to(b);
  const input = [args.batch, ...alexNetInputShape({ variant: args.variant })];
  const rows = analyzeNetwork(net, input).layers;
  const ops = args.only === "net" ? [] : benchConvs(b, net, input, rows, args.steps);
  const netResult = args.only === "ops" ? null : benchNet(b, net, input, rows, args);
  net.dispose();
  if (args.json) {
    console.log(JSON.stringify({ variant: args.variant, batch: args.batch, backend: "native", threads: b.threads(), fused: args.fused, conv_algorithm: info.convAlgorithm, ops, ...netResult }));
    return;
  }
  console.log(head);
  for (const o of ops) {
    console.log(`  ${o.layer.padEnd(34)} fwd ${o.fwd_ms.toFixed(1).padStart(7)} ms ${o.fwd_gflops.toFixed(0).padStart(4)} GFLOP/s | bwd ${o.bwd_ms.toFixed(1).padStart(7)} ms ${o.bwd_gflops.toFixed(0).padStart(4)} GFLOP/s | ${o.impl}`);
  }
  if (netResult) {
    console.log(`  training:  ${netResult.train_examples_per_sec.toFixed(1)} examples/s (step ${netResult.train_step_ms.toFixed(0)} ms, ${netResult.train_gflops.toFixed(0)} GFLOP/s)`);
    console.log(`  inference: ${netResult.infer_examples_per_sec.toFixed(1)} examples/s (${netResult.infer_ms.toFixed(0)} ms, ${netResult.infer_gflops.toFixed(0)} GFLOP/s)`);
    if (netResult.leaked_buffers !== 0) console.log(`  warning: ${netResult.leaked_buffers} buffers leaked`);
    console.log(`  system allocations after warm-up: ${netResult.fresh_allocations_after_warmup}`);
  }
}

await main();

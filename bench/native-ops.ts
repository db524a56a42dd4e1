// Backend-level micro benchmark of the native backend: conv forward / backward for AlexNet's layer
// shapes (GFLOP/s), then a whole AlexNet training step (forward + backward + SGD) and an inference
// pass written directly against the Backend interface (examples/s), without the autograd front end.
//   node dist/bench/native-ops.js [--variant 28|224] [--batch 128] [--steps 5] [--fused] [--algo auto|direct|winograd]
//                                 [--threads N] [--only ops|net] [--json]
// Data loading is excluded (the batch is created before the clock starts), as d2l times it.
import type { Backend, Conv2dParams, OpContext, Pool2dParams, SgdParams, Storage } from "../src/backend/backend.js";
import { numel } from "../src/backend/backend.js";
import { windowOutSize } from "../src/backend/shapes.js";
import type { ConvAlgorithm, NativeBackend } from "../src/backend/native/index.js";
import { loadNativeBackend } from "../src/backend/native/load.js";

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

function time(fn: () => void, reps: number): number[] {
  fn(); // warm-up: primitive creation, layout adoption, pool fill
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

// ---- AlexNet's layers ----------------------------------------------------------------------------------

type Layer =
  | { kind: "conv"; in: number; out: number; k: number; p: Conv2dParams }
  | { kind: "relu" }
  | { kind: "pool"; p: Pool2dParams }
  | { kind: "flatten" }
  | { kind: "linear"; in: number; out: number }
  | { kind: "dropout"; p: number };

function alexNetLayers(variant: "28" | "224"): Layer[] {
  const conv = (i: number, o: number, k: number, s: number, p: number): Layer => ({
    kind: "conv", in: i, out: o, k, p: { stride: [s, s], padding: [p, p] },
  });
  const pool = (s: number): Layer => ({ kind: "pool", p: { kernel: [3, 3], stride: [s, s], padding: [0, 0] } });
  const relu: Layer = { kind: "relu" };
  return [
    variant === "224" ? conv(1, 96, 11, 4, 1) : conv(1, 96, 5, 1, 2), relu, pool(variant === "224" ? 2 : 1),
    conv(96, 256, 5, 1, 2), relu, pool(2),
    conv(256, 384, 3, 1, 1), relu, conv(384, 384, 3, 1, 1), relu, conv(384, 256, 3, 1, 1), relu, pool(2),
    { kind: "flatten" },
    { kind: "linear", in: variant === "224" ? 6400 : 6400, out: 4096 }, relu, { kind: "dropout", p: 0.5 },
    { kind: "linear", in: 4096, out: 4096 }, relu, { kind: "dropout", p: 0.5 },
    { kind: "linear", in: 4096, out: 10 },
  ];
}

/** Shapes after every layer, and the forward multiply-adds x2 of the convs and linears. */
function shapesAndFlops(layers: Layer[], input: number[]): { shapes: number[][]; flops: number[] } {
  let s = input;
  const shapes: number[][] = [];
  const flops: number[] = [];
  for (const l of layers) {
    let f = 0;
    if (l.kind === "conv") {
      const oh = windowOutSize(s[2]!, l.k, l.p.stride[0], l.p.padding[0]);
      const ow = windowOutSize(s[3]!, l.k, l.p.stride[1], l.p.padding[1]);
      f = 2 * s[0]! * l.out * oh * ow * l.in * l.k * l.k;
      s = [s[0]!, l.out, oh, ow];
    } else if (l.kind === "pool") {
      s = [s[0]!, s[1]!, windowOutSize(s[2]!, 3, l.p.stride[0], 0), windowOutSize(s[3]!, 3, l.p.stride[1], 0)];
    } else if (l.kind === "flatten") {
      s = [s[0]!, numel(s) / s[0]!];
    } else if (l.kind === "linear") {
      f = 2 * s[0]! * l.in * l.out;
      s = [s[0]!, l.out];
    }
    shapes.push(s);
    flops.push(f);
  }
  return { shapes, flops };
}

// ---- conv micro benchmark --------------------------------------------------------------------------------

interface OpRow {
  layer: string;
  fwd_ms: number;
  fwd_gflops: number;
  bwd_ms: number;
  bwd_gflops: number;
  impl: string;
}

function benchConvs(b: NativeBackend, args: Args): OpRow[] {
  const layers = alexNetLayers(args.variant);
  const input = [args.batch, 1, args.variant === "224" ? 224 : 28, args.variant === "224" ? 224 : 28];
  const { shapes } = shapesAndFlops(layers, input);
  const rows: OpRow[] = [];
  let convIndex = 0;
  layers.forEach((l, i) => {
    if (l.kind !== "conv") return;
    convIndex++;
    const xs = i === 0 ? input : shapes[i - 1]!;
    const x = b.fromArray(uniform(numel(xs), 1, i), xs, "float32");
    const w = b.fromArray(uniform(l.out * l.in * l.k * l.k, 0.05, i + 1), [l.out, l.in, l.k, l.k], "float32");
    const bias = b.fill([l.out], "float32", 0);
    const ys = shapes[i]!;
    const dy = b.fromArray(uniform(numel(ys), 0.01, i + 2), ys, "float32");
    const needDx = i !== 0;
    const fwd = time(() => b.dispose(b.conv2d(x, w, bias, l.p)), args.steps);
    const impl = b.info().lastConvImpl;
    const bwd = time(() => {
      const g = b.conv2dBackward(dy, x, w, true, l.p, needDx);
      for (const s of [g.dx, g.dw, g.db]) if (s) b.dispose(s);
    }, args.steps);
    const f = 2 * numel(ys) * l.in * l.k * l.k;
    const tf = median(fwd);
    const tb = median(bwd);
    rows.push({
      layer: `conv${convIndex} ${l.in}->${l.out} k${l.k} s${l.p.stride[0]} p${l.p.padding[0]} on ${xs[2]}x${xs[3]}`,
      fwd_ms: tf * 1e3, fwd_gflops: f / tf / 1e9,
      bwd_ms: tb * 1e3, bwd_gflops: (needDx ? 2 : 1) * f / tb / 1e9,
      impl,
    });
    for (const s of [x, w, bias, dy]) b.dispose(s);
  });
  return rows;
}

// ---- whole network on the Backend interface -----------------------------------------------------------

interface Params {
  w: (Storage | null)[];
  b: (Storage | null)[];
  vw: (Storage | null)[];
  vb: (Storage | null)[];
}

function initParams(b: Backend, layers: Layer[]): Params {
  const p: Params = { w: [], b: [], vw: [], vb: [] };
  layers.forEach((l, i) => {
    if (l.kind === "conv" || l.kind === "linear") {
      const wShape = l.kind === "conv" ? [l.out, l.in, l.k, l.k] : [l.out, l.in];
      const fanIn = numel(wShape) / l.out;
      p.w.push(b.fromArray(uniform(numel(wShape), Math.sqrt(6 / fanIn), 100 + i), wShape, "float32"));
      p.b.push(b.fill([l.out], "float32", 0));
      p.vw.push(b.fill(wShape, "float32", 0));
      p.vb.push(b.fill([l.out], "float32", 0));
    } else {
      p.w.push(null);
      p.b.push(null);
      p.vw.push(null);
      p.vb.push(null);
    }
  });
  return p;
}

/** One forward pass; returns every layer's output and context (the backward reads them). A ReLU right
 * after a conv or linear is fused into it when `fused` and the backend offers conv2dRelu / linearRelu. */
function forward(b: Backend, layers: Layer[], params: Params, x: Storage, training: boolean, fused: boolean, seed: number) {
  const outs: Storage[] = [];
  const ctxs: (OpContext | null)[] = [];
  const fusedInto: boolean[] = [];
  let h = x;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    let y: Storage;
    let ctx: OpContext | null = null;
    const nextRelu = fused && layers[i + 1]?.kind === "relu";
    const fuse = nextRelu && (l.kind === "conv" || l.kind === "linear");
    if (l.kind === "conv") y = b.conv2d(h, params.w[i]!, params.b[i]!, l.p, { relu: fuse });
    else if (l.kind === "linear") y = b.linear(h, params.w[i]!, params.b[i]!, { relu: fuse });
    else if (l.kind === "relu") y = fusedInto[i - 1] ? h : b.relu(h);
    else if (l.kind === "pool") ({ y, ctx } = b.maxPool2d(h, l.p));
    else if (l.kind === "flatten") y = b.reshape(h, [h.shape[0]!, numel(h.shape) / h.shape[0]!]);
    else if (training) ({ y, ctx } = b.dropout(h, l.p, seed + i));
    else y = h;
    fusedInto.push(fuse);
    outs.push(y);
    ctxs.push(ctx);
    h = y;
  }
  return { outs, ctxs, fusedInto };
}

function trainStep(b: Backend, layers: Layer[], params: Params, x: Storage, labels: Int32Array, fused: boolean, first: boolean): number {
  const { outs, ctxs, fusedInto } = forward(b, layers, params, x, true, fused, 1);
  const ce = b.crossEntropy(outs[outs.length - 1]!, labels);
  const one = b.fromArray(new Float32Array([1]), [], "float32");
  const garbage: Storage[] = [ce.loss, one];
  let dy = b.crossEntropyBackward(one, ce.ctx);
  const sgd: SgdParams = { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false };
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    const input = i === 0 ? x : outs[i - 1]!;
    let dx: Storage | null = null;
    if (l.kind === "conv" || l.kind === "linear") {
      const g = l.kind === "conv"
        ? b.conv2dBackward(dy, input, params.w[i]!, true, l.p, i !== 0)
        : b.linearBackward(dy, input, params.w[i]!, true, i !== 0);
      b.sgdUpdate(params.w[i]!, g.dw, params.vw[i], sgd, first);
      b.sgdUpdate(params.b[i]!, g.db!, params.vb[i], sgd, first);
      garbage.push(g.dw, g.db!);
      dx = g.dx;
    } else if (l.kind === "relu") {
      dx = b.reluBackward(dy, outs[i]!);
      if (fusedInto[i - 1]) {
        // The fused layer's output is the ReLU's output; its gradient goes straight to the conv/linear.
        garbage.push(dy);
        dy = dx;
        i--;
        const p = layers[i]!;
        const inp = i === 0 ? x : outs[i - 1]!;
        const g = p.kind === "conv"
          ? b.conv2dBackward(dy, inp, params.w[i]!, true, p.p, i !== 0)
          : b.linearBackward(dy, inp, params.w[i]!, true, i !== 0);
        b.sgdUpdate(params.w[i]!, g.dw, params.vw[i], sgd, first);
        b.sgdUpdate(params.b[i]!, g.db!, params.vb[i], sgd, first);
        garbage.push(g.dw, g.db!);
        dx = g.dx;
      }
    } else if (l.kind === "pool") dx = b.maxPool2dBackward(dy, input, ctxs[i]!, l.p);
    else if (l.kind === "flatten") dx = b.reshape(dy, input.shape);
    else dx = b.dropoutBackward(dy, ctxs[i]!);
    garbage.push(dy);
    if (!dx) break;
    dy = dx;
  }
  const seen = new Set<Storage>();
  for (const s of [...outs, ...garbage]) {
    if (!seen.has(s)) b.dispose(s);
    seen.add(s);
  }
  for (const c of [...ctxs, ce.ctx]) c?.dispose();
  return 0;
}

function inference(b: Backend, layers: Layer[], params: Params, x: Storage, fused: boolean): void {
  const { outs, ctxs } = forward(b, layers, params, x, false, fused, 1);
  const seen = new Set<Storage>([x]);
  for (const s of outs) {
    if (!seen.has(s)) b.dispose(s);
    seen.add(s);
  }
  for (const c of ctxs) c?.dispose();
}

function benchNet(b: NativeBackend, args: Args) {
  const layers = alexNetLayers(args.variant);
  const size = args.variant === "224" ? 224 : 28;
  const input = [args.batch, 1, size, size];
  const { flops } = shapesAndFlops(layers, input);
  const fwdFlops = flops.reduce((s, f) => s + f, 0);
  // Training: forward, weights backward everywhere, data backward except for the first layer.
  const trainFlops = 3 * fwdFlops - flops[0]!;
  const params = initParams(b, layers);
  const xData = uniform(numel(input), 1, 7).map((v) => (v + 1) / 2);
  const labels = Int32Array.from({ length: args.batch }, (_, i) => i % 10);
  const baseline = b.memoryStats();
  let first = true;
  let freshBefore = 0;
  const trainTimes: number[] = [];
  for (let i = 0; i < args.steps + 1; i++) {
    const x = b.fromArray(xData, input, "float32");
    const t0 = performance.now();
    trainStep(b, layers, params, x, labels, args.fused, first);
    const t = (performance.now() - t0) / 1000;
    b.dispose(x);
    first = false;
    if (i > 0) trainTimes.push(t); // the first step creates primitives and fills the buffer pool
    if (i === 1) freshBefore = b.info().freshAllocations;
  }
  const inferTimes: number[] = [];
  const x = b.fromArray(xData, input, "float32");
  for (let i = 0; i < args.steps + 1; i++) {
    const t0 = performance.now();
    inference(b, layers, params, x, args.fused);
    if (i > 0) inferTimes.push((performance.now() - t0) / 1000);
  }
  b.dispose(x);
  const leaked = b.memoryStats().liveBuffers - baseline.liveBuffers;
  const fresh = b.info().freshAllocations - freshBefore;
  for (const s of [...params.w, ...params.b, ...params.vw, ...params.vb]) if (s) b.dispose(s);
  const tt = median(trainTimes);
  const ti = median(inferTimes);
  return {
    train_examples_per_sec: args.batch / tt,
    infer_examples_per_sec: args.batch / ti,
    train_step_ms: tt * 1e3,
    infer_ms: ti * 1e3,
    train_gflops: trainFlops / tt / 1e9,
    infer_gflops: fwdFlops / ti / 1e9,
    leaked_buffers: leaked,
    // Buffers taken from the system (not the pool) after the first two training steps.
    fresh_allocations_after_warmup: fresh,
  };
}

function main(): void {
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
  const ops = args.only === "net" ? [] : benchConvs(b, args);
  const net = args.only === "ops" ? null : benchNet(b, args);
  if (args.json) {
    console.log(JSON.stringify({ variant: args.variant, batch: args.batch, backend: "native", threads: b.threads(), fused: args.fused, conv_algorithm: info.convAlgorithm, ops, ...net }));
    return;
  }
  console.log(head);
  for (const o of ops) {
    console.log(`  ${o.layer.padEnd(34)} fwd ${o.fwd_ms.toFixed(1).padStart(7)} ms ${o.fwd_gflops.toFixed(0).padStart(4)} GFLOP/s | bwd ${o.bwd_ms.toFixed(1).padStart(7)} ms ${o.bwd_gflops.toFixed(0).padStart(4)} GFLOP/s | ${o.impl}`);
  }
  if (net) {
    console.log(`  training:  ${net.train_examples_per_sec.toFixed(1)} examples/s (step ${net.train_step_ms.toFixed(0)} ms, ${net.train_gflops.toFixed(0)} GFLOP/s)`);
    console.log(`  inference: ${net.infer_examples_per_sec.toFixed(1)} examples/s (${net.infer_ms.toFixed(0)} ms, ${net.infer_gflops.toFixed(0)} GFLOP/s)`);
    if (net.leaked_buffers !== 0) console.log(`  warning: ${net.leaked_buffers} buffers leaked`);
    console.log(`  system allocations after warm-up: ${net.fresh_allocations_after_warmup}`);
  }
}

main();

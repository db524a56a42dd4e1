// Backend-level micro benchmark of the webgpu backend: every AlexNet conv layer forward, backward-data
// and backward-weights, and the three linear layers (forward and both backwards), GFLOP/s each; then a
// whole training step and an inference pass written directly against the backend (examples/s), without
// the autograd front end. Times are wall time from submit to onSubmittedWorkDone over `--reps` calls.
//   node dist/bench/webgpu-ops.js [--variant 224|28] [--batch 128] [--reps 5] [--only ops|net] [--json]
//                                 [--narrow K]   (channels and features divided by K: a quick run on an emulator)
import type { Conv2dParams, OpContext, Pool2dParams, Storage } from "../src/backend/backend.js";
import { numel } from "../src/backend/backend.js";
import { windowOutSize } from "../src/backend/shapes.js";
import { createNodeWebGpuBackend } from "../src/backend/webgpu/node.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import { conv2dBackwardData } from "../src/backend/webgpu/layers.js";
import { parseGpuBenchFlags } from "./gpuBenchFlags.js";

interface Args {
  variant: "28" | "224";
  batch: number;
  reps: number;
  only: "ops" | "net" | null;
  json: boolean;
  narrow: number;
}

function parseArgs(argv: string[]): Args {
  const f = parseGpuBenchFlags("webgpu-ops", argv, { only: { type: "string", choices: ["ops", "net"], help: "only the ops, or only the network" } });
  return { variant: f.variant, batch: f.batch, reps: f.reps, only: (f.only as "ops" | "net" | undefined) ?? null, json: f.json, narrow: f.narrow };
}

interface ConvLayer { name: string; c: number; o: number; k: number; s: number; p: number; pool: Pool2dParams | null }

/** d2l's AlexNet: conv layers (with the pool after them) and linear layers, per variant. */
function alexnet(variant: "28" | "224", narrow = 1) {
  const n = (ch: number): number => Math.max(1, Math.round(ch / narrow));
  const pool3s2: Pool2dParams = { kernel: [3, 3], stride: [2, 2], padding: [0, 0] };
  const convs: ConvLayer[] = [
    variant === "224"
      ? { name: "conv1", c: 1, o: n(96), k: 11, s: 4, p: 1, pool: pool3s2 }
      : { name: "conv1", c: 1, o: n(96), k: 5, s: 1, p: 2, pool: { kernel: [3, 3], stride: [1, 1], padding: [0, 0] } },
    { name: "conv2", c: n(96), o: n(256), k: 5, s: 1, p: 2, pool: pool3s2 },
    { name: "conv3", c: n(256), o: n(384), k: 3, s: 1, p: 1, pool: null },
    { name: "conv4", c: n(384), o: n(384), k: 3, s: 1, p: 1, pool: null },
    { name: "conv5", c: n(384), o: n(256), k: 3, s: 1, p: 1, pool: pool3s2 },
  ];
  // both variants end in 5x5 maps
  const linears = [
    { name: "fc1", i: n(256) * 25, o: n(4096) },
    { name: "fc2", i: n(4096), o: n(4096) },
    { name: "fc3", i: n(4096), o: 10 },
  ];
  return { size: variant === "224" ? 224 : 28, convs, linears };
}

function random(be: WebGpuBackend, shape: number[], scale = 0.05): Storage {
  const d = new Float32Array(numel(shape));
  let s = 12345;
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    d[i] = ((s / 4294967296) * 2 - 1) * scale;
  }
  return be.fromArray(d, shape, "float32");
}

/** Seconds per call of `fn` (which returns the storages to free), after one warm-up call. */
async function timeIt(be: WebGpuBackend, reps: number, fn: () => (Storage | null)[]): Promise<number> {
  for (const s of fn()) if (s) be.dispose(s);
  await be.sync();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) for (const s of fn()) if (s) be.dispose(s);
  await be.sync();
  return (performance.now() - t0) / 1000 / reps;
}

interface Row { op: string; shape: string; ms: number; gflops: number }

async function benchOps(be: WebGpuBackend, a: Args): Promise<Row[]> {
  const net = alexnet(a.variant, a.narrow);
  const rows: Row[] = [];
  let h = net.size;
  const N = a.batch;
  for (const l of net.convs) {
    const p: Conv2dParams = { stride: [l.s, l.s], padding: [l.p, l.p] };
    const oh = windowOutSize(h, l.k, l.s, l.p);
    const x = random(be, [N, l.c, h, h], 1);
    const w = random(be, [l.o, l.c, l.k, l.k]);
    const b = random(be, [l.o]);
    const dy = random(be, [N, l.o, oh, oh], 1);
    const flops = 2 * N * l.o * oh * oh * l.c * l.k * l.k;
    const shape = `x [${N},${l.c},${h},${h}] w [${l.o},${l.c},${l.k},${l.k}] -> ${oh}x${oh}`;
    const add = (op: string, s: number): void => {
      rows.push({ op: `${l.name} ${op}`, shape, ms: s * 1000, gflops: flops / s / 1e9 });
    };
    add("forward+relu", await timeIt(be, a.reps, () => [be.conv2d(x, w, b, p, { relu: true })]));
    if (l.c > 1) {
      const [gx, gw, gdy] = [be.get(x), be.get(w), be.get(dy)];
      add("backward data", await timeIt(be, a.reps, () => [conv2dBackwardData(be, gdy, gx, gw, p)]));
    }
    add("backward weights+bias", await timeIt(be, a.reps, () => {
      const g = be.conv2dBackward(dy, x, w, true, p, false);
      return [g.dw, g.db];
    }));
    for (const s of [x, w, b, dy]) be.dispose(s);
    h = l.pool ? windowOutSize(oh, l.pool.kernel[0], l.pool.stride[0], l.pool.padding[0]) : oh;
  }
  for (const l of net.linears) {
    const x = random(be, [N, l.i], 1);
    const w = random(be, [l.o, l.i]);
    const b = random(be, [l.o]);
    const dy = random(be, [N, l.o], 1);
    const flops = 2 * N * l.i * l.o;
    const shape = `(${N},${l.i}) -> ${l.o}`;
    const add = (op: string, s: number): void => {
      rows.push({ op: `${l.name} ${op}`, shape, ms: s * 1000, gflops: flops / s / 1e9 });
    };
    add("forward", await timeIt(be, a.reps, () => [be.linear(x, w, b)]));
    add("backward (dx+dw)", (await timeIt(be, a.reps, () => {
      const g = be.linearBackward(dy, x, w, true, true);
      return [g.dx, g.dw, g.db];
    })) / 2);
    for (const s of [x, w, b, dy]) be.dispose(s);
  }
  return rows;
}

/** One AlexNet training step and one inference pass on the backend directly: examples/s. */
async function benchNet(be: WebGpuBackend, a: Args): Promise<{ train: number; infer: number }> {
  const net = alexnet(a.variant, a.narrow);
  const N = a.batch;
  const convW = net.convs.map((l) => ({ l, w: random(be, [l.o, l.c, l.k, l.k]), b: random(be, [l.o]), vw: null as Storage | null }));
  const linW = net.linears.map((l) => ({ l, w: random(be, [l.o, l.i]), b: random(be, [l.o]) }));
  const x = random(be, [N, 1, net.size, net.size], 1);
  const labels = Int32Array.from({ length: N }, (_, i) => i % 10);
  const sgd = { lr: 0.01, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false };
  const step = (train: boolean): Storage[] => {
    const temps: Storage[] = [];
    let h: Storage = x;
    const grads: [Storage, Storage][] = [];
    const pools: OpContext[] = [];
    for (const { l, w, b } of convW) {
      const p: Conv2dParams = { stride: [l.s, l.s], padding: [l.p, l.p] };
      const y = be.conv2d(h, w, b, p, { relu: true });
      temps.push(y);
      h = y;
      if (l.pool) {
        const pooled = be.maxPool2d(y, l.pool);
        temps.push(pooled.y);
        pools.push(pooled.ctx);
        h = pooled.y;
      }
    }
    let f = be.reshape(h, [N, numel(h.shape) / N]);
    temps.push(f);
    for (const [i, { w, b }] of linW.entries()) {
      const y = be.linear(f, w, b, { relu: i < 2 });
      temps.push(y);
      f = y;
      if (i < 2 && train) {
        const d = be.dropout(f, 0.5, 7 + i);
        temps.push(d.y);
        f = d.y;
      }
    }
    if (!train) {
      for (const c of pools) c.dispose();
      return temps;
    }
    const { loss, ctx } = be.crossEntropy(f, labels);
    temps.push(loss);
    const one = be.fill([], "float32", 1);
    temps.push(one);
    let g = be.crossEntropyBackward(one, ctx);
    temps.push(g);
    // Backward through the linear layers and convs in reverse, reusing the saved activations; the exact
    // chain is the trainer's business, here only the cost matters: each layer's backward ops once.
    for (let i = linW.length - 1; i >= 0; i--) {
      const { w, l } = linW[i]!;
      const xin = be.fill([N, l.i], "float32", 0.01);
      const r = be.linearBackward(g, xin, w, true, i > 0);
      grads.push([w, r.dw]);
      temps.push(xin, r.dw, r.db!);
      if (r.dx) {
        g = i > 0 ? be.reluBackward(r.dx, r.dx) : r.dx;
        temps.push(r.dx, g);
      }
    }
    let hh = net.size;
    const shapes = net.convs.map((l) => {
      const oh = windowOutSize(hh, l.k, l.s, l.p);
      const s = { inH: hh, oh };
      hh = l.pool ? windowOutSize(oh, l.pool.kernel[0], l.pool.stride[0], l.pool.padding[0]) : oh;
      return s;
    });
    for (let i = convW.length - 1; i >= 0; i--) {
      const { l, w } = convW[i]!;
      const { inH, oh } = shapes[i]!;
      const p: Conv2dParams = { stride: [l.s, l.s], padding: [l.p, l.p] };
      const dy = be.fill([N, l.o, oh, oh], "float32", 0.001);
      const xin = i === 0 ? x : be.fill([N, l.c, inH, inH], "float32", 0.01);
      const r = be.conv2dBackward(dy, xin, w, true, p, i > 0);
      grads.push([w, r.dw]);
      temps.push(dy, r.dw, r.db!);
      if (i > 0) temps.push(xin);
      if (r.dx) temps.push(r.dx);
    }
    for (const [w, dw] of grads) be.sgdUpdate(w, dw, null, sgd, false);
    ctx.dispose();
    for (const c of pools) c.dispose();
    return temps;
  };
  const train = await timeIt(be, a.reps, () => step(true));
  const infer = await timeIt(be, a.reps, () => step(false));
  for (const { w, b } of [...convW, ...linW]) {
    be.dispose(w);
    be.dispose(b);
  }
  be.dispose(x);
  return { train: N / train, infer: N / infer };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const be = await createNodeWebGpuBackend();
  if ("error" in be) {
    console.error(`webgpu-ops: ${be.error}`);
    process.exit(2);
  }
  const out: { device: string; variant: string; batch: number; ops?: Row[]; net?: { train: number; infer: number } } = {
    device: be.describe(), variant: a.variant, batch: a.batch,
  };
  if (a.only !== "net") out.ops = await benchOps(be, a);
  if (a.only !== "ops") out.net = await benchNet(be, a);
  if (a.json) {
    console.log(JSON.stringify(out));
  } else {
    console.log(`webgpu ops on ${out.device}, variant ${a.variant}, batch ${a.batch}`);
    for (const r of out.ops ?? []) console.log(`  ${r.op.padEnd(28)} ${r.ms.toFixed(3).padStart(9)} ms ${r.gflops.toFixed(0).padStart(7)} GFLOP/s   ${r.shape}`);
    if (out.net) console.log(`  training step ${out.net.train.toFixed(1)} examples/s, inference ${out.net.infer.toFixed(1)} examples/s (backend only, no autograd)`);
  }
  be.destroy();
}

await main();

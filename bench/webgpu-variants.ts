// Every GEMM variant of the webgpu backend (kernels/gemm.ts) on every AlexNet layer's GEMMs: conv forward,
// backward-data and backward-weights, linear forward, dx and dw; GFLOP/s per variant and the one the
// tuner would pick (the fastest), next to the default (--no-tune). Times come from the tuner's own timer
// (timestamp queries where the adapter has them, else wall time; median of --reps after --warmup), so
// the table is exactly what the tuner sees. bench/gpu.sh runs it on a GPU machine.
//   node dist/bench/webgpu-variants.js [--variant 224|28] [--batch 128] [--reps 7] [--warmup 2] [--json]
//                                      [--narrow K] [--layers conv2,fc3] [--tiles 64x64,128x64] [--json-out FILE] [--save]
//   --save: store the fastest per shape in the tuner's cache, so later runs on this GPU use it untimed
//   --small: variant 28, batch 4, widths / 8, 1 rep, layers conv2 and fc3, 64x64 tiles: a smoke test on SwiftShader
import type { Conv2dParams, Storage } from "../src/backend/backend.js";
import { windowOutSize } from "../src/backend/shapes.js";
import { createNodeWebGpuBackend } from "../src/backend/webgpu/node.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import { type GemmDims, applicableVariants, defaultVariant, variantName } from "../src/backend/webgpu/kernels/gemm.js";
import { writeFileSync } from "node:fs";
import { FileTuneCache } from "../src/backend/webgpu/node.js";
import { GpuVariantTimer, type TuneJob, shapeKey, tuneCacheKey } from "../src/backend/webgpu/tuner.js";
import { parseGpuBenchFlags } from "./gpuBenchFlags.js";

interface Args {
  variant: "28" | "224"; batch: number; reps: number; warmup: number; json: boolean; narrow: number;
  layers: string[] | null; tiles: string[] | null; jsonOut: string | null; save: boolean;
}

function parseArgs(argv: string[]): Args {
  const list = (v: unknown): string[] | null => (typeof v === "string" ? v.split(",") : null);
  const f = parseGpuBenchFlags("webgpu-variants", argv, {
    reps: { type: "int", min: 1, default: 7, help: "timed repetitions (median)" },
    warmup: { type: "int", min: 0, default: 2, help: "untimed runs first" },
    layers: { type: "string", help: "layers, e.g. conv2,fc3" },
    tiles: { type: "string", help: "tiles, e.g. 64x64,128x64" },
    "json-out": { type: "string", help: "also write the JSON to FILE" },
    save: { type: "boolean", default: false, help: "store the fastest per shape in the tuner's cache" },
    small: { type: "boolean", default: false, help: "a smoke test on SwiftShader" },
  });
  const a: Args = { variant: f.variant, batch: f.batch, reps: f.reps, warmup: f.warmup as number, json: f.json, narrow: f.narrow,
    layers: list(f.layers), tiles: list(f.tiles), jsonOut: (f["json-out"] as string | undefined) ?? null, save: f.save as boolean };
  if (f.small) Object.assign(a, { variant: "28", batch: 4, narrow: 8, reps: 1, warmup: 0, layers: ["conv2", "fc3"], tiles: ["64x64"] });
  return a;
}

/** d2l's AlexNet: conv layers (k, stride, pad, then the pool's output size rule) and linear layers. */
function alexnet(variant: "28" | "224", narrow: number) {
  const n = (ch: number): number => Math.max(1, Math.round(ch / narrow));
  const convs = [
    variant === "224" ? { name: "conv1", c: 1, o: n(96), k: 11, s: 4, p: 1, pool: [3, 2] } : { name: "conv1", c: 1, o: n(96), k: 5, s: 1, p: 2, pool: [3, 1] },
    { name: "conv2", c: n(96), o: n(256), k: 5, s: 1, p: 2, pool: [3, 2] },
    { name: "conv3", c: n(256), o: n(384), k: 3, s: 1, p: 1, pool: null },
    { name: "conv4", c: n(384), o: n(384), k: 3, s: 1, p: 1, pool: null },
    { name: "conv5", c: n(384), o: n(256), k: 3, s: 1, p: 1, pool: [3, 2] },
  ];
  const linears = [{ name: "fc1", i: n(256) * 25, o: n(4096) }, { name: "fc2", i: n(4096), o: n(4096) }, { name: "fc3", i: n(4096), o: 10 }];
  return { size: variant === "224" ? 224 : 28, convs, linears };
}

interface Captured { layer: string; pass: string; job: TuneJob }

/** Runs each layer's ops once with a select hook that records every GEMM (spec, dims, binding sizes). */
async function captureJobs(be: WebGpuBackend, a: Args): Promise<Captured[]> {
  const out: Captured[] = [];
  let label = { layer: "", pass: "" };
  be.gemmOptions.select = (spec, d, bytes, fallback) => {
    out.push({ ...label, job: { shape: shapeKey(spec, d), spec, d: { ...d }, bytes } });
    return fallback;
  };
  const zeros = (shape: number[]): Storage => be.fill(shape, "float32", 0);
  const net = alexnet(a.variant, a.narrow);
  const N = a.batch;
  let h = net.size;
  for (const l of net.convs) {
    const p: Conv2dParams = { stride: [l.s, l.s], padding: [l.p, l.p] };
    const oh = windowOutSize(h, l.k, l.s, l.p);
    const [x, w, b, dy] = [zeros([N, l.c, h, h]), zeros([l.o, l.c, l.k, l.k]), zeros([l.o]), zeros([N, l.o, oh, oh])];
    label = { layer: l.name, pass: "forward" };
    const y = be.conv2d(x, w, b, p, { relu: true });
    label = { layer: l.name, pass: "backward" };
    const g = be.conv2dBackward(dy, x, w, true, p, l.c > 1);
    await be.sync();
    for (const s of [x, w, b, dy, y, g.dx, g.dw, g.db]) if (s) be.dispose(s);
    h = l.pool ? windowOutSize(oh, l.pool[0]!, l.pool[1]!, 0) : oh;
  }
  for (const l of net.linears) {
    const [x, w, b, dy] = [zeros([N, l.i]), zeros([l.o, l.i]), zeros([l.o]), zeros([N, l.o])];
    label = { layer: l.name, pass: "forward" };
    const y = be.linear(x, w, b);
    label = { layer: l.name, pass: "backward" };
    const g = be.linearBackward(dy, x, w, true, true);
    await be.sync();
    for (const s of [x, w, b, dy, y, g.dx, g.dw, g.db]) if (s) be.dispose(s);
  }
  delete be.gemmOptions.select;
  return out.map((c) => ({ ...c, pass: passName(c.job.spec.name) }));
}

/** conv_fwd_11 -> forward, conv_bwd_data -> backward data, matmul_<transA transB bias relu> -> y, dx, dw. */
function passName(spec: string): string {
  if (spec.startsWith("conv_fwd")) return "forward";
  if (spec.startsWith("conv_bwd_data")) return "backward data";
  if (spec.startsWith("conv_bwd_weight")) return "backward weights";
  if (spec.startsWith("matmul_01")) return "forward";
  return spec.startsWith("matmul_1") ? "backward dw" : "backward dx";
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const be = await createNodeWebGpuBackend({ tune: "off" });
  if ("error" in be) throw new Error(be.error);
  const timer = new GpuVariantTimer(be.ctx, be.pool, () => be.gemmOptions, a.warmup, a.reps);
  const jobs = await captureJobs(be, a);
  const rows = [];
  if (!a.json) console.log(`GEMM variants on ${be.describe()}, AlexNet variant ${a.variant}, batch ${a.batch}${a.narrow > 1 ? `, widths / ${a.narrow}` : ""}; GFLOP/s (median of ${a.reps})`.replace(", GEMMs untuned (--no-tune)", ""));
  for (const c of jobs.filter((j) => !a.layers || a.layers.includes(j.layer))) {
    const d: GemmDims = c.job.d;
    const flops = 2 * d.M * d.N * d.K;
    const gflops: Record<string, number | null> = {};
    const notes: string[] = [];
    try {
      await timer.begin(c.job);
      for (const v of applicableVariants(d, be.gemmOptions).filter((v) => !a.tiles || a.tiles.includes(variantName(v).split("+")[0]!))) {
        try {
          gflops[variantName(v)] = flops / (await timer.time(c.job, v)) / 1e9;
        } catch (e) {
          gflops[variantName(v)] = null;
          notes.push(`${variantName(v)}: ${(e as Error).message.split("\n")[0]}`);
        }
      }
    } catch (e) {
      notes.push((e as Error).message.split("\n")[0]!);
    } finally {
      timer.end();
    }
    let best: string | null = null;
    for (const [k, g] of Object.entries(gflops)) if (g !== null && (best === null || g > gflops[best]!)) best = k;
    const dflt = variantName(defaultVariant(d, be.gemmOptions));
    const row = { layer: c.layer, pass: c.pass, shape: c.job.shape, M: d.M, N: d.N, K: d.K, gflops, tuned: best, default: dflt, notes };
    rows.push(row);
    if (a.json) continue;
    const cells = Object.entries(gflops).map(([k, g]) => `${k} ${g === null ? "failed" : g.toFixed(g < 10 ? 2 : 0)}`).join(", ");
    const gain = best === dflt ? " (the default)" : best && gflops[dflt] ? ` (${(gflops[best]! / gflops[dflt]!).toFixed(2)}x the default ${dflt})` : "";
    console.log(`${`${c.layer} ${c.pass}`.padEnd(28)} M ${d.M} N ${d.N} K ${d.K}: ${cells} -> tuner picks ${best ?? "none"}${gain}`);
    for (const n of notes) console.log(`  note: ${n}`);
  }
  const report = JSON.stringify({ device: be.ctx.adapter.description, variant: a.variant, batch: a.batch, narrow: a.narrow, rows });
  if (a.json) console.log(report);
  if (a.jsonOut) writeFileSync(a.jsonOut, `${report}\n`);
  if (a.save) {
    const cache = new FileTuneCache();
    const entries: Record<string, string> = {};
    for (const r of rows) if (r.tuned) entries[tuneCacheKey(be.ctx.adapter.key, r.shape)] = r.tuned;
    await cache.save(entries);
    if (!a.json) console.log(`saved ${Object.keys(entries).length} choices to ${cache.where}`);
  }
  be.destroy();
}

main().then(() => process.exit(0), (e: Error) => {
  console.error(`webgpu-variants: ${e.message.split("\n")[0]}`);
  process.exit(1);
});

// Memory bandwidth and the roofline (issue 25 item 2, d2l 7.1 exercise 4c): the bytes each AlexNet layer's
// passes must move and its intensity, against a table worked out by hand here; the machine's bandwidth and
// peak FLOP/s measured and cached; bound and lower bound per layer; analyze's columns, sentence and plot.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { analyzeNetwork } from "../src/analysis/analyze.js";
import { machineCachePath, machineFigures, machineKey, measureMachine, readMachineCache, writeMachineCache, type MachineFigures } from "../src/analysis/machine.js";
import { writeRooflinePlots } from "../src/analysis/plot.js";
import { balance, bandwidthAnswer, intensityAtBatch, roofline } from "../src/analysis/roofline.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import { alexNet } from "../src/models/alexnet.js";
import { openTestGpu } from "./webgpuHelpers.js";

const net = alexNet({ variant: "224" });
const scratch = mkdtempSync(join(tmpdir(), "alexnet-roofline-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("bytes per pass and arithmetic intensity", () => {
  // Worked by hand from the definition in src/analysis/traffic.ts: fp32, each tensor once per pass.
  const B = 128;
  const conv1 = { I: B * 1 * 224 * 224, O: B * 96 * 54 * 54, P: 96 * 1 * 11 * 11 + 96 };
  const pool1 = { I: B * 96 * 54 * 54, O: B * 96 * 26 * 26 };
  const fc1 = (b: number) => ({ I: b * 6400, O: b * 4096, W: 6400 * 4096, P: 6400 * 4096 + 4096 });
  const TABLE = [
    // conv1 is the first layer: no input gradient, so its backward neither reads W nor writes dx.
    { index: 0, forward: 4 * (conv1.I + conv1.P + conv1.O), backward: 4 * (conv1.O + conv1.I + conv1.P), bytes: 338_128_384, flops: B * 4 * 33_872_256, intensity: 51.290 },
    // ReLU: x in, y out; dy and y in, dx out: 5 tensors of one size for 2 FLOPs per element.
    { index: 1, forward: 4 * 2 * conv1.O, backward: 4 * 3 * conv1.O, bytes: 716_636_160, flops: 2 * conv1.O, intensity: 0.1 },
    // MaxPool 3/2: x in, y and int32 argmax out; dy and argmax in, dx out; 8 comparisons + 1 routing per output.
    { index: 2, forward: 4 * (pool1.I + 2 * pool1.O), backward: 4 * (2 * pool1.O + pool1.I), bytes: 419_561_472, flops: 9 * pool1.O, intensity: 0.17819 },
    // Flatten is a view: nothing moves.
    { index: 13, forward: 0, backward: 0, bytes: 0, flops: 0, intensity: null },
    // fc1: x, W, b in, y out; dy, x in, dW, db out, and W in, dx out.
    { index: 14, forward: 4 * (fc1(B).I + fc1(B).P + fc1(B).O), backward: 4 * (fc1(B).O + fc1(B).I + fc1(B).P + fc1(B).W + fc1(B).I), bytes: 328_630_272, flops: B * 6 * 26_214_400, intensity: 61.262 },
  ];

  it("AlexNet at batch 128 moves what the table says, at the intensity it says", () => {
    const stats = analyzeNetwork(net, [B, 1, 224, 224]);
    const rows = roofline(stats, null);
    for (const t of TABLE) {
      const l = stats.layers[t.index]!;
      assert.equal(l.bytesForward, t.forward, `layer ${t.index} forward bytes`);
      assert.equal(l.bytesBackward, t.backward, `layer ${t.index} backward bytes`);
      assert.equal(l.bytesForward + l.bytesBackward, t.bytes, `layer ${t.index} bytes`);
      assert.equal(rows[t.index]!.flops, t.flops, `layer ${t.index} FLOPs`);
      if (t.intensity === null) assert.equal(rows[t.index]!.intensity, null);
      else assert.ok(Math.abs(rows[t.index]!.intensity! - t.intensity) < 5e-4 * t.intensity, `layer ${t.index} intensity ${rows[t.index]!.intensity}`);
    }
    assert.equal(stats.totals.bytesForward, stats.layers.reduce((n, l) => n + l.bytesForward, 0));
  });

  it("fc1 at batch 1 reads its 100 MiB of weights for one example: 0.5 FLOP/B", () => {
    const one = analyzeNetwork(net, [1, 1, 224, 224]);
    const f = fc1(1);
    const bytes = 4 * (f.I + f.P + f.O) + 4 * (f.O + f.I + f.P + f.W + f.I);
    assert.equal(bytes, 314_715_136);
    assert.equal(one.layers[14]!.bytesForward + one.layers[14]!.bytesBackward, bytes);
    const i1 = roofline(one, null)[14]!.intensity!;
    assert.ok(Math.abs(i1 - 6 * 26_214_400 / 314_715_136) < 1e-12 && i1 < 0.5, String(i1));
    // The same figure from batch 128's numbers: parameter traffic stays, the rest scales.
    const at128 = analyzeNetwork(net, [128, 1, 224, 224]);
    assert.ok(Math.abs(intensityAtBatch(at128.layers[14]!, 128, 1)! - i1) < 1e-12);
  });
});

describe("the machine's figures", () => {
  const env = { XDG_CACHE_HOME: join(scratch, "cache"), HOME: scratch };
  const small = { arrayBytes: 1 << 20, maxGemm: 128, targetMs: 5, repeats: 2 };

  it("measures a positive bandwidth and peak, caches them per backend, and reads them back", async () => {
    const backend = new ReferenceBackend();
    const first = await machineFigures(backend, { env, ...small });
    assert.equal(first.source, "measured");
    assert.equal(first.cacheError, undefined);
    assert.ok(first.figures.bandwidth > 1e6, `bandwidth ${first.figures.bandwidth} B/s`);
    assert.ok(first.figures.peakFlops > 1e6, `peak ${first.figures.peakFlops} FLOP/s`);
    assert.match(first.figures.bandwidthKernel, /triad/);
    assert.equal(first.path, join(env.XDG_CACHE_HOME, "alexnet-ts", "machine.json"));
    assert.ok(existsSync(first.path));
    const second = await machineFigures(backend, { env, ...small });
    assert.equal(second.source, "cached");
    assert.deepEqual(second.figures, first.figures);
    // Another key (here another backend's) is not served this one's figures.
    const other = { ...first.figures, key: "elsewhere", bandwidth: 1 };
    writeMachineCache(other, { env });
    assert.deepEqual(readMachineCache(backend, { env }), first.figures);
    const file = JSON.parse(readFileSync(first.path, "utf8")) as { machines: Record<string, MachineFigures> };
    assert.deepEqual(Object.keys(file.machines).sort(), [machineKey(backend), "elsewhere"].sort());
    assert.equal(machineCachePath({ HOME: "/home/u" }), "/home/u/.cache/alexnet-ts/machine.json");
  });

  it("on a GPU backend, times a buffer copy on the device (SwiftShader here, small)", async () => {
    const gpu = await openTestGpu();
    try {
      const f = await measureMachine(gpu, small);
      assert.ok(f.bandwidth > 0 && f.peakFlops > 0, JSON.stringify(f));
      assert.match(f.bandwidthKernel, /buffer copy/);
      assert.match(f.key, /^webgpu \| gpu \(webgpu/);
    } finally {
      gpu.destroy();
    }
  });
});

describe("bound per layer", () => {
  // A machine whose balance point is 10 FLOP/B.
  const roof = { bandwidth: 10e9, peakFlops: 100e9 };
  const stats = analyzeNetwork(net, [128, 1, 224, 224]);

  it("a layer far below the balance point is bandwidth-bound, one far above compute-bound; the bound is max(F/peak, B/bw)", () => {
    assert.equal(balance(roof), 10);
    const rows = roofline(stats, roof);
    const relu1 = rows[1]!;
    assert.ok(relu1.intensity! < balance(roof) / 50);
    assert.equal(relu1.bound, "bandwidth");
    assert.ok(Math.abs(relu1.lowerBoundMs! - (1000 * 716_636_160) / 10e9) < 1e-9);
    const conv2 = rows[3]!;
    assert.ok(conv2.intensity! > 50 * balance(roof));
    assert.equal(conv2.bound, "compute");
    assert.ok(Math.abs(conv2.lowerBoundMs! - (1000 * conv2.flops) / 100e9) < 1e-9);
    assert.equal(rows[13]!.bound, null, "Flatten moves nothing");
    // fc3 (4096 -> 10) reads 160 kB of weights for 128 x 10 outputs: below the balance.
    assert.equal(rows[20]!.bound, "bandwidth");
    const s = bandwidthAnswer(stats, rows, roof, "this machine");
    assert.match(s, /^Memory bandwidth: at this machine's 10\.0 GB\/s and 100 GFLOP\/s \(balance 10\.0 FLOP\/B\), 13 of 20 layers are bandwidth-bound \(ReLU x7, MaxPool2d x3, Dropout x2, Linear: /);
    assert.match(s, /though at batch 1 Linear x2 \(0\.50 FLOP\/B\) would be bandwidth-bound too/);
    assert.match(s, /most traffic is layer 1 ReLU's 683\.4 MiB/);
  });

  it("analyze prints the columns, the cached machine and the sentence; --plot adds the roofline", () => {
    const env = { ...process.env, XDG_CACHE_HOME: join(scratch, "cli-cache"), HOME: scratch };
    const key = machineKey(new ReferenceBackend());
    writeMachineCache({ key, backend: "reference", device: "cpu (reference, 1 thread)", bandwidth: 10e9, bandwidthKernel: "test", peakFlops: 100e9,
      peakKernel: "test", measuredAt: "2025-01-01T00:00:00.000Z", seconds: 1 }, { env });
    const plot = join(scratch, "layers.svg");
    const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
    const r = spawnSync(process.execPath, [cli, "analyze", "--backend", "reference", "--no-measure", "--plot", plot], { encoding: "utf8", env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /MiB moved @128 +FLOP\/B +bound +min ms$/m);
    assert.match(r.stdout, /^ 1 {2}ReLU .* 683\.4 +0\.10 +bandwidth +71\.66$/m);
    assert.match(r.stdout, /^Machine: 10\.0 GB\/s memory bandwidth \(test\), 100 GFLOP\/s peak \(test\), balance 10\.0 FLOP\/B; cached in .*machine\.json from 2025-01-01 00:00 UTC/m);
    assert.match(r.stdout, /^Memory bandwidth: at this machine's 10\.0 GB\/s .*13 of 20 layers are bandwidth-bound/m);
    assert.match(r.stdout, /^Most memory traffic at batch 128: layer 1 ReLU\(\), 683\.4 MiB/m);
    const svg = readFileSync(join(scratch, "layers-roofline.svg"), "utf8");
    assert.match(svg, /^<svg /);
    assert.match(svg, />relu1\.\.relu7[^<]*<\/text>/);
    for (const tick of ["0.1", "1", "10", "100", "1000"]) assert.ok(svg.includes(`>${tick}</text>`), `tick ${tick}`);
    assert.equal(readFileSync(join(scratch, "layers-roofline.png")).toString("latin1", 1, 4), "PNG");
    // Without figures and with --no-measure it says how to get them.
    const bare = spawnSync(process.execPath, [cli, "analyze", "--backend", "reference", "--no-measure", "--variant", "28"],
      { encoding: "utf8", env: { ...env, XDG_CACHE_HOME: join(scratch, "empty") } });
    assert.equal(bare.status, 0, bare.stderr);
    assert.match(bare.stdout, /^Machine: not measured \(--no-measure\) .*alexnet bench --machine/m);
  });

  it("writeRooflinePlots puts the roofline beside the plot file", () => {
    const rows = roofline(stats, roof);
    const [svg, png] = writeRooflinePlots(join(scratch, "x.png"), stats, rows, roof, "t");
    assert.equal(svg, join(scratch, "x-roofline.svg"));
    assert.ok(existsSync(svg) && existsSync(png));
  });
});

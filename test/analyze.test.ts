// `alexnet analyze`: the per-layer numbers of both variants pinned, the answers computed (and moving when the
// network changes), the JSON schema, and the measured memory peak and per-layer profile of a real step.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { analyzeNetwork, answers } from "../src/analysis/analyze.js";
import { measureTrainingMemory, profileLayers } from "../src/analysis/profile.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import { getBackend } from "../src/backend/registry.js";
import { alexNet } from "../src/models/alexnet.js";
import { leNetBn } from "../src/models/lenet.js";
import { Conv2d, Flatten, Linear, ReLU, Sequential } from "../src/nn/index.js";

const net224 = alexNet({ variant: "224" });
const net28 = alexNet({ variant: "28" });

describe("analysis of AlexNet", () => {
  it("variant 224: parameters and MACs per layer, totals, and the two answers", () => {
    const s = analyzeNetwork(net224, [1, 1, 224, 224]);
    const convs = s.layers.filter((l) => l.type === "Conv2d" || l.type === "Linear");
    assert.deepEqual(convs.map((l) => [l.index, l.params, l.macs]), [
      [0, 11_712, 33_872_256],
      [3, 614_656, 415_334_400],
      [6, 885_120, 127_401_984],
      [8, 1_327_488, 191_102_976],
      [10, 884_992, 127_401_984],
      [14, 26_218_496, 26_214_400],
      [17, 16_781_312, 16_777_216],
      [20, 40_970, 40_960],
    ]);
    assert.equal(s.totals.params, 46_764_746);
    assert.equal(s.totals.macs, 938_146_176);
    assert.equal((s.totals.paramBytes / 2 ** 20).toFixed(1), "178.4");
    const a = answers(s);
    assert.equal(a.mostParams.index, 14);
    assert.equal(a.mostParams.layer, "Linear(in_features=6400, out_features=4096, bias=True)");
    assert.equal((a.mostParamsShare * 100).toFixed(1), "56.1");
    assert.equal(a.mostCompute.index, 3);
    assert.equal((a.mostComputeShare * 100).toFixed(1), "44.3");
    // Forward FLOPs are 2 per MAC; backward twice the forward except the first layer's (no input gradient).
    assert.equal(s.layers[3]!.flops, 2 * 415_334_400);
    assert.equal(s.layers[3]!.backwardFlops, 4 * 415_334_400);
    assert.equal(s.layers[0]!.backwardFlops, 2 * 33_872_256);
    // MaxPool(3, 2) on 96x26x26 outputs: 8 comparisons each.
    assert.equal(s.layers[2]!.elementOps, 96 * 26 * 26 * 8);
  });

  it("variant 28: first conv has 2,496 parameters and 1,881,600 MACs", () => {
    const s = analyzeNetwork(net28, [1, 1, 28, 28]);
    assert.equal(s.layers[0]!.params, 2_496);
    assert.equal(s.layers[0]!.macs, 1_881_600);
    assert.equal(answers(s).mostParams.index, 14);
    assert.equal(answers(s).mostCompute.index, 3);
  });

  it("activation memory scales with the batch; parameter memory does not", () => {
    const s1 = analyzeNetwork(net224, [1, 1, 224, 224]);
    const s128 = analyzeNetwork(net224, [128, 1, 224, 224], { momentum: true });
    assert.equal(s128.totals.activationBytes, 128 * s1.totals.activationBytes);
    assert.equal(s128.totals.paramBytes, s1.totals.paramBytes);
    assert.equal(s128.totals.optimizerBytes, s128.totals.paramBytes);
    assert.equal(s1.totals.optimizerBytes, 0);
    // ReLU 1 keeps its 96x54x54 output (for itself and the pooling after it).
    assert.equal(s1.layers[1]!.activationBytes, 96 * 54 * 54 * 4);
  });

  it("the answers come from the computation: a wider second Linear takes over", () => {
    const net = new Sequential(new Conv2d(1, 8, { kernelSize: 3 }), new ReLU(), new Flatten(), new Linear(8 * 6 * 6, 16), new ReLU(), new Linear(16, 400));
    const a = answers(analyzeNetwork(net, [1, 1, 8, 8]));
    assert.equal(a.mostParams.index, 5);
    assert.equal(a.mostCompute.index, 5);
    const net2 = new Sequential(new Conv2d(1, 8, { kernelSize: 3 }), new ReLU(), new Flatten(), new Linear(8 * 6 * 6, 16), new ReLU(), new Linear(16, 4));
    const b = answers(analyzeNetwork(net2, [1, 1, 8, 8]));
    assert.equal(b.mostParams.index, 3);
    net.dispose();
    net2.dispose();
  });

  it("measures the memory peak and per-layer time of a real training step", async () => {
    const backend = getBackend("reference");
    const small = alexNet({ variant: "28", imageSize: 12 });
    const shape = [2, 1, 12, 12];
    const stats = analyzeNetwork(small, shape);
    const before = backend.memoryStats().liveBuffers;
    const m = measureTrainingMemory(small, shape, backend, { rss: () => process.memoryUsage().rss });
    assert.ok(m.peakBytes !== null && m.peakBytes > m.steadyBytes, `peak ${m.peakBytes} steady ${m.steadyBytes}`);
    // The step holds at least the gradients and the activations it saved on top of the parameters.
    assert.ok(m.peakBytes! - m.steadyBytes >= stats.totals.gradBytes);
    // What the peak was made of adds up to it, and it came in a backward with most gradients written.
    const d = m.breakdown!;
    assert.ok(d, "a breakdown where the backend tracks a peak");
    assert.equal(d.steadyBytes + d.forwardBytes + d.paramGradBytes + d.inFlightBytes, m.peakBytes);
    assert.ok(d.forwardBytes > 0 && d.paramGradBytes > 0, JSON.stringify(d));
    assert.notEqual(d.phase, "forward");
    const timings = await profileLayers(small, shape, backend, stats, 1);
    assert.equal(timings.length, 21);
    assert.ok(timings[3]!.forwardMs > 0 && timings[3]!.backwardMs > 0);
    assert.ok(Math.abs(timings.reduce((s, t) => s + t.share, 0) - 1) < 1e-9);
    assert.equal(backend.memoryStats().liveBuffers, before);
    small.dispose();
  });

  it("on an asynchronous backend, times each layer's queued work, not the time to queue it", async () => {
    const backend = new QueuedReference();
    const small = await alexNet({ variant: "28", imageSize: 12, widthScale: 0.125 }).to(backend);
    const shape = [2, 1, 12, 12];
    const before = backend.memoryStats().liveBuffers;
    const timings = await profileLayers(small, shape, backend, analyzeNetwork(small, shape), 1);
    // Each conv forward queues 30 ms of device work and each conv backward 120 ms, done only by sync().
    for (const i of [0, 3, 6, 8, 10]) {
      assert.ok(timings[i]!.forwardMs >= 30, `layer ${i} forward ${timings[i]!.forwardMs} ms`);
      assert.ok(timings[i]!.backwardMs >= 60, `layer ${i} backward ${timings[i]!.backwardMs} ms`);
    }
    assert.ok(timings[1]!.forwardMs < 30, "a ReLU queues no device time here");
    assert.equal(backend.memoryStats().liveBuffers, before);
    small.dispose();
  });
});

/** The reference backend as a queueing device: no readSync, and every conv's cost is waited for in sync(). */
class QueuedReference extends ReferenceBackend {
  override readonly name = "queued-reference";
  private queuedMs = 0;
  constructor() {
    super();
    Object.defineProperty(this, "readSync", { value: undefined });
  }

  override conv2d(...args: Parameters<ReferenceBackend["conv2d"]>): ReturnType<ReferenceBackend["conv2d"]> {
    this.queuedMs += 30;
    return super.conv2d(...args);
  }

  override conv2dBackward(...args: Parameters<ReferenceBackend["conv2dBackward"]>): ReturnType<ReferenceBackend["conv2dBackward"]> {
    this.queuedMs += 120;
    return super.conv2dBackward(...args);
  }

  async sync(): Promise<void> {
    const ms = this.queuedMs;
    this.queuedMs = 0;
    // setTimeout may fire a fraction of a millisecond early by performance.now(), the profiler's clock.
    const until = performance.now() + ms;
    while (performance.now() < until) await new Promise((resolve) => setTimeout(resolve, Math.max(1, until - performance.now())));
  }
}

describe("alexnet analyze CLI", () => {
  const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, "analyze", ...args], { encoding: "utf8" });

  it("prints the answers in words", () => {
    const r = run("--no-measure", "--backend", "reference");
    assert.equal(r.status, 0, r.stderr);
    // Conv rows report the output the unfused network allocates (not 0.0), and what backward keeps apart.
    const conv1 = r.stdout.split("\n").find((l) => /^ 0 {2}Conv2d /.test(l))!;
    assert.match(conv1, /\s136\.7\s+0\.0\s/, conv1);
    assert.match(r.stdout, /out MiB @128 +saved MiB @128/);
    assert.match(r.stdout, /^ReLU fusion: cpu \(reference[^\n]*two passes[^\n]*layers 0, 3, 6, 8, 10, 14, 17/m);
    assert.match(r.stdout, /^Measured: skipped \(--no-measure\)\.$/m);
    assert.match(r.stdout, /Most parameters and parameter memory: layer 14 Linear\(in_features=6400, out_features=4096, bias=True\), 26,218,496 parameters, 56\.1% of 46,764,746 \(100\.0 of 178\.4 MiB in fp32\)\./);
    assert.match(r.stdout, /Most compute: layer 3 Conv2d\(96, 256, kernel_size=\(5, 5\), stride=\(1, 1\), padding=\(2, 2\)\), 415,334,400 MACs per example, 44\.3% of 938,146,176\./);
  });

  it("--json has the documented schema; --input/--classes cover the seed's 3-channel, 1000-class network", () => {
    const r = run("--json", "--no-measure", "--backend", "reference", "--input", "3x224x224", "--classes", "1000", "--batch-size", "4");
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { layers: Record<string, unknown>[]; totals: Record<string, number>; answers: { mostParams: { index: number } } };
    assert.equal(j.layers.length, 21);
    for (const layer of j.layers) {
      for (const key of ["index", "type", "outputShape", "params", "macs", "flops", "outputBytes", "activationBytes"]) assert.ok(key in layer, `layer lacks ${key}`);
    }
    assert.deepEqual(j.layers[0]!.outputShape, [4, 96, 54, 54]);
    assert.equal(j.layers[0]!.params, 3 * 96 * 121 + 96);
    assert.equal(j.totals.params, 50_844_008);
    assert.equal(j.answers.mostParams.index, 14);
  });

  it("without --measure on the reference backend, says why it skipped; measured, explains the difference", () => {
    const skipped = run("--backend", "reference", "--variant", "28", "--batch-size", "2");
    assert.equal(skipped.status, 0, skipped.stderr);
    assert.match(skipped.stdout, /^Measured: skipped \(the reference backend is slow at this size; --measure forces it\)\.$/m);
    const measured = run("--backend", "reference", "--variant", "28", "--batch-size", "2", "--measure");
    assert.equal(measured.status, 0, measured.stderr);
    assert.match(measured.stdout, /^Why the measured peak is (above|below) the estimate \([-+]\d+\.\d MiB\): it came in the backward of layer \d+ \(\w+[^)]*\), when the backend held parameters and optimizer state [\d.]+ \+ the forward's outputs [\d.]+ .*gradients of activations in flight [\d.]+/m);
  });

  it("--plot writes a valid SVG and PNG", () => {
    const dir = mkdtempSync(join(tmpdir(), "alexnet-plot-"));
    for (const ext of ["svg", "png"]) {
      const file = join(dir, `layers.${ext}`);
      const r = run("--no-measure", "--backend", "reference", "--plot", file);
      assert.equal(r.status, 0, r.stderr);
      const bytes = readFileSync(file);
      if (ext === "svg") {
        const text = bytes.toString("utf8");
        assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.ok((text.match(/<rect /g) ?? []).length > 21, "bars drawn");
        assert.match(text, /<\/svg>\s*$/);
      } else {
        assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
        assert.equal(bytes.toString("latin1", 12, 16), "IHDR");
      }
    }
    rmSync(dir, { recursive: true });
    assert.equal(run("--plot", "x.pdf").status, 2);
  });

  it("rejects a malformed --input", () => {
    const r = run("--input", "224x224");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--input must be CxHxW/);
  });
});

describe("buffers are counted apart from parameters", () => {
  it("BN-LeNet: running mean and variance per channel plus one batch count per BatchNorm", () => {
    const s = analyzeNetwork(leNetBn(), [256, 1, 28, 28]);
    assert.equal(s.totals.params, 44878, "PyTorch's count for d2l's BN-LeNet");
    assert.equal(s.totals.buffers, 2 * (6 + 16 + 120 + 84) + 4);
    assert.equal(s.totals.bufferBytes, 4 * s.totals.buffers);
    assert.deepEqual(s.layers.filter((l) => l.buffers > 0).map((l) => l.type), ["BatchNorm2d", "BatchNorm2d", "BatchNorm1d", "BatchNorm1d"]);
    assert.equal(s.totals.trainingBytes - s.totals.bufferBytes,
      s.totals.paramBytes + s.totals.gradBytes + s.totals.optimizerBytes + s.totals.activationBytes + s.totals.inputBytes);
  });
});

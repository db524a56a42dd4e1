// Training on the webgpu backend (SwiftShader in CI) against the reference backend: one step of narrow
// AlexNet-28 (width-scale 0.125, batch 8) gives the same loss and weights; a short trainCh6 run gives the
// same metrics; buffers return to baseline after steps and evaluation; analyze's per-layer profile times
// the GPU's work; a lost device stops the run with one line. The backend comes from the registry factory, as the CLI gets it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { analyzeNetwork } from "../src/analysis/analyze.js";
import { profileLayers } from "../src/analysis/profile.js";
import type { Backend } from "../src/backend/backend.js";
import { createBackend, getBackend, registerBackendFactory } from "../src/backend/registry.js";
import { nodeWebGpuFactory } from "../src/backend/webgpu/node.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import type { Batch } from "../src/data/batch.js";
import { alexNet, initWeights } from "../src/models/alexnet.js";
import type { Sequential } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { manualSeed } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import { tensor } from "../src/tensor/tensor.js";
import { type BatchSource, initialTrainState, trainCh6 } from "../src/train/trainer.js";
import { rng } from "./helpers.js";
import { assertNear } from "./webgpuHelpers.js";

let gpu: WebGpuBackend;
before(async () => {
  registerBackendFactory("webgpu", nodeWebGpuFactory());
  gpu = (await createBackend("webgpu")) as WebGpuBackend;
});
after(() => gpu.destroy());

const reference = (): Backend => getBackend("reference");

async function narrowAlexNet(backend: Backend): Promise<Sequential> {
  manualSeed(3);
  const net = alexNet({ variant: "28", widthScale: 0.125 });
  initWeights(net);
  return net.to(backend);
}

function batch(size: number, seed: number): { images: Float32Array; labels: Int32Array } {
  const r = rng(seed);
  return {
    images: Float32Array.from({ length: size * 28 * 28 }, () => Math.abs(r())),
    labels: Int32Array.from({ length: size }, () => Math.floor(Math.abs(r()) * 10) % 10),
  };
}

/** One SGD step (momentum, weight decay) on `backend`: the loss and the weights after it. */
async function oneStep(backend: Backend): Promise<{ loss: number; weights: Float32Array[] }> {
  const net = await narrowAlexNet(backend);
  const opt = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
  const b = batch(8, 11);
  manualSeed(5); // the dropout seeds
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.call(tensor(b.images, { shape: [8, 1, 28, 28], backend })), b.labels);
    l.backward();
    opt.step();
    return l;
  });
  const value = (await loss.data())[0]!;
  loss.dispose();
  const weights = await Promise.all(net.parameters().map(async (p) => Float32Array.from(await p.data())));
  opt.dispose();
  net.dispose();
  return { loss: value, weights };
}

describe("narrow AlexNet-28 on webgpu equals the reference backend", () => {
  it("one training step: loss to 1e-5, weights to 1e-4 relative; no buffer left behind", async () => {
    const live = gpu.memoryStats().liveBuffers;
    const want = await oneStep(reference());
    const got = await oneStep(gpu);
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * Math.max(1, Math.abs(want.loss)), `loss ${got.loss} vs ${want.loss}`);
    got.weights.forEach((w, i) => {
      let scale = 1e-12;
      for (const v of want.weights[i]!) scale = Math.max(scale, Math.abs(v));
      assertNear(w, want.weights[i]!, `parameter ${i}`, 1e-4, 1e-4 * scale);
    });
    assert.equal(gpu.memoryStats().liveBuffers, live);
  });

  it("a short trainCh6 run: metrics within 0.01 of the CPU's, buffers back to baseline after training and evaluation", async () => {
    const run = async (backend: Backend) => {
      const net = await narrowAlexNet(backend);
      const optimizer = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
      try {
        return await trainCh6(net, { epochs: 1, backend, trainLoader: batches(3, 4), testLoader: batches(1, 4), optimizer }, initialTrainState());
      } finally {
        optimizer.dispose();
        net.dispose();
      }
    };
    const live = gpu.memoryStats().liveBuffers;
    const want = await run(reference());
    const got = await run(gpu);
    assert.equal(got.state.points.length, want.state.points.length);
    got.state.points.forEach((p, i) => {
      const w = want.state.points[i]!;
      for (const k of Object.keys(w) as (keyof typeof w)[]) {
        if (typeof w[k] === "number") assert.ok(Math.abs((p[k] as number) - (w[k] as number)) <= 0.01, `point ${i} ${String(k)}: ${p[k]} vs ${w[k]}`);
      }
    });
    assert.ok(Math.abs(got.testAcc - want.testAcc) <= 0.01);
    assert.equal(gpu.memoryStats().liveBuffers, live);
  });

  it("analyze's per-layer profile: the layers' fenced wall clock covers their kernels' GPU time; no buffer left behind", async () => {
    const net = await narrowAlexNet(gpu);
    const shape = [2, 1, 28, 28];
    const live = gpu.memoryStats().liveBuffers;
    await gpu.sync();
    const gpuMs = (): number => Object.values(gpu.opSeconds()).reduce((a, b) => a + b, 0) * 1000;
    const before = gpuMs(); // the first call also starts the timestamp queries
    const rows = await profileLayers(net, shape, gpu, analyzeNetwork(net, shape), 1);
    await gpu.sync();
    const kernels = gpuMs() - before;
    // The warm-up round and the timed one run the same kernels (plus one forward pass for the layers'
    // inputs), so the timed round's wall clock (forward alone, then forward + backward) covers about 0.46
    // of the kernels' time here; 0.25 leaves room for a slower warm-up. Timing the queueing instead, as a
    // synchronous backend's profile does, gives about 0.005.
    const wall = rows.reduce((t, r) => t + 2 * r.forwardMs + r.backwardMs, 0);
    assert.ok(kernels > 0 && wall >= 0.25 * kernels, `wall ${wall.toFixed(1)} ms, kernels ${kernels.toFixed(1)} ms`);
    assert.ok(rows[3]!.forwardMs > 0 && rows[3]!.backwardMs > 0);
    assert.equal(gpu.memoryStats().liveBuffers, live);
    net.dispose();
  });

  // Last: it leaves the shared device lost (a fresh device would recompile every kernel, slowly on SwiftShader).
  it("a lost device stops the run with one line", async () => {
    const doomed = gpu;
    const net = await narrowAlexNet(doomed);
    const optimizer = new SGD(net.parameters(), { lr: 0.05 });
    let steps = 0;
    const onStep = (): void => {
      if (++steps === 2) doomed.simulateDeviceLoss("simulated by the test");
    };
    await assert.rejects(
      trainCh6(net, { epochs: 1, backend: doomed, trainLoader: batches(3, 4), testLoader: batches(1, 4), optimizer, hooks: { onStep } }, initialTrainState()),
      (e: Error) => e.name === "GpuError" && e.message === "GPU device lost (simulated by the test)",
    );
    assert.equal(steps, 2);
  });
});

/** A few fixed batches of AlexNet-28 input, the same every epoch. */
function batches(count: number, size: number): BatchSource {
  const all: Batch[] = Array.from({ length: count }, (_, k) => {
    const b = batch(size, 100 + k);
    return { images: b.images, labels: b.labels, shape: [size, 1, 28, 28], indices: Int32Array.from({ length: size }, (_, i) => k * size + i) };
  });
  return {
    numBatches: count,
    batchSize: size,
    async *iterate(_epoch: number, start = 0) {
      for (const b of all.slice(start)) yield b;
    },
  };
}

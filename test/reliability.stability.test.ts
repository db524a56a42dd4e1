// Reliability, long runs: 500 training steps of a small conv net on the native backend, each inside tidy() as
// the trainer does. After a warm-up, the native backend's live buffers and bytes must not move at all (a
// leak of one tensor per step would show at once), and the process RSS may grow only within a small bound
// (the allocator and the JIT settle; a real leak of the ~100 KB activations per step would be tens of MB).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { tidy } from "../src/tensor/scope.js";
import { tensor } from "../src/tensor/tensor.js";
import { nativeBackend } from "./helpers.js";
import { prng, record } from "./reliabilityHelpers.js";

const STEPS = 500;
const WARMUP = 30;
const RSS_BOUND_MB = 40;
const skip = nativeBackend ? false : "the native backend is not built here (CI requires it)";

describe("reliability: long-run stability (native backend)", { skip }, () => {
  it(`${STEPS} training steps: native buffers flat after warm-up, RSS growth bounded`, async (t) => {
    const backend = nativeBackend!;
    const net = await new Sequential(
      new Conv2d(1, 8, { kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(8, 16, { kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Flatten(), new Linear(16 * 7 * 7, 10),
    ).to(backend);
    const optimizer = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
    const rng = prng(3);
    const batch = 16;
    const images = Float32Array.from({ length: batch * 28 * 28 }, () => rng.next());
    const labels = Int32Array.from({ length: batch }, () => rng.int(10));
    const x = tensor(images, { shape: [batch, 1, 28, 28], backend });
    let after: { liveBuffers: number; liveBytes: number } | null = null;
    let rssAfterWarmup = 0;
    let lastLoss = NaN;
    const started = Date.now();
    for (let step = 0; step < STEPS; step++) {
      lastLoss = tidy(() => {
        optimizer.zeroGrad();
        const loss = crossEntropy(net.call(x), labels);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
      if (step === WARMUP - 1) {
        after = backend.memoryStats();
        rssAfterWarmup = process.memoryUsage().rss;
      }
      if (step >= WARMUP) {
        const now = backend.memoryStats();
        assert.equal(now.liveBuffers, after!.liveBuffers, `step ${step}: live buffers ${after!.liveBuffers} -> ${now.liveBuffers}`);
        assert.equal(now.liveBytes, after!.liveBytes, `step ${step}: live bytes ${after!.liveBytes} -> ${now.liveBytes}`);
      }
    }
    assert.ok(Number.isFinite(lastLoss), "the loss diverged");
    const end = backend.memoryStats();
    const rssGrowthMb = (process.memoryUsage().rss - rssAfterWarmup) / 2 ** 20;
    const line = `${STEPS} native steps in ${((Date.now() - started) / 1000).toFixed(1)}s: live buffers ${after!.liveBuffers} -> ${end.liveBuffers}, ` +
      `live bytes ${after!.liveBytes} -> ${end.liveBytes}, RSS growth after warm-up ${rssGrowthMb.toFixed(1)} MB (bound ${RSS_BOUND_MB}), loss ${lastLoss.toFixed(3)}`;
    t.diagnostic(line);
    record("stability", { notes: [line] });
    assert.ok(rssGrowthMb < RSS_BOUND_MB, line);
    x.dispose();
    optimizer.dispose();
    net.dispose();
  });
});

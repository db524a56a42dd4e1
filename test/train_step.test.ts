// Training steps against PyTorch: a small conv net in AlexNet's pattern, loaded with PyTorch's initial
// weights, trained three SGD steps (momentum 0.9, weight decay 1e-3) on fixed batches; every loss and every
// parameter after the steps must match PyTorch's. Also: a step leaves no buffer behind.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, DType } from "../src/backend/backend.js";
import type { Sequential } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { tidy } from "../src/tensor/scope.js";
import { noGrad } from "../src/tensor/autograd.js";
import { TEST_BACKENDS, assertClose, fromFixture, readFixture, smallConvNet, type TrainFixture } from "./helpers.js";

const fx = readFixture<TrainFixture>("train_step.json");

async function train(backend: Backend, dtype: DType): Promise<{ net: Sequential; opt: SGD; losses: number[] }> {
  const net = await smallConvNet().to(backend, dtype);
  tidy(() => net.loadStateDict(new Map(Object.entries(fx.initial).map(([k, v]) => [k, fromFixture(v, backend, dtype)]))));
  const opt = new SGD(net.parameters(), fx.sgd);
  const losses: number[] = [];
  for (const batch of fx.batches) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = crossEntropy(net.call(fromFixture(batch.x, backend, dtype)), batch.labels);
      l.backward();
      opt.step();
      return l.item();
    });
    losses.push(loss);
  }
  return { net, opt, losses };
}

for (const { backend, dtypes } of TEST_BACKENDS) {
  for (const dtype of dtypes) {
    describe(`three SGD steps on ${backend.name} (${dtype}) match PyTorch`, () => {
      it("losses and final parameters", async () => {
        const { net, opt, losses } = await train(backend, dtype);
        const tol = dtype === "float64" ? 1e-9 : 1e-4;
        assertClose(losses, fx.losses, tol, "losses");
        for (const [name, p] of net.namedParameters()) assertClose(p.dataSync(), fx.final[name]!.data, tol, name);
        opt.dispose();
        net.dispose();
      });

      it("live buffers return to baseline after training steps and disposal", async () => {
        const before = backend.memoryStats();
        const { net, opt } = await train(backend, dtype);
        const during = backend.memoryStats();
        // What remains between steps: parameters, their gradients and momentum buffers (3 per parameter).
        assert.equal(during.liveBuffers - before.liveBuffers, 3 * net.parameters().length);
        // Evaluation (no graph) leaves nothing behind either.
        net.eval();
        tidy(() => noGrad(() => net.call(fromFixture(fx.batches[0]!.x, backend, dtype)).dataSync()));
        assert.equal(backend.memoryStats().liveBuffers, during.liveBuffers);
        opt.dispose();
        net.dispose();
        const after = backend.memoryStats();
        assert.deepEqual([after.liveBuffers, after.liveBytes], [before.liveBuffers, before.liveBytes]);
      });
    });
  }
}

// The native backend's buffer accounting over whole training steps of a small conv net written directly
// against the Backend interface (so that no front-end bookkeeping hides a leak): after the first step every
// step gives back all it took, creates no primitives and takes every buffer from the pool.
import assert from "node:assert/strict";
import { it } from "node:test";
import { type Backend, type Conv2dParams, type OpContext, type Pool2dParams, type SgdParams, type Storage, numel } from "../src/backend/backend.js";
import { rng } from "./helpers.js";
import { describeNative, randArray } from "./nativeHelpers.js";

describeNative("native memory accounting", (nb) => {
  it("a training step of a small conv net leaves live buffers and bytes at the baseline", () => {
    const start = nb.memoryStats();
    const r = rng(13);
    const net = backendConvNet(nb, r);
    const afterParams = nb.memoryStats();
    const x = randArray(r, 8 * 1 * 12 * 12);
    const labels = Int32Array.from({ length: 8 }, (_, i) => i % 10);
    // The first step converts the weights to oneDNN's blocked layouts in place (which may change their
    // byte size); from then on every step must give back everything it took.
    trainStep(nb, net, x, labels, true);
    assert.equal(nb.memoryStats().liveBuffers, afterParams.liveBuffers);
    const steady = nb.memoryStats();
    let warm = nb.info();
    for (let step = 0; step < 3; step++) {
      trainStep(nb, net, x, labels, false);
      assert.deepEqual(nb.memoryStats(), steady, `after step ${step + 2}`);
      // The second step may still fill the pool (the first one changed which buffers are free when).
      if (step === 0) warm = nb.info();
    }
    assert.equal(nb.info().cachedPrimitives, warm.cachedPrimitives, "primitives created after the first step");
    assert.equal(nb.info().freshAllocations, warm.freshAllocations, "system allocations after the first step");
    const logits = forward(nb, net, nb.fromArray(x, [8, 1, 12, 12], "float32"), false);
    for (const s of logits.garbage) nb.dispose(s);
    for (const c of logits.contexts) c.dispose();
    nb.dispose(logits.y);
    assert.deepEqual(nb.memoryStats(), steady, "after evaluation");
    for (const s of [...net.params, ...net.velocity]) {
      nb.dispose(s);
      nb.dispose(s);
    }
    // Live counts only: the peak has grown since `start`, which in a process of its own was taken before
    // anything had been allocated.
    const end = nb.memoryStats();
    assert.deepEqual([end.liveBuffers, end.liveBytes], [start.liveBuffers, start.liveBytes], "after disposing the parameters");
  });
});

interface BackendConvNet {
  params: Storage[]; // w1 b1 w2 b2 w3 b3
  velocity: Storage[];
}

const CONV: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
const POOL: Pool2dParams = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };

function backendConvNet(b: Backend, r: () => number): BackendConvNet {
  const shapes = [[16, 1, 3, 3], [16], [32, 16, 3, 3], [32], [10, 32 * 3 * 3], [10]];
  const params = shapes.map((s) => b.fromArray(randArray(r, numel(s), 0.3), s, "float32"));
  const velocity = shapes.map((s) => b.fill(s, "float32", 0));
  return { params, velocity };
}

interface Forward {
  y: Storage;
  garbage: Storage[];
  contexts: OpContext[];
  saved: Storage[];
}

/** x (N,1,12,12) -> conv relu pool -> conv relu pool -> flatten -> dropout -> linear -> logits (N,10). */
function forward(b: Backend, net: BackendConvNet, x: Storage, training: boolean): Forward {
  const [w1, b1, w2, b2, w3, b3] = net.params as [Storage, Storage, Storage, Storage, Storage, Storage];
  const c1 = b.conv2d(x, w1, b1, CONV);
  const r1 = b.relu(c1);
  const p1 = b.maxPool2d(r1, POOL);
  const c2 = b.conv2d(p1.y, w2, b2, CONV);
  const r2 = b.relu(c2);
  const p2 = b.maxPool2d(r2, POOL);
  const f = b.reshape(p2.y, [x.shape[0]!, 32 * 3 * 3]);
  const d = b.dropout(f, training ? 0.5 : 0, 99);
  const y = b.linear(d.y, w3, b3);
  return { y, garbage: [x, c1, r1, p1.y, c2, r2, p2.y, f, d.y], contexts: [p1.ctx, p2.ctx, d.ctx], saved: [x, r1, p1.y, r2, d.y] };
}

function trainStep(b: Backend, net: BackendConvNet, xData: Float32Array, labels: Int32Array, first: boolean): void {
  const [w1, , w2, , w3] = net.params as [Storage, Storage, Storage, Storage, Storage, Storage];
  const x = b.fromArray(xData, [labels.length, 1, 12, 12], "float32");
  const fw = forward(b, net, x, true);
  const [, r1, p1y, r2, dy] = fw.saved as [Storage, Storage, Storage, Storage, Storage];
  const [p1ctx, p2ctx, dctx] = fw.contexts as [OpContext, OpContext, OpContext];
  const ce = b.crossEntropy(fw.y, labels);
  const one = b.fromArray(new Float32Array([1]), [], "float32");
  const dlogits = b.crossEntropyBackward(one, ce.ctx);
  const g3 = b.linearBackward(dlogits, dy, w3, true, true);
  const dd = b.dropoutBackward(g3.dx!, dctx);
  const df = b.reshape(dd, r2.shape.length === 4 ? [labels.length, 32, 3, 3] : r2.shape);
  const dp2 = b.maxPool2dBackward(df, r2, p2ctx, POOL);
  const dr2 = b.reluBackward(dp2, r2);
  const g2 = b.conv2dBackward(dr2, p1y, w2, true, CONV, true);
  const dp1 = b.maxPool2dBackward(g2.dx!, r1, p1ctx, POOL);
  const dr1 = b.reluBackward(dp1, r1);
  const g1 = b.conv2dBackward(dr1, x, w1, true, CONV, false);
  const grads = [g1.dw, g1.db!, g2.dw, g2.db!, g3.dw, g3.db!];
  const sgd: SgdParams = { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: false };
  net.params.forEach((p, i) => b.sgdUpdate(p, grads[i]!, net.velocity[i]!, sgd, first));
  for (const s of [...fw.garbage, fw.y, ce.loss, one, dlogits, g3.dx!, dd, df, dp2, dr2, g2.dx!, dp1, dr1, ...grads]) b.dispose(s);
  for (const c of [...fw.contexts, ce.ctx]) c.dispose();
}

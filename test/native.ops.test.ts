// The native backend's remaining ops against the reference backend: what it says about itself, SGD updates
// bit for bit (and on blocked conv weights), element-wise ops with broadcasting, sum and matmul (also on
// blocked tensors), one-thread results, and the rejection of disposed and foreign storage.
import assert from "node:assert/strict";
import { it } from "node:test";
import { type SgdParams, UnsupportedOpError, numel } from "../src/backend/backend.js";
import { rng } from "./helpers.js";
import {
  Pair, SAME_3X3, assertNormAndElementsClose, assertSameBits, convRoundTrip, describeNative, randArray, randomConvCase,
} from "./nativeHelpers.js";

describeNative("native ops vs reference", (nb, rb) => {
  it("describes itself and supports float32 only", () => {
    assert.match(nb.describe(), /^cpu \(native, \d+ threads?\)$/);
    assert.equal(nb.name, "native");
    assert.equal(nb.device, "cpu");
    assert.equal(nb.supports("conv2d", "float32"), true);
    assert.equal(nb.supports("conv2d", "float64"), false);
    assert.throws(() => nb.fill([2], "float64", 0), UnsupportedOpError);
    const s = nb.fromArray(new Float64Array([1.5, -2, 3]), [3], "float32");
    assert.deepEqual([...nb.readSync(s)], [1.5, -2, 3]);
    nb.dispose(s);
  });

  it("sgdUpdate matches the reference bit for bit (momentum, dampening, nesterov, weight decay)", () => {
    const r = rng(9);
    const configs: SgdParams[] = [
      { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { lr: 0.01, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0, nesterov: false },
      { lr: 0.02, momentum: 0.8, dampening: 0, weightDecay: 1e-3, nesterov: true },
    ];
    for (const cfg of configs) {
      const pair = new Pair(nb, rb, "float32");
      const [pn, pr] = pair.make(randArray(r, 777), [7, 111]);
      const [vn, vr] = cfg.momentum ? pair.make(new Float32Array(777), [7, 111]) : [null, null];
      for (let step = 0; step < 3; step++) {
        const [gn, gr] = pair.make(randArray(r, 777), [7, 111]);
        nb.sgdUpdate(pn, gn, vn, cfg, step === 0);
        rb.sgdUpdate(pr, gr, vr, cfg, step === 0);
        assertSameBits(nb.readSync(pn), rb.readSync(pr), `sgd ${JSON.stringify(cfg)} step ${step} param`);
        if (vn) assertSameBits(nb.readSync(vn), rb.readSync(vr!), `sgd step ${step} velocity`);
      }
      pair.disposeAll();
    }
  });

  it("sgdUpdate on blocked conv weights with blocked gradients", () => {
    const r = rng(10);
    const pair = new Pair(nb, rb);
    const cfg: SgdParams = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 1e-2, nesterov: false };
    const [xn, xr] = pair.make(randArray(r, 4 * 16 * 8 * 8), [4, 16, 8, 8]);
    const [wn, wr] = pair.make(randArray(r, 32 * 16 * 9, 0.2), [32, 16, 3, 3]);
    const [vn, vr] = pair.make(new Float32Array(32 * 16 * 9), [32, 16, 3, 3]);
    for (let step = 0; step < 2; step++) {
      const yn = nb.conv2d(xn, wn, null, SAME_3X3);
      const yr = rb.conv2d(xr, wr, null, SAME_3X3);
      pair.track(yn, yr);
      const gn = nb.conv2dBackward(yn, xn, wn, false, SAME_3X3, false);
      const gr = rb.conv2dBackward(yr, xr, wr, false, SAME_3X3, false);
      pair.track(gn.dw, gr.dw);
      nb.sgdUpdate(wn, gn.dw, vn, cfg, step === 0);
      rb.sgdUpdate(wr, gr.dw, vr, cfg, step === 0);
      assertNormAndElementsClose(nb.readSync(wn), rb.readSync(wr), `blocked sgd step ${step} weights`);
      assertNormAndElementsClose(nb.readSync(vn), rb.readSync(vr), `blocked sgd step ${step} velocity`);
    }
    pair.disposeAll();
  });

  it("element-wise ops with broadcasting, sum and matmul", () => {
    const r = rng(11);
    const pair = new Pair(nb, rb);
    const shapes: [number[], number[]][] = [
      [[4, 5], [4, 5]], [[4, 5], [5]], [[3, 1, 6], [1, 4, 1]], [[2, 3], []], [[], [7]], [[2, 1, 3, 1], [4, 1, 5]],
    ];
    for (const [sa, sb] of shapes) {
      const [an, ar] = pair.make(randArray(r, numel(sa)), sa);
      const bData = randArray(r, numel(sb));
      for (let i = 0; i < bData.length; i++) bData[i] = bData[i]! + (bData[i]! >= 0 ? 0.5 : -0.5); // away from 0 for div
      const [bn, br] = pair.make(bData, sb);
      for (const op of ["add", "sub", "mul", "div"] as const) {
        pair.check(nb.binary(op, an, bn), rb.binary(op, ar, br), `${op} ${sa} ${sb}`);
      }
    }
    const [an, ar] = pair.make(randArray(r, 60).map((v) => Math.abs(v) + 0.1), [3, 4, 5]);
    for (const op of ["neg", "exp", "log"] as const) pair.check(nb.unary(op, an), rb.unary(op, ar), op);
    pair.check(nb.affine(an, -1.5, 0.25), rb.affine(ar, -1.5, 0.25), "affine");
    for (const [axes, keep] of [[[], false], [[0], false], [[1], true], [[0, 2], false], [[-1], true], [[2, 0, 1], true]] as const) {
      pair.check(nb.sum(an, axes, keep), rb.sum(ar, axes, keep), `sum ${axes} ${keep}`);
    }
    const m = pair.make(randArray(r, 6 * 7), [6, 7]);
    const k = pair.make(randArray(r, 7 * 5), [7, 5]);
    const t = pair.make(randArray(r, 5 * 7), [5, 7]);
    const products: [string, typeof m, typeof m, boolean, boolean][] = [
      ["matmul", m, k, false, false], ["matmul b^T", m, t, false, true], ["matmul a^T b^T", k, t, true, true], ["matmul a^T", m, m, true, false],
    ];
    for (const [what, [a0, a1], [b0, b1], ta, tb] of products) pair.check(nb.matmul(a0, b0, ta, tb), rb.matmul(a1, b1, ta, tb), what);
    // Element-wise ops on two blocked tensors of the same layout work on the raw bytes.
    const conv = pair.blockedConv(r, [2, 4, 6, 6], 16, SAME_3X3);
    const y2 = nb.conv2d(conv.xn, conv.wn, null, SAME_3X3);
    pair.track(y2);
    const twice = rb.affine(conv.yr, 2, 0);
    pair.check(nb.binary("add", conv.yn, y2), twice, "add blocked");
    pair.check(nb.affine(conv.yn, 2, 0), rb.affine(conv.yr, 2, 0), "affine blocked");
    pair.check(nb.sum(conv.yn, [0, 2, 3], false), rb.sum(conv.yr, [0, 2, 3], false), "sum blocked");
    pair.track(twice);
    pair.disposeAll();
  });

  it("gives the same results with one thread", () => {
    const r = rng(12);
    const pair = new Pair(nb, rb);
    const before = nb.threads();
    try {
      nb.setThreads(1);
      assert.match(nb.describe(), /\(native, 1 thread\)/);
      convRoundTrip(pair, randomConvCase(r), r, "one-thread conv");
    } finally {
      nb.setThreads(before);
    }
    pair.disposeAll();
  });

  it("rejects disposed and foreign storage; double dispose is a no-op", () => {
    const s = nb.fill([3, 3], "float32", 0);
    const base = nb.memoryStats();
    nb.dispose(s);
    nb.dispose(s);
    const after = nb.memoryStats();
    assert.equal(after.liveBuffers, base.liveBuffers - 1);
    assert.equal(after.liveBytes, base.liveBytes - 36);
    assert.throws(() => nb.relu(s), /disposed/);
    const foreign = rb.fill([3], "float32", 0);
    assert.throws(() => nb.relu(foreign), /reference backend/);
    rb.dispose(foreign);
  });
});

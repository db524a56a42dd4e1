// The native backend's layer ops against the reference backend, forward and backward: max pooling, ReLU,
// linear (with the fused ReLU), dropout (masks bit for bit), reshape and cross-entropy, on row-major inputs
// and on the blocked layouts a conv output keeps between layers.
import assert from "node:assert/strict";
import { it } from "node:test";
import { type Pool2dParams, dropoutUniform, numel } from "../src/backend/backend.js";
import { rng } from "./helpers.js";
import { Pair, SAME_3X3, assertSameBits, describeNative, randArray, randInt } from "./nativeHelpers.js";

describeNative("native layers vs reference", (nb, rb) => {
  it("maxPool2d forward and backward, plain and blocked inputs", () => {
    const r = rng(3);
    const pair = new Pair(nb, rb);
    const cases: [number[], Pool2dParams][] = [
      [[2, 3, 9, 9], { kernel: [3, 3], stride: [2, 2], padding: [0, 0] }],
      [[1, 16, 26, 26], { kernel: [3, 3], stride: [2, 2], padding: [0, 0] }],
      [[2, 5, 8, 7], { kernel: [2, 3], stride: [2, 1], padding: [1, 1] }],
      [[3, 17, 10, 10], { kernel: [3, 3], stride: [1, 1], padding: [1, 0] }],
      [[2, 32, 13, 13], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }],
    ];
    for (const [shape, p] of cases) {
      const [xn, xr] = pair.make(randArray(r, numel(shape)), shape);
      const a = nb.maxPool2d(xn, p);
      const b = rb.maxPool2d(xr, p);
      pair.check(a.y, b.y, `pool ${shape} fwd`);
      const [dyn, dyr] = pair.make(randArray(r, numel(b.y.shape)), b.y.shape);
      pair.check(nb.maxPool2dBackward(dyn, xn, a.ctx, p), rb.maxPool2dBackward(dyr, xr, b.ctx, p), `pool ${shape} bwd`);
      a.ctx.dispose();
      a.ctx.dispose();
      b.ctx.dispose();
    }
    const { yn, yr } = pair.blockedConv(r, [2, 8, 11, 11], 32, SAME_3X3);
    const p: Pool2dParams = { kernel: [3, 3], stride: [2, 2], padding: [0, 0] };
    const a = nb.maxPool2d(yn, p);
    const b = rb.maxPool2d(yr, p);
    pair.check(a.y, b.y, "pool of blocked fwd");
    const [dyn, dyr] = pair.make(randArray(r, numel(b.y.shape)), b.y.shape);
    pair.check(nb.maxPool2dBackward(dyn, yn, a.ctx, p), rb.maxPool2dBackward(dyr, yr, b.ctx, p), "pool of blocked bwd");
    a.ctx.dispose();
    pair.disposeAll();
  });

  it("relu forward and backward, plain and blocked", () => {
    const r = rng(4);
    const pair = new Pair(nb, rb);
    const [xn, xr] = pair.make(randArray(r, 3 * 7 * 5), [3, 7, 5]);
    const yn = nb.relu(xn);
    const yr = rb.relu(xr);
    pair.check(yn, yr, "relu fwd");
    const [dyn, dyr] = pair.make(randArray(r, 3 * 7 * 5), [3, 7, 5]);
    pair.check(nb.reluBackward(dyn, yn), rb.reluBackward(dyr, yr), "relu bwd");
    // Blocked y with a row-major dy: the backward converts dy.
    const conv = pair.blockedConv(r, [2, 3, 6, 6], 16, SAME_3X3);
    const yn2 = nb.relu(conv.yn);
    const yr2 = rb.relu(conv.yr);
    pair.check(yn2, yr2, "relu fwd blocked");
    const [dn, dr] = pair.make(randArray(r, numel(conv.yr.shape)), conv.yr.shape);
    pair.check(nb.reluBackward(dn, yn2), rb.reluBackward(dr, yr2), "relu bwd blocked");
    pair.disposeAll();
  });

  it("linear forward and gradients on random shapes", () => {
    const r = rng(5);
    const pair = new Pair(nb, rb);
    for (let i = 0; i < 8; i++) {
      const n = randInt(r, 1, 9);
      const inF = randInt(r, 1, 70);
      const outF = randInt(r, 1, 40);
      const bias = i % 3 !== 1;
      const needDx = i % 4 !== 2;
      const [xn, xr] = pair.make(randArray(r, n * inF), [n, inF]);
      const [wn, wr] = pair.make(randArray(r, outF * inF), [outF, inF]);
      const [bn, br] = bias ? pair.make(randArray(r, outF), [outF]) : [null, null];
      const tag = `linear ${n}x${inF}->${outF}`;
      pair.check(nb.linear(xn, wn, bn), rb.linear(xr, wr, br), `${tag} fwd`);
      const [dyn, dyr] = pair.make(randArray(r, n * outF), [n, outF]);
      const gn = nb.linearBackward(dyn, xn, wn, bias, needDx);
      const gr = rb.linearBackward(dyr, xr, wr, bias, needDx);
      pair.checkGradients(gn, gr, { needDx, bias }, tag);
      const yRelu = nb.linear(xn, wn, bn, { relu: true });
      const yLin = rb.linear(xr, wr, br);
      pair.track(yLin);
      pair.check(yRelu, rb.relu(yLin), `${tag} fused relu`);
      pair.disposeAll();
    }
  });

  it("dropout masks and values are identical to the reference's", () => {
    const r = rng(6);
    const pair = new Pair(nb, rb, "float32");
    for (const [p, seed] of [[0, 1], [0.3, 7], [0.5, 123456789], [0.9, 0xdeadbeef], [1, 5]] as const) {
      const x = randArray(r, 4 * 1000);
      const [xn, xr] = pair.make(x, [4, 1000]);
      const a = nb.dropout(xn, p, seed);
      const b = rb.dropout(xr, p, seed);
      pair.track(a.y, b.y);
      const yn = nb.readSync(a.y);
      assertSameBits(yn, rb.readSync(b.y), `dropout p=${p} values`);
      for (let i = 0; i < x.length; i++) {
        assert.equal(yn[i] === 0, dropoutUniform(seed, i) < p, `dropout p=${p} mask at ${i}`);
      }
      const [dn, dr] = pair.make(randArray(r, 4 * 1000), [4, 1000]);
      const gn = nb.dropoutBackward(dn, a.ctx);
      const gr = rb.dropoutBackward(dr, b.ctx);
      pair.track(gn, gr);
      assertSameBits(nb.readSync(gn), rb.readSync(gr), `dropout p=${p} backward`);
      a.ctx.dispose();
    }
    // On a blocked (conv output) tensor the mask still follows the row-major NCHW index.
    const { yn } = pair.blockedConv(r, [2, 4, 5, 5], 32, SAME_3X3);
    const a = nb.dropout(yn, 0.5, 42);
    const values = nb.readSync(a.y);
    const before = nb.readSync(yn);
    for (let i = 0; i < values.length; i++) {
      const kept = dropoutUniform(42, i) >= 0.5;
      assert.equal(values[i], kept ? Math.fround(before[i]! * 2) : before[i]! * 0, `blocked dropout at ${i}`);
    }
    pair.track(a.y);
    pair.disposeAll();
  });

  it("reshape of a blocked conv output gives row-major (N, C*H*W) order", () => {
    const r = rng(7);
    const pair = new Pair(nb, rb);
    const { yn, yr } = pair.blockedConv(r, [3, 5, 7, 7], 48, { stride: [2, 2], padding: [1, 1] });
    assert.equal(nb.isRowMajor(yn), false, "a 48-channel conv output should be blocked");
    const fn = nb.reshape(yn, [3, 48 * 16]);
    const fr = rb.reshape(yr, [3, 48 * 16]);
    assert.equal(nb.isRowMajor(fn), true);
    pair.check(fn, fr, "flatten");
    pair.check(nb.reshape(fn, [3, 48, 4, 4]), rb.reshape(fr, [3, 48, 4, 4]), "unflatten");
    pair.disposeAll();
  });

  it("cross-entropy forward and backward", () => {
    const r = rng(8);
    const pair = new Pair(nb, rb);
    for (const [n, k] of [[1, 2], [7, 10], [128, 10], [5, 1000]] as const) {
      const [ln, lr] = pair.make(randArray(r, n * k, 8), [n, k]);
      const labels = Int32Array.from({ length: n }, () => randInt(r, 0, k - 1));
      const a = nb.crossEntropy(ln, labels);
      const b = rb.crossEntropy(lr, labels);
      pair.check(a.loss, b.loss, `ce ${n}x${k} loss`);
      assert.deepEqual(a.loss.shape, []);
      const [dn, dr] = pair.make(new Float32Array([0.75]), []);
      pair.check(nb.crossEntropyBackward(dn, a.ctx), rb.crossEntropyBackward(dr, b.ctx), `ce ${n}x${k} dlogits`);
      a.ctx.dispose();
      a.ctx.dispose();
    }
    const [ln] = pair.make(randArray(r, 6), [2, 3]);
    assert.throws(() => nb.crossEntropy(ln, new Int32Array([0, 3])), /label 3/);
    pair.disposeAll();
  });
});

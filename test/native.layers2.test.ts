// The native backend's later-chapter layer ops against the reference backend, forward and backward:
// sigmoid, tanh, average and adaptive average pooling, batch normalization (training with the running
// statistics, eval, the fused ReLU), concat / split (GoogLeNet's channel concatenation), max and sqrt; on
// odd shapes, on row-major inputs and on the blocked layouts a conv output keeps, and in bf16 mixed
// precision. Ends with the live buffers back at the count the file started with.
import assert from "node:assert/strict";
import { it } from "node:test";
import { type BatchNormParams, OP_NAMES, type Pool2dParams, type Storage, numel } from "../src/backend/backend.js";
import type { NativeBackend } from "../src/backend/native/index.js";
import type { ReferenceBackend } from "../src/backend/reference/index.js";
import { rng } from "./helpers.js";
import { Pair, SAME_3X3, assertNormAndElementsClose, describeNative, randArray } from "./nativeHelpers.js";

/** The same channel vector (C) on both backends, e.g. BatchNorm's weight or running statistics. */
function channelPair(pair: Pair, values: number[]): [Storage, Storage] {
  return pair.make(Float32Array.from(values), [values.length]);
}

/** Runs batchNorm forward (+ backward) on both backends and compares y, dx, dweight, dbias. */
function checkBatchNorm(
  pair: Pair, r: () => number, xn: Storage, xr: Storage, p: BatchNormParams, tag: string,
  opts: { relu?: boolean; rtol?: number; dy?: [Storage, Storage] } = {},
): void {
  const { nb, rb } = pair;
  const c = xn.shape[1]!;
  const w = Array.from({ length: c }, () => 1 + 0.5 * r());
  const b = Array.from({ length: c }, () => 0.3 * r());
  const [wn, wr] = channelPair(pair, w);
  const [bn, br] = channelPair(pair, b);
  const [mn, mr] = channelPair(pair, Array.from({ length: c }, () => 0.2 * r()));
  const [vn, vr] = channelPair(pair, Array.from({ length: c }, () => 1 + 0.5 * r()));
  const rtol = opts.rtol ?? 1e-4;
  const a = nb.batchNorm(xn, wn, bn, mn, vn, p, { relu: opts.relu === true });
  const e = rb.batchNorm(xr, wr, br, mr, vr, p, { relu: opts.relu === true });
  pair.check(a.y, e.y, `${tag} y`, rtol);
  pair.check(nb.copy(mn), rb.copy(mr), `${tag} running mean`, rtol);
  pair.check(nb.copy(vn), rb.copy(vr), `${tag} running var`, rtol);
  const [dyn, dyr] = opts.dy ?? pair.make(randArray(r, numel(xn.shape)), xn.shape);
  const gn = nb.batchNormBackward(dyn, xn, wn, a.ctx);
  const gr = rb.batchNormBackward(dyr, xr, wr, e.ctx);
  pair.check(gn.dx, gr.dx, `${tag} dx`, rtol);
  pair.check(gn.dweight, gr.dweight, `${tag} dweight`, rtol);
  pair.check(gn.dbias, gr.dbias, `${tag} dbias`, rtol);
  a.ctx.dispose();
  a.ctx.dispose();
  e.ctx.dispose();
}

/** GoogLeNet's channel concat of `parts` (native, reference) and the split back, compared. */
function checkConcatSplit(pair: Pair, parts: [Storage, Storage][], axis: number, tag: string, rtol = 1e-4): void {
  const { nb, rb } = pair;
  const yn = nb.concat(parts.map((p) => p[0]), axis);
  const yr = rb.concat(parts.map((p) => p[1]), axis);
  pair.check(yn, yr, `${tag} concat`, rtol);
  const sizes = parts.map((p) => p[0].shape.at(axis)!);
  const sn = nb.split(yn, axis, sizes);
  const sr = rb.split(yr, axis, sizes);
  assert.equal(sn.length, parts.length);
  sn.forEach((s, i) => {
    pair.check(s, sr[i]!, `${tag} split part ${i}`, rtol);
    // split(concat(xs)) gives xs back exactly (the values only move)
    assertNormAndElementsClose(nb.readSync(s), nb.readSync(parts[i]![0]), `${tag} split part ${i} round trip`, 0);
  });
}

function allLayerOps(nb: NativeBackend, rb: ReferenceBackend, pair: Pair, r: () => number, rtol: number, tag: string): void {
  // Conv outputs as inputs: blocked nChw16c in fp32, bf16 (blocked or NHWC) in mixed precision.
  const conv = pair.blockedConv(r, [2, 5, 9, 11], 24, SAME_3X3);
  const { yn, yr } = conv;
  for (const [name, f, g] of [
    ["sigmoid", (b: NativeBackend | ReferenceBackend, x: Storage) => b.sigmoid(x), (b: NativeBackend | ReferenceBackend, d: Storage, y: Storage) => b.sigmoidBackward(d, y)],
    ["tanh", (b: NativeBackend | ReferenceBackend, x: Storage) => b.tanh(x), (b: NativeBackend | ReferenceBackend, d: Storage, y: Storage) => b.tanhBackward(d, y)],
  ] as const) {
    const an = f(nb, yn);
    const ar = f(rb, yr);
    pair.check(an, ar, `${tag} ${name} of conv`, rtol);
    const [dn, dr] = pair.make(randArray(r, numel(yr.shape)), yr.shape);
    pair.check(g(nb, dn, an), g(rb, dr, ar), `${tag} ${name} backward of conv`, rtol);
  }
  const p: Pool2dParams = { kernel: [3, 3], stride: [2, 2], padding: [1, 1] };
  const pn = nb.avgPool2d(yn, p);
  const pr = rb.avgPool2d(yr, p);
  pair.check(pn, pr, `${tag} avgPool of conv`, rtol);
  // The pooled output (in the conv's layout family) serves as a dy in that layout.
  pair.check(nb.avgPool2dBackward(pn, yn.shape, p), rb.avgPool2dBackward(pr, yr.shape, p), `${tag} avgPool backward, blocked dy`, rtol);
  for (const out of [[1, 1], [3, 11], [4, 3]] as [number, number][]) {
    const an = nb.adaptiveAvgPool2d(yn, out);
    const ar = rb.adaptiveAvgPool2d(yr, out);
    pair.check(an, ar, `${tag} adaptive ${out} of conv`, rtol);
    const s = yn.shape as [number, number, number, number];
    pair.check(nb.adaptiveAvgPool2dBackward(an, s), rb.adaptiveAvgPool2dBackward(ar, s), `${tag} adaptive ${out} backward`, rtol);
  }
  checkBatchNorm(pair, r, yn, yr, { training: true, momentum: 0.1, eps: 1e-5 }, `${tag} batchNorm of conv`, { rtol });
  checkBatchNorm(pair, r, yn, yr, { training: false, momentum: 0.1, eps: 1e-5 }, `${tag} batchNorm eval of conv`, { rtol });
  checkBatchNorm(pair, r, yn, yr, { training: true, momentum: 0.1, eps: 1e-5 }, `${tag} batchNorm+relu of conv`, { rtol, relu: true });
  // dy from a conv too (bf16 x and bf16 dy: the backward runs in bf16).
  const dyConv = pair.blockedConv(r, [2, 5, 9, 11], 24, SAME_3X3);
  checkBatchNorm(pair, r, yn, yr, { training: true, momentum: 0.1, eps: 1e-5 }, `${tag} batchNorm, conv dy`, { rtol, dy: [dyConv.yn, dyConv.yr] });
  checkBatchNorm(pair, r, yn, yr, { training: false, momentum: 0.1, eps: 1e-5 }, `${tag} batchNorm eval, conv dy`, { rtol, dy: [dyConv.yn, dyConv.yr] });
  // GoogLeNet: branches of different widths, concatenated along channels, split back in the backward.
  const b2 = pair.blockedConv(r, [2, 5, 9, 11], 16, SAME_3X3);
  const b3 = pair.blockedConv(r, [2, 5, 9, 11], 7, SAME_3X3);
  const b4 = pair.blockedConv(r, [2, 5, 9, 11], 33, SAME_3X3);
  checkConcatSplit(pair, [[yn, yr], [b2.yn, b2.yr]], 1, `${tag} 2 branches`, rtol);
  checkConcatSplit(pair, [[b3.yn, b3.yr], [yn, yr], [b4.yn, b4.yr]], 1, `${tag} 3 branches`, rtol);
  checkConcatSplit(pair, [[yn, yr], [b2.yn, b2.yr], [b3.yn, b3.yr], [b4.yn, b4.yr]], 1, `${tag} 4 branches`, rtol);
  // A conv output (bf16 in mixed precision) beside a row-major fp32 tensor.
  checkConcatSplit(pair, [[yn, yr], pair.make(randArray(r, 2 * 3 * 9 * 11), [2, 3, 9, 11])], 1, `${tag} conv + fp32`, rtol);
}

describeNative("native layers2 vs reference", (nb, rb) => {
  const baseline = nb.memoryStats().liveBuffers;

  it("reports the new ops as supported", () => {
    for (const op of OP_NAMES) assert.ok(nb.supports(op, "float32"), `${op} float32`);
    assert.equal(nb.supports("batchNorm", "float64"), false);
  });

  it("sigmoid and tanh forward and backward, plain and blocked", () => {
    const r = rng(21);
    const pair = new Pair(nb, rb);
    for (const shape of [[3, 7, 5], [2, 9], [1], [2, 3, 4, 5]]) {
      // |x| < 3: tanh's 1 - y^2 near y = +-1 is as exact as fp32's y (the reference keeps y in float64).
      const [xn, xr] = pair.make(randArray(r, numel(shape), 3), shape);
      const [dn, dr] = pair.make(randArray(r, numel(shape)), shape);
      const sn = nb.sigmoid(xn);
      const sr = rb.sigmoid(xr);
      pair.check(sn, sr, `sigmoid ${shape}`);
      pair.check(nb.sigmoidBackward(dn, sn), rb.sigmoidBackward(dr, sr), `sigmoid backward ${shape}`);
      const tn = nb.tanh(xn);
      const tr = rb.tanh(xr);
      pair.check(tn, tr, `tanh ${shape}`);
      pair.check(nb.tanhBackward(dn, tn), rb.tanhBackward(dr, tr), `tanh backward ${shape}`);
    }
    const conv = pair.blockedConv(r, [2, 3, 7, 6], 20, SAME_3X3);
    assert.equal(nb.isRowMajor(conv.yn), false, "a 20-channel conv output should be blocked");
    const sn = nb.sigmoid(conv.yn);
    assert.equal(nb.isRowMajor(sn), false, "sigmoid keeps the blocked layout");
    const sr = rb.sigmoid(conv.yr);
    pair.check(sn, sr, "sigmoid blocked");
    const [dn, dr] = pair.make(randArray(r, numel(conv.yr.shape)), conv.yr.shape);
    pair.check(nb.sigmoidBackward(dn, sn), rb.sigmoidBackward(dr, sr), "sigmoid backward blocked");
    const tn = nb.tanh(conv.yn);
    const tr = rb.tanh(conv.yr);
    pair.check(tn, tr, "tanh blocked");
    pair.check(nb.tanhBackward(dn, tn), rb.tanhBackward(dr, tr), "tanh backward blocked");
    pair.disposeAll();
  });

  it("avgPool2d forward and backward: padding counted, odd shapes, plain and blocked", () => {
    const r = rng(22);
    const pair = new Pair(nb, rb);
    const cases: [number[], Pool2dParams][] = [
      [[2, 3, 9, 9], { kernel: [3, 3], stride: [2, 2], padding: [0, 0] }],
      [[1, 6, 28, 28], { kernel: [2, 2], stride: [2, 2], padding: [0, 0] }], // LeNet
      [[2, 5, 8, 7], { kernel: [2, 3], stride: [2, 1], padding: [1, 1] }],
      [[3, 17, 10, 10], { kernel: [3, 3], stride: [1, 1], padding: [1, 0] }],
      [[2, 32, 13, 11], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }],
      [[1, 2, 5, 5], { kernel: [5, 5], stride: [1, 1], padding: [2, 2] }],
    ];
    for (const [shape, p] of cases) {
      const [xn, xr] = pair.make(randArray(r, numel(shape)), shape);
      const yr = rb.avgPool2d(xr, p);
      pair.check(nb.avgPool2d(xn, p), yr, `avgPool ${shape} fwd`);
      const [dyn, dyr] = pair.make(randArray(r, numel(yr.shape)), yr.shape);
      pair.check(nb.avgPool2dBackward(dyn, shape, p), rb.avgPool2dBackward(dyr, shape, p), `avgPool ${shape} bwd`);
    }
    const { yn, yr } = pair.blockedConv(r, [2, 8, 11, 11], 32, SAME_3X3);
    const p: Pool2dParams = { kernel: [3, 3], stride: [2, 2], padding: [1, 1] };
    const an = nb.avgPool2d(yn, p);
    const ar = rb.avgPool2d(yr, p);
    assert.equal(nb.isRowMajor(an), false, "pooling keeps the blocked layout");
    pair.check(an, ar, "avgPool of blocked fwd");
    const [dyn, dyr] = pair.make(randArray(r, numel(ar.shape)), ar.shape);
    const dxn = nb.avgPool2dBackward(dyn, yn.shape, p);
    pair.check(dxn, rb.avgPool2dBackward(dyr, yr.shape, p), "avgPool of blocked bwd, plain dy");
    pair.check(nb.avgPool2dBackward(an, yn.shape, p), rb.avgPool2dBackward(ar, yr.shape, p), "avgPool bwd, blocked dy");
    assert.throws(() => nb.avgPool2dBackward(dyn, [2, 32, 14, 11], p), /avgPool2dBackward/);
    pair.disposeAll();
  });

  it("adaptiveAvgPool2d: (1,1), divisible and non-divisible bins, plain and blocked", () => {
    const r = rng(23);
    const pair = new Pair(nb, rb);
    const cases: [number[], [number, number]][] = [
      [[2, 3, 7, 9], [1, 1]],
      [[2, 3, 12, 8], [4, 2]],
      [[2, 3, 12, 8], [6, 8]],
      [[2, 3, 7, 9], [3, 4]], // bins overlap
      [[1, 5, 5, 5], [7, 7]], // more outputs than inputs
      [[3, 2, 10, 6], [4, 6]], // rows uneven, columns even
    ];
    for (const [shape, out] of cases) {
      const [xn, xr] = pair.make(randArray(r, numel(shape)), shape);
      const yr = rb.adaptiveAvgPool2d(xr, out);
      pair.check(nb.adaptiveAvgPool2d(xn, out), yr, `adaptive ${shape} -> ${out} fwd`);
      const [dyn, dyr] = pair.make(randArray(r, numel(yr.shape)), yr.shape);
      const s = shape as [number, number, number, number];
      pair.check(nb.adaptiveAvgPool2dBackward(dyn, s), rb.adaptiveAvgPool2dBackward(dyr, s), `adaptive ${shape} -> ${out} bwd`);
    }
    const { yn, yr } = pair.blockedConv(r, [2, 4, 12, 10], 48, SAME_3X3);
    for (const out of [[1, 1], [6, 5], [5, 3]] as [number, number][]) {
      const an = nb.adaptiveAvgPool2d(yn, out);
      const ar = rb.adaptiveAvgPool2d(yr, out);
      pair.check(an, ar, `adaptive blocked -> ${out} fwd`);
      const [dyn, dyr] = pair.make(randArray(r, numel(ar.shape)), ar.shape);
      const s = yn.shape as [number, number, number, number];
      pair.check(nb.adaptiveAvgPool2dBackward(dyn, s), rb.adaptiveAvgPool2dBackward(dyr, s), `adaptive blocked -> ${out} bwd`);
      pair.check(nb.adaptiveAvgPool2dBackward(an, s), rb.adaptiveAvgPool2dBackward(ar, s), `adaptive blocked -> ${out} bwd, own dy`);
    }
    pair.disposeAll();
  });

  it("batchNorm training and eval, forward and backward, 2-D and 4-D, plain and blocked, fused relu", () => {
    const r = rng(24);
    const pair = new Pair(nb, rb);
    const train: BatchNormParams = { training: true, momentum: 0.1, eps: 1e-5 };
    const evalMode: BatchNormParams = { training: false, momentum: 0.1, eps: 1e-5 };
    for (const shape of [[4, 3, 5, 7], [2, 17, 3, 3], [5, 10], [3, 1], [2, 6, 1, 1]]) {
      const [xn, xr] = pair.make(randArray(r, numel(shape), 2), shape);
      checkBatchNorm(pair, r, xn, xr, train, `bn ${shape} train`);
      checkBatchNorm(pair, r, xn, xr, evalMode, `bn ${shape} eval`);
      checkBatchNorm(pair, r, xn, xr, train, `bn ${shape} train relu`, { relu: true });
      checkBatchNorm(pair, r, xn, xr, evalMode, `bn ${shape} eval relu`, { relu: true });
    }
    const { yn, yr } = pair.blockedConv(r, [3, 4, 8, 9], 40, SAME_3X3);
    checkBatchNorm(pair, r, yn, yr, train, "bn blocked train");
    checkBatchNorm(pair, r, yn, yr, { training: false, momentum: 0.3, eps: 1e-3 }, "bn blocked eval");
    checkBatchNorm(pair, r, yn, yr, train, "bn blocked train relu", { relu: true });
    // A one-value-per-channel batch cannot train; eval works.
    const [on] = pair.make(randArray(r, 3), [1, 3]);
    const [w1] = pair.make(new Float32Array([1, 1, 1]), [3]);
    assert.throws(() => nb.batchNorm(on, w1, w1, w1, w1, train), /more than 1 value per channel/);
    pair.disposeAll();
  });

  it("batchNorm running statistics after 3 training calls (momentum, unbiased variance), then eval", () => {
    const r = rng(25);
    const pair = new Pair(nb, rb);
    const c = 5;
    const shape = [3, c, 4, 6];
    const [wn, wr] = channelPair(pair, [1, 0.5, 2, -1, 1.5]);
    const [bn, br] = channelPair(pair, [0, 0.1, -0.2, 0.3, 0]);
    const [mn, mr] = channelPair(pair, Array(c).fill(0));
    const [vn, vr] = channelPair(pair, Array(c).fill(1));
    const p: BatchNormParams = { training: true, momentum: 0.2, eps: 1e-5 };
    const expectMean = new Float64Array(c);
    const expectVar = new Float64Array(c).fill(1);
    for (let step = 0; step < 3; step++) {
      const x = randArray(r, numel(shape), 3);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + ((Math.floor(i / 24) % c) - 2); // a different mean per channel
      const [xn, xr] = pair.make(x, shape);
      const a = nb.batchNorm(xn, wn, bn, mn, vn, p);
      const e = rb.batchNorm(xr, wr, br, mr, vr, p);
      pair.check(a.y, e.y, `step ${step} y`);
      a.ctx.dispose();
      e.ctx.dispose();
      // By hand: PyTorch's rule, the unbiased variance n/(n-1) in the running variance.
      for (let ch = 0; ch < c; ch++) {
        const vals: number[] = [];
        for (let n = 0; n < shape[0]!; n++) for (let k = 0; k < 24; k++) vals.push(x[(n * c + ch) * 24 + k]!);
        const m = vals.reduce((s, v) => s + v, 0) / vals.length;
        const q = vals.reduce((s, v) => s + (v - m) ** 2, 0);
        expectMean[ch] = (1 - p.momentum) * expectMean[ch]! + p.momentum * m;
        expectVar[ch] = (1 - p.momentum) * expectVar[ch]! + p.momentum * (q / (vals.length - 1));
      }
    }
    assertNormAndElementsClose(nb.readSync(mn), rb.readSync(mr), "running mean vs reference");
    assertNormAndElementsClose(nb.readSync(vn), rb.readSync(vr), "running var vs reference");
    assertNormAndElementsClose(nb.readSync(mn), expectMean, "running mean by hand");
    assertNormAndElementsClose(nb.readSync(vn), expectVar, "running var by hand");
    // Eval uses the running statistics and leaves them alone.
    const [xn, xr] = pair.make(randArray(r, numel(shape)), shape);
    const a = nb.batchNorm(xn, wn, bn, mn, vn, { ...p, training: false });
    const e = rb.batchNorm(xr, wr, br, mr, vr, { ...p, training: false });
    pair.check(a.y, e.y, "eval y");
    const y = nb.readSync(a.y);
    const x = nb.readSync(xn);
    const w = nb.readSync(wn);
    const b = nb.readSync(bn);
    for (let i = 0; i < x.length; i += 7) {
      const ch = Math.floor(i / 24) % c;
      const want = ((x[i]! - expectMean[ch]!) / Math.sqrt(expectVar[ch]! + p.eps)) * w[ch]! + b[ch]!;
      assert.ok(Math.abs(y[i]! - want) < 1e-4 * Math.max(1, Math.abs(want)), `eval y[${i}] = ${y[i]}, want ${want}`);
    }
    assertNormAndElementsClose(nb.readSync(mn), expectMean, "running mean unchanged by eval");
    assertNormAndElementsClose(nb.readSync(vn), expectVar, "running var unchanged by eval");
    const [dyn, dyr] = pair.make(randArray(r, numel(shape)), shape);
    const gn = nb.batchNormBackward(dyn, xn, wn, a.ctx);
    const gr = rb.batchNormBackward(dyr, xr, wr, e.ctx);
    pair.check(gn.dx, gr.dx, "eval dx");
    pair.check(gn.dweight, gr.dweight, "eval dweight");
    pair.check(gn.dbias, gr.dbias, "eval dbias");
    a.ctx.dispose();
    assert.throws(() => nb.batchNormBackward(dyn, xn, wn, a.ctx), /disposed/);
    pair.disposeAll();
  });

  it("concat of 2-4 GoogLeNet branches along channels and split back, plain, blocked and mixed", () => {
    const r = rng(26);
    const pair = new Pair(nb, rb);
    const x = [2, 6, 7, 5];
    const branches = [64, 5, 16, 24, 33, 1].map((o) => pair.blockedConv(r, x, o, SAME_3X3));
    const bp = branches.map((b) => [b.yn, b.yr] as [Storage, Storage]);
    checkConcatSplit(pair, [bp[0]!, bp[3]!], 1, "2 blocked");
    checkConcatSplit(pair, [bp[1]!, bp[2]!, bp[4]!], 1, "3 mixed");
    checkConcatSplit(pair, [bp[0]!, bp[1]!, bp[3]!, bp[5]!], 1, "4 mixed");
    checkConcatSplit(pair, [bp[2]!, bp[0]!, bp[3]!, bp[4]!], 1, "4 blocked");
    const plain = [3, 8, 1].map((ch) => pair.make(randArray(r, 2 * ch * 7 * 5), [2, ch, 7, 5]));
    checkConcatSplit(pair, plain, 1, "3 plain");
    checkConcatSplit(pair, [plain[0]!, bp[4]!], 1, "plain + blocked");
    // Other axes and ranks: batch, spatial, 2-D features, 1-D.
    checkConcatSplit(pair, [pair.make(randArray(r, 3 * 4 * 5), [3, 4, 5]), pair.make(randArray(r, 1 * 4 * 5), [1, 4, 5])], 0, "axis 0");
    checkConcatSplit(pair, [pair.make(randArray(r, 2 * 3 * 4 * 5), [2, 3, 4, 5]), pair.make(randArray(r, 2 * 3 * 2 * 5), [2, 3, 2, 5])], -2, "axis -2");
    checkConcatSplit(pair, [pair.make(randArray(r, 3 * 7), [3, 7]), pair.make(randArray(r, 3 * 2), [3, 2]), pair.make(randArray(r, 3), [3, 1])], 1, "2-D");
    checkConcatSplit(pair, [pair.make(randArray(r, 4), [4]), pair.make(randArray(r, 9), [9])], 0, "1-D");
    // One part of size 0, and a split with a zero-size part.
    const empty = pair.make(new Float32Array(0), [2, 0, 7, 5]);
    checkConcatSplit(pair, [bp[1]!, empty, bp[2]!], 1, "with an empty part");
    // Split a blocked tensor at sizes off the 16-channel blocks.
    const sn = nb.split(bp[0]![0], 1, [5, 11, 0, 48]);
    const sr = rb.split(bp[0]![1], 1, [5, 11, 0, 48]);
    sn.forEach((s, i) => pair.check(s, sr[i]!, `uneven split part ${i}`));
    assert.throws(() => nb.split(bp[0]![0], 1, [5, 11]), /split/);
    pair.disposeAll();
  });

  it("max over axes (NaN propagates) and sqrt, plain and blocked", () => {
    const r = rng(27);
    const pair = new Pair(nb, rb);
    const shape = [3, 4, 5];
    const [xn, xr] = pair.make(randArray(r, numel(shape), 4), shape);
    for (const [axes, keep] of [[[], false], [[], true], [[1], false], [[2], true], [[0, 2], false], [[-1], false], [[0, 1, 2], true]] as [number[], boolean][]) {
      const an = nb.max(xn, axes, keep);
      const ar = rb.max(xr, axes, keep);
      pair.check(an, ar, `max ${axes} keep=${keep}`, 0);
    }
    const withNan = randArray(r, 12);
    withNan[5] = NaN;
    const [nn] = pair.make(withNan, [3, 4]);
    const mx = nb.max(nn, [1], false);
    pair.track(mx);
    const m = nb.readSync(mx);
    assert.ok(Number.isNaN(m[1]!) && !Number.isNaN(m[0]!) && !Number.isNaN(m[2]!), `NaN row: ${m}`);
    const { yn, yr } = pair.blockedConv(r, [2, 3, 5, 5], 17, SAME_3X3);
    pair.check(nb.max(yn, [1], true), rb.max(yr, [1], true), "max over channels of blocked", 1e-5);
    const [pn, pr] = pair.make(Float32Array.from(randArray(r, 60), (v) => Math.abs(v) * 9), [3, 4, 5]);
    pair.check(nb.unary("sqrt", pn), rb.unary("sqrt", pr), "sqrt", 1e-6);
    const absY = nb.binary("mul", yn, yn);
    const absR = rb.binary("mul", yr, yr);
    pair.track(absY, absR);
    pair.check(nb.unary("sqrt", absY), rb.unary("sqrt", absR), "sqrt blocked", 1e-6);
    pair.disposeAll();
  });

  it("bf16 mixed precision: every new op on bf16 conv outputs, within bf16 tolerance", (t) => {
    const support = nb.precisionSupport("bf16");
    if (support.level === "unsupported") {
      t.skip(`no bf16 on this CPU: ${support.detail}`);
      return;
    }
    const r = rng(28);
    const pair = new Pair(nb, rb);
    nb.setPrecision("bf16");
    rb.setPrecision("bf16");
    // Direct convolutions compute (and write) bf16 in every layer; auto may keep fp32 Winograd layers.
    nb.setConvAlgorithm("direct");
    try {
      allLayerOps(nb, rb, pair, r, 3e-2, "bf16");
    } finally {
      nb.setPrecision("fp32");
      rb.setPrecision("fp32");
      nb.setConvAlgorithm("auto");
      pair.disposeAll();
    }
  });

  it("fp32: the same op chain on blocked conv outputs", () => {
    const r = rng(29);
    const pair = new Pair(nb, rb);
    allLayerOps(nb, rb, pair, r, 1e-4, "fp32");
    pair.disposeAll();
  });

  it("times the new ops under their own kinds", () => {
    const s = nb.opSeconds();
    for (const kind of ["norm", "activation", "concat", "pool"]) assert.ok((s[kind] ?? 0) > 0, `opSeconds.${kind} = ${s[kind]}`);
  });

  it("live buffers are back to the baseline after every op and context is disposed", () => {
    assert.equal(nb.memoryStats().liveBuffers, baseline);
  });
});

// The native backend against the reference backend: every op, forward and all gradients, on random
// shapes, strides and paddings (and on the blocked layouts the native backend keeps between layers);
// dropout masks and SGD updates bit for bit; and buffer accounting over a whole training step of a small
// conv net written directly against the Backend interface. Without the addon the suite is skipped with
// the reason, except in CI or with ALEXNET_EXPECT_NATIVE=1, where that is a failure.
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import {
  type Backend, type Conv2dParams, type DType, type Pool2dParams, type SgdParams, type Storage, UnsupportedOpError,
  dropoutUniform, numel,
} from "../src/backend/backend.js";
import type { NativeBackend } from "../src/backend/native/index.js";
import { loadNativeBackend } from "../src/backend/native/load.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import { rng } from "./helpers.js";

const loaded = loadNativeBackend();
const expectNative = Boolean(process.env.CI) || process.env.ALEXNET_EXPECT_NATIVE === "1";

if ("error" in loaded) {
  if (expectNative) {
    test("native backend loads (expected in CI / ALEXNET_EXPECT_NATIVE=1)", () => assert.fail(loaded.error));
  } else {
    test(`native backend tests skipped: ${loaded.error}`, { skip: loaded.error }, () => {});
  }
} else {
  suite(loaded.backend);
}

// ---- helpers ------------------------------------------------------------------------------------------

function randArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale;
  return a;
}

function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(((r() + 1) / 2) * (hi - lo + 1));
}

/** fp32 against the float64 reference: norm-relative error <= rtol, and every element within rtol of the
 * largest magnitude (catches a few wrong elements a norm would hide). */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let num = 0;
  let den = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  assert.ok(den === 0 ? num === 0 : rel <= rtol, `${what}: norm-relative error ${rel.toExponential(3)} > ${rtol}`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    assert.ok(err <= rtol * scale, `${what}: element ${i} is ${actual[i]}, want ${expected[i]} (scale ${scale.toExponential(3)})`);
  }
}

function assertSameBits(actual: Float32Array, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}: element ${i} is ${actual[i]}, want ${expected[i]}`);
  }
}

/** The same values on the native backend (fp32) and the reference backend (fp64 truth, or fp32). */
class Pair {
  constructor(
    readonly nb: NativeBackend,
    readonly rb: ReferenceBackend,
    readonly refDtype: DType = "float64",
  ) {}
  readonly made: Storage[] = [];
  make(data: Float32Array, shape: readonly number[]): [Storage, Storage] {
    const n = this.nb.fromArray(data, shape, "float32");
    const r = this.rb.fromArray(data, shape, this.refDtype);
    this.made.push(n, r);
    return [n, r];
  }
  track<T extends Storage | null>(...s: T[]): void {
    for (const x of s) if (x) this.made.push(x);
  }
  check(n: Storage, r: Storage, what: string, rtol = 1e-4): void {
    this.track(n, r);
    assert.deepEqual(n.shape, r.shape, `${what}: shape`);
    assertClose(this.nb.readSync(n), this.rb.readSync!(r), what, rtol);
  }
  disposeAll(): void {
    for (const s of this.made) s.backend.dispose(s);
    this.made.length = 0;
  }
}

interface ConvCase {
  n: number; c: number; h: number; w: number; o: number; kh: number; kw: number;
  p: Conv2dParams; bias: boolean; needDx: boolean;
}

function randomConvCase(r: () => number): ConvCase {
  const kh = [1, 2, 3, 5][randInt(r, 0, 3)]!;
  const kw = randInt(r, 0, 3) === 0 ? [1, 3, 5][randInt(r, 0, 2)]! : kh;
  const p: Conv2dParams = {
    stride: [randInt(r, 1, 3), randInt(r, 1, 2)],
    padding: [randInt(r, 0, Math.floor(kh / 2)), randInt(r, 0, Math.floor(kw / 2))],
  };
  return {
    n: randInt(r, 1, 4), c: [1, 3, 8, 16, 17][randInt(r, 0, 4)]!, h: randInt(r, kh + 1, 14), w: randInt(r, kw + 1, 14),
    o: [1, 5, 16, 24][randInt(r, 0, 3)]!, kh, kw, p, bias: r() > -0.5, needDx: r() > -0.6,
  };
}

// ---- the suite ------------------------------------------------------------------------------------------

function suite(nb: NativeBackend): void {
  const rb = new ReferenceBackend();

  function convRoundTrip(pair: Pair, k: ConvCase, r: () => number, tag: string, fused = false): void {
    const [xn, xr] = pair.make(randArray(r, k.n * k.c * k.h * k.w), [k.n, k.c, k.h, k.w]);
    const [wn, wr] = pair.make(randArray(r, k.o * k.c * k.kh * k.kw, 0.5), [k.o, k.c, k.kh, k.kw]);
    const [bn, br] = k.bias ? pair.make(randArray(r, k.o), [k.o]) : [null, null];
    const yn = fused ? nb.conv2d(xn, wn, bn, k.p, { relu: true }) : nb.conv2d(xn, wn, bn, k.p);
    let yr = rb.conv2d(xr, wr, br, k.p);
    if (fused) {
      pair.track(yr);
      yr = rb.relu(yr);
    }
    pair.check(yn, yr, `${tag} forward`);
    const [dyn, dyr] = pair.make(randArray(r, numel(yr.shape)), yr.shape);
    const gn = nb.conv2dBackward(dyn, xn, wn, k.bias, k.p, k.needDx);
    const gr = rb.conv2dBackward(dyr, xr, wr, k.bias, k.p, k.needDx);
    if (k.needDx) pair.check(gn.dx!, gr.dx!, `${tag} dx`);
    else assert.equal(gn.dx, null);
    pair.check(gn.dw, gr.dw, `${tag} dw`);
    if (k.bias) pair.check(gn.db!, gr.db!, `${tag} db`);
    else assert.equal(gn.db, null);
    // The input was converted to the conv's layout in place: its values must read back unchanged.
    assertClose(nb.readSync(xn), rb.readSync(xr), `${tag} x after conv`, 0);
  }

  describe("native backend vs reference", () => {
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

    it("conv2d forward and gradients on random shapes, strides and paddings", () => {
      const r = rng(1);
      const pair = new Pair(nb, rb);
      for (let i = 0; i < 14; i++) {
        const k = randomConvCase(r);
        convRoundTrip(pair, k, r, `conv case ${i} ${JSON.stringify(k)}`);
        pair.disposeAll();
      }
    });

    it("conv2d with Winograd (3x3; 5x5 as F(4x4,5x5); 4x4..6x6 stacked into 3x3) and with ReLU fused", () => {
      const r = rng(2);
      const pair = new Pair(nb, rb);
      const k: ConvCase = {
        n: 16, c: 32, h: 12, w: 12, o: 32, kh: 3, kw: 3, p: { stride: [1, 1], padding: [1, 1] }, bias: true, needDx: true,
      };
      let winograd = false;
      try {
        nb.setConvAlgorithm("winograd");
        convRoundTrip(pair, k, r, "winograd conv");
        winograd = nb.info().lastConvImpl.includes("wino");
        pair.disposeAll();
        // 5x5 stride-1 kernels with channels in multiples of 16 run as Winograd F(4x4,5x5) (ours, any CPU);
        // other 4x4..6x6 stride-1 kernels as one stacked 3x3 Winograd conv where oneDNN has Winograd.
        const cases: Partial<ConvCase>[] = [
          { kh: 5, kw: 5, p: { stride: [1, 1], padding: [2, 2] } },
          { kh: 5, kw: 5, p: { stride: [1, 1], padding: [0, 1] }, h: 9, w: 11 },
          { kh: 4, kw: 6, p: { stride: [1, 1], padding: [3, 1] }, o: 20, bias: false },
          { kh: 6, kw: 4, p: { stride: [1, 1], padding: [4, 0] }, c: 16, needDx: false },
          { kh: 5, kw: 5, p: { stride: [1, 1], padding: [2, 2] }, h: 13, w: 13, c: 48, o: 40 },
          { kh: 5, kw: 5, p: { stride: [1, 1], padding: [4, 3] }, h: 7, w: 14, c: 16, o: 48, bias: false },
          { kh: 5, kw: 5, p: { stride: [1, 1], padding: [1, 0] }, n: 5, h: 17, w: 6, c: 48, o: 16, needDx: false },
        ];
        for (const [i, c] of cases.entries()) {
          const kc = { ...k, n: 3, h: 10, w: 10, ...c };
          convRoundTrip(pair, kc, r, `5x5-like conv ${i}`, i === 1);
          const impl = nb.info().lastConvImpl;
          if (kc.kh === 5 && kc.kw === 5 && kc.c % 16 === 0 && kc.o % 16 === 0) {
            assert.match(impl, /^winograd F\(4x4,5x5\)/, `5x5-like conv ${i} path`);
          } else if (winograd) {
            assert.match(impl, /^stacked 3x3 .*wino/, `5x5-like conv ${i} path`);
          }
          pair.disposeAll();
        }
      } finally {
        nb.setConvAlgorithm("auto");
      }
      convRoundTrip(pair, { ...k, n: 2, c: 5, o: 7 }, r, "conv+relu", true);
      pair.disposeAll();
    });

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
      // Blocked input: the output of a conv with 32 channels.
      const [xn, xr] = pair.make(randArray(r, 2 * 8 * 11 * 11), [2, 8, 11, 11]);
      const [wn, wr] = pair.make(randArray(r, 32 * 8 * 9), [32, 8, 3, 3]);
      const cp: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      const yn = nb.conv2d(xn, wn, null, cp);
      const yr = rb.conv2d(xr, wr, null, cp);
      pair.track(yn, yr);
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
      const [cn, cr] = pair.make(randArray(r, 2 * 3 * 6 * 6), [2, 3, 6, 6]);
      const [wn, wr] = pair.make(randArray(r, 16 * 3 * 9), [16, 3, 3, 3]);
      const cp: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      const zn = nb.conv2d(cn, wn, null, cp);
      const zr = rb.conv2d(cr, wr, null, cp);
      pair.track(zn, zr);
      const yn2 = nb.relu(zn);
      const yr2 = rb.relu(zr);
      pair.check(yn2, yr2, "relu fwd blocked");
      const [dn, dr] = pair.make(randArray(r, numel(zr.shape)), zr.shape);
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
        if (needDx) pair.check(gn.dx!, gr.dx!, `${tag} dx`);
        else assert.equal(gn.dx, null);
        pair.check(gn.dw, gr.dw, `${tag} dw`);
        if (bias) pair.check(gn.db!, gr.db!, `${tag} db`);
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
      const [xn, xr] = pair.make(randArray(r, 2 * 4 * 5 * 5), [2, 4, 5, 5]);
      const [wn, wr] = pair.make(randArray(r, 32 * 4 * 9), [32, 4, 3, 3]);
      const cp: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      const yn = nb.conv2d(xn, wn, null, cp);
      const yr = rb.conv2d(xr, wr, null, cp);
      pair.track(yn, yr);
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
      const [xn, xr] = pair.make(randArray(r, 3 * 5 * 7 * 7), [3, 5, 7, 7]);
      const [wn, wr] = pair.make(randArray(r, 48 * 5 * 9), [48, 5, 3, 3]);
      const cp: Conv2dParams = { stride: [2, 2], padding: [1, 1] };
      const yn = nb.conv2d(xn, wn, null, cp);
      const yr = rb.conv2d(xr, wr, null, cp);
      pair.track(yn, yr);
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
      const cp: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      for (let step = 0; step < 2; step++) {
        const yn = nb.conv2d(xn, wn, null, cp);
        const yr = rb.conv2d(xr, wr, null, cp);
        pair.track(yn, yr);
        const gn = nb.conv2dBackward(yn, xn, wn, false, cp, false);
        const gr = rb.conv2dBackward(yr, xr, wr, false, cp, false);
        pair.track(gn.dw, gr.dw);
        nb.sgdUpdate(wn, gn.dw, vn, cfg, step === 0);
        rb.sgdUpdate(wr, gr.dw, vr, cfg, step === 0);
        assertClose(nb.readSync(wn), rb.readSync(wr), `blocked sgd step ${step} weights`);
        assertClose(nb.readSync(vn), rb.readSync(vr), `blocked sgd step ${step} velocity`);
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
      const [mn, mr] = pair.make(randArray(r, 6 * 7), [6, 7]);
      const [kn, kr] = pair.make(randArray(r, 7 * 5), [7, 5]);
      const [tn, tr] = pair.make(randArray(r, 5 * 7), [5, 7]);
      pair.check(nb.matmul(mn, kn, false, false), rb.matmul(mr, kr, false, false), "matmul");
      pair.check(nb.matmul(mn, tn, false, true), rb.matmul(mr, tr, false, true), "matmul b^T");
      pair.check(nb.matmul(kn, tn, true, true), rb.matmul(kr, tr, true, true), "matmul a^T b^T");
      pair.check(nb.matmul(mn, mn, true, false), rb.matmul(mr, mr, true, false), "matmul a^T");
      // Element-wise ops on two blocked tensors of the same layout work on the raw bytes.
      const [xn, xr] = pair.make(randArray(r, 2 * 4 * 6 * 6), [2, 4, 6, 6]);
      const [wn, wr] = pair.make(randArray(r, 16 * 4 * 9), [16, 4, 3, 3]);
      const cp: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      const y1 = nb.conv2d(xn, wn, null, cp);
      const y2 = nb.conv2d(xn, wn, null, cp);
      const z = rb.conv2d(xr, wr, null, cp);
      pair.track(y1, y2, z);
      const twice = rb.affine(z, 2, 0);
      pair.check(nb.binary("add", y1, y2), twice, "add blocked");
      pair.check(nb.affine(y1, 2, 0), rb.affine(z, 2, 0), "affine blocked");
      pair.check(nb.sum(y1, [0, 2, 3], false), rb.sum(z, [0, 2, 3], false), "sum blocked");
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

  describe("native memory accounting", () => {
    it("a training step of a small conv net leaves live buffers and bytes at the baseline", () => {
      const start = nb.memoryStats();
      const r = rng(13);
      const net = smallConvNet(nb, r);
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
      // Steady state: no new primitives, and every buffer comes from the pool.
      assert.equal(nb.info().cachedPrimitives, warm.cachedPrimitives, "primitives created after the first step");
      assert.equal(nb.info().freshAllocations, warm.freshAllocations, "system allocations after the first step");
      // Evaluation (forward only) also returns to the baseline.
      const logits = forward(nb, net, nb.fromArray(x, [8, 1, 12, 12], "float32"), false);
      for (const s of logits.garbage) nb.dispose(s);
      for (const c of logits.contexts) c.dispose();
      nb.dispose(logits.y);
      assert.deepEqual(nb.memoryStats(), steady, "after evaluation");
      for (const s of [...net.params, ...net.velocity]) {
        nb.dispose(s);
        nb.dispose(s);
      }
      assert.deepEqual(nb.memoryStats(), start, "after disposing the parameters");
    });
  });
}

// ---- a small conv net straight on the Backend interface --------------------------------------------

interface Net {
  params: Storage[]; // w1 b1 w2 b2 w3 b3
  velocity: Storage[];
}

const CONV: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
const POOL: Pool2dParams = { kernel: [2, 2], stride: [2, 2], padding: [0, 0] };

function smallConvNet(b: Backend, r: () => number): Net {
  const shapes = [[16, 1, 3, 3], [16], [32, 16, 3, 3], [32], [10, 32 * 3 * 3], [10]];
  const params = shapes.map((s) => b.fromArray(randArray(r, numel(s), 0.3), s, "float32"));
  const velocity = shapes.map((s) => b.fill(s, "float32", 0));
  return { params, velocity };
}

interface Forward {
  y: Storage;
  garbage: Storage[];
  contexts: { dispose(): void }[];
  saved: Storage[];
}

/** x (N,1,12,12) -> conv relu pool -> conv relu pool -> flatten -> linear -> logits (N,10). */
function forward(b: Backend, net: Net, x: Storage, training: boolean): Forward {
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

function trainStep(b: Backend, net: Net, xData: Float32Array, labels: Int32Array, first: boolean): void {
  const [w1, , w2, , w3] = net.params as [Storage, Storage, Storage, Storage, Storage, Storage];
  const x = b.fromArray(xData, [labels.length, 1, 12, 12], "float32");
  const fw = forward(b, net, x, true);
  const [, r1, p1y, r2, dy] = fw.saved as [Storage, Storage, Storage, Storage, Storage];
  const [p1ctx, p2ctx, dctx] = fw.contexts as [never, never, never];
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

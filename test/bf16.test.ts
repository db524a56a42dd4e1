// bf16 mixed precision. The reference backend emulates it (operands and results of conv2d/linear rounded
// to bfloat16), which makes it the oracle: the native backend's bf16 ops must match that emulation closely
// and fp32 within bf16's tolerance, forward and backward, on the layer shapes AlexNet uses, in both of its
// per-layer choices (all bf16 with --conv-algorithm direct; fp32 Winograd for 3x3 layers where faster).
// Also: weight casts follow SGD updates, buffers return to baseline, three training steps track PyTorch's
// fp32 fixture, the precision switch explains itself, and the CLI's --precision flag works and refuses
// bad values. Native cases are skipped with a visible reason where this CPU has no bf16 kernels.
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import type { Backend, Conv2dParams, PrecisionSupport, Storage } from "../src/backend/backend.js";
import type { NativeBackend } from "../src/backend/native/index.js";
import { applyPrecision, BF16_EPSILON, PrecisionError, roundBf16, roundBf16Scalar } from "../src/backend/precision.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import type { Sequential } from "../src/nn/sequential.js";
import { SGD } from "../src/optim/sgd.js";
import { noGrad } from "../src/tensor/autograd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { tidy } from "../src/tensor/scope.js";
import { assertClose, fromFixture, nativeBackend, readFixture, rng, smallConvNet, type TrainFixture } from "./helpers.js";

// ---- rounding --------------------------------------------------------------------------------------

describe("bfloat16 rounding", () => {
  it("rounds to nearest, ties to even, and keeps NaN, infinities and signed zero", () => {
    assert.equal(roundBf16Scalar(1), 1);
    assert.equal(roundBf16Scalar(1 + 2 ** -8), 1); // tie between 1 and 1+2^-7: even mantissa wins
    assert.equal(roundBf16Scalar(1 + 3 * 2 ** -8), 1 + 2 ** -6); // tie, rounds up to the even neighbour
    assert.equal(roundBf16Scalar(1 + 2 ** -8 + 2 ** -12), 1 + 2 ** -7); // above the tie
    assert.ok(Number.isNaN(roundBf16Scalar(NaN)));
    assert.equal(roundBf16Scalar(Infinity), Infinity);
    assert.equal(roundBf16Scalar(-Infinity), -Infinity);
    assert.ok(Object.is(roundBf16Scalar(-0), -0));
    const big = roundBf16(new Float32Array([3.4028234663852886e38]))[0]!;
    assert.equal(big, Infinity, "the largest float32 rounds up past bfloat16's largest finite value");
  });

  it("is off by at most 2^-8 relative, and idempotent", () => {
    const a = new Float32Array(4096).map((_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 13) - 6));
    const r = roundBf16(a);
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(r[i]! - a[i]!) <= Math.abs(a[i]!) * BF16_EPSILON, `${a[i]} -> ${r[i]}`);
    }
    assert.deepEqual(roundBf16(r), r);
  });
});

// ---- choosing a precision ----------------------------------------------------------------------------

describe("applyPrecision", () => {
  const fake = (support: PrecisionSupport | null): Backend => {
    const b = new ReferenceBackend();
    if (!support) return Object.assign(b, { setPrecision: undefined });
    return Object.assign(b, { precisionSupport: () => support });
  };

  it("refuses bf16 where a backend has none, naming the device and the way out", () => {
    assert.throws(() => applyPrecision(fake(null), "bf16", () => {}), (e: Error) =>
      e instanceof PrecisionError && /bf16 is not available on cpu \(reference/.test(e.message) && /fp32 only/.test(e.message) &&
      /use --precision fp32/.test(e.message));
    const b = fake({ level: "unsupported", detail: "CPU instruction set avx2: no kernels" });
    assert.throws(() => applyPrecision(b, "bf16", () => {}), /avx2: no kernels; use --precision fp32/);
    assert.equal(b.precision!(), "fp32", "a refused switch leaves the backend in fp32");
  });

  it("warns where bf16 is emulated, then switches; fp32 switches back silently", () => {
    const b = fake({ level: "emulated", detail: "no bf16 instructions" });
    const warnings: string[] = [];
    applyPrecision(b, "bf16", (m) => warnings.push(m));
    assert.equal(b.precision!(), "bf16");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /emulated here and will be slower than fp32 \(no bf16 instructions\)/);
    assert.equal(applyPrecision(b, "fp32", (m) => warnings.push(m)), null);
    assert.equal(b.precision!(), "fp32");
    assert.equal(warnings.length, 1);
  });
});

// ---- reference emulation ----------------------------------------------------------------------------

function randArray(seed: number, n: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r());
}

function isBf16(a: Float32Array): boolean {
  return a.every((v, i) => v === roundBf16(a.subarray(i, i + 1))[0]);
}

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  p: Conv2dParams;
}

// AlexNet's layer kinds, scaled down: 11x11 stride 4, 5x5 padding 2, 3x3 padding 1 (channels multiples of 16
// as in AlexNet, so the blocked layouts are the ones training uses).
const CONV_CASES: ConvCase[] = [
  { name: "11x11 stride 4 (conv1 of variant 224)", x: [2, 1, 39, 39], w: [16, 1, 11, 11], p: { stride: [4, 4], padding: [1, 1] } },
  { name: "5x5 padding 2 (conv2)", x: [3, 16, 9, 9], w: [32, 16, 5, 5], p: { stride: [1, 1], padding: [2, 2] } },
  { name: "3x3 padding 1 (conv3-5)", x: [4, 32, 8, 8], w: [48, 32, 3, 3], p: { stride: [1, 1], padding: [1, 1] } },
];

/** conv2d forward and backward (dy = a fixed random tensor) on one backend: [y, dx, dw, db]. */
function convRun(b: Backend, c: ConvCase, seed: number): Float32Array[] {
  const put = (a: Float32Array, shape: number[]): Storage => b.fromArray(a, shape, "float32");
  const n = (s: number[]) => s.reduce((p, d) => p * d, 1);
  const x = put(randArray(seed, n(c.x)), c.x);
  const w = put(randArray(seed + 1, n(c.w)).map((v) => v * 0.2), c.w);
  const bias = put(randArray(seed + 2, c.w[0]!), [c.w[0]!]);
  const y = b.conv2d(x, w, bias, c.p);
  const dy = put(randArray(seed + 3, n(y.shape as number[])), y.shape as number[]);
  const g = b.conv2dBackward(dy, x, w, true, c.p, true);
  const out = [y, g.dx!, g.dw, g.db!].map((s) => b.readSync!(s) as Float32Array);
  for (const s of [x, w, bias, y, dy, g.dx!, g.dw, g.db!]) b.dispose(s);
  return out;
}

function linearRun(b: Backend, seed: number): Float32Array[] {
  const x = b.fromArray(randArray(seed, 8 * 96), [8, 96], "float32");
  const w = b.fromArray(randArray(seed + 1, 40 * 96).map((v) => v * 0.1), [40, 96], "float32");
  const bias = b.fromArray(randArray(seed + 2, 40), [40], "float32");
  const y = b.linear(x, w, bias);
  const dy = b.fromArray(randArray(seed + 3, 8 * 40), [8, 40], "float32");
  const g = b.linearBackward(dy, x, w, true, true);
  const out = [y, g.dx!, g.dw, g.db!].map((s) => b.readSync!(s) as Float32Array);
  for (const s of [x, w, bias, y, dy, g.dx!, g.dw, g.db!]) b.dispose(s);
  return out;
}

const PARTS = ["y", "dx", "dw", "db"];
// Against fp32: every operand rounded once (2^-8 relative at most), sums of many such products; 4 bf16 steps of
// the largest magnitude covers it. Against the emulation: the same roundings, only the order of the fp32
// sums differs, which can move a rounded result by one bf16 step.
const VS_FP32 = 4 * BF16_EPSILON;
const VS_EMULATION = 1.5 * BF16_EPSILON;

describe("reference backend: bf16 emulation", () => {
  it("rounds conv2d and linear results to bf16 and stays within bf16 tolerance of fp32", () => {
    const ref = new ReferenceBackend();
    for (const c of CONV_CASES) {
      const fp32 = convRun(ref, c, 7);
      ref.setPrecision("bf16");
      const bf16 = convRun(ref, c, 7);
      ref.setPrecision("fp32");
      assert.ok(isBf16(bf16[0]!) && isBf16(bf16[1]!), `${c.name}: y and dx are bf16 values`);
      assert.ok(!isBf16(fp32[0]!), `${c.name}: fp32 results are not all bf16 values`);
      bf16.forEach((a, i) => assertClose(a, fp32[i]!, VS_FP32, `${c.name} ${PARTS[i]}`));
    }
    ref.setPrecision("bf16");
    const bf = linearRun(ref, 3);
    ref.setPrecision("fp32");
    linearRun(ref, 3).forEach((a, i) => assertClose(bf[i]!, a, VS_FP32, `linear ${PARTS[i]}`));
    assert.equal(ref.describe(), "cpu (reference, 1 thread)");
  });
});

// ---- native bf16 -------------------------------------------------------------------------------------

const native = nativeBackend as NativeBackend | null;
const support = native?.precisionSupport("bf16");
const nativeSkip = !native ? "the native backend is not built here" : support!.level === "unsupported" ? `no bf16 on this CPU: ${support!.detail}` : false;
if (nativeSkip) test(`native bf16 tests skipped: ${nativeSkip}`, { skip: nativeSkip }, () => {});

function withPrecision<T>(b: Backend, fn: () => T, algorithm: "auto" | "direct" = "auto"): T {
  const nb = b as Partial<NativeBackend>;
  b.setPrecision!("bf16");
  nb.setConvAlgorithm?.(algorithm);
  try {
    return fn();
  } finally {
    b.setPrecision!("fp32");
    nb.setConvAlgorithm?.("auto");
  }
}

describe("native backend: bf16 against the emulation and fp32", { skip: nativeSkip }, () => {
  const ref = new ReferenceBackend();
  const nb = native!;

  for (const algorithm of ["direct", "auto"] as const) {
    for (const c of CONV_CASES) {
      it(`conv2d ${c.name}, forward and backward (--conv-algorithm ${algorithm})`, () => {
        const fp32 = convRun(ref, c, 11);
        const emulated = withPrecision(ref, () => convRun(ref, c, 11));
        const got = withPrecision(nb, () => convRun(nb, c, 11), algorithm);
        got.forEach((a, i) => assertClose(a, fp32[i]!, VS_FP32, `${PARTS[i]} vs fp32`));
        // "auto" may compute a 3x3 or 5x5 layer in fp32 Winograd (faster without AMX): then it matches fp32.
        if (algorithm === "direct") got.forEach((a, i) => assertClose(a, emulated[i]!, VS_EMULATION, `${PARTS[i]} vs emulation`));
      });
    }
  }

  it("a 5x5 layer with enough tiles runs in fp32 Winograd F(4x4,5x5) where bf16 has no AMX", () => {
    const c: ConvCase = { name: "5x5, 294 tiles", x: [6, 16, 26, 26], w: [16, 16, 5, 5], p: { stride: [1, 1], padding: [2, 2] } };
    const fp32 = convRun(ref, c, 13);
    const got = withPrecision(nb, () => {
      const out = convRun(nb, c, 13);
      return { out, impl: nb.info().lastConvImpl };
    });
    if (nb.info().cpuIsa === "avx512_core_amx") {
      assert.doesNotMatch(got.impl, /winograd/, "with AMX every layer is bf16");
      got.out.forEach((a, i) => assertClose(a, fp32[i]!, VS_FP32, `${PARTS[i]} vs fp32`));
    } else {
      assert.match(got.impl, /^winograd F\(4x4,5x5\)/);
      got.out.forEach((a, i) => assertClose(a, fp32[i]!, 1e-4, `${PARTS[i]} vs fp32`));
      assert.ok(!isBf16(got.out[0]!), "y keeps fp32 precision");
    }
  });

  it("linear, forward and backward; gradients of weights are fp32", () => {
    const fp32 = linearRun(ref, 5);
    const emulated = withPrecision(ref, () => linearRun(ref, 5));
    const got = withPrecision(nb, () => linearRun(nb, 5));
    got.forEach((a, i) => assertClose(a, fp32[i]!, VS_FP32, `linear ${PARTS[i]} vs fp32`));
    got.forEach((a, i) => assertClose(a, emulated[i]!, VS_EMULATION, `linear ${PARTS[i]} vs emulation`));
    assert.ok(isBf16(got[0]!), "y is stored as bf16");
    assert.ok(!isBf16(got[2]!), "dw keeps fp32 precision");
  });

  it("pooling, ReLU, dropout and flattening keep bf16 activations, forward and backward", () => {
    // conv (bf16) -> relu -> maxpool -> reshape -> dropout, then the backward through all of them.
    const chain = (b: Backend): Float32Array[] => {
      const c = CONV_CASES[1]!;
      const x = b.fromArray(randArray(21, 3 * 16 * 81), c.x, "float32");
      const w = b.fromArray(randArray(22, 32 * 16 * 25).map((v) => v * 0.2), c.w, "float32");
      const y = b.conv2d(x, w, null, c.p);
      const r = b.relu(y);
      const pool = { kernel: [3, 3] as [number, number], stride: [2, 2] as [number, number], padding: [0, 0] as [number, number] };
      const m = b.maxPool2d(r, pool);
      const flat = b.reshape(m.y, [3, 32 * 16]);
      const d = b.dropout(flat, 0.3, 1234);
      const dd = b.dropoutBackward(b.fromArray(randArray(23, 3 * 512), [3, 512], "float32"), d.ctx);
      const dm = b.reshape(dd, m.y.shape);
      const dr = b.maxPool2dBackward(dm, r, m.ctx, pool);
      const dy = b.reluBackward(dr, r);
      const out = [d.y, dr, dy].map((s) => b.readSync!(s) as Float32Array);
      m.ctx.dispose();
      for (const s of [x, w, y, r, m.y, flat, d.y, dd, dm, dr, dy]) b.dispose(s);
      return out;
    };
    const emulated = withPrecision(ref, () => chain(ref));
    const got = withPrecision(nb, () => chain(nb), "direct");
    ["dropout y", "maxpool dx", "relu dx"].forEach((what, i) => assertClose(got[i]!, emulated[i]!, VS_EMULATION, what));
    assert.ok(isBf16(got[0]!), "dropout output stays bf16");
  });

  it("describe() and info() say bf16; a refused or finished switch is back to fp32", () => {
    withPrecision(nb, () => {
      assert.match(nb.describe(), /^cpu \(native, \d+ threads?, bf16\)$/);
      assert.equal(nb.info().precision, "bf16");
    });
    assert.equal(nb.info().precision, "fp32");
    assert.match(nb.info().cpuIsa, /^(avx512_core|avx512_core_vnni|avx512_core_bf16|avx512_core_amx)$/);
  });
});

const fx = readFixture<TrainFixture>("train_step.json");

/** PyTorch's three-step fixture (fp32) with bf16 layers: losses and parameters after each step. */
/** `net` is smallConvNet() already on b (moving reads asynchronously, so the caller awaits it). */
function trainSteps(b: Backend, net: Sequential) {
  tidy(() => net.loadStateDict(new Map(Object.entries(fx.initial).map(([k, v]) => [k, fromFixture(v, b, "float32")]))));
  const opt = new SGD(net.parameters(), fx.sgd);
  const losses: number[] = [];
  for (const batch of fx.batches) {
    losses.push(tidy(() => {
      opt.zeroGrad();
      const l = crossEntropy(net.call(fromFixture(batch.x, b, "float32")), batch.labels);
      l.backward();
      opt.step();
      return l.item();
    }));
  }
  return { net, opt, losses };
}

const fixtureBackends: [string, Backend | null, string | false][] = [
  ["reference (emulated)", new ReferenceBackend(), false],
  ["native", native, nativeSkip],
];

// Three steps of lr 0.1 with momentum 0.9 amplify bf16's rounding: the losses stay within bf16 tolerance
// of fp32, the parameters within a third of their total update (measured: 0.3 of it for the first conv's
// weights, whose gradient sums many cancelling terms). The emulation is the tight oracle.
const emulatedSteps = await (async () => {
  const ref = new ReferenceBackend();
  const start = await smallConvNet().to(ref);
  const { net, opt, losses } = withPrecision(ref, () => trainSteps(ref, start));
  const params = new Map([...net.namedParameters()].map(([k, p]) => [k, p.dataSync() as Float32Array]));
  opt.dispose();
  net.dispose();
  return { losses, params };
})();

function maxUpdate(name: string): number {
  const a = fx.initial[name]!.data;
  return Math.max(...fx.final[name]!.data.map((v, i) => Math.abs(v - a[i]!)));
}

for (const [name, b, skip] of fixtureBackends) {
  describe(`three bf16 SGD steps on ${name}`, { skip }, () => {
    it("track PyTorch's fp32 steps and the emulation; the weight casts follow each update", async () => {
      const start = await smallConvNet().to(b!);
      const { net, opt, losses } = withPrecision(b!, () => trainSteps(b!, start), "direct");
      // Each step's loss is computed with the weights the previous updates produced: a stale bf16 copy of
      // the weights would show up here as a loss of the wrong step.
      assertClose(losses, fx.losses, 4 * BF16_EPSILON, "losses vs PyTorch fp32");
      assertClose(losses, emulatedSteps.losses, 1e-3, "losses vs emulation");
      for (const [pname, p] of net.namedParameters()) {
        const got = p.dataSync();
        const want = fx.final[pname]!.data;
        const worst = Math.max(...want.map((v, i) => Math.abs(got[i]! - v)));
        assert.ok(worst <= maxUpdate(pname) / 3, `${pname}: off fp32 by ${worst.toFixed(4)}, update ${maxUpdate(pname).toFixed(4)}`);
        assertClose(got, emulatedSteps.params.get(pname)!, 2e-3, `${pname} vs emulation`);
      }
      opt.dispose();
      net.dispose();
    });

    it("buffers: a step leaves parameters, gradients and momentum, plus one bf16 copy per weight use; all go with the net", async () => {
      const before = b!.memoryStats();
      const start = await smallConvNet().to(b!);
      const { net, opt } = withPrecision(b!, () => trainSteps(b!, start), "direct");
      const during = b!.memoryStats();
      const params = net.parameters().length;
      const extra = during.liveBuffers - before.liveBuffers - 3 * params;
      // The native backend keeps bf16 casts of each weight (forward, and data backward where the layout
      // differs) on the weight itself; the emulation keeps none.
      assert.ok(extra >= 0 && extra <= 2 * (params / 2), `unexpected live buffers: ${extra}`);
      const steady = b!.memoryStats().liveBuffers;
      withPrecision(b!, () => tidy(() => noGrad(() => net.call(fromFixture(fx.batches[0]!.x, b!, "float32")).dataSync())));
      assert.equal(b!.memoryStats().liveBuffers, steady, "evaluation leaves nothing behind");
      opt.dispose();
      net.dispose();
      const after = b!.memoryStats();
      assert.deepEqual([after.liveBuffers, after.liveBytes], [before.liveBuffers, before.liveBytes]);
    });
  });
}

// Every op of the webgpu backend, forward and backward, against the reference backend on small random
// shapes (tiles that do not divide the sizes, strides, paddings, transposes), on Dawn's SwiftShader
// adapter. Also: dropout masks bit-equal to the CPU's, the split-K and split-along-batch paths, live
// buffers back to baseline, and few submits per step.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Conv2dParams, OP_NAMES, type Pool2dParams, type Storage, dropoutUniform } from "../src/backend/backend.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import { expectSame, openTestGpu, pair, randomArray, ref } from "./webgpuHelpers.js";

let gpu: WebGpuBackend;
before(async () => {
  gpu = await openTestGpu();
});
after(() => gpu.destroy());

/** Disposes storages of either backend. */
function free(...list: (Storage | null)[]): void {
  for (const s of list) if (s) s.backend.dispose(s);
}

interface ConvCase {
  x: [number, number, number, number];
  o: number;
  k: [number, number];
  stride: [number, number];
  padding: [number, number];
  bias: boolean;
  relu?: boolean;
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 3, 9, 9], o: 4, k: [3, 3], stride: [1, 1], padding: [1, 1], bias: true },
  { x: [2, 3, 11, 10], o: 5, k: [3, 2], stride: [2, 3], padding: [1, 0], bias: true, relu: true },
  { x: [1, 2, 23, 23], o: 70, k: [5, 5], stride: [4, 4], padding: [1, 1], bias: false },
  { x: [3, 5, 7, 7], o: 6, k: [1, 1], stride: [1, 1], padding: [0, 0], bias: true },
  { x: [2, 4, 8, 8], o: 3, k: [3, 3], stride: [1, 1], padding: [2, 2], bias: true, relu: true },
];

async function checkConv(be: WebGpuBackend, c: ConvCase, seed: number, label: string): Promise<void> {
  const [N, C] = c.x;
  const p: Conv2dParams = { stride: c.stride, padding: c.padding };
  const x = pair(be, randomArray(c.x.reduce((a, b) => a * b), seed), c.x);
  const w = pair(be, randomArray(c.o * C * c.k[0] * c.k[1], seed + 1), [c.o, C, c.k[0], c.k[1]]);
  const b = c.bias ? pair(be, randomArray(c.o, seed + 2), [c.o]) : null;
  const yg = be.conv2d(x.g, w.g, b && b.g, p, { relu: c.relu === true });
  const yr0 = ref.conv2d(x.r, w.r, b && b.r, p);
  const yr = c.relu ? ref.relu(yr0) : yr0;
  await expectSame(be, yg, yr, `${label} y`);
  const dy = pair(be, randomArray(yr.shape.reduce((a, v) => a * v, 1), seed + 3), yr.shape);
  for (const needDx of [true, false]) {
    const gg = be.conv2dBackward(dy.g, x.g, w.g, c.bias, p, needDx);
    const gr = ref.conv2dBackward(dy.r, x.r, w.r, c.bias, p, needDx);
    if (needDx) await expectSame(be, gg.dx!, gr.dx!, `${label} dx`);
    else assert.equal(gg.dx, null);
    await expectSame(be, gg.dw, gr.dw, `${label} dw`);
    if (c.bias) await expectSame(be, gg.db!, gr.db!, `${label} db`);
    free(gg.dx, gg.dw, gg.db, gr.dx, gr.dw, gr.db);
  }
  free(x.g, x.r, w.g, w.r, b?.g ?? null, b?.r ?? null, yg, yr0, yr === yr0 ? null : yr, dy.g, dy.r);
  void N;
}

describe("webgpu conv2d vs reference", () => {
  CONV_CASES.forEach((c, i) => {
    it(`x [${c.x.join(",")}] o ${c.o} k ${c.k.join("x")} stride ${c.stride.join("x")} pad ${c.padding.join("x")}${c.relu ? " +relu" : ""}`, async () => {
      const before = gpu.memoryStats().liveBuffers;
      await checkConv(gpu, c, 10 * i + 1, `case ${i}`);
      assert.equal(gpu.memoryStats().liveBuffers, before, "live buffers back to baseline");
    });
  });

  /** Runs `fn` with some GEMM options changed on the shared backend (a new device would recompile
   * every pipeline, which SwiftShader does slowly). */
  async function withGemm(opts: Partial<WebGpuBackend["gemmOptions"]>, fn: () => Promise<void>): Promise<void> {
    const saved = { ...gpu.gemmOptions };
    Object.assign(gpu.gemmOptions, opts);
    try {
      await fn();
    } finally {
      Object.assign(gpu.gemmOptions, saved);
      if (!saved.tile) delete gpu.gemmOptions.tile;
    }
  }

  for (const tile of [{ rm: 8, rn: 8 }, { rm: 8, rn: 4 }]) {
    it(`the ${16 * tile.rm}x${16 * tile.rn} GEMM tiles of the big layers give the same results`, () =>
      withGemm({ tile }, async () => {
        // The conv kernels only at 128x128 (shader compiles are slow on SwiftShader); 8x4 differs in sizes only.
        if (tile.rn === 8) await checkConv(gpu, CONV_CASES[2]!, 52, "big tiles");
        const a = pair(gpu, randomArray(130 * 21, 1), [130, 21]);
        const b = pair(gpu, randomArray(70 * 21, 2), [70, 21]);
        const cg = gpu.matmul(a.g, b.g, false, true);
        const cr = ref.matmul(a.r, b.r, false, true);
        await expectSame(gpu, cg, cr, "matmul");
        free(a.g, a.r, b.g, b.r, cg, cr);
      }));
  }

  it("split-K (short K slices) gives the same results", () =>
    withGemm({ minSplitK: 16 }, () => checkConv(gpu, { x: [2, 3, 12, 12], o: 5, k: [3, 3], stride: [1, 1], padding: [1, 1], bias: true }, 77, "split-K")));

  it("a binding limit forced low splits conv and pool along the batch with the same results", async () => {
    // 2 KiB bindings: one image of x (3x9x9 floats = 972 B) fits, the batch of 5 does not.
    const small = await openTestGpu({ maxBindingBytes: 2048, minSplitK: 16 });
    try {
      await checkConv(small, { x: [5, 3, 9, 9], o: 4, k: [3, 3], stride: [1, 1], padding: [1, 1], bias: true }, 91, "batch-split");
      await checkPool(small, [5, 3, 9, 9], { kernel: [3, 3], stride: [2, 2], padding: [0, 0] }, 93, "batch-split pool");
      const x = small.fromArray(randomArray(4 * 3 * 40 * 40, 5), [4, 3, 40, 40], "float32");
      const w = small.fromArray(randomArray(2 * 3 * 3 * 3, 6), [2, 3, 3, 3], "float32");
      assert.throws(() => small.conv2d(x, w, null, { stride: [1, 1], padding: [0, 0] }), /conv2d of x \[4, 3, 40, 40\].*19200 bytes.*2048-byte/);
      free(x, w);
      assert.equal(small.memoryStats().liveBuffers, 0);
    } finally {
      small.destroy();
    }
  });
});

async function checkPool(be: WebGpuBackend, shape: [number, number, number, number], p: Pool2dParams, seed: number, label: string, ties = false): Promise<void> {
  let data = randomArray(shape.reduce((a, b) => a * b), seed);
  if (ties) data = data.map((v) => Math.round(v * 2)); // few distinct values: many ties
  const x = pair(be, data, shape);
  const g = be.maxPool2d(x.g, p);
  const r = ref.maxPool2d(x.r, p);
  await expectSame(be, g.y, r.y, `${label} y`, 0, 0);
  const dy = pair(be, randomArray(r.y.shape.reduce((a, v) => a * v, 1), seed + 1), r.y.shape);
  const dxg = be.maxPool2dBackward(dy.g, x.g, g.ctx, p);
  const dxr = ref.maxPool2dBackward(dy.r, x.r, r.ctx, p);
  await expectSame(be, dxg, dxr, `${label} dx`, 1e-6, 1e-7);
  g.ctx.dispose();
  r.ctx.dispose();
  free(x.g, x.r, g.y, r.y, dy.g, dy.r, dxg, dxr);
}

describe("webgpu maxPool2d vs reference", () => {
  it("AlexNet's 3x3 stride 2", () => checkPool(gpu, [2, 3, 13, 13], { kernel: [3, 3], stride: [2, 2], padding: [0, 0] }, 1, "3x3/2"));
  it("2x2 stride 2 with padding 1, odd sizes", () => checkPool(gpu, [1, 2, 7, 9], { kernel: [2, 2], stride: [2, 2], padding: [1, 1] }, 2, "2x2/2 pad"));
  it("ties keep the first maximum", () => checkPool(gpu, [2, 2, 9, 9], { kernel: [3, 3], stride: [1, 1], padding: [1, 1] }, 3, "ties", true));
  it("3x2 kernel, stride 1x2", () => checkPool(gpu, [1, 3, 8, 8], { kernel: [3, 2], stride: [1, 2], padding: [1, 0] }, 4, "3x2"));
});

describe("webgpu linear and matmul vs reference", () => {
  for (const [N, I, O, bias, relu] of [[3, 7, 5, true, false], [70, 33, 65, true, true], [2, 130, 3, false, false]] as const) {
    it(`linear (${N},${I}) -> ${O}${bias ? " +bias" : ""}${relu ? " +relu" : ""}`, async () => {
      const x = pair(gpu, randomArray(N * I, N), [N, I]);
      const w = pair(gpu, randomArray(O * I, O), [O, I]);
      const b = bias ? pair(gpu, randomArray(O, 9), [O]) : null;
      const yg = gpu.linear(x.g, w.g, b && b.g, { relu });
      const yr0 = ref.linear(x.r, w.r, b && b.r);
      const yr = relu ? ref.relu(yr0) : yr0;
      await expectSame(gpu, yg, yr, "y");
      const dy = pair(gpu, randomArray(N * O, 5), [N, O]);
      const gg = gpu.linearBackward(dy.g, x.g, w.g, bias, true);
      const gr = ref.linearBackward(dy.r, x.r, w.r, bias, true);
      await expectSame(gpu, gg.dx!, gr.dx!, "dx");
      await expectSame(gpu, gg.dw, gr.dw, "dw");
      if (bias) await expectSame(gpu, gg.db!, gr.db!, "db");
      free(x.g, x.r, w.g, w.r, b?.g ?? null, b?.r ?? null, yg, yr0, relu ? yr : null, dy.g, dy.r, gg.dx, gg.dw, gg.db, gr.dx, gr.dw, gr.db);
      assert.equal(gpu.memoryStats().liveBuffers, 0);
    });
  }
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`matmul (67x19)${transA ? "^T" : ""} @ (19x70)${transB ? "^T" : ""}`, async () => {
        const [M, K, N] = [67, 19, 70];
        const a = pair(gpu, randomArray(M * K, 1), transA ? [K, M] : [M, K]);
        const b = pair(gpu, randomArray(K * N, 2), transB ? [N, K] : [K, N]);
        const cg = gpu.matmul(a.g, b.g, transA, transB);
        const cr = ref.matmul(a.r, b.r, transA, transB);
        await expectSame(gpu, cg, cr, "c");
        free(a.g, a.r, b.g, b.r, cg, cr);
      });
    }
  }
  it("matmul with a long K takes the split-K path", async () => {
    const a = pair(gpu, randomArray(3 * 1100, 3), [3, 1100]);
    const b = pair(gpu, randomArray(1100 * 2, 4), [1100, 2]);
    const cg = gpu.matmul(a.g, b.g, false, false);
    const cr = ref.matmul(a.r, b.r, false, false);
    await expectSame(gpu, cg, cr, "c", 1e-4, 1e-4);
    free(a.g, a.r, b.g, b.r, cg, cr);
  });
  it("matmul checks its operands", () => {
    const a = gpu.fromArray(new Float32Array(6), [2, 3], "float32");
    assert.throws(() => gpu.matmul(a, a, false, false), /inner sizes differ/);
    free(a);
  });
});

describe("webgpu element-wise ops vs reference", () => {
  it("relu and its backward", async () => {
    const x = pair(gpu, randomArray(1000, 1), [10, 100]);
    const yg = gpu.relu(x.g);
    const yr = ref.relu(x.r);
    await expectSame(gpu, yg, yr, "y", 0, 0);
    const dy = pair(gpu, randomArray(1000, 2), [10, 100]);
    const dg = gpu.reluBackward(dy.g, yg);
    const dr = ref.reluBackward(dy.r, yr);
    await expectSame(gpu, dg, dr, "dx", 0, 0);
    free(x.g, x.r, yg, yr, dy.g, dy.r, dg, dr);
  });

  for (const prob of [0, 0.3, 0.5, 1]) {
    it(`dropout p=${prob}: masks bit-equal to dropoutUniform, with an offset`, async () => {
      const n = 3000;
      const seed = 0xdeadbeef;
      const offset = 12345;
      const data = randomArray(n, 4);
      const x = gpu.fromArray(data, [30, 100], "float32");
      const { y, ctx } = gpu.dropout(x, prob, seed, offset);
      const scale = Math.fround(prob < 1 ? 1 / (1 - prob) : 0);
      const want = data.map((v, i) => Math.fround(v * (dropoutUniform(seed, offset + i) >= prob ? scale : 0)));
      assert.deepEqual(await gpu.read(y), want);
      const dy = gpu.fromArray(data, [30, 100], "float32");
      const dx = gpu.dropoutBackward(dy, ctx);
      assert.deepEqual(await gpu.read(dx), want);
      ctx.dispose();
      free(x, y, dy, dx);
    });
  }

  it("binary ops broadcast as NumPy", async () => {
    for (const [sa, sb] of [[[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[5], [5]], [[], [2, 2]], [[3, 1], [1, 3]]] as number[][][]) {
      for (const op of ["add", "sub", "mul", "div"] as const) {
        const a = pair(gpu, randomArray(sa!.reduce((x, y) => x * y, 1), 1), sa!);
        const b = pair(gpu, randomArray(sb!.reduce((x, y) => x * y, 1), 2).map((v) => v + 2), sb!);
        const cg = gpu.binary(op, a.g, b.g);
        const cr = ref.binary(op, a.r, b.r);
        await expectSame(gpu, cg, cr, `${op} [${sa}] [${sb}]`, 1e-6, 1e-7);
        free(a.g, a.r, b.g, b.r, cg, cr);
      }
    }
  });

  it("unary, affine, fill, copy, reshape, transpose", async () => {
    const x = pair(gpu, randomArray(60, 3).map((v) => v + 1.5), [6, 10]);
    for (const op of ["neg", "exp", "log"] as const) {
      const g = gpu.unary(op, x.g);
      const r = ref.unary(op, x.r);
      await expectSame(gpu, g, r, op, 1e-6, 1e-7);
      free(g, r);
    }
    const ag = gpu.affine(x.g, -0.5, 2);
    const ar = ref.affine(x.r, -0.5, 2);
    await expectSame(gpu, ag, ar, "affine", 1e-6, 1e-7);
    const f = gpu.fill([3, 5], "float32", 2.5);
    assert.deepEqual(await gpu.read(f), new Float32Array(15).fill(2.5));
    const c = gpu.copy(x.g);
    const rs = gpu.reshape(x.g, [3, 20]);
    assert.deepEqual(rs.shape, [3, 20]);
    assert.deepEqual(await gpu.read(rs), await gpu.read(c));
    const t = gpu.transpose(x.g);
    const xs = ref.readSync(x.r);
    assert.deepEqual(t.shape, [10, 6]);
    assert.deepEqual(await gpu.read(t), Float32Array.from({ length: 60 }, (_, i) => xs[(i % 6) * 10 + Math.floor(i / 6)]!));
    free(x.g, x.r, ag, ar, f, c, rs, t);
    assert.equal(gpu.memoryStats().liveBuffers, 0);
  });

  it("sum over axes, with and without keepDims", async () => {
    const x = pair(gpu, randomArray(2 * 3 * 4 * 5, 8), [2, 3, 4, 5]);
    for (const axes of [[], [0], [1, 3], [-1], [0, 2, 3]]) {
      for (const keep of [false, true]) {
        const g = gpu.sum(x.g, axes, keep);
        const r = ref.sum(x.r, axes, keep);
        await expectSame(gpu, g, r, `sum [${axes}] keep ${keep}`, 1e-5, 1e-6);
        free(g, r);
      }
    }
    free(x.g, x.r);
  });
});

describe("webgpu loss, metrics and SGD vs reference", () => {
  it("cross-entropy forward and backward, correctCount", async () => {
    const [N, K] = [37, 10];
    const logits = pair(gpu, randomArray(N * K, 5).map((v) => v * 4), [N, K]);
    const labels = Int32Array.from({ length: N }, (_, i) => (i * 7) % K);
    const g = gpu.crossEntropy(logits.g, labels);
    const r = ref.crossEntropy(logits.r, labels);
    await expectSame(gpu, g.loss, r.loss, "loss", 1e-5, 1e-6);
    const dl = pair(gpu, Float32Array.of(0.7), []);
    const dg = gpu.crossEntropyBackward(dl.g, g.ctx);
    const dr = ref.crossEntropyBackward(dl.r, r.ctx);
    await expectSame(gpu, dg, dr, "dlogits", 1e-5, 1e-7);
    const count = gpu.correctCount(logits.g, labels);
    const L = ref.readSync(logits.r);
    let want = 0;
    for (let n = 0; n < N; n++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (L[n * K + k]! > L[n * K + best]!) best = k;
      if (best === labels[n]) want++;
    }
    assert.deepEqual(await gpu.read(count), Float32Array.of(want));
    assert.throws(() => gpu.crossEntropy(logits.g, labels.map(() => 10)), /outside \[0, 10\)/);
    g.ctx.dispose();
    r.ctx.dispose();
    free(logits.g, logits.r, g.loss, r.loss, dl.g, dl.r, dg, dr, count);
    assert.equal(gpu.memoryStats().liveBuffers, 0);
  });

  const SGD_CASES = [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 5e-4, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3, nesterov: false },
    { lr: 0.01, momentum: 0.8, dampening: 0, weightDecay: 1e-2, nesterov: true },
  ];
  for (const p of SGD_CASES) {
    it(`sgd lr ${p.lr} momentum ${p.momentum} dampening ${p.dampening} wd ${p.weightDecay}${p.nesterov ? " nesterov" : ""}, 3 steps`, async () => {
      const w = pair(gpu, randomArray(300, 1), [300]);
      const v = p.momentum ? pair(gpu, new Float32Array(300), [300]) : null;
      for (let step = 0; step < 3; step++) {
        const g = pair(gpu, randomArray(300, 10 + step), [300]);
        gpu.sgdUpdate(w.g, g.g, v && v.g, p, step === 0);
        ref.sgdUpdate(w.r, g.r, v && v.r, p, step === 0);
        free(g.g, g.r);
      }
      await expectSame(gpu, w.g, w.r, "param", 1e-6, 1e-7);
      if (v) await expectSame(gpu, v.g, v.r, "velocity", 1e-6, 1e-7);
      free(w.g, w.r, v?.g ?? null, v?.r ?? null);
    });
  }
});

describe("webgpu backend facts", () => {
  it("implements every op of OP_NAMES and supports it in float32 only", () => {
    for (const op of OP_NAMES) {
      assert.equal(typeof (gpu as unknown as Record<string, unknown>)[op], "function", op);
      assert.ok(gpu.supports(op, "float32") && !gpu.supports(op, "float64"), op);
    }
    assert.equal("readSync" in gpu, false, "no synchronous reads on a GPU");
  });

  it("answers supports() per op and dtype, and precision per the adapter", () => {
    assert.equal(gpu.supports("conv2d", "float32"), true);
    assert.equal(gpu.supports("conv2d", "float64"), false);
    assert.equal(gpu.supports("noSuchOp" as "conv2d", "float32"), false);
    assert.equal(gpu.precisionSupport("fp32").level, "native");
    assert.equal(gpu.precisionSupport("bf16").level, "unsupported");
    assert.throws(() => gpu.fromArray(new Float64Array(2), [2], "float64"), /with dtype float64 is not supported on gpu \(webgpu backend\)/);
    assert.throws(() => gpu.setPrecision("fp16"), /fp16 is not available on gpu \(webgpu/);
    assert.match(gpu.describe(), /^gpu \(webgpu, .*SwiftShader.*, Vulkan\)$/);
    assert.equal(gpu.isSoftware(), true);
  });

  it("a conv layer's forward and backward go out in one submit", async () => {
    await gpu.sync();
    const before = gpu.ctx.submits;
    const x = gpu.fromArray(randomArray(2 * 3 * 8 * 8, 1), [2, 3, 8, 8], "float32");
    const w = gpu.fromArray(randomArray(4 * 3 * 3 * 3, 2), [4, 3, 3, 3], "float32");
    const afterUploads = gpu.ctx.submits;
    const p: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
    const y = gpu.conv2d(x, w, null, p, { relu: true });
    const pooled = gpu.maxPool2d(y, { kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
    const dx = gpu.maxPool2dBackward(pooled.y, y, pooled.ctx, { kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
    const dz = gpu.reluBackward(dx, y);
    const g = gpu.conv2dBackward(dz, x, w, false, p, true);
    await gpu.sync();
    assert.ok(afterUploads - before <= 1, "uploads flush at most once");
    assert.equal(gpu.ctx.submits - afterUploads, 1, "one submit for the layer's ops");
    pooled.ctx.dispose();
    free(x, w, y, pooled.y, dx, dz, g.dx, g.dw);
  });

  it("opSeconds times kernels by kind with timestamp queries", async () => {
    const timed = await openTestGpu();
    try {
      assert.deepEqual(timed.opSeconds(), {});
      const x = timed.fromArray(randomArray(2 * 3 * 8 * 8, 1), [2, 3, 8, 8], "float32");
      const w = timed.fromArray(randomArray(4 * 3 * 3 * 3, 2), [4, 3, 3, 3], "float32");
      const y = timed.conv2d(x, w, null, { stride: [1, 1], padding: [1, 1] });
      const r = timed.relu(y);
      await timed.sync();
      const s = timed.opSeconds();
      // Both kinds are timed; a kernel as small as this ReLU can read 0 ns at the adapter's timestamp
      // resolution (seen on SwiftShader), so only the conv's time must be positive.
      assert.ok(s.conv! > 0 && typeof s.relu === "number" && s.relu >= 0, JSON.stringify(s));
      free(x, w, y, r);
    } finally {
      timed.destroy();
    }
  });

  it("a lost device fails every later op with one line", async () => {
    const doomed = await openTestGpu();
    const x = doomed.fromArray(new Float32Array(4), [4], "float32");
    doomed.simulateDeviceLoss("test");
    assert.throws(() => doomed.relu(x), /^GpuError: GPU device lost \(test\)$/m);
    await assert.rejects(doomed.read(x), /GPU device lost \(test\)/);
    doomed.destroy();
  });
});

// The ops d2l's later CNN chapters add, on the webgpu backend against the reference backend (the oracle),
// on Dawn's SwiftShader adapter with small odd shapes: sigmoid/tanh, average and adaptive average pooling,
// batch normalization (training with running statistics over several calls, eval, ReLU epilogue, the
// multi-group fold), concat/split, max with NaN, sqrt; the split-along-batch paths under a forced small
// binding limit; live buffers back to baseline.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BatchNormParams, OP_NAMES, type Pool2dParams, type Storage, numel } from "../src/backend/backend.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import { assertNear, expectSame, openTestGpu, pair, randomArray, ref } from "./webgpuHelpers.js";

let gpu: WebGpuBackend;
let baseline = 0;
before(async () => {
  gpu = await openTestGpu();
  baseline = gpu.memoryStats().liveBuffers;
});
after(() => gpu.destroy());

function free(...list: (Storage | null | undefined)[]): void {
  for (const s of list) if (s) s.backend.dispose(s);
}

const size = (shape: readonly number[]): number => numel(shape);

describe("webgpu sigmoid and tanh vs reference", () => {
  const shape = [3, 5, 7];
  // Random values over [-8, 8) plus the awkward ones: large magnitudes, zero, tiny values near 0.
  const data = randomArray(size(shape), 11).map((v) => v * 8);
  data.set([-100, -30, -10, 0, 1e-6, -1e-4, 0.03, 10, 30, 100, 0.0625, -0.0624]);

  for (const [name, fwd, bwd] of [["sigmoid", "sigmoid", "sigmoidBackward"], ["tanh", "tanh", "tanhBackward"]] as const) {
    it(`${name} forward and backward`, async () => {
      const x = pair(gpu, data, shape);
      const yg = gpu[fwd](x.g);
      const yr = ref[fwd](x.r);
      await expectSame(gpu, yg, yr, `${name} y`, 2e-6, 1e-7);
      // the backward from the same y on both (1 - y² near |y| = 1 magnifies a 1-ulp difference of y)
      const y = pair(gpu, ref.readSync(yr) as Float32Array, shape);
      const dy = pair(gpu, randomArray(size(shape), 12), shape);
      const dxg = gpu[bwd](dy.g, y.g);
      const dxr = ref[bwd](dy.r, y.r);
      await expectSame(gpu, dxg, dxr, `${name} dx`, 1e-5, 1e-7);
      const other = gpu.reshape(yg, [15, 7]);
      assert.throws(() => gpu[bwd](dy.g, other), /differ/);
      free(x.g, x.r, yg, yr, y.g, y.r, dy.g, dy.r, dxg, dxr, other);
    });
  }

  it("unary sqrt", async () => {
    const x = pair(gpu, randomArray(37, 3).map((v) => (v + 1) * 50), [37]);
    const g = gpu.unary("sqrt", x.g);
    const r = ref.unary("sqrt", x.r);
    await expectSame(gpu, g, r, "sqrt", 1e-6, 1e-7);
    free(x.g, x.r, g, r);
  });
});

async function checkAvgPool(be: WebGpuBackend, shape: [number, number, number, number], p: Pool2dParams, seed: number, label: string): Promise<void> {
  const x = pair(be, randomArray(size(shape), seed), shape);
  const yg = be.avgPool2d(x.g, p);
  const yr = ref.avgPool2d(x.r, p);
  await expectSame(be, yg, yr, `${label} y`, 1e-5, 1e-7);
  const dy = pair(be, randomArray(size(yr.shape), seed + 1), yr.shape);
  const dxg = be.avgPool2dBackward(dy.g, shape, p);
  const dxr = ref.avgPool2dBackward(dy.r, shape, p);
  await expectSame(be, dxg, dxr, `${label} dx`, 1e-5, 1e-7);
  free(x.g, x.r, yg, yr, dy.g, dy.r, dxg, dxr);
}

async function checkAdaptive(be: WebGpuBackend, shape: [number, number, number, number], out: [number, number], seed: number, label: string): Promise<void> {
  const x = pair(be, randomArray(size(shape), seed), shape);
  const yg = be.adaptiveAvgPool2d(x.g, out);
  const yr = ref.adaptiveAvgPool2d(x.r, out);
  await expectSame(be, yg, yr, `${label} y`, 1e-5, 1e-7);
  const dy = pair(be, randomArray(size(yr.shape), seed + 1), yr.shape);
  const dxg = be.adaptiveAvgPool2dBackward(dy.g, shape);
  const dxr = ref.adaptiveAvgPool2dBackward(dy.r, shape);
  await expectSame(be, dxg, dxr, `${label} dx`, 1e-5, 1e-7);
  free(x.g, x.r, yg, yr, dy.g, dy.r, dxg, dxr);
}

describe("webgpu average pooling vs reference", () => {
  it("3x3 stride 2 padding 1 (padding counted), odd sizes", () => checkAvgPool(gpu, [2, 3, 9, 7], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }, 1, "3x3/2 pad"));
  it("2x2 stride 2 (LeNet's), odd input", () => checkAvgPool(gpu, [1, 2, 7, 9], { kernel: [2, 2], stride: [2, 2], padding: [0, 0] }, 2, "2x2/2"));
  it("3x2 kernel, stride 1x2, padding 1x0 (overlapping windows)", () => checkAvgPool(gpu, [2, 2, 6, 7], { kernel: [3, 2], stride: [1, 2], padding: [1, 0] }, 3, "3x2"));
  it("rejects a dy of the wrong shape", () => {
    const dy = gpu.fill([1, 2, 3, 3], "float32", 1);
    assert.throws(() => gpu.avgPool2dBackward(dy, [1, 2, 7, 9], { kernel: [2, 2], stride: [2, 2], padding: [0, 0] }), /differ/);
    free(dy);
  });

  it("adaptive to (1,1): global average pooling", () => checkAdaptive(gpu, [2, 3, 5, 7], [1, 1], 4, "(1,1)"));
  it("adaptive, divisible: 6x8 -> 3x4", () => checkAdaptive(gpu, [2, 3, 6, 8], [3, 4], 5, "divisible"));
  it("adaptive, non-divisible (overlapping bins): 7x9 -> 3x4", () => checkAdaptive(gpu, [2, 3, 7, 9], [3, 4], 6, "non-divisible"));
  it("adaptive, larger than the input: 3x3 -> 5x4", () => checkAdaptive(gpu, [1, 2, 3, 3], [5, 4], 7, "upsampling"));
});

const BN_TRAIN: BatchNormParams = { training: true, momentum: 0.1, eps: 1e-5 };

interface BnPair {
  w: { g: Storage; r: Storage };
  b: { g: Storage; r: Storage };
  rm: { g: Storage; r: Storage };
  rv: { g: Storage; r: Storage };
}

function bnParams(be: WebGpuBackend, C: number, seed: number): BnPair {
  return {
    w: pair(be, randomArray(C, seed).map((v) => 1 + 0.5 * v), [C]),
    b: pair(be, randomArray(C, seed + 1).map((v) => 0.3 * v), [C]),
    rm: pair(be, new Float32Array(C), [C]),
    rv: pair(be, new Float32Array(C).fill(1), [C]),
  };
}

function freeBn(p: BnPair): void {
  free(p.w.g, p.w.r, p.b.g, p.b.r, p.rm.g, p.rm.r, p.rv.g, p.rv.r);
}

/** Forward and backward of one batch-norm call on both backends, compared; returns nothing to free. */
async function checkBn(
  be: WebGpuBackend, xData: Float32Array, shape: number[], prm: BnPair, p: BatchNormParams, relu: boolean, seed: number, label: string,
): Promise<void> {
  const x = pair(be, xData, shape);
  const fg = be.batchNorm(x.g, prm.w.g, prm.b.g, prm.rm.g, prm.rv.g, p, { relu });
  const fr = ref.batchNorm(x.r, prm.w.r, prm.b.r, prm.rm.r, prm.rv.r, p, { relu });
  await expectSame(be, fg.y, fr.y, `${label} y`, 1e-5, 1e-6);
  await expectSame(be, prm.rm.g, prm.rm.r, `${label} running mean`, 1e-5, 1e-6);
  await expectSame(be, prm.rv.g, prm.rv.r, `${label} running var`, 1e-5, 1e-6);
  // with the epilogue the front end's backward masks dy first: reluBackward(dy, y)
  const dy0 = pair(be, randomArray(size(shape), seed), shape);
  const dy = relu ? { g: be.reluBackward(dy0.g, fg.y), r: ref.reluBackward(dy0.r, fr.y) } : dy0;
  const bg = be.batchNormBackward(dy.g, x.g, prm.w.g, fg.ctx);
  const br = ref.batchNormBackward(dy.r, x.r, prm.w.r, fr.ctx);
  await expectSame(be, bg.dx, br.dx, `${label} dx`, 1e-5, 1e-6);
  await expectSame(be, bg.dweight, br.dweight, `${label} dweight`, 1e-5, 1e-5);
  await expectSame(be, bg.dbias, br.dbias, `${label} dbias`, 1e-5, 1e-5);
  fg.ctx.dispose();
  fr.ctx.dispose();
  free(x.g, x.r, fg.y, fr.y, dy0.g, dy0.r, relu ? dy.g : null, relu ? dy.r : null, bg.dx, bg.dweight, bg.dbias, br.dx, br.dweight, br.dbias);
}

describe("webgpu batchNorm vs reference", () => {
  const cases: { shape: number[]; relu: boolean; offset: number; scale?: number }[] = [
    { shape: [3, 5, 4, 3], relu: false, offset: 0 },
    { shape: [7, 6], relu: false, offset: 0 },
    { shape: [2, 3, 5, 5], relu: true, offset: 0 },
    // a mean far from 0 against the spread: the two-pass variance and the two-float mean keep x - mean
    // (and so y, dx, dweight) at float32 precision
    { shape: [4, 2, 3, 7], relu: false, offset: 100 },
    { shape: [3, 2, 5, 3], relu: false, offset: 10, scale: 0.01 },
    // enough values per channel for several groups folded with Chan's formula
    { shape: [8, 3, 16, 16], relu: false, offset: 0.5 },
  ];
  for (const c of cases) {
    const scale = c.scale ?? 1;
    it(`training, 3 calls then eval: x [${c.shape.join(",")}]${c.relu ? " +relu" : ""}${c.offset ? ` offset ${c.offset}` : ""}${c.scale ? ` scale ${scale}` : ""}`, async () => {
      const C = c.shape[1]!;
      const prm = bnParams(gpu, C, 21);
      for (let step = 0; step < 3; step++) {
        const xData = randomArray(size(c.shape), 30 + step).map((v, i) => c.offset + scale * v * (1 + (i % C)));
        await checkBn(gpu, xData, c.shape, prm, BN_TRAIN, c.relu, 40 + step, `${c.shape} step ${step}`);
      }
      // eval: the running statistics, not written
      const rmBefore = await gpu.read(prm.rm.g);
      const rvBefore = await gpu.read(prm.rv.g);
      const xEval = randomArray(size(c.shape), 50).map((v) => c.offset + scale * v * 2);
      await checkBn(gpu, xEval, c.shape, prm, { ...BN_TRAIN, training: false }, c.relu, 51, `${c.shape} eval`);
      assert.deepEqual(await gpu.read(prm.rm.g), rmBefore, "eval leaves the running mean");
      assert.deepEqual(await gpu.read(prm.rv.g), rvBefore, "eval leaves the running variance");
      freeBn(prm);
      assert.equal(gpu.memoryStats().liveBuffers, baseline, "live buffers back to baseline");
    });
  }

  it("momentum 1 makes the running statistics the batch's (unbiased variance)", async () => {
    const shape = [3, 2, 2, 2];
    const data = randomArray(size(shape), 61);
    const prm = bnParams(gpu, 2, 62);
    const x = gpu.fromArray(data, shape, "float32");
    const f = gpu.batchNorm(x, prm.w.g, prm.b.g, prm.rm.g, prm.rv.g, { training: true, momentum: 1, eps: 1e-5 });
    const rm = await gpu.read(prm.rm.g);
    const rv = await gpu.read(prm.rv.g);
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 3; n++) for (let k = 0; k < 4; k++) vals.push(data[(n * 2 + c) * 4 + k]!);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      const unbiased = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (vals.length - 1);
      assertNear([rm[c]!, rv[c]!], [mean, unbiased], `channel ${c}`, 1e-5, 1e-6);
    }
    f.ctx.dispose();
    free(x, f.y);
    freeBn(prm);
  });

  it("checks its operands", () => {
    const prm = bnParams(gpu, 3, 1);
    const x = gpu.fill([2, 4, 3, 3], "float32", 1);
    assert.throws(() => gpu.batchNorm(x, prm.w.g, prm.b.g, prm.rm.g, prm.rv.g, BN_TRAIN), /expected input with 3 channels/);
    const one = gpu.fill([1, 3], "float32", 1);
    assert.throws(() => gpu.batchNorm(one, prm.w.g, prm.b.g, prm.rm.g, prm.rv.g, BN_TRAIN), /more than 1 value per channel/);
    free(x, one);
    freeBn(prm);
  });
});

describe("webgpu concat and split vs reference", () => {
  for (const channels of [[2, 3], [1, 4, 2], [3, 1, 2, 5]]) {
    it(`concat of ${channels.length} inputs along axis 1 (channels ${channels.join(", ")}), split back`, async () => {
      const parts = channels.map((c, k) => pair(gpu, randomArray(2 * c * 3 * 5, 70 + k), [2, c, 3, 5]));
      const cg = gpu.concat(parts.map((p) => p.g), 1);
      const cr = ref.concat(parts.map((p) => p.r), 1);
      await expectSame(gpu, cg, cr, "concat", 0, 0);
      const sg = gpu.split(cg, 1, channels);
      assert.equal(sg.length, channels.length);
      for (let k = 0; k < channels.length; k++) {
        assert.deepEqual(sg[k]!.shape, [2, channels[k]!, 3, 5]);
        assert.deepEqual(await gpu.read(sg[k]!), ref.readSync(parts[k]!.r), `part ${k}`);
      }
      free(cg, cr, ...sg, ...parts.flatMap((p) => [p.g, p.r]));
    });
  }

  it("other axes: 0 (buffer copies), the last (negative index), 2-D", async () => {
    for (const [shapes, axis] of [
      [[[2, 3, 4], [1, 3, 4], [3, 3, 4]], 0],
      [[[2, 3, 4], [2, 3, 1], [2, 3, 2]], -1],
      [[[5, 2], [5, 7]], 1],
      [[[2, 0, 3], [2, 2, 3]], 1],
    ] as [number[][], number][]) {
      const parts = shapes.map((s, k) => pair(gpu, randomArray(size(s), 80 + k), s));
      const cg = gpu.concat(parts.map((p) => p.g), axis);
      const cr = ref.concat(parts.map((p) => p.r), axis);
      await expectSame(gpu, cg, cr, `concat axis ${axis}`, 0, 0);
      const ax = axis < 0 ? axis + shapes[0]!.length : axis;
      const sizes = shapes.map((s) => s[ax]!);
      const sg = gpu.split(cg, axis, sizes);
      const sr = ref.split(cr, axis, sizes);
      for (let k = 0; k < sizes.length; k++) await expectSame(gpu, sg[k]!, sr[k]!, `split axis ${axis} part ${k}`, 0, 0);
      free(cg, cr, ...sg, ...sr, ...parts.flatMap((p) => [p.g, p.r]));
    }
    const a = gpu.fill([2, 3], "float32", 0);
    const b = gpu.fill([3, 3], "float32", 0);
    assert.throws(() => gpu.concat([a, b], 1), /does not match/);
    assert.throws(() => gpu.split(a, 1, [1, 1]), /cannot split/);
    free(a, b);
  });
});

describe("webgpu max vs reference", () => {
  it("over axes, with and without keepDims", async () => {
    const x = pair(gpu, randomArray(2 * 3 * 4 * 5, 90), [2, 3, 4, 5]);
    for (const axes of [[], [0], [1, 3], [-1], [0, 2, 3]]) {
      for (const keep of [false, true]) {
        const g = gpu.max(x.g, axes, keep);
        const r = ref.max(x.r, axes, keep);
        await expectSame(gpu, g, r, `max [${axes}] keep ${keep}`, 0, 0);
        free(g, r);
      }
    }
    free(x.g, x.r);
  });

  it("NaN propagates, -inf stays, over a row longer than a workgroup", async () => {
    const data = randomArray(3 * 700, 91);
    data[5] = NaN; // row 0
    data[700 + 699] = NaN; // row 1, last element
    for (let i = 1400; i < 2100; i++) data[i] = -Infinity; // row 2
    const x = pair(gpu, data, [3, 700]);
    for (const keep of [false, true]) {
      const g = gpu.max(x.g, [1], keep);
      const r = ref.max(x.r, [1], keep);
      await expectSame(gpu, g, r, `max keep ${keep}`, 0, 0);
      const v = await gpu.read(g);
      assert.ok(Number.isNaN(v[0]) && Number.isNaN(v[1]) && v[2] === -Infinity, `${v[0]} ${v[1]} ${v[2]}`);
      free(g, r);
    }
    const all = gpu.max(x.g, [], false);
    assert.ok(Number.isNaN((await gpu.read(all))[0]));
    free(x.g, x.r, all);
  });
});

describe("webgpu new ops: facts and limits", () => {
  it("supports every new op in float32 only", () => {
    for (const op of ["sigmoid", "sigmoidBackward", "tanh", "tanhBackward", "avgPool2d", "avgPool2dBackward", "adaptiveAvgPool2d",
      "adaptiveAvgPool2dBackward", "batchNorm", "batchNormBackward", "concat", "split", "max"] as const) {
      assert.ok(OP_NAMES.includes(op), op);
      assert.ok(gpu.supports(op, "float32") && !gpu.supports(op, "float64"), op);
    }
  });

  it("a binding limit forced low splits pooling, batch norm and concat along the batch with the same results", async () => {
    // 2 KiB bindings: one image of x (3x9x9 floats = 972 B) fits, the batch of 5 does not.
    const small = await openTestGpu({ maxBindingBytes: 2048 });
    try {
      await checkAvgPool(small, [5, 3, 9, 9], { kernel: [3, 3], stride: [2, 2], padding: [1, 1] }, 101, "batch-split avg pool");
      await checkAdaptive(small, [5, 3, 9, 9], [4, 2], 103, "batch-split adaptive");
      const prm = bnParams(small, 3, 105);
      for (let step = 0; step < 2; step++) {
        await checkBn(small, randomArray(5 * 3 * 9 * 9, 106 + step).map((v) => 3 + v), [5, 3, 9, 9], prm, BN_TRAIN, step === 1, 108 + step, `batch-split bn ${step}`);
      }
      freeBn(prm);
      const parts = [[5, 3, 9, 9], [5, 2, 9, 9]].map((s, k) => pair(small, randomArray(size(s), 110 + k), s));
      const cg = small.concat(parts.map((p) => p.g), 1);
      const cr = ref.concat(parts.map((p) => p.r), 1);
      await expectSame(small, cg, cr, "batch-split concat", 0, 0);
      const sg = small.split(cg, 1, [3, 2]);
      for (let k = 0; k < 2; k++) assert.deepEqual(await small.read(sg[k]!), ref.readSync(parts[k]!.r));
      free(cg, cr, ...sg, ...parts.flatMap((p) => [p.g, p.r]));
      assert.equal(small.memoryStats().liveBuffers, 0);
    } finally {
      small.destroy();
    }
  });

  it("live buffers are back to baseline after everything is disposed", () => {
    assert.equal(gpu.memoryStats().liveBuffers, baseline);
  });
});

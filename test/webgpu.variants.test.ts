// Every GEMM variant the tuner may pick (kernels/gemm.ts: 64x64, 128x64 and 128x128 tiles, register
// prefetch on/off, split-K on/off) against the reference backend on odd shapes (no size a multiple of a
// tile), for conv forward, backward-data and backward-weights and for linear forward and backward; and
// the workgroup-memory fallback on a device opened with WebGPU's default limit. SwiftShader: small shapes,
// and, since a 128x128 variant takes ~40 s to compile and run there, every tile with prefetch and split-K
// both off and both on (prefetch changes only the K loop, split-K only the store: every line of every
// variant runs) plus the two mixed ones on the 64x64 tile; ALEXNET_ALL_VARIANTS=1 runs all twelve.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Conv2dParams, Storage } from "../src/backend/backend.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import {
  type GemmVariant, allVariants, applicableVariants, bakeShape, defaultVariant, gemmShader, planSplitK, tileSharedBytes, variantName,
} from "../src/backend/webgpu/kernels/gemm.js";
import { convForwardSpec } from "../src/backend/webgpu/kernels/conv.js";
import { expectSame, openTestGpu, pair, randomArray, ref } from "./webgpuHelpers.js";

let gpu: WebGpuBackend;
before(async () => {
  // minSplitK 16: the small shapes' K ranges split, so the split-K variants really split
  gpu = await openTestGpu({ minSplitK: 16, tune: "off" });
});
after(() => gpu.destroy());

function free(...list: (Storage | null)[]): void {
  for (const s of list) if (s) s.backend.dispose(s);
}

async function withVariant(v: GemmVariant, fn: () => Promise<void>): Promise<void> {
  gpu.gemmOptions.variant = v;
  try {
    await fn();
  } finally {
    delete gpu.gemmOptions.variant;
  }
}

// M = 2·5·9 = 90 (fwd), 2·9·11 = 198 (bwd-data), 4·9 = 36 (bwd-weights); N = 67 or 4; K = 36, 603, 90.
const X: [number, number, number, number] = [2, 4, 9, 11];
const O = 67;
const P: Conv2dParams = { stride: [2, 1], padding: [1, 0] };

async function checkConv(seed: number): Promise<void> {
  const x = pair(gpu, randomArray(X.reduce((a, b) => a * b), seed), X);
  const w = pair(gpu, randomArray(O * X[1] * 9, seed + 1), [O, X[1], 3, 3]);
  const b = pair(gpu, randomArray(O, seed + 2), [O]);
  const yg = gpu.conv2d(x.g, w.g, b.g, P, { relu: true });
  const yr0 = ref.conv2d(x.r, w.r, b.r, P);
  const yr = ref.relu(yr0);
  await expectSame(gpu, yg, yr, "conv forward");
  const dy = pair(gpu, randomArray(yr.shape.reduce((a, v) => a * v, 1), seed + 3), yr.shape);
  const gg = gpu.conv2dBackward(dy.g, x.g, w.g, true, P, true);
  const gr = ref.conv2dBackward(dy.r, x.r, w.r, true, P, true);
  await expectSame(gpu, gg.dx!, gr.dx!, "conv backward-data");
  await expectSame(gpu, gg.dw, gr.dw, "conv backward-weights");
  free(x.g, x.r, w.g, w.r, b.g, b.r, yg, yr0, yr, dy.g, dy.r, gg.dx, gg.dw, gg.db, gr.dx, gr.dw, gr.db);
}

async function checkLinear(seed: number): Promise<void> {
  const [N, I, Out] = [70, 37, 67];
  const x = pair(gpu, randomArray(N * I, seed), [N, I]);
  const w = pair(gpu, randomArray(Out * I, seed + 1), [Out, I]);
  const b = pair(gpu, randomArray(Out, seed + 2), [Out]);
  const yg = gpu.linear(x.g, w.g, b.g);
  const yr = ref.linear(x.r, w.r, b.r);
  await expectSame(gpu, yg, yr, "linear forward");
  const dy = pair(gpu, randomArray(N * Out, seed + 3), [N, Out]);
  const gg = gpu.linearBackward(dy.g, x.g, w.g, true, true);
  const gr = ref.linearBackward(dy.r, x.r, w.r, true, true);
  await expectSame(gpu, gg.dx!, gr.dx!, "linear dx");
  await expectSame(gpu, gg.dw, gr.dw, "linear dw");
  free(x.g, x.r, w.g, w.r, b.g, b.r, yg, yr, dy.g, dy.r, gg.dx, gg.dw, gg.db, gr.dx, gr.dw, gr.db);
}

describe("every GEMM variant equals the reference backend", () => {
  it("the set has 3 tiles x prefetch x split-K, and split-K splits these shapes", () => {
    assert.equal(allVariants().length, 12);
    for (const v of allVariants()) {
      if (!v.splitK) continue;
      // conv forward's GEMM (M 90, N 67, K 36): split-K must really split, else the variant is untested
      assert.ok(planSplitK(90, 67, 36, v.tile, 16, gpu.gemmOptions.maxPartialBytes).splits > 1, variantName(v));
    }
  });

  const all = process.env.ALEXNET_ALL_VARIANTS === "1";
  for (const v of allVariants().filter((v) => all || v.prefetch === v.splitK || v.tile.rn === 4 && v.tile.rm === 4)) {
    it(`${variantName(v)}: conv forward, backward-data, backward-weights; linear forward and backward`, () =>
      withVariant(v, async () => {
        await checkConv(11);
        await checkLinear(21);
        assert.equal(gpu.memoryStats().liveBuffers, 0);
      }));
  }

  it("the batch-chunked backward-weights path runs the variant's tile and prefetch", async () => {
    // 2 KiB bindings: the batch of 5 is split into chunks whose partials one reduction sums
    const small = await openTestGpu({ maxBindingBytes: 2048, minSplitK: 16, tune: "off" });
    try {
      small.gemmOptions.variant = { tile: { rm: 8, rn: 8 }, prefetch: true, splitK: true };
      const p: Conv2dParams = { stride: [1, 1], padding: [1, 1] };
      const x = pair(small, randomArray(5 * 3 * 9 * 9, 3), [5, 3, 9, 9]);
      const w = pair(small, randomArray(4 * 3 * 9, 4), [4, 3, 3, 3]);
      const dy = pair(small, randomArray(5 * 4 * 9 * 9, 5), [5, 4, 9, 9]);
      const gg = small.conv2dBackward(dy.g, x.g, w.g, false, p, true);
      const gr = ref.conv2dBackward(dy.r, x.r, w.r, false, p, true);
      await expectSame(small, gg.dw, gr.dw, "chunked dw");
      await expectSame(small, gg.dx!, gr.dx!, "chunked dx");
      free(x.g, x.r, w.g, w.r, dy.g, dy.r, gg.dx, gg.dw, gr.dx, gr.dw);
    } finally {
      small.destroy();
    }
  });
});

describe("shapes baked into the code", () => {
  it("every shape field becomes a literal; offsets and splits stay uniforms", () => {
    const d = { M: 90, N: 67, K: 36, nb: 2, c: 4, h: 9, w: 11, o: 67, oh: 5, ow: 9, kh: 3, kw: 3, sh: 2, sw: 1, ph: 1, pw: 0 };
    const code = gemmShader(convForwardSpec(true, true), { rm: 4, rn: 4 }, false, { dims: d });
    assert.doesNotMatch(code, /\bp\.(M|N|K|c|h|w|o|oh|ow|kh|kw|sh|sw|ph|pw)\b/);
    assert.match(code, /p\.aOff/);
    assert.match(code, /p\.kSplit/);
    assert.match(code, /let aRowInfo = rowA\(/, "the pixel decode is hoisted out of the K loop");
    assert.equal(bakeShape("p.M + p.zBase + p.ow", d), "90u + p.zBase + 9u");
  });
});

describe("workgroup memory: the adapter's limit, and WebGPU's default", () => {
  it("the 128x128 tile needs 16,512 bytes; opened with the adapter's limit it is the big layers' default", () => {
    assert.equal(tileSharedBytes({ rm: 8, rn: 8 }), 16512);
    assert.ok(gpu.ctx.limits.maxComputeWorkgroupStorageSize >= 16512, `SwiftShader offers ${gpu.ctx.limits.maxComputeWorkgroupStorageSize}`);
    const big = { M: 2100, N: 130, K: 20 };
    assert.deepEqual(defaultVariant(big, gpu.gemmOptions).tile, { rm: 8, rn: 8 });
    assert.ok(applicableVariants(big, gpu.gemmOptions).some((v) => v.tile.rm === 8 && v.tile.rn === 8));
  });

  it("a device with the default 16384 bytes falls back to 128x64 and still computes right", async () => {
    const dflt = await openTestGpu({ maxWorkgroupStorageBytes: 16384, tune: "off" });
    try {
      assert.equal(dflt.ctx.limits.maxComputeWorkgroupStorageSize, 16384);
      const big = { M: 2100, N: 130, K: 20 };
      assert.deepEqual(defaultVariant(big, dflt.gemmOptions).tile, { rm: 8, rn: 4 });
      assert.ok(applicableVariants(big, dflt.gemmOptions).every((v) => tileSharedBytes(v.tile) <= 16384));
      // linear (130, 20) -> 2100: the kernel's M = 2100 and N = 130, a big-tile shape
      const x = pair(dflt, randomArray(130 * 20, 7), [130, 20]);
      const w = pair(dflt, randomArray(2100 * 20, 8), [2100, 20]);
      const yg = dflt.linear(x.g, w.g, null);
      const yr = ref.linear(x.r, w.r, null);
      await expectSame(dflt, yg, yr, "linear on default limits");
      free(x.g, x.r, w.g, w.r, yg, yr);
    } finally {
      dflt.destroy();
    }
  });
});

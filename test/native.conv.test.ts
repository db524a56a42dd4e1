// The native conv2d against the reference backend, forward and all gradients: random shapes, strides and
// paddings, the Winograd paths (3x3, our F(4x4,5x5), other 4x4..6x6 kernels stacked into a 3x3) and the
// fused ReLU epilogue.
import assert from "node:assert/strict";
import { it } from "node:test";
import { rng } from "./helpers.js";
import { type ConvCase, Pair, convRoundTrip, describeNative, randomConvCase } from "./nativeHelpers.js";

describeNative("native conv2d vs reference", (nb, rb) => {
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
});

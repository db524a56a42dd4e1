// bf16 mixed precision with the layers of d2l's later CNN sections: a network with batch normalization,
// sigmoid, tanh, average and adaptive pooling, a residual sum and a concatenation trains for a few SGD steps
// on the native backend in fp32 and in bf16 from the same weights and data; the bf16 losses stay within a
// stated tolerance of fp32's, and no buffer leaks. Skipped with the reason where the CPU has no bf16 at all.
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import type { NativeBackend } from "../src/backend/native/index.js";
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, Module, ReLU, Sequential, Sigmoid, Tanh,
} from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { crossEntropy } from "../src/tensor/functional.js";
import { add, cat, relu } from "../src/tensor/ops.js";
import { manualSeed } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import { type Tensor, tensor } from "../src/tensor/tensor.js";
import { nativeBackend, rng } from "./helpers.js";

class Block extends Module {
  conv = new Conv2d(8, 8, { kernelSize: 3, padding: 1 });
  bn = new BatchNorm2d(8);
  side = new Conv2d(8, 4, { kernelSize: 1 });
  forward(x: Tensor): Tensor {
    const y = relu(add(this.bn.call(this.conv.call(x)), x));
    return cat([y, relu(this.side.call(y))], 1);
  }
}

function network(): Sequential {
  return new Sequential(
    new Conv2d(1, 8, { kernelSize: 3, padding: 1 }), new BatchNorm2d(8), new ReLU(),
    new AvgPool2d(2), new Block(), new Sigmoid(),
    new AdaptiveAvgPool2d([3, 3]), new Flatten(),
    new Linear(12 * 9, 16), new BatchNorm1d(16), new Tanh(),
    new Linear(16, 10),
  );
}

const native = nativeBackend as NativeBackend | null;
const support = native?.precisionSupport("bf16");
const skip = !native ? "the native backend is not built here" : support!.level === "unsupported" ? `no bf16 on this CPU: ${support!.detail}` : false;
if (skip) test(`bf16 layer tests skipped: ${skip}`, { skip }, () => {});

describe("bf16 mixed precision trains the chapter's layers", { skip }, () => {
  it("five SGD steps: bf16 losses within 3% of fp32's, running statistics close, no leak", async () => {
    const nb = native!;
    const draw = rng(7);
    const batches = Array.from({ length: 5 }, () => ({
      x: Float32Array.from({ length: 16 * 12 * 12 }, () => draw()),
      y: Int32Array.from({ length: 16 }, () => Math.floor(Math.abs(draw()) * 10) % 10),
    }));
    const run = async (precision: "fp32" | "bf16"): Promise<{ losses: number[]; runningVar: number[] }> => {
      manualSeed(3);
      const live = nb.memoryStats().liveBuffers;
      const net = await network().to(nb);
      const opt = new SGD(net.parameters(), { lr: 0.1 });
      nb.setPrecision(precision);
      const losses: number[] = [];
      try {
        for (const b of batches) {
          losses.push(tidy(() => {
            opt.zeroGrad();
            const loss = crossEntropy(net.call(tensor(b.x, { shape: [16, 1, 12, 12], backend: nb })), b.y);
            loss.backward();
            opt.step();
            return loss.item();
          }));
        }
      } finally {
        nb.setPrecision("fp32");
      }
      const runningVar = [...(net[1] as BatchNorm2d).runningVar.dataSync()];
      // bf16 casts of the weights live on the weights (see bf16.test.ts) and go with them.
      opt.zeroGrad();
      net.dispose();
      assert.equal(nb.memoryStats().liveBuffers, live, `${precision}: live buffers back to where they were`);
      return { losses, runningVar };
    };
    const fp32 = await run("fp32");
    const bf16 = await run("bf16");
    fp32.losses.forEach((l, i) => {
      assert.ok(Number.isFinite(bf16.losses[i]!), `step ${i}: bf16 loss is finite`);
      assert.ok(Math.abs(bf16.losses[i]! - l) <= 0.03 * l, `step ${i}: bf16 loss ${bf16.losses[i]} vs fp32 ${l}`);
    });
    fp32.runningVar.forEach((v, i) => assert.ok(Math.abs(bf16.runningVar[i]! - v) <= 0.03 * v + 1e-3, `running_var[${i}]`));
  });
});

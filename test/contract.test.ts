// The Backend contract as a GPU backend will meet it: a backend that reads only asynchronously (the
// reference backend wrapped so every read resolves on a later tick and readSync is absent) trains to the
// same weights as the plain one through trainCh6, Module.to and evaluation; a backend that lacks an op the
// loss or optimizer needs fails before the first step, naming the op, the backend and who needs it; OP_NAMES
// are the methods backends really have.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Backend, OP_NAMES, type OpName, type Storage, UnsupportedOpError } from "../src/backend/backend.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import type { Batch } from "../src/data/batch.js";
import { alexNet, initWeights } from "../src/models/alexnet.js";
import { SGD } from "../src/optim/sgd.js";
import { manualSeed } from "../src/tensor/random.js";
import { type BatchSource, initialTrainState, trainCh6 } from "../src/train/trainer.js";
import { nativeBackend, rng } from "./helpers.js";

/** The reference backend as an asynchronous device sees it: no readSync, reads settle on a later macrotask. */
class AsyncReference extends ReferenceBackend {
  override readonly name = "async-reference";
  reads = 0;
  constructor() {
    super();
    Object.defineProperty(this, "readSync", { value: undefined });
  }
  override async read(s: Storage): Promise<Float32Array | Float64Array> {
    this.reads++;
    await new Promise((resolve) => setTimeout(resolve, 1));
    return this.get(s).slice();
  }
}

/** A few fixed batches of narrow AlexNet-28 input, the same every epoch. */
function batches(count: number, size: number): BatchSource {
  const r = rng(7);
  const all: Batch[] = Array.from({ length: count }, (_, k) => ({
    images: Float32Array.from({ length: size * 28 * 28 }, () => Math.abs(r())),
    labels: Int32Array.from({ length: size }, () => Math.floor(Math.abs(r()) * 10) % 10),
    shape: [size, 1, 28, 28],
    indices: Int32Array.from({ length: size }, (_, i) => k * size + i),
  }));
  return {
    numBatches: count,
    batchSize: size,
    async *iterate(_epoch: number, start = 0) {
      for (const b of all.slice(start)) yield b;
    },
  };
}

async function trainOn(backend: Backend, steps: { onStep?: () => void } = {}) {
  manualSeed(3);
  const net = await alexNet({ variant: "28", widthScale: 0.125 }).to(backend);
  initWeights(net);
  const optimizer = new SGD(net.parameters(), { lr: 0.05, momentum: 0.9 });
  const state = initialTrainState();
  const data = batches(3, 4);
  try {
    const result = await trainCh6(net, { epochs: 2, backend, trainLoader: data, testLoader: batches(1, 4), optimizer, hooks: { onStep: steps.onStep } }, state);
    const weights = await Promise.all(net.parameters().map(async (p) => Float32Array.from(await p.data())));
    return { result, weights };
  } finally {
    optimizer.dispose();
    net.dispose();
  }
}

describe("an asynchronous backend (no readSync) trains like the synchronous one", () => {
  it("same weights, losses, accuracies and test accuracy after 6 steps; reads happen at plot points only", async () => {
    const sync = await trainOn(new ReferenceBackend());
    const asyncBackend = new AsyncReference();
    const live = asyncBackend.memoryStats().liveBuffers;
    const got = await trainOn(asyncBackend);
    assert.deepEqual(got.result.state.points, sync.result.state.points);
    assert.equal(got.result.trainLoss, sync.result.trainLoss);
    assert.equal(got.result.testAcc, sync.result.testAcc);
    got.weights.forEach((w, i) => assert.deepEqual(w, sync.weights[i], `parameter ${i}`));
    assert.equal(asyncBackend.memoryStats().liveBuffers, live, "every buffer is freed");
    // 6 steps, 3 batches per epoch (a point after every batch): 2 reads (loss, count) per step, one per
    // evaluation, and the 16 parameters read once at the end.
    assert.equal(asyncBackend.reads, 2 * 6 + 2 + 16);
  });
});

describe("a backend that lacks an op the step needs fails before the first step", () => {
  for (const missing of ["sgdUpdate", "crossEntropy", "correctCount"] as OpName[]) {
    it(`missing ${missing}: UnsupportedOpError naming op, backend and who needs it; no step ran`, async () => {
      class Lacking extends ReferenceBackend {
        override readonly name = `no-${missing}`;
        override supports(op: OpName, dtype: "float32" | "float64"): boolean {
          return op !== missing && super.supports(op, dtype);
        }
      }
      let steps = 0;
      await assert.rejects(trainOn(new Lacking(), { onStep: () => steps++ }), (e: Error) => {
        assert.ok(e instanceof UnsupportedOpError, String(e));
        assert.match(e.message, new RegExp(`op '${missing}' \\(needed by the (loss|optimizer|accuracy).*\\) with dtype float32 is not supported on cpu \\(no-${missing} backend\\)`));
        return true;
      });
      assert.equal(steps, 0);
    });
  }
});

describe("OP_NAMES are the contract's real methods", () => {
  const backends: Backend[] = [new ReferenceBackend(), ...(nativeBackend ? [nativeBackend] : [])];
  for (const b of backends) {
    it(`${b.name} implements every op it supports`, () => {
      for (const op of OP_NAMES) {
        assert.equal(typeof (b as unknown as Record<string, unknown>)[op], "function", `${b.name}.${op}`);
        assert.ok(b.supports(op, "float32"), `${b.name} supports ${op}`);
      }
      assert.equal(b.supports("notAnOp" as OpName, "float32"), false);
    });
  }
});

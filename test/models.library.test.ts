// The library as a TypeScript user meets it (issue 24.4): everything imported from the package's public
// entry point by its name ("alexnet-ts", the exports map; no deep import), d2l's load_data_fashion_mnist and
// train_ch6 train a network written with nn to a stated accuracy on a subset of real Fashion-MNIST, and
// trainCh6 trains a user's own Module subclass (children assigned to fields, a hand-written forward).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as AlexnetTs from "../src/index.js";
import type { Tensor } from "../src/tensor/tensor.js";

// The package by its name: Node resolves it through package.json's "exports" (a package may import itself).
const lib = (await import("alexnet-ts" as string)) as typeof AlexnetTs;
const { nn, loadDataFashionMnist, trainCh6, getBackend, relu, manualSeed } = lib;

/** Runs fn with console.log captured (trainCh6 prints d2l's two closing lines). */
async function quietly<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(" "));
  try {
    return { result: await fn(), lines };
  } finally {
    console.log = log;
  }
}

describe("the library from its public entry point", () => {
  it("d2l's BN-LeNet (7.5, concise) written with nn, loadDataFashionMnist and trainCh6: test acc >= 0.65 after 2 epochs on 6,000 examples", async () => {
    manualSeed(0);
    const net = new nn.Sequential(
      new nn.Conv2d(1, 6, { kernelSize: 5 }), new nn.BatchNorm2d(6), new nn.Sigmoid(),
      new nn.AvgPool2d(2, { stride: 2 }),
      new nn.Conv2d(6, 16, { kernelSize: 5 }), new nn.BatchNorm2d(16), new nn.Sigmoid(),
      new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
      new nn.Linear(256, 120), new nn.BatchNorm1d(120), new nn.Sigmoid(),
      new nn.Linear(120, 84), new nn.BatchNorm1d(84), new nn.Sigmoid(),
      new nn.Linear(84, 10),
    );
    const [trainIter, testIter] = await loadDataFashionMnist(64, { trainLimit: 6000, testLimit: 1000 });
    try {
      const { result, lines } = await quietly(() => trainCh6(net, trainIter, testIter, 2, 1.0, getBackend()));
      assert.match(lines[0]!, /^loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$/);
      assert.match(lines[1]!, /^\d+\.\d examples\/sec on cpu/);
      assert.ok(result.testAcc >= 0.65, `test acc ${result.testAcc} below 0.65`);
    } finally {
      await Promise.all([trainIter.close(), testIter.close()]);
      net.dispose();
    }
  });

  it("trainCh6 trains a user's Module subclass (fields, own forward): test acc >= 0.6 after 1 epoch on 3,000 examples", async () => {
    class SmallNet extends nn.Module {
      conv: AlexnetTs.nn.Conv2d;
      bn: AlexnetTs.nn.BatchNorm2d;
      pool: AlexnetTs.nn.MaxPool2d;
      head: AlexnetTs.nn.Sequential;
      constructor() {
        super();
        this.conv = new nn.Conv2d(1, 16, { kernelSize: 3, padding: 1 });
        this.bn = new nn.BatchNorm2d(16);
        this.pool = new nn.MaxPool2d(2, { stride: 2 });
        this.head = new nn.Sequential(new nn.Flatten(), new nn.Linear(16 * 14 * 14, 10));
      }

      forward(x: Tensor): Tensor {
        return this.head.call(this.pool.call(relu(this.bn.call(this.conv.call(x)))));
      }
    }
    manualSeed(0);
    const net = new SmallNet();
    assert.deepEqual(net.namedState().map(([name]) => name).slice(0, 4), ["conv.weight", "conv.bias", "bn.weight", "bn.bias"]);
    assert.deepEqual(net.outputShape([1, 1, 28, 28]), [1, 10]);
    const [trainIter, testIter] = await loadDataFashionMnist(32, { trainLimit: 3000, testLimit: 500 });
    try {
      const { result } = await quietly(() => trainCh6(net, trainIter, testIter, 1, 0.05, getBackend()));
      assert.ok(result.testAcc >= 0.6, `test acc ${result.testAcc} below 0.6`);
    } finally {
      await Promise.all([trainIter.close(), testIter.close()]);
      net.dispose();
    }
  });
});

// nn: PyTorch state_dict names and shapes, the layers' PyTorch reprs, d2l's summary tables line for line,
// train/eval and apply, initialisation bounds, and the layer-naming errors for bad model definitions.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Backend, OpName } from "../src/backend/backend.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import { alexNet } from "../src/models/alexnet.js";
import { shapeTable } from "../src/models/summary.js";
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, init } from "../src/nn/index.js";
import { ones, zeros } from "../src/tensor/creation.js";
import { tidy } from "../src/tensor/scope.js";
import { TEST_BACKENDS, assertClose, readFixture } from "./helpers.js";
import { tensor } from "../src/tensor/tensor.js";

interface AlexFixture {
  stateDict: [string, number[]][];
  parameters: number;
  table: { type: string; shape: number[]; repr: string }[];
}
const fixture = readFixture<Record<"224" | "28", AlexFixture>>("alexnet.json");

const nets = { "224": alexNet({ variant: "224" }), "28": alexNet({ variant: "28" }) };

for (const variant of ["224", "28"] as const) {
  describe(`AlexNet variant ${variant} against PyTorch`, () => {
    const net = nets[variant];
    const want = fixture[variant];

    it("has PyTorch's state_dict names and shapes, and parameter count", () => {
      const got = net.namedParameters().map(([name, p]) => [name, [...p.shape]]);
      assert.deepEqual(got, want.stateDict);
      assert.equal(net.parameters().reduce((n, p) => n + p.numel, 0), want.parameters);
    });

    it("prints each layer as PyTorch's repr", () => {
      assert.deepEqual([...net].map((l) => l.toString()), want.table.map((r) => r.repr));
      assert.equal(net.length, 21);
      assert.equal(net[0], net.at(0));
      assert.ok(net[13] instanceof Flatten);
    });

    it("prints d2l's shape table line for line", () => {
      const lines = shapeTable(net, [1, 1, Number(variant), Number(variant)]);
      assert.deepEqual(lines, want.table.map((r) => `${r.type} output shape:\t [${r.shape.join(", ")}]`));
    });
  });
}

describe("Module behaviour", () => {
  it("train()/eval() reach every layer and apply() visits children first", () => {
    const net = new Sequential(new Linear(3, 2), new Dropout(0.5), new Sequential(new ReLU()));
    net.eval();
    assert.ok(net.modules().every((m) => !m.training));
    net.train();
    assert.ok(net.modules().every((m) => m.training));
    const order: string[] = [];
    net.apply((m) => order.push(m.toString().split("(")[0]!));
    assert.deepEqual(order, ["Linear", "Dropout", "ReLU", "Sequential", "Sequential"]);
    assert.deepEqual(net.namedParameters().map(([n]) => n), ["0.weight", "0.bias"]);
  });

  it("d2l's init: Xavier-uniform bounds for weights, PyTorch default bounds for biases", () => {
    const conv = new Conv2d(96, 256, { kernelSize: 5, padding: 2 });
    const lin = new Linear(6400, 4096);
    const maxAbs = (t: { toFloat32Array(): Float32Array }): number => t.toFloat32Array().reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // Default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), reaching close to the bound.
    const convBound = 1 / Math.sqrt(96 * 25);
    assert.ok(maxAbs(conv.weight) <= convBound && maxAbs(conv.weight) > 0.99 * convBound);
    assert.ok(maxAbs(conv.bias!) <= convBound);
    new Sequential(conv, lin).apply((m) => {
      if (m instanceof Conv2d || m instanceof Linear) init.xavierUniform_(m.weight);
    });
    const xConv = Math.sqrt(6 / (96 * 25 + 256 * 25));
    const xLin = Math.sqrt(6 / (6400 + 4096));
    assert.ok(maxAbs(conv.weight) <= xConv && maxAbs(conv.weight) > 0.99 * xConv);
    assert.ok(maxAbs(lin.weight) <= xLin && maxAbs(lin.weight) > 0.99 * xLin);
    assert.ok(maxAbs(lin.bias!) <= 1 / Math.sqrt(6400));
    conv.dispose();
    lin.dispose();
  });

  it("loadStateDict checks names and shapes", () => {
    const a = new Sequential(new Linear(3, 2));
    const b = new Sequential(new Linear(3, 2));
    b.loadStateDict(a.stateDict());
    assert.deepEqual([...b[0]!.getParameter("weight")!.dataSync()], [...a[0]!.getParameter("weight")!.dataSync()]);
    assert.throws(() => b.loadStateDict(new Map([["0.weight", zeros([2, 3])]])), /missing \[0\.bias\]/);
    assert.throws(() => b.loadStateDict(new Map([["0.weight", zeros([3, 3])], ["0.bias", zeros([2])]])), /'0.weight' has shape \[3, 3\], the model expects \[2, 3\]/);
  });

  it("moving to a backend that lacks an op fails up front, naming op, dtype, device and layer", async () => {
    class NoPool extends ReferenceBackend {
      override readonly name = "nopool";
      override supports(op: OpName): boolean {
        return op !== "maxPool2d";
      }
    }
    const net = new Sequential(new Conv2d(1, 2, { kernelSize: 3 }), new MaxPool2d(2));
    await assert.rejects(net.to(new NoPool() as Backend), /op 'maxPool2d' \(needed by MaxPool2d\(kernel_size=2.*\) with dtype float32 is not supported on cpu \(nopool backend\)/);
  });
});

describe("bad model definitions name the layer, what it expected and what it got", () => {
  const run = (net: Module, shape: number[]): void => {
    tidy(() => {
      net.call(ones(shape));
    });
  };

  it("a Linear fed the wrong width", () => {
    const net = new Sequential(new Conv2d(1, 4, { kernelSize: 3 }), new ReLU(), new Flatten(), new Linear(100, 10));
    assert.throws(() => run(net, [2, 1, 8, 8]), {
      name: "LayerError",
      message: "layer 3 Linear(in_features=100, out_features=10, bias=True): expected input [N, 100], got [2, 144]",
    });
  });

  it("a Conv2d with the wrong input channels", () => {
    const net = new Sequential(new Conv2d(3, 4, { kernelSize: 3 }));
    assert.throws(() => run(net, [1, 1, 8, 8]), {
      message: "layer 0 Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1)): expected input with 3 channels [N, 3, H, W], got [1, 1, 8, 8]",
    });
  });

  it("a pooling window larger than its padded input", () => {
    const net = new Sequential(new Conv2d(1, 2, { kernelSize: 3 }), new MaxPool2d(5));
    assert.throws(() => run(net, [1, 1, 6, 6]), {
      message: "layer 1 MaxPool2d(kernel_size=5, stride=5, padding=0, dilation=1, ceil_mode=False): pooling window 5x5 is larger than the padded input 4x4 (input [1, 2, 4, 4])",
    });
  });

  it("an AlexNet built for an input too small fails at build time", () => {
    assert.throws(() => alexNet({ variant: "224", imageSize: 64 }), /layer 12 MaxPool2d.*pooling window 3x3 is larger than the padded input 2x2 \(input \[1, 256, 2, 2\]\)/);
  });

  it("invalid layer arguments", () => {
    assert.throws(() => new Conv2d(1, 0, { kernelSize: 3 }), /out_channels must be a positive integer/);
    assert.throws(() => new MaxPool2d(3, { padding: 2 }), /padding must be between 0 and half/);
    assert.throws(() => new Dropout(1.5), /p must be in \[0, 1\]/);
  });

  it("the 3-channel, 1000-class AlexNet of the seed's exercise builds", () => {
    const net = alexNet({ inChannels: 3, classes: 1000 });
    assert.deepEqual(net.outputShape([2, 3, 224, 224]), [2, 1000]);
    assert.equal(net.parameters().reduce((n, p) => n + p.numel, 0), 50_844_008);
    net.dispose();
  });
});

describe("Sequential fuses Conv2d+ReLU and Linear+ReLU", () => {
  for (const { backend } of TEST_BACKENDS) {
    it(`on ${backend.name}: the same output and gradients as layer by layer`, async () => {
      const net = await new Sequential(
        new Conv2d(2, 16, { kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d(2),
        new Flatten(), new Linear(16 * 9, 12), new ReLU(), new Linear(12, 4),
      ).to(backend);
      const x = tensor(Array.from({ length: 3 * 2 * 36 }, (_, i) => Math.sin(i * 0.37)), { shape: [3, 2, 6, 6], backend });
      const run = (layerByLayer: boolean): Float32Array[] => tidy(() => {
        for (const p of net.parameters()) {
          p.grad?.dispose();
          p.grad = null;
        }
        const y = layerByLayer ? net.forwardEach(x, () => {}) : net.call(x);
        y.mul(y).sum().backward();
        return [y.dataSync() as Float32Array, ...net.parameters().map((p) => p.grad!.dataSync() as Float32Array)];
      });
      const fused = run(false);
      const plain = run(true);
      fused.forEach((a, i) => assertClose(a, plain[i]!, 1e-6, i === 0 ? "output" : `gradient ${i}`));
      x.dispose();
      net.dispose();
    });
  }
});

// d2l's CNN-chapter building blocks (d2l 0.17, PyTorch tab), written in TypeScript as a user writes them,
// against PyTorch (test/fixtures/blocks.json and blocks.safetensors, made by scripts/make_block_fixtures.py):
// `Residual` (7.6) in both forms, `Inception` (7.4), `DenseBlock` with d2l's conv_block and
// `transition_block` (7.7). On every backend present (reference in float64 and float32, native, and webgpu
// on SwiftShader when there is no GPU): state_dict names and order, a strict load of PyTorch's state dict,
// the train-mode output and every parameter's gradient, the state (parameters, running statistics,
// num_batches_tracked) after one optim.SGD step, the output after it, the eval-mode output, the PyTorch
// safetensors file loaded strictly, and no buffer left behind.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import type { Backend, DType } from "../src/backend/backend.js";
import * as nn from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { noGrad } from "../src/tensor/autograd.js";
import { add, cat, mul, relu, sum } from "../src/tensor/ops.js";
import { tidy } from "../src/tensor/scope.js";
import { tensor, type Tensor } from "../src/tensor/tensor.js";
import { decodeSafetensors } from "../src/checkpoint/safetensors.js";
import { TEST_BACKENDS, assertClose, readFixture, tolerance, type FixtureArray, type TestBackend } from "./helpers.js";
import { openTestGpu } from "./webgpuHelpers.js";

// ---- d2l 0.17, PyTorch tab, line for line -------------------------------------------------------------

class Residual extends nn.Module {
  conv1: nn.Conv2d;
  conv2: nn.Conv2d;
  conv3: nn.Conv2d | null;
  bn1: nn.BatchNorm2d;
  bn2: nn.BatchNorm2d;

  constructor(inputChannels: number, numChannels: number, use1x1conv = false, strides = 1) {
    super();
    this.conv1 = new nn.Conv2d(inputChannels, numChannels, { kernelSize: 3, padding: 1, stride: strides });
    this.conv2 = new nn.Conv2d(numChannels, numChannels, { kernelSize: 3, padding: 1 });
    if (use1x1conv) {
      this.conv3 = new nn.Conv2d(inputChannels, numChannels, { kernelSize: 1, stride: strides });
    } else {
      this.conv3 = null;
    }
    this.bn1 = new nn.BatchNorm2d(numChannels);
    this.bn2 = new nn.BatchNorm2d(numChannels);
  }

  forward(X: Tensor): Tensor {
    let Y = relu(this.bn1.call(this.conv1.call(X)));
    Y = this.bn2.call(this.conv2.call(Y));
    if (this.conv3) {
      X = this.conv3.call(X);
    }
    Y = add(Y, X);
    return relu(Y);
  }
}

class Inception extends nn.Module {
  p1_1: nn.Conv2d;
  p2_1: nn.Conv2d;
  p2_2: nn.Conv2d;
  p3_1: nn.Conv2d;
  p3_2: nn.Conv2d;
  p4_1: nn.MaxPool2d;
  p4_2: nn.Conv2d;

  // `c1`--`c4` are the number of output channels for each path
  constructor(inChannels: number, c1: number, c2: [number, number], c3: [number, number], c4: number) {
    super();
    // Path 1 is a single 1 x 1 convolutional layer
    this.p1_1 = new nn.Conv2d(inChannels, c1, { kernelSize: 1 });
    // Path 2 is a 1 x 1 convolutional layer followed by a 3 x 3 convolutional layer
    this.p2_1 = new nn.Conv2d(inChannels, c2[0], { kernelSize: 1 });
    this.p2_2 = new nn.Conv2d(c2[0], c2[1], { kernelSize: 3, padding: 1 });
    // Path 3 is a 1 x 1 convolutional layer followed by a 5 x 5 convolutional layer
    this.p3_1 = new nn.Conv2d(inChannels, c3[0], { kernelSize: 1 });
    this.p3_2 = new nn.Conv2d(c3[0], c3[1], { kernelSize: 5, padding: 2 });
    // Path 4 is a 3 x 3 maximum pooling layer followed by a 1 x 1 convolutional layer
    this.p4_1 = new nn.MaxPool2d(3, { stride: 1, padding: 1 });
    this.p4_2 = new nn.Conv2d(inChannels, c4, { kernelSize: 1 });
  }

  forward(x: Tensor): Tensor {
    const p1 = relu(this.p1_1.call(x));
    const p2 = relu(this.p2_2.call(relu(this.p2_1.call(x))));
    const p3 = relu(this.p3_2.call(relu(this.p3_1.call(x))));
    const p4 = relu(this.p4_2.call(this.p4_1.call(x)));
    // Concatenate the outputs on the channel dimension
    return cat([p1, p2, p3, p4], 1);
  }
}

function convBlock(inputChannels: number, numChannels: number): nn.Sequential {
  return new nn.Sequential(
    new nn.BatchNorm2d(inputChannels), new nn.ReLU(),
    new nn.Conv2d(inputChannels, numChannels, { kernelSize: 3, padding: 1 }));
}

class DenseBlock extends nn.Module {
  net: nn.Sequential;

  constructor(numConvs: number, inputChannels: number, numChannels: number) {
    super();
    const layer: nn.Module[] = [];
    for (let i = 0; i < numConvs; i++) {
      layer.push(convBlock(numChannels * i + inputChannels, numChannels));
    }
    this.net = new nn.Sequential(...layer);
  }

  forward(X: Tensor): Tensor {
    for (const blk of this.net) {
      const Y = blk.call(X);
      // Concatenate the input and output of each block on the channel dimension
      X = cat([X, Y], 1);
    }
    return X;
  }
}

function transitionBlock(inputChannels: number, numChannels: number): nn.Sequential {
  return new nn.Sequential(
    new nn.BatchNorm2d(inputChannels), new nn.ReLU(),
    new nn.Conv2d(inputChannels, numChannels, { kernelSize: 1 }),
    new nn.AvgPool2d(2, { stride: 2 }));
}

// ---- the fixture ----------------------------------------------------------------------------------------

interface NamedArray extends FixtureArray {
  name: string;
}

interface BlockFixture {
  name: string;
  ctor: Record<string, unknown>;
  stateDictNames: string[];
  stateDict: NamedArray[];
  x: FixtureArray;
  dy: FixtureArray;
  y: FixtureArray;
  grads: NamedArray[];
  dx: FixtureArray;
  stateAfterStep: NamedArray[];
  yAfterStep: FixtureArray;
  stateFinal: NamedArray[];
  yEval: FixtureArray;
}

const fixture = readFixture<{ sgd: { lr: number }; blocks: BlockFixture[] }>("blocks.json");

/** The block a fixture was made from, built as d2l builds it. */
function build(f: BlockFixture): nn.Module {
  const a = f.ctor as Record<string, number & [number, number]> & { type: string };
  switch (a.type) {
    case "Residual":
      return new Residual(a.input_channels, a.num_channels, Boolean(a.use_1x1conv), a.strides ?? 1);
    case "Inception":
      return new Inception(a.in_channels, a.c1, a.c2, a.c3, a.c4);
    case "DenseBlock":
      return new DenseBlock(a.num_convs, a.input_channels, a.num_channels);
    case "transition_block":
      return transitionBlock(a.input_channels, a.num_channels);
    default:
      throw new Error(`no block '${a.type}'`);
  }
}

const asMap = (entries: readonly NamedArray[]): Map<string, NamedArray> => new Map(entries.map((e) => [e.name, e]));

function shapeIs(t: Tensor, want: readonly number[], what: string): void {
  assert.deepEqual([...t.shape], [...want], `${what}: shape [${t.shape.join(", ")}], want [${want.join(", ")}]`);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Values within tol relative to the largest expected value, or to `floor` when that is larger. */
async function expectTensor(t: Tensor, want: FixtureArray, tol: number, what: string, floor = 0): Promise<void> {
  shapeIs(t, want.shape, what);
  const largest = maxAbs(want.data);
  assertClose(await t.data(), want.data, floor > largest ? (tol * floor) / largest : tol, what);
}

/** net.stateDict() against a fixture state: names in PyTorch's order, shapes and values. */
async function expectState(net: nn.Module, want: readonly NamedArray[], tol: number, what: string): Promise<void> {
  const state = net.stateDict();
  try {
    assert.deepEqual([...state.keys()], want.map((e) => e.name), `${what}: state_dict names`);
    for (const e of want) await expectTensor(state.get(e.name)!, e, tol, `${what}: ${e.name}`);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

function loadFrom(net: nn.Module, entries: readonly { name: string; shape: readonly number[]; data: ArrayLike<number> }[], backend: Backend, dtype: DType): void {
  tidy(() => net.loadStateDict(new Map(entries.map((e) => [e.name, tensor(Array.from(e.data), { shape: e.shape, dtype, backend })]))));
}

/** The whole PyTorch round: load, train-mode forward and backward, one SGD step, forward again, eval. */
async function runBlock(f: BlockFixture, backend: Backend, dtype: DType): Promise<void> {
  const tol = tolerance(dtype);
  const net = await build(f).to(backend, dtype);
  const opt = new SGD(net.parameters(), { lr: fixture.sgd.lr });
  const x = tensor(f.x.data, { shape: f.x.shape, dtype, backend, requiresGrad: true });
  const dy = tensor(f.dy.data, { shape: f.dy.shape, dtype, backend });
  const outputs: Tensor[] = [];
  try {
    const names = tidy(() => [...net.stateDict().keys()]);
    assert.deepEqual(names, f.stateDictNames, "stateDict() names and order are PyTorch's");
    loadFrom(net, f.stateDict, backend, dtype);
    await expectState(net, f.stateDict, tol, "after loadStateDict");

    // Train mode: output, and every parameter's gradient of (y * dy).sum().
    net.train();
    const y = tidy(() => {
      const out = net.call(x);
      sum(mul(out, dy)).backward();
      return out;
    });
    outputs.push(y);
    await expectTensor(y, f.y, tol, "train-mode output");
    const grads = asMap(f.grads);
    const named = net.namedParameters();
    assert.deepEqual(named.map(([n]) => n), f.grads.map((g) => g.name), "parameters (names and order)");
    // A conv bias followed by a training-mode batch norm has gradient 0 (the batch mean removes it): what
    // comes out is rounding of sums that cancel, so each gradient is compared at least at a tenth of the
    // block's largest gradient.
    const floor = 0.1 * Math.max(...f.grads.map((g) => maxAbs(g.data)));
    for (const [name, p] of named) {
      assert.ok(p.grad, `${name}: no gradient`);
      await expectTensor(p.grad, grads.get(name)!, tol, `gradient of ${name}`, floor);
    }
    assert.ok(x.grad, "the input has no gradient");
    await expectTensor(x.grad, f.dx, tol, "gradient of the input");

    // One SGD step: parameters move, running statistics and num_batches_tracked come from the forward.
    opt.step();
    opt.zeroGrad();
    await expectState(net, f.stateAfterStep, tol, "after one SGD step");

    // A second train-mode forward (it updates the running statistics again), then eval mode.
    const y2 = noGrad(() => tidy(() => net.call(x)));
    outputs.push(y2);
    await expectTensor(y2, f.yAfterStep, tol, "train-mode output after the step");
    await expectState(net, f.stateFinal, tol, "after the second forward");
    net.eval();
    const y3 = noGrad(() => tidy(() => net.call(x)));
    outputs.push(y3);
    await expectTensor(y3, f.yEval, tol, "eval-mode output");
    await expectState(net, f.stateFinal, tol, "after the eval-mode forward (statistics not written)");
  } finally {
    for (const t of outputs) t.dispose();
    x.grad?.dispose();
    x.dispose();
    dy.dispose();
    opt.dispose();
    net.dispose();
  }
}

const safetensorsBytes = readFileSync(new URL("../../test/fixtures/blocks.safetensors", import.meta.url));

/** PyTorch's file (F32 tensors, num_batches_tracked as 0-d I64) loaded strictly into the TypeScript block. */
async function loadSafetensors(f: BlockFixture, backend: Backend, dtype: DType): Promise<void> {
  const file = decodeSafetensors(new Uint8Array(safetensorsBytes), "blocks.safetensors");
  const prefix = `${f.name}.`;
  const entries = [...file.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => ({ name: k.slice(prefix.length), shape: t.shape, data: t.data }));
  assert.deepEqual(entries.map((e) => e.name), f.stateDictNames, "the file's names and order");
  for (const [k, t] of file.tensors) {
    if (k.startsWith(prefix)) assert.equal(t.dtype, k.endsWith(".num_batches_tracked") ? "I64" : "F32", `${k}: dtype as PyTorch stores it`);
  }
  const net = await build(f).to(backend, dtype);
  try {
    loadFrom(net, entries, backend, dtype);
    await expectState(net, f.stateDict, tolerance(dtype), "loaded from blocks.safetensors");
  } finally {
    net.dispose();
  }
}

// ---- on every backend ---------------------------------------------------------------------------------

const gpu = await openTestGpu();
after(() => gpu.destroy());
const BACKENDS: TestBackend[] = [...TEST_BACKENDS, { backend: gpu, dtypes: ["float32"] }];

/** Runs fn and checks the backend holds as many buffers after as before. */
async function noLeak(backend: Backend, fn: () => Promise<void>): Promise<void> {
  const before = backend.memoryStats().liveBuffers;
  await fn();
  const now = backend.memoryStats().liveBuffers;
  assert.equal(now, before, `${now - before} buffers left behind on ${backend.name}`);
}

for (const { backend, dtypes } of BACKENDS) {
  for (const dtype of dtypes) {
    describe(`d2l blocks against PyTorch on ${backend.name} (${dtype})`, () => {
      for (const f of fixture.blocks) {
        it(`${f.name}: load, forward, gradients, SGD step, eval`, async () => {
          await noLeak(backend, () => runBlock(f, backend, dtype));
        });
        it(`${f.name}: PyTorch's safetensors loads strictly`, async () => {
          await noLeak(backend, () => loadSafetensors(f, backend, dtype));
        });
      }
    });
  }
}

describe("d2l blocks as modules", () => {
  it("a Residual without the 1x1 convolution has no conv3 (None in PyTorch): not a child, not in the state dict", () => {
    const r = new Residual(3, 3);
    try {
      assert.deepEqual(r.namedChildren().map(([n]) => n), ["conv1", "conv2", "bn1", "bn2"]);
    } finally {
      r.dispose();
    }
  });

  it("stateDict() names equal PyTorch's for every block (built on the default backend)", () => {
    for (const f of fixture.blocks) {
      const net = build(f);
      const state = net.stateDict();
      try {
        assert.deepEqual([...state.keys()], f.stateDictNames, f.name);
        for (const e of f.stateDict) shapeIs(state.get(e.name)!, e.shape, `${f.name}: ${e.name}`);
      } finally {
        for (const t of state.values()) t.dispose();
        net.dispose();
      }
    }
  });

  it("a state dict without num_batches_tracked loads (as PyTorch's older checkpoints), with another name it does not", () => {
    const f = fixture.blocks.find((b) => b.name === "residual")!;
    const net = build(f);
    try {
      loadFrom(net, f.stateDict.filter((e) => !e.name.endsWith("num_batches_tracked")), net.parameters()[0]!.backend, "float32");
      assert.throws(() => loadFrom(net, f.stateDict.filter((e) => e.name !== "bn1.running_var"), net.parameters()[0]!.backend, "float32"), /missing \[bn1\.running_var\]/);
    } finally {
      net.dispose();
    }
  });
});

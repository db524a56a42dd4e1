// Modules written as in PyTorch: children and parameters registered by assignment, buffers, state_dict names
// and strict loading, shapes from a shape-only trace of a user's forward (no outputShape written), errors
// that name the module path, containers (nested Sequential, ModuleList, Identity), moving to a backend, and
// the number operands of autograd's arithmetic.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { getBackend } from "../src/backend/registry.js";
import { Residual } from "../src/models/resnet.js";
import { metaBackend } from "../src/backend/meta.js";
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, LayerError, Linear, Module,
  ModuleList, Parameter, ReLU, Sequential, Sigmoid, Tanh,
} from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { add, cat, div, mul, relu, sub, sum } from "../src/tensor/ops.js";
import { randn, zeros } from "../src/tensor/creation.js";
import { defaultRng } from "../src/tensor/random.js";
import { tidy } from "../src/tensor/scope.js";
import { Tensor, tensor } from "../src/tensor/tensor.js";
import { encodeSafetensors, decodeSafetensors } from "../src/checkpoint/safetensors.js";
import { modelTensors, restoreTraining, snapshot } from "../src/train/snapshot.js";
import { initialTrainState } from "../src/train/trainer.js";

/** Two paths concatenated along the channels (a tiny Inception). */
class TwoPaths extends Module {
  p1 = new Conv2d(2, 3, { kernelSize: 1 });
  p2 = new Sequential(new Conv2d(2, 1, { kernelSize: 1 }), new ReLU(), new Conv2d(1, 2, { kernelSize: 3, padding: 1 }));
  forward(x: Tensor): Tensor {
    return cat([relu(this.p1.call(x)), relu(this.p2.call(x))], 1);
  }
}

const ref = getBackend("reference");

describe("a Module written as in PyTorch", () => {
  it("registers children in assignment order, skips a null child, and names the state dict as PyTorch", () => {
    const plain = new Residual(3, 3);
    assert.deepEqual(plain.namedChildren().map(([n]) => n), ["conv1", "conv2", "bn1", "bn2"]);
    const net = new Sequential(new Sequential(plain, new Residual(3, 6, true, 2)), new AdaptiveAvgPool2d([1, 1]), new Flatten(), new Linear(6, 10));
    const names = [...net.namedState().map(([n]) => n)];
    assert.deepEqual(names.slice(0, 9), [
      "0.0.conv1.weight", "0.0.conv1.bias", "0.0.conv2.weight", "0.0.conv2.bias",
      "0.0.bn1.weight", "0.0.bn1.bias", "0.0.bn1.running_mean", "0.0.bn1.running_var", "0.0.bn1.num_batches_tracked",
    ]);
    assert.ok(names.includes("0.1.conv3.weight"));
    assert.equal(net.parameters().length, 8 + 10 + 2);
    assert.equal(net.buffers().length, 4 * 3);
    assert.ok(!net.parameters().some((p) => net.buffers().includes(p)), "buffers are not parameters");
    assert.match(String(plain), /^Residual\(\n {2}\(conv1\): Conv2d\(3, 3, kernel_size=\(3, 3\)/);
    assert.match(String(plain.bn1), /^BatchNorm2d\(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True\)$/);
    net.dispose();
  });

  it("gets output shapes from a shape-only trace that writes nothing and draws no random numbers", () => {
    const block = new Residual(3, 6, true, 2);
    const drop = new Sequential(block, new Flatten(), new Dropout(0.5), new Linear(6 * 4 * 4, 2));
    const rngBefore = defaultRng.getState();
    drop.train();
    const live = ref.memoryStats().liveBuffers;
    assert.deepEqual(drop.outputShape([5, 3, 8, 8]), [5, 2]);
    assert.deepEqual(block.outputShape([1, 3, 7, 7]), [1, 6, 4, 4]);
    assert.equal(ref.memoryStats().liveBuffers, live, "a trace allocates no real memory");
    assert.equal(block.training, true, "modes are restored");
    assert.deepEqual([...block.bn1.numBatchesTracked.dataSync()], [0]);
    assert.deepEqual([...block.bn1.runningMean.dataSync()], [0, 0, 0, 0, 0, 0]);
    assert.equal(block.conv1.weight.backend, ref, "parameters get their storage back");
    assert.deepEqual(defaultRng.getState(), rngBefore, "no dropout mask was drawn");
    drop.dispose();
  });

  it("names the module path, what was expected and what came, for a wrong input", () => {
    const net = new Sequential(new Conv2d(1, 4, { kernelSize: 3, padding: 1 }), new Sequential(new Residual(4, 4), new Residual(5, 5)));
    const expected = {
      name: "LayerError",
      message: "layer 1.1.conv1 Conv2d(5, 5, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)): expected input with 5 channels [N, 5, H, W], got [2, 4, 6, 6]",
    };
    assert.throws(() => net.outputShape([2, 1, 6, 6]), expected);
    assert.throws(() => tidy(() => net.call(randn([2, 1, 6, 6]))), expected);
    const bad = new Residual(4, 6, false); // without the 1x1 conv, the sum cannot add 4 channels to 6
    assert.throws(() => bad.outputShape([1, 4, 6, 6]), /shapes \[1, 6, 6, 6\] and \[1, 4, 6, 6\] do not broadcast/);
    assert.throws(() => new Sequential(new Identity(), bad).outputShape([1, 4, 6, 6]), (e: unknown) => e instanceof LayerError && e.message.startsWith("layer 1 Residual: shapes"));
    assert.throws(() => new BatchNorm2d(3).outputShape([2, 3]), /expected input \(N, 3, H, W\) with 4 dimensions, got \[2, 3\]/);
    net.dispose();
    bad.dispose();
  });

  it("runs forward, backward and an SGD step: buffers change by the batch statistics, never by SGD", () => {
    const m = new TwoPaths();
    const bn = new BatchNorm1d(5);
    const head = new Sequential(m, new AvgPool2d(2), new Flatten(), new Sigmoid(), new Linear(20, 5), bn, new Tanh(), new Identity());
    const opt = new SGD(head.parameters(), { lr: 0.1 });
    const live = ref.memoryStats().liveBuffers;
    for (let step = 0; step < 2; step++) {
      tidy(() => {
        const y = head.call(randn([3, 2, 4, 4]));
        assert.deepEqual(y.shape, [3, 5]);
        opt.zeroGrad();
        sum(mul(y, y)).backward();
        opt.step();
      });
    }
    assert.deepEqual([...bn.numBatchesTracked.dataSync()], [2]);
    assert.ok([...bn.runningVar.dataSync()].every((v) => v !== 1), "running variance moved");
    assert.ok(bn.runningMean.grad === null && !bn.runningMean.requiresGrad);
    head.eval();
    tidy(() => {
      head.call(randn([1, 2, 4, 4]));
    });
    assert.deepEqual([...bn.numBatchesTracked.dataSync()], [2], "eval mode counts nothing");
    opt.zeroGrad();
    assert.equal(ref.memoryStats().liveBuffers, live, "no buffer leaks across steps");
    head.dispose();
  });

  it("loads a state dict strictly, with num_batches_tracked optional (older files lack it)", () => {
    const a = new Residual(2, 2);
    const b = new Residual(2, 2);
    const state = a.stateDict();
    state.delete("bn1.num_batches_tracked");
    b.loadStateDict(state);
    assert.deepEqual([...b.conv1.weight.dataSync()], [...a.conv1.weight.dataSync()]);
    assert.deepEqual([...b.bn1.numBatchesTracked.dataSync()], [0]);
    state.set("bn3.weight", zeros([2]));
    assert.throws(() => b.loadStateDict(state), /unexpected \[bn3.weight\]/);
    state.delete("bn3.weight");
    state.delete("bn1.running_var");
    assert.throws(() => b.loadStateDict(state), /missing \[bn1.running_var\]/);
    for (const t of state.values()) t.dispose();
    a.dispose();
    b.dispose();
  });

  it("writes num_batches_tracked as I64 in safetensors and reads it back", async () => {
    const m = new Residual(2, 2);
    tidy(() => {
      m.call(randn([2, 2, 3, 3]));
    });
    const file = encodeSafetensors(await modelTensors(m));
    const decoded = decodeSafetensors(file, "test.safetensors");
    assert.equal(decoded.tensors.get("bn1.num_batches_tracked")!.dtype, "I64");
    assert.deepEqual([...decoded.tensors.get("bn1.num_batches_tracked")!.data], [1]);
    assert.deepEqual([...decoded.tensors.keys()].slice(0, 2), ["conv1.weight", "conv1.bias"]);
    m.dispose();
  });

  it("a checkpoint snapshot carries the buffers, and restoring it brings them back", async () => {
    const a = new Residual(2, 2);
    const optA = new SGD(a.parameters(), { lr: 0.1, momentum: 0.9 });
    for (let i = 0; i < 2; i++) {
      tidy(() => {
        optA.zeroGrad();
        sum(a.call(randn([2, 2, 4, 4]))).backward();
        optA.step();
      });
    }
    const data = await snapshot(a, optA, initialTrainState());
    assert.ok(data.model.some((t) => t.name === "bn2.running_var"));
    const b = new Residual(2, 2);
    const optB = new SGD(b.parameters(), { lr: 0.1, momentum: 0.9 });
    restoreTraining(b, optB, data);
    for (const [name, t] of a.namedState()) {
      assert.deepEqual([...b.namedState().find(([n]) => n === name)![1].dataSync()], [...t.dataSync()], name);
    }
    assert.deepEqual([...b.bn1.numBatchesTracked.dataSync()], [2]);
    optA.dispose();
    optB.dispose();
    a.dispose();
    b.dispose();
  });

  it("keeps Parameter identities when moved, and moves buffers", async () => {
    const m = new Residual(2, 2);
    const w = m.conv1.weight;
    await m.to(ref);
    assert.equal(m.conv1.weight, w);
    await m.to(metaBackend);
    assert.equal(m.conv1.weight, w);
    assert.equal(m.bn1.runningMean.backend, metaBackend);
    assert.deepEqual(m.outputShape([1, 2, 5, 5]), [1, 2, 5, 5]);
    await assert.rejects(() => m.bn1.runningMean.data(), /no values/);
  });

  it("ModuleList holds modules for a hand-written forward", () => {
    class Dense extends Module {
      net = new ModuleList([new Conv2d(2, 2, { kernelSize: 1 }), new Conv2d(4, 2, { kernelSize: 1 })]);
      forward(x: Tensor): Tensor {
        for (const blk of this.net) x = cat([x, blk.call(x)], 1);
        return x;
      }
    }
    const d = new Dense();
    assert.deepEqual(d.namedParameters().map(([n]) => n), ["net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias"]);
    assert.deepEqual(d.outputShape([1, 2, 3, 3]), [1, 6, 3, 3]);
    assert.ok(d.requiredOps().some((o) => o.op === "concat") && d.requiredOps().some((o) => o.op === "split"), "the trace records cat and its backward");
    assert.equal(d.net.length, 2);
    assert.throws(() => d.net.call(zeros([1])), /ModuleList has no forward/);
    d.dispose();
  });

  it("a Parameter assigned to a field is registered", () => {
    class Scale extends Module {
      s = new Parameter(tensor([2]));
      forward(x: Tensor): Tensor {
        return mul(x, this.s);
      }
    }
    const m = new Scale();
    assert.deepEqual(m.namedParameters().map(([n]) => n), ["s"]);
    m.dispose();
  });
});

describe("arithmetic with a number on either side keeps what its backward needs", () => {
  const ops = { add, sub, mul, div };
  for (const [name, op] of Object.entries(ops)) {
    for (const side of ["right", "left"] as const) {
      it(`${name} with the number on the ${side}`, () => {
        const x = tensor([0.5, -1.5, 2.0], { backend: ref, dtype: "float64", requiresGrad: true });
        const f = (t: Tensor): Tensor => (side === "right" ? op(t, 2.5) : op(2.5, t));
        const y = tidy(() => f(x));
        sum(y).backward();
        const g = [...x.grad!.dataSync()];
        const base = [...x.dataSync()];
        base.forEach((v, i) => {
          const h = 1e-6;
          const at = (d: number): number => {
            const p = [...base];
            p[i] = v + d;
            return tidy(() => sum(f(tensor(p, { backend: ref, dtype: "float64" }))).item());
          };
          assert.ok(Math.abs((at(h) - at(-h)) / (2 * h) - g[i]!) < 1e-6, `${name} ${side}: d/dx[${i}]`);
        });
        y.dispose();
        x.grad!.dispose();
        x.dispose();
      });
    }
  }
});

// ONNX export (src/export): every zoo model and user-written Modules are traced, written as ONNX, loaded
// by ONNX Runtime (onnxruntime-node, a devDependency) and run; its logits equal our eval-mode forward on the
// reference and native backends within 1e-4 (relative to the largest logit). A dynamic batch runs at another
// size, a fixed one refuses it; metadata round-trips (decoded by protobufjs from ONNX's onnx.proto, not by
// our encoder); an op without a mapping and a file that is no checkpoint each give one line and no file; the
// browser bundle writes the same bytes as Node.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { runInNewContext } from "node:vm";
import { build } from "esbuild";
import * as ort from "onnxruntime-node";
import protobuf from "protobufjs";
import { getBackend, setBackend } from "../src/backend/registry.js";
import { metaBackend } from "../src/backend/meta.js";
import { TEXT_LABELS } from "../src/data/labels.js";
import { alexNetToOnnx, deployOptions } from "../src/export/deploy.js";
import { encodeOnnx, exportOnnx, OnnxExportError, planOnnx } from "../src/export/onnx.js";
import { alexNet } from "../src/models/alexnet.js";
import { ZOO, zooModel } from "../src/models/registry.js";
import { Residual } from "../src/models/resnet.js";
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential, Sigmoid, Tanh,
} from "../src/nn/index.js";
import { noGrad } from "../src/tensor/autograd.js";
import { add, cat, mean, mul, softmax, sub } from "../src/tensor/ops.js";
import { tidy } from "../src/tensor/scope.js";
import { type Tensor, tensor } from "../src/tensor/tensor.js";
import { encodeSafetensors } from "../src/checkpoint/safetensors.js";
import { assertClose, rng, TEST_BACKENDS } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist", "src", "cli", "main.js");
const RTOL = 1e-4;
const reference = getBackend("reference");
const tmp = mkdtempSync(join(tmpdir(), "alexnet-onnx-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Random weights where the builder leaves batch norm trivial (running mean 0, var 1, weight 1, bias 0). */
function randomizeBatchNorm(net: Module, seed: number): void {
  const r = rng(seed);
  for (const m of net.modules()) {
    if (!(m instanceof BatchNorm2d || m instanceof BatchNorm1d)) continue;
    const n = m.numFeatures;
    const fill = (t: Tensor, lo: number, hi: number): void => {
      t.copy_(tensor(Float32Array.from({ length: n }, () => lo + ((r() + 1) / 2) * (hi - lo)), { shape: [n], backend: t.backend }));
    };
    tidy(() => {
      fill(m.runningMean, -0.5, 0.5);
      fill(m.runningVar, 0.5, 1.5);
      fill(m.weight, 0.5, 1.5);
      fill(m.bias, -0.5, 0.5);
    });
  }
}

function input(shape: readonly number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r());
}

async function runOrt(session: ort.InferenceSession, x: Float32Array, shape: readonly number[]): Promise<Float32Array> {
  const out = await session.run({ x: new ort.Tensor("float32", x, [...shape]) });
  return out.logits!.data as Float32Array;
}

function forward(net: Module, x: Float32Array, shape: readonly number[]): Float32Array {
  const backend = net.parameters()[0]!.backend;
  return tidy(() => noGrad(() => net.call(tensor(x, { shape, backend })).toFloat32Array()));
}

/** Exports `net` (on the reference backend, eval mode), runs it in ONNX Runtime on a batch of `batch`,
 * and compares with our forward on every test backend (float32). Returns the session and the bytes. */
async function checkAgainstOrt(net: Module, shape: readonly number[], what: string, options: { backends?: string[]; seed?: number } = {}) {
  net.eval();
  const bytes = exportOnnx(net, [1, ...shape.slice(1)], { modelName: what });
  const session = await ort.InferenceSession.create(bytes);
  const x = input(shape, options.seed ?? 7);
  const theirs = await runOrt(session, x, shape);
  for (const { backend } of TEST_BACKENDS) {
    if (options.backends && !options.backends.includes(backend.name)) continue;
    await net.to(backend);
    assertClose(forward(net, x, shape), theirs, RTOL, `${what} on ${backend.name} vs ONNX Runtime`);
  }
  await net.to(reference);
  return { session, bytes };
}

/** A user's network around it: scaling by constants, two branches concatenated, every activation, average
 * pooling, dropout, BatchNorm1d, and a softmax (max, sub, exp, sum, log: the reductions). */
class UserNet extends Module {
  stem: Conv2d;
  block1: Residual;
  block2: Residual;
  pool: AvgPool2d;
  side: Sequential;
  head: Sequential;

  constructor() {
    super();
    this.stem = new Conv2d(1, 8, { kernelSize: 3, padding: 1 });
    this.block1 = new Residual(8, 8);
    this.block2 = new Residual(8, 16, true, 2);
    this.pool = new AvgPool2d(3, { stride: 2, padding: 1 });
    this.side = new Sequential(new MaxPool2d(2), new Conv2d(1, 4, { kernelSize: 1 }), new Tanh());
    this.head = new Sequential(
      new Flatten(), new Dropout(0.5), new Linear(20 * 4 * 4, 32), new BatchNorm1d(32), new Sigmoid(), new Linear(32, 10),
    );
  }

  forward(x: Tensor): Tensor {
    const scaled = sub(mul(x, 2), 1);
    const h = this.pool.call(this.block2.call(this.block1.call(this.stem.call(scaled))));
    const s = this.side.call(this.side.at(0).call(x));
    const both = cat([h, s], 1);
    const logits = this.head.call(both);
    return add(softmax(logits, 1), mean(logits, 1, true));
  }
}

/** A model built on the shape-only backend: its structure without allocating its parameters. */
function metaModel(build: () => Module): Module {
  const previous = getBackend();
  setBackend(metaBackend);
  try {
    return build();
  } finally {
    setBackend(previous);
  }
}

/** Small inputs for the zoo (a model's own size where it has one). */
const ZOO_INPUT: Record<string, number> = {
  "lenet": 28, "lenet-bn": 28, "nin": 96, "googlenet": 32, "resnet18": 32, "densenet": 32, "alexnet": 224, "vgg11": 224, "vgg11-small": 224,
};

describe("ONNX export: every zoo model, run by ONNX Runtime, equals our eval-mode forward", () => {
  it("lists an input size for every zoo model", () => {
    assert.deepEqual(Object.keys(ZOO_INPUT).sort(), ZOO.map((z) => z.name).sort());
  });

  for (const name of ["lenet", "lenet-bn", "nin", "googlenet", "resnet18", "densenet"]) {
    it(`${name} at ${ZOO_INPUT[name]}x${ZOO_INPUT[name]}, batch 3, on ${TEST_BACKENDS.map((b) => b.backend.name).join(" and ")}`, async () => {
      const net = zooModel(name).build();
      randomizeBatchNorm(net, 11);
      const size = ZOO_INPUT[name]!;
      await checkAgainstOrt(net, [3, 1, size, size], name);
      net.dispose();
    });
  }

  it("AlexNet (47M parameters) at 224: graph structure and names, from a model on the shape-only backend", () => {
    const net = metaModel(() => zooModel("alexnet").build());
    const plan = planOnnx(net, [1, 1, 224, 224]);
    assert.deepEqual(plan.nodes.map((n) => n.opType), [
      "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "MaxPool",
      "Flatten", "Gemm", "Relu", "Identity", "Gemm", "Relu", "Identity", "Gemm",
    ]);
    assert.deepEqual(plan.initializers.map((i) => [i.name, i.dims]), net.namedState().map(([n, t]) => [n, [...t.shape]]));
    // A Relu fused into the Conv before it is named after its own layer, as PyTorch's exporter names it.
    assert.deepEqual(plan.nodes.slice(0, 3).map((n) => n.name), ["/0/Conv", "/1/Relu", "/2/MaxPool"]);
    assert.deepEqual(plan.input.dims, ["batch", 1, 224, 224]);
    assert.deepEqual(plan.output.dims, ["batch", 10]);
  });

  it("AlexNet at the real size (224, width / 4) and its 28x28 variant on both backends", async () => {
    for (const variant of ["224", "28"] as const) {
      const net = alexNet({ variant, widthScale: 0.25 });
      const size = variant === "224" ? 224 : 28;
      await checkAgainstOrt(net, [2, 1, size, size], `alexnet ${variant}`);
      net.dispose();
    }
  });

  for (const name of ["vgg11", "vgg11-small"]) {
    it(`${name} at 224: graph structure from a model on the shape-only backend${name === "vgg11-small" ? ", and ONNX Runtime runs it" : ""}`, async () => {
      const net = metaModel(() => zooModel(name).build());
      const plan = planOnnx(net, [1, 1, 224, 224], { batch: 4 });
      const ops = plan.nodes.map((n) => n.opType);
      assert.equal(ops.filter((o) => o === "Conv").length, 8);
      assert.equal(ops.filter((o) => o === "Relu").length, 10);
      assert.equal(ops.filter((o) => o === "MaxPool").length, 5);
      assert.equal(ops.filter((o) => o === "Gemm").length, 3);
      assert.deepEqual(plan.initializers.map((i) => [i.name, i.dims]), net.namedState().map(([n, t]) => [n, [...t.shape]]));
      assert.deepEqual(plan.input.dims, [4, 1, 224, 224]);
      assert.deepEqual(plan.output.dims, [4, 10]);
      if (name === "vgg11-small") {
        // ONNX Runtime takes the graph at its real size (zero weights: the shapes, not the values, are checked).
        const zeros = new Map(plan.initializers.map((i) => [i.name, new Float32Array(i.dims.reduce((a, b) => a * b, 1))]));
        const session = await ort.InferenceSession.create(encodeOnnx(plan, zeros));
        const out = await session.run({ x: new ort.Tensor("float32", new Float32Array(4 * 224 * 224), [4, 1, 224, 224]) });
        assert.deepEqual(out.logits!.dims, [4, 10]);
      }
    });
  }

  it("a user-written Module (d2l's Residual in a network with its own forward) at opsets 13, 17 and 18", async () => {
    const net = new UserNet();
    randomizeBatchNorm(net, 5);
    net.eval();
    const x = input([3, 1, 16, 16], 3);
    for (const opset of [13, 17, 18]) {
      const session = await ort.InferenceSession.create(exportOnnx(net, [1, 1, 16, 16], { opset }));
      const theirs = await runOrt(session, x, [3, 1, 16, 16]);
      for (const { backend } of TEST_BACKENDS) {
        await net.to(backend);
        assertClose(forward(net, x, [3, 1, 16, 16]), theirs, RTOL, `user network, opset ${opset}, on ${backend.name}`);
      }
      await net.to(reference);
    }
    const plan = planOnnx(net, [1, 1, 16, 16]);
    const ops = new Set(plan.nodes.map((n) => n.opType));
    for (const op of ["Add", "Sub", "Mul", "Concat", "BatchNormalization", "AveragePool", "Sigmoid", "Tanh", "ReduceMax", "ReduceSum", "Exp", "Log"]) {
      assert.ok(ops.has(op), `${op} in ${[...ops].join(", ")}`);
    }
    assert.ok(plan.nodes.some((n) => n.name === "/block2/Add"), "the residual's add is named after the block");
    assert.ok(plan.initializers.some((i) => i.name === "block2.conv3.weight"));
    net.dispose();
  });
});

describe("ONNX export: batch size", () => {
  it("a dynamic batch runs at other sizes; a fixed batch refuses them", async () => {
    const net = zooModel("resnet18").build();
    randomizeBatchNorm(net, 2);
    net.eval();
    const dynamic = await ort.InferenceSession.create(exportOnnx(net, [1, 1, 32, 32]));
    assert.deepEqual((dynamic.inputMetadata[0] as { shape: readonly unknown[] }).shape, ["batch", 1, 32, 32]);
    for (const n of [1, 5]) {
      const x = input([n, 1, 32, 32], n);
      assertClose(await runOrt(dynamic, x, [n, 1, 32, 32]), forward(net, x, [n, 1, 32, 32]), RTOL, `dynamic batch ${n}`);
    }
    const fixed = await ort.InferenceSession.create(exportOnnx(net, [1, 1, 32, 32], { batch: 4 }));
    assert.deepEqual((fixed.inputMetadata[0] as { shape: readonly unknown[] }).shape, [4, 1, 32, 32]);
    const x4 = input([4, 1, 32, 32], 4);
    assertClose(await runOrt(fixed, x4, [4, 1, 32, 32]), forward(net, x4, [4, 1, 32, 32]), RTOL, "fixed batch 4");
    await assert.rejects(runOrt(fixed, input([2, 1, 32, 32], 2), [2, 1, 32, 32]), /invalid dimensions.*index: 0 Got: 2 Expected: 4/is);
    net.dispose();
  });

  it("a reshape that moves the batch axis cannot be dynamic: it says so, and exports with a fixed batch", async () => {
    class FoldBatch extends Module {
      fc = new Linear(2 * 16, 10);
      forward(x: Tensor): Tensor {
        return this.fc.call(x.reshape([1, -1]));
      }
    }
    const net = new FoldBatch();
    assert.throws(() => exportOnnx(net, [2, 1, 4, 4]), (e: Error) => e instanceof OnnxExportError
      && /^cannot export to ONNX: the model's own forward \(FoldBatch\) runs a reshape of \[2, 1, 4, 4\] to \[1, 32\] that moves the batch axis \(export with a fixed batch\), which has no ONNX mapping$/.test(e.message));
    const session = await ort.InferenceSession.create(exportOnnx(net, [2, 1, 4, 4], { batch: 2 }));
    const x = input([2, 1, 4, 4], 1);
    assertClose(await runOrt(session, x, [2, 1, 4, 4]), forward(net, x, [2, 1, 4, 4]), RTOL, "fold batch");
    net.dispose();
  });
});

/** ModelProto decoded by protobufjs's reflection from ONNX's onnx.proto (not the generated encoders). */
function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const root = protobuf.loadSync(join(ROOT, "src", "export", "onnx.proto"));
  const type = root.lookupType("onnx.ModelProto");
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}

describe("ONNX export: the file", () => {
  it("metadata round-trips: model name, labels, preprocessing, opset, IR version, names", () => {
    const net = zooModel("lenet-bn").build();
    const preprocessing = { resize: null, scale: "1/255", mean: [0], std: [1] };
    const bytes = exportOnnx(net, [1, 1, 28, 28], { modelName: "lenet-bn", labels: TEXT_LABELS, preprocessing, producerVersion: "9.9.9" });
    const model = decodeModel(bytes) as {
      irVersion: number; producerName: string; producerVersion: string; opsetImport: { domain?: string; version: number }[];
      metadataProps: { key: string; value: string }[];
      graph: { name: string; input: { name: string; type: { tensorType: { elemType: number; shape: { dim: { dimParam?: string; dimValue?: number }[] } } } }[];
        output: { name: string }[]; initializer: { name: string; dims: number[]; dataType: number; rawData: number[] }[] };
    };
    assert.equal(model.irVersion, 8);
    assert.deepEqual(model.opsetImport.map((o) => o.version), [17]);
    assert.equal(model.producerName, "alexnet-ts");
    assert.equal(model.producerVersion, "9.9.9");
    const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta.model, "lenet-bn");
    assert.deepEqual(JSON.parse(meta.labels!), TEXT_LABELS);
    assert.deepEqual(JSON.parse(meta.preprocessing!), preprocessing);
    assert.equal(model.graph.name, "lenet-bn");
    assert.deepEqual(model.graph.input.map((i) => i.name), ["x"]);
    assert.deepEqual(model.graph.output.map((o) => o.name), ["logits"]);
    const dims = model.graph.input[0]!.type.tensorType.shape.dim;
    assert.deepEqual(dims.map((d) => d.dimParam ?? d.dimValue), ["batch", 1, 28, 28]);
    assert.equal(model.graph.input[0]!.type.tensorType.elemType, 1);
    // Initializers are the state_dict's parameters and running statistics (not num_batches_tracked).
    const state = net.namedState().filter(([n]) => !n.endsWith("num_batches_tracked"));
    assert.deepEqual(model.graph.initializer.map((i) => i.name), state.map(([n]) => n));
    const [name, t] = state[0]!;
    const init = model.graph.initializer.find((i) => i.name === name)!;
    assert.deepEqual(init.dims, [...t.shape]);
    assert.deepEqual(new Float32Array(Uint8Array.from(init.rawData).buffer), t.toFloat32Array());
    net.dispose();
  });

  it("the same weights give the same bytes from any backend", async () => {
    if (TEST_BACKENDS.length < 2) return;
    const net = zooModel("lenet-bn").build();
    randomizeBatchNorm(net, 9);
    const a = exportOnnx(net, [1, 1, 28, 28]);
    await net.to(TEST_BACKENDS[1]!.backend);
    const b = exportOnnx(net, [1, 1, 28, 28]);
    assert.ok(Buffer.from(a).equals(Buffer.from(b)));
    net.dispose();
  });

  it("a layer without a mapping fails with one line naming the layer and the op, before anything is read", () => {
    const layers = (): Module => new Sequential(new Conv2d(1, 4, { kernelSize: 3 }), new ReLU(), new AdaptiveAvgPool2d([3, 3]), new Flatten(), new Linear(36, 10));
    // On the shape-only backend, whose values cannot be read: the error comes before any read.
    assert.throws(() => exportOnnx(metaModel(layers), [1, 1, 9, 9]), (e: Error) => {
      assert.ok(e instanceof OnnxExportError);
      assert.equal(e.message, "cannot export to ONNX: layer 2 AdaptiveAvgPool2d(output_size=(3, 3)) runs adaptiveAvgPool2d with bins of unequal size (7x7 -> 3x3), which has no ONNX mapping");
      return true;
    });
    // The same layer with equal bins is an AveragePool; the module is left as it was (training mode, its
    // own forward, its parameters' backend).
    const net = layers();
    net.train();
    assert.ok(exportOnnx(net, [1, 1, 8, 8]).length > 0);
    assert.equal(net.training, true);
    assert.equal(net.parameters()[0]!.backend, reference);
    assert.ok(net.modules().every((m) => !Object.hasOwn(m, "forward") && !Object.hasOwn(m, "forwardRelu")));
    net.dispose();
  });
});

function alexnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: tmp, env: { ...process.env, ALEXNET_SKIP_NATIVE: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function saveWeights(net: Module, file: string): void {
  writeFileSync(file, encodeSafetensors(net.namedState().map(([name, t]) => ({ name, shape: [...t.shape], data: t.toFloat32Array() }))));
}

describe("alexnet export", () => {
  it("writes an AlexNet checkpoint (variant and width from its weights) that ONNX Runtime runs, with its metadata", async () => {
    const net = alexNet({ variant: "28", widthScale: 0.125 });
    const ckpt = join(tmp, "alexnet28.safetensors");
    saveWeights(net, ckpt);
    const r = alexnet("export", "--checkpoint", ckpt, "--out", "a.onnx");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^wrote a\.onnx \([\d.]+ MB\): alexnet-28, opset 17, input x \[batch, 1, 28, 28\] float32, output logits \[batch, 10\]\n$/);
    const bytes = readFileSync(join(tmp, "a.onnx"));
    const meta = Object.fromEntries((decodeModel(bytes).metadataProps as { key: string; value: string }[]).map((p) => [p.key, p.value]));
    assert.equal(meta.model, "alexnet-28");
    assert.deepEqual(JSON.parse(meta.labels!), TEXT_LABELS);
    assert.equal(JSON.parse(meta.preprocessing!).resize, null);
    const session = await ort.InferenceSession.create(bytes);
    net.eval();
    const x = input([2, 1, 28, 28], 8);
    assertClose(await runOrt(session, x, [2, 1, 28, 28]), forward(net, x, [2, 1, 28, 28]), RTOL, "alexnet export");
    net.dispose();
  });

  it("--model NAME loads a zoo model's weights strictly; --batch N and --opset are written", async () => {
    const net = zooModel("densenet").build();
    randomizeBatchNorm(net, 4);
    const ckpt = join(tmp, "densenet.safetensors");
    saveWeights(net, ckpt);
    const r = alexnet("export", "--checkpoint", ckpt, "--model", "densenet", "--out", "d.onnx", "--batch", "2", "--opset", "18");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /densenet, opset 18, input x \[2, 1, 96, 96\] float32, output logits \[2, 10\]/);
    const bytes = readFileSync(join(tmp, "d.onnx"));
    const meta = Object.fromEntries((decodeModel(bytes).metadataProps as { key: string; value: string }[]).map((p) => [p.key, p.value]));
    assert.equal(JSON.parse(meta.preprocessing!).resize, 96);
    const session = await ort.InferenceSession.create(bytes);
    net.eval();
    const x = input([2, 1, 96, 96], 6);
    assertClose(await runOrt(session, x, [2, 1, 96, 96]), forward(net, x, [2, 1, 96, 96]), RTOL, "densenet export");
    // The wrong model for the weights: one line, no file.
    const wrong = alexnet("export", "--checkpoint", ckpt, "--model", "resnet18", "--out", "wrong.onnx");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^alexnet export: \S+densenet\.safetensors \(ResNet-18\): the weights do not fit the model: missing .*\n$/);
    assert.ok(!existsSync(join(tmp, "wrong.onnx")));
    net.dispose();
  });

  it("a file that is not a checkpoint: one line, exit 1, no file", () => {
    const notOne = join(tmp, "notes.safetensors");
    writeFileSync(notOne, "these are not weights\n");
    for (const [path, pattern] of [[notOne, /invalid safetensors file/], [join(tmp, "missing"), /cannot read checkpoint .*missing: no such file/]] as const) {
      const r = alexnet("export", "--checkpoint", path, "--out", "none.onnx");
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.ok(!existsSync(join(tmp, "none.onnx")));
    }
  });

  it("a user's model file with a layer that has no mapping: one line naming layer and op, no file", () => {
    const file = join(tmp, "net.mjs");
    const nn = pathToFileURL(join(ROOT, "dist", "src", "nn", "index.js")).href;
    writeFileSync(file, `import { Sequential, Conv2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear } from ${JSON.stringify(nn)};
export const inputShape = [1, 12, 12];
export default (o = {}) => new Sequential(new Conv2d(o.inChannels ?? 1, 4, { kernelSize: 3 }), new ReLU(), new AdaptiveAvgPool2d([4, 4]), new Flatten(), new Linear(64, o.classes ?? 10));
`);
    const net = new Sequential(new Conv2d(1, 4, { kernelSize: 3 }), new ReLU(), new AdaptiveAvgPool2d([4, 4]), new Flatten(), new Linear(64, 10));
    const ckpt = join(tmp, "user.safetensors");
    saveWeights(net, ckpt);
    const r = alexnet("export", "--checkpoint", ckpt, "--model", "./net.mjs", "--out", "user.onnx");
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr, "alexnet export: cannot export to ONNX: layer 2 AdaptiveAvgPool2d(output_size=(4, 4)) runs adaptiveAvgPool2d with bins of unequal size (10x10 -> 4x4), which has no ONNX mapping\n");
    assert.ok(!existsSync(join(tmp, "user.onnx")));
    net.dispose();
  });
});

describe("the web page's Download ONNX (alexNetToOnnx, run in its worker)", () => {
  it("exports the page's AlexNet with alexnet export's name and metadata, its values read asynchronously", async () => {
    const net = alexNet({ variant: "28", widthScale: 0.125 });
    const { bytes, name } = await alexNetToOnnx(net, "28");
    assert.equal(name, "alexnet-28");
    const meta = Object.fromEntries((decodeModel(bytes).metadataProps as { key: string; value: string }[]).map((p) => [p.key, p.value]));
    assert.equal(meta.model, "alexnet-28");
    assert.deepEqual(JSON.parse(meta.labels!), TEXT_LABELS);
    assert.deepEqual(JSON.parse(meta.preprocessing!), deployOptions({ name, input: [1, 28, 28], resize: null, classes: 10 }).preprocessing);
    const session = await ort.InferenceSession.create(bytes);
    net.eval();
    const x = input([2, 1, 28, 28], 12);
    assertClose(await runOrt(session, x, [2, 1, 28, 28]), forward(net, x, [2, 1, 28, 28]), RTOL, "page export");
    net.dispose();
  });
});

describe("ONNX export in the browser bundle", () => {
  it("bundles without Node built-ins and writes the bytes Node writes, in a context with no Node globals", async () => {
    const result = await build({
      stdin: {
        contents: `export * from "./src/core.ts"; export { exportOnnx } from "./src/export/onnx.ts"; export { zooModel } from "./src/models/registry.ts";`,
        resolveDir: ROOT, loader: "ts",
      },
      bundle: true, platform: "browser", format: "iife", globalName: "alexnet", target: "es2022", minify: true, keepNames: true,
      write: false, logLevel: "silent",
      plugins: [{
        name: "browser-only",
        setup(b) {
          b.onResolve({ filter: /^(node:|(fs|path|os|crypto|worker_threads|child_process|http|zlib|url|util|stream|buffer)$)/ }, (args) => ({
            errors: [{ text: `${args.path} is a Node built-in, imported by ${args.importer}` }],
          }));
        },
      }],
    });
    assert.deepEqual(result.errors, []);
    const code = result.outputFiles[0]!.text;
    assert.doesNotMatch(code, /\bprocess\.(env|argv|exit|memoryUsage)\b/);
    console.log(`# core + ONNX export bundle: ${(code.length / 1024).toFixed(1)} KiB minified`);

    const net = zooModel("lenet-bn").build();
    randomizeBatchNorm(net, 21);
    const state = net.namedState().map(([name, t]) => ({ name, shape: [...t.shape], data: Array.from(t.toFloat32Array()) }));
    const options = { modelName: "lenet-bn", labels: [...TEXT_LABELS], preprocessing: { resize: null }, producerVersion: "1.0.0" };
    const fromNode = exportOnnx(net, [1, 1, 28, 28], options);

    // TextEncoder/TextDecoder are the browser's (protobufjs' UTF-8 code makes a decoder when it loads).
    const sandbox: Record<string, unknown> = { state, options, TextEncoder, TextDecoder };
    runInNewContext(`${code}
      if (typeof require !== "undefined" || typeof process !== "undefined" || typeof Buffer !== "undefined") throw new Error("the context has Node globals");
      const net = alexnet.zooModel("lenet-bn").build();
      net.loadStateDict(new Map(state.map((s) => [s.name, alexnet.tensor(new Float32Array(s.data), { shape: s.shape })])));
      globalThis.bytes = Array.from(alexnet.exportOnnx(net, [1, 1, 28, 28], options));`, sandbox);
    const fromBundle = Uint8Array.from(sandbox.bytes as number[]);
    assert.equal(fromBundle.length, fromNode.length);
    assert.ok(Buffer.from(fromBundle).equals(Buffer.from(fromNode)), "the browser bundle's bytes differ from Node's");
    net.dispose();
  });
});

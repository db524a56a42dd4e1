// Every op, forward and backward, against golden values computed by PyTorch (test/fixtures/ops.json, made
// by scripts/make_fixtures.py), on every backend present and in each dtype it supports, the webgpu backend
// (on SwiftShader without a GPU) included. Values are read after the case's ops, asynchronously, as a
// GPU backend needs.
import { after, describe, it } from "node:test";
import type { Backend, DType } from "../src/backend/backend.js";
import { adaptiveAvgPool2d, avgPool2d, batchNorm, conv2d, crossEntropy, linear, maxPool2d, relu } from "../src/tensor/functional.js";
import * as ops from "../src/tensor/ops.js";
import { SGD } from "../src/optim/sgd.js";
import { Parameter } from "../src/nn/module.js";
import { keep, tidy } from "../src/tensor/scope.js";
import { fromStorage, type Tensor } from "../src/tensor/tensor.js";
import { TEST_BACKENDS, assertClose, fromFixture, readFixture, tolerance, type FixtureArray, type TestBackend } from "./helpers.js";
import { openTestGpu } from "./webgpuHelpers.js";

interface Case {
  op: string;
  name: string;
  params: Record<string, unknown>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

const { cases } = readFixture<{ cases: Case[] }>("ops.json");

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** A value to compare once the case's ops have run: kept out of the case's scope, read, then disposed. */
interface Check {
  t: Tensor;
  want: ArrayLike<number>;
  what: string;
  /** The expected shape, where the fixture gives one. */
  shape?: readonly number[];
  /** The smallest magnitude the error is relative to (default: the largest expected value). */
  scale?: number;
}

type Window = { kernel: [number, number]; stride: [number, number]; padding: [number, number] };

async function runCase(c: Case, backend: Backend, dtype: DType): Promise<void> {
  const tol = tolerance(dtype);
  const input = (name: string, grad = true): Tensor => fromFixture(c.inputs[name] as FixtureArray, backend, dtype, grad);
  const out = (name: string): number[] => (c.outputs[name] as FixtureArray).data;
  const shapeOf = (name: string): number[] => (c.outputs[name] as FixtureArray).shape;
  const checks: Check[] = [];
  const expect = (t: Tensor, want: ArrayLike<number>, what: string, shape?: readonly number[]): void => {
    checks.push({ t: keep(t), want, what, ...(shape ? { shape } : {}) });
  };
  /** Values and shape of output `name` (issue 23's cases check shapes too). */
  const expectOut = (t: Tensor, name: string, what = name): void => {
    const a = c.outputs[name] as FixtureArray;
    expect(t, a.data, what, a.shape);
  };
  const checkGrad = (t: Tensor, want: unknown, what: string): void => {
    if (!t.grad) throw new Error(`${what}: no gradient`);
    expect(t.grad, (want as FixtureArray).data, what, (want as FixtureArray).shape);
    t.grad = null; // the check owns it now
  };
  /** A forward with one input x and a backward from dy: y and dx. */
  const unaryCase = (f: (x: Tensor) => Tensor, dxScale?: number): void => {
    const x = input("x");
    const y = f(x);
    expectOut(y, "y");
    y.backward(input("dy", false));
    checkGrad(x, c.outputs.dx, "dx");
    if (dxScale !== undefined) checks[checks.length - 1]!.scale = dxScale;
  };
  tidy(() => {
    switch (c.op) {
      case "conv2d": {
        const x = input("x");
        const w = input("w");
        const b = c.inputs.b ? input("b") : null;
        const y = conv2d(x, w, b, c.params as { stride: [number, number]; padding: [number, number] });
        expect(y, out("y"), "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, "dx");
        checkGrad(w, c.outputs.dw, "dw");
        if (b) checkGrad(b, c.outputs.db, "db");
        break;
      }
      case "maxPool2d": {
        const x = input("x");
        const p = c.params as { kernel: [number, number]; stride: [number, number]; padding: [number, number] };
        const y = maxPool2d(x, p.kernel, { stride: p.stride, padding: p.padding });
        expect(y, out("y"), "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, "dx");
        break;
      }
      case "linear": {
        const x = input("x");
        const w = input("w");
        const b = c.inputs.b ? input("b") : null;
        const y = linear(x, w, b);
        expect(y, out("y"), "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, "dx");
        checkGrad(w, c.outputs.dw, "dw");
        if (b) checkGrad(b, c.outputs.db, "db");
        break;
      }
      case "relu": {
        const x = input("x");
        const y = relu(x);
        expect(y, out("y"), "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, "dx");
        break;
      }
      case "crossEntropy": {
        const logits = input("logits");
        const loss = crossEntropy(logits, c.inputs.labels as number[]);
        expect(loss, [c.outputs.loss as number], "loss");
        loss.backward(fromFixture({ shape: [], data: [c.params.dloss as number] }, backend, dtype));
        checkGrad(logits, c.outputs.dlogits, "dlogits");
        break;
      }
      case "sgd": {
        const p = new Parameter(input("param", false));
        const opt = new SGD([p], c.params as unknown as { lr: number });
        for (const g of c.inputs.grads as FixtureArray[]) {
          opt.zeroGrad();
          p.grad = fromFixture(g, backend, dtype);
          opt.step();
        }
        opt.dispose();
        expect(p, out("param"), "param");
        break;
      }
      // ---- issue 23: d2l's CNN chapter ----
      case "sigmoid":
        unaryCase(ops.sigmoid);
        break;
      case "tanh":
        unaryCase(ops.tanh);
        break;
      case "sqrt":
        unaryCase(ops.sqrt);
        break;
      case "softmax":
        // dx = y * (dy - sum(dy * y)) cancels where softmax saturates (y near 1): float32 rounds the sum at
        // the size of dy, so dx's error is relative to dy's magnitude, not to its own (PyTorch's float32 too).
        unaryCase((x) => ops.softmax(x, c.params.dim as number), maxAbs((c.inputs.dy as FixtureArray).data));
        break;
      case "logSoftmax":
        unaryCase((x) => ops.logSoftmax(x, c.params.dim as number));
        break;
      case "avgPool2d": {
        const p = c.params as unknown as Window;
        unaryCase((x) => avgPool2d(x, p.kernel, { stride: p.stride, padding: p.padding }));
        break;
      }
      case "adaptiveAvgPool2d": {
        const outSize = c.params.outSize as [number, number];
        unaryCase((x) => adaptiveAvgPool2d(x, outSize));
        // The front end runs uniform bins as avgPool2d: the backend's own op is checked on every case too.
        const x = input("x", false);
        expect(fromStorage(backend.adaptiveAvgPool2d(x.storage, outSize)), out("y"), "backend.adaptiveAvgPool2d y", shapeOf("y"));
        const dx = backend.adaptiveAvgPool2dBackward(input("dy", false).storage, x.shape as [number, number, number, number]);
        expect(fromStorage(dx), out("dx"), "backend.adaptiveAvgPool2dBackward dx", shapeOf("dx"));
        break;
      }
      case "batchNorm": {
        const p = c.params as { training: boolean; momentum: number; eps: number };
        const x = input("x");
        const weight = input("weight");
        const bias = input("bias");
        const runningMean = input("runningMean", false);
        const runningVar = input("runningVar", false);
        const y = batchNorm(x, runningMean, runningVar, weight, bias, p.training, p.momentum, p.eps);
        expectOut(y, "y");
        // Updated in place in training mode, untouched in eval mode (the fixture holds the values after).
        expectOut(runningMean, "runningMean", "running mean after");
        expectOut(runningVar, "runningVar", "running var after");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, "dx");
        checkGrad(weight, c.outputs.dweight, "dweight");
        checkGrad(bias, c.outputs.dbias, "dbias");
        break;
      }
      case "cat": {
        const xs = (c.inputs.xs as FixtureArray[]).map((a) => fromFixture(a, backend, dtype, true));
        const y = ops.cat(xs, c.params.dim as number);
        expectOut(y, "y");
        y.backward(input("dy", false));
        xs.forEach((x, i) => checkGrad(x, (c.outputs.dxs as FixtureArray[])[i], `dx${i}`));
        break;
      }
      case "max": {
        const p = c.params as { axes: number[]; keepDims: boolean };
        expectOut(ops.max(input("x", false), p.axes, p.keepDims), "y");
        break;
      }
      case "add": {
        const a = input("a");
        const b = input("b");
        const y = ops.add(a, b);
        expectOut(y, "y");
        y.backward(input("dy", false));
        checkGrad(a, c.outputs.da, "da");
        checkGrad(b, c.outputs.db, "db");
        break;
      }
      default:
        throw new Error(`fixture op '${c.op}' has no test`);
    }
  });
  try {
    for (const { t, want, what, shape, scale } of checks) {
      if (shape && t.shape.join(",") !== shape.join(",")) {
        throw new Error(`${what}: shape [${t.shape.join(", ")}], want [${shape.join(", ")}]`);
      }
      const largest = maxAbs(want);
      assertClose(await t.data(), want, scale !== undefined && scale > largest ? (tol * scale) / largest : tol, what);
    }
  } finally {
    for (const { t } of checks) t.dispose();
  }
}

// The webgpu backend on this machine's adapter (SwiftShader in CI): float32, native's tolerance.
const gpu = await openTestGpu();
after(() => gpu.destroy());
const BACKENDS: TestBackend[] = [...TEST_BACKENDS, { backend: gpu, dtypes: ["float32"] }];

for (const { backend, dtypes } of BACKENDS) {
  for (const dtype of dtypes) {
    describe(`PyTorch fixtures on ${backend.name} (${dtype})`, () => {
      for (const c of cases) {
        it(`${c.op}: ${c.name}`, async () => {
          const before = backend.memoryStats().liveBuffers;
          await runCase(c, backend, dtype);
          // Every op test also proves it leaves no buffer behind.
          const after = backend.memoryStats().liveBuffers;
          if (after !== before) throw new Error(`${after - before} buffers leaked`);
        });
      }
    });
  }
}

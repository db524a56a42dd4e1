// Every op, forward and backward, against golden values computed by PyTorch (test/fixtures/ops.json, made
// by scripts/make_fixtures.py), on every backend present and in each dtype it supports, the webgpu backend
// (on SwiftShader without a GPU) included. Values are read after the case's ops, asynchronously, as a
// GPU backend needs.
import { after, describe, it } from "node:test";
import type { Backend, DType } from "../src/backend/backend.js";
import { conv2d, crossEntropy, linear, maxPool2d, relu } from "../src/tensor/functional.js";
import { SGD } from "../src/optim/sgd.js";
import { Parameter } from "../src/nn/module.js";
import { keep, tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
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

/** A value to compare once the case's ops have run: kept out of the case's scope, read, then disposed. */
interface Check {
  t: Tensor;
  want: ArrayLike<number>;
  what: string;
}

async function runCase(c: Case, backend: Backend, dtype: DType): Promise<void> {
  const tol = tolerance(dtype);
  const input = (name: string, grad = true): Tensor => fromFixture(c.inputs[name] as FixtureArray, backend, dtype, grad);
  const out = (name: string): number[] => (c.outputs[name] as FixtureArray).data;
  const checks: Check[] = [];
  const expect = (t: Tensor, want: ArrayLike<number>, what: string): void => {
    checks.push({ t: keep(t), want, what });
  };
  const checkGrad = (t: Tensor, want: unknown, what: string): void => {
    if (!t.grad) throw new Error(`${what}: no gradient`);
    expect(t.grad, (want as FixtureArray).data, what);
    t.grad = null; // the check owns it now
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
      default:
        throw new Error(`fixture op '${c.op}' has no test`);
    }
  });
  try {
    for (const { t, want, what } of checks) assertClose(await t.data(), want, tol, what);
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

// Every op, forward and backward, against golden values computed by PyTorch (test/fixtures/ops.json, made
// by scripts/make_fixtures.py), on every backend present and in each dtype it supports.
import { describe, it } from "node:test";
import type { Backend, DType } from "../src/backend/backend.js";
import { conv2d, crossEntropy, linear, maxPool2d, relu } from "../src/tensor/functional.js";
import { SGD } from "../src/optim/sgd.js";
import { Parameter } from "../src/nn/module.js";
import { tidy } from "../src/tensor/scope.js";
import type { Tensor } from "../src/tensor/tensor.js";
import { TEST_BACKENDS, assertClose, fromFixture, readFixture, tolerance, type FixtureArray } from "./helpers.js";

interface Case {
  op: string;
  name: string;
  params: Record<string, unknown>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

const { cases } = readFixture<{ cases: Case[] }>("ops.json");

function checkGrad(t: Tensor, want: unknown, tol: number, what: string): void {
  if (!t.grad) throw new Error(`${what}: no gradient`);
  assertClose(t.grad.dataSync(), (want as FixtureArray).data, tol, what);
}

function runCase(c: Case, backend: Backend, dtype: DType): void {
  const tol = tolerance(dtype);
  const input = (name: string, grad = true): Tensor => fromFixture(c.inputs[name] as FixtureArray, backend, dtype, grad);
  const out = (name: string): number[] => (c.outputs[name] as FixtureArray).data;
  tidy(() => {
    switch (c.op) {
      case "conv2d": {
        const x = input("x");
        const w = input("w");
        const b = c.inputs.b ? input("b") : null;
        const y = conv2d(x, w, b, c.params as { stride: [number, number]; padding: [number, number] });
        assertClose(y.dataSync(), out("y"), tol, "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, tol, "dx");
        checkGrad(w, c.outputs.dw, tol, "dw");
        if (b) checkGrad(b, c.outputs.db, tol, "db");
        [x, w, b].forEach((t) => t?.grad?.dispose());
        break;
      }
      case "maxPool2d": {
        const x = input("x");
        const p = c.params as { kernel: [number, number]; stride: [number, number]; padding: [number, number] };
        const y = maxPool2d(x, p.kernel, { stride: p.stride, padding: p.padding });
        assertClose(y.dataSync(), out("y"), tol, "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, tol, "dx");
        x.grad?.dispose();
        break;
      }
      case "linear": {
        const x = input("x");
        const w = input("w");
        const b = c.inputs.b ? input("b") : null;
        const y = linear(x, w, b);
        assertClose(y.dataSync(), out("y"), tol, "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, tol, "dx");
        checkGrad(w, c.outputs.dw, tol, "dw");
        if (b) checkGrad(b, c.outputs.db, tol, "db");
        [x, w, b].forEach((t) => t?.grad?.dispose());
        break;
      }
      case "relu": {
        const x = input("x");
        const y = relu(x);
        assertClose(y.dataSync(), out("y"), tol, "y");
        y.backward(input("dy", false));
        checkGrad(x, c.outputs.dx, tol, "dx");
        x.grad?.dispose();
        break;
      }
      case "crossEntropy": {
        const logits = input("logits");
        const loss = crossEntropy(logits, c.inputs.labels as number[]);
        assertClose([loss.item()], [c.outputs.loss as number], tol, "loss");
        loss.backward(fromFixture({ shape: [], data: [c.params.dloss as number] }, backend, dtype));
        checkGrad(logits, c.outputs.dlogits, tol, "dlogits");
        logits.grad?.dispose();
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
        assertClose(p.dataSync(), out("param"), tol, "param");
        opt.dispose();
        p.dispose();
        break;
      }
      default:
        throw new Error(`fixture op '${c.op}' has no test`);
    }
  });
}

for (const { backend, dtypes } of TEST_BACKENDS) {
  for (const dtype of dtypes) {
    describe(`PyTorch fixtures on ${backend.name} (${dtype})`, () => {
      for (const c of cases) {
        it(`${c.op}: ${c.name}`, () => {
          const before = backend.memoryStats().liveBuffers;
          runCase(c, backend, dtype);
          // Every op test also proves it leaves no buffer behind.
          const after = backend.memoryStats().liveBuffers;
          if (after !== before) throw new Error(`${after - before} buffers leaked`);
        });
      }
    });
  }
}

// Finite-difference gradient checks in float64 on the reference backend: every differentiable op, and a
// small composed network. Central differences of a random projection of the output, against autograd.
import { describe, it } from "node:test";
import { getBackend } from "../src/backend/registry.js";
import { adaptiveAvgPool2d, avgPool2d, batchNorm, conv2d, crossEntropy, dropout, linear, maxPool2d, relu } from "../src/tensor/functional.js";
import { randn } from "../src/tensor/creation.js";
import * as ops from "../src/tensor/ops.js";
import { Rng } from "../src/tensor/random.js";
import { noGrad } from "../src/tensor/autograd.js";
import { tidy } from "../src/tensor/scope.js";
import { Tensor, tensor } from "../src/tensor/tensor.js";
import { assertClose } from "./helpers.js";

const backend = getBackend("reference");
const rng = new Rng(42);
const rand64 = (shape: number[], scale = 1): Tensor => randn(shape, { dtype: "float64", rng, backend, std: scale });

/** Checks d(sum(f(inputs) * r))/d(input) for every input against central differences. */
function gradcheck(name: string, f: (...xs: Tensor[]) => Tensor, shapes: number[][], eps = 1e-6): void {
  it(name, () => {
    tidy(() => {
      const inputs = shapes.map((s) => rand64(s).requiresGrad_());
      const out = f(...inputs);
      const r = rand64([...out.shape]);
      const objective = (o: Tensor): Tensor => ops.sum(ops.mul(o, r));
      objective(out).backward();
      inputs.forEach((x, k) => {
        const analytic = x.grad!.dataSync();
        const base = x.dataSync() as Float64Array;
        const numeric = new Float64Array(base.length);
        for (let i = 0; i < base.length; i++) {
          const at = (delta: number): number =>
            tidy(() => {
              const v = base.slice();
              v[i] += delta;
              const xs = inputs.map((t, j) => (j === k ? tensor(v, { shape: x.shape, dtype: "float64", backend }) : t));
              return noGrad(() => objective(f(...xs)).item());
            });
          numeric[i] = (at(eps) - at(-eps)) / (2 * eps);
        }
        assertClose(analytic, numeric, 1e-6, `${name}: gradient of input ${k}`);
        x.grad!.dispose();
      });
    });
  });
}

describe("finite-difference gradients (float64, reference)", () => {
  gradcheck("conv2d 3x3 s1 p1 with bias", (x, w, b) => conv2d(x, w, b, { padding: 1 }), [[2, 2, 5, 5], [3, 2, 3, 3], [3]]);
  gradcheck("conv2d 3x3 s2 p0 odd input", (x, w) => conv2d(x, w, null, { stride: 2 }), [[1, 2, 7, 6], [2, 2, 3, 3]]);
  gradcheck("conv2d 5x5 s1 p2", (x, w, b) => conv2d(x, w, b, { padding: 2 }), [[1, 1, 6, 6], [2, 1, 5, 5], [2]]);
  gradcheck("conv2d 4x4 s3 p1", (x, w, b) => conv2d(x, w, b, { stride: 3, padding: 1 }), [[1, 2, 9, 9], [2, 2, 4, 4], [2]]);
  gradcheck("maxPool2d 3x3 s2", (x) => maxPool2d(x, 3, { stride: 2 }), [[1, 2, 7, 7]]);
  gradcheck("maxPool2d 3x3 s1", (x) => maxPool2d(x, 3, { stride: 1 }), [[1, 1, 6, 5]]);
  gradcheck("maxPool2d 2x2 s2 p1", (x) => maxPool2d(x, 2, { stride: 2, padding: 1 }), [[2, 1, 5, 5]]);
  gradcheck("relu", (x) => relu(x), [[3, 7]]);
  gradcheck("linear with bias", (x, w, b) => linear(x, w, b), [[3, 5], [4, 5], [4]]);
  gradcheck("linear without bias", (x, w) => linear(x, w, null), [[2, 3], [6, 3]]);
  gradcheck("dropout p=0.5 (fixed seed)", (x) => dropout(x, 0.5, true, new Rng(5)), [[4, 6]]);
  gradcheck("cross-entropy", (z) => crossEntropy(z, [1, 0, 3, 2, 3]), [[5, 4]]);
  gradcheck("add/sub/mul/div with broadcasting", (a, b) => ops.div(ops.mul(ops.add(a, b), ops.sub(a, b)), ops.add(ops.exp(b), 1)), [[3, 4], [4]]);
  gradcheck("exp, log, neg", (a) => ops.neg(ops.log(ops.add(ops.exp(a), 2))), [[2, 3]]);
  gradcheck("sum and mean over axes", (a) => ops.add(ops.sum(a, 1, true), ops.mean(a, [0, 2], true)), [[2, 3, 4]]);
  gradcheck("matmul and transpose", (a, b) => ops.matmul(ops.transpose(a), b), [[4, 3], [4, 2]]);
  gradcheck("reshape and flatten", (a) => ops.reshape(ops.flatten(a), [6, -1]), [[2, 3, 2, 2]]);
  // Issue 23: d2l's CNN chapter.
  gradcheck("sigmoid", (a) => ops.sigmoid(ops.mul(a, 3)), [[3, 5]]);
  gradcheck("tanh", (a) => ops.tanh(ops.mul(a, 2)), [[3, 5]]);
  gradcheck("sqrt (of x^2 + 0.5)", (a) => ops.sqrt(ops.add(ops.mul(a, a), 0.5)), [[2, 7]]);
  gradcheck("avgPool2d 2x2 s2", (x) => avgPool2d(x, 2), [[2, 2, 6, 6]]);
  gradcheck("avgPool2d 3x3 s1 p1 (padded zeros count)", (x) => avgPool2d(x, 3, { stride: 1, padding: 1 }), [[1, 2, 5, 4]]);
  gradcheck("avgPool2d 3x3 s2 p1 odd", (x) => avgPool2d(x, 3, { stride: 2, padding: 1 }), [[1, 1, 7, 6]]);
  gradcheck("avgPool2d 3x2 s(2,1) p(1,0)", (x) => avgPool2d(x, [3, 2], { stride: [2, 1], padding: [1, 0] }), [[2, 1, 7, 5]]);
  gradcheck("adaptiveAvgPool2d (1,1)", (x) => adaptiveAvgPool2d(x, 1), [[2, 3, 5, 5]]);
  gradcheck("adaptiveAvgPool2d (2,2) from 4x4", (x) => adaptiveAvgPool2d(x, [2, 2]), [[1, 2, 4, 4]]);
  gradcheck("adaptiveAvgPool2d (3,2) from 7x5 (overlapping bins)", (x) => adaptiveAvgPool2d(x, [3, 2]), [[2, 2, 7, 5]]);
  gradcheck("adaptiveAvgPool2d (4,3) from 5x5 (more bins than a divisor)", (x) => adaptiveAvgPool2d(x, [4, 3]), [[1, 1, 5, 5]]);
  // Running statistics are state, not inputs: fresh ones per evaluation (training mode writes them).
  const stats = (c: number): [Tensor, Tensor] => [
    tensor(Array.from({ length: c }, (_, i) => 0.1 * i - 0.2), { shape: [c], dtype: "float64", backend }),
    tensor(Array.from({ length: c }, (_, i) => 0.5 + 0.3 * i), { shape: [c], dtype: "float64", backend }),
  ];
  gradcheck("batchNorm training (N,C,H,W)", (x, w, b) => batchNorm(x, ...stats(3), w, b, true), [[2, 3, 3, 4], [3], [3]]);
  gradcheck("batchNorm training (N,C)", (x, w, b) => batchNorm(x, ...stats(4), w, b, true, 0.1, 1e-3), [[5, 4], [4], [4]]);
  gradcheck("batchNorm eval (N,C,H,W)", (x, w, b) => batchNorm(x, ...stats(2), w, b, false), [[2, 2, 3, 3], [2], [2]]);
  gradcheck("batchNorm eval (N,C)", (x, w, b) => batchNorm(x, ...stats(3), w, b, false), [[4, 3], [3], [3]]);
  gradcheck("cat along dim 1 of 3 tensors", (a, b, c) => ops.cat([a, b, c], 1), [[2, 2, 2, 3], [2, 1, 2, 3], [2, 3, 2, 3]]);
  gradcheck("cat along dim 0 and -1", (a, b) => ops.cat([ops.cat([a, b], 0), ops.cat([b, a], 0)], -1), [[2, 3], [2, 3]]);
  gradcheck("softmax along dim 1", (x) => ops.softmax(x, 1), [[2, 4, 3]]);
  gradcheck("softmax along dim -1", (x) => ops.softmax(x, -1), [[3, 5]]);
  gradcheck("logSoftmax along dim 1", (x) => ops.logSoftmax(x, 1), [[2, 4, 3]]);
  gradcheck("logSoftmax along dim -1", (x) => ops.logSoftmax(x, -1), [[3, 5]]);
  gradcheck("add (N,C,H,W) + (1,C,1,1)", (a, b) => ops.add(a, b), [[2, 3, 2, 3], [1, 3, 1, 1]]);
  gradcheck(
    // (A conv bias before a training-mode batch norm has gradient 0: the batch mean removes it. None here.)
    "residual block: conv-batchNorm-relu-conv-batchNorm + 1x1 conv shortcut, relu, global average pool",
    (x, w1, g1, be1, w2, g2, be2, w3, b3) => {
      let y = relu(batchNorm(conv2d(x, w1, null, { padding: 1, stride: 2 }), ...stats(3), g1, be1, true));
      y = batchNorm(conv2d(y, w2, null, { padding: 1 }), ...stats(3), g2, be2, true);
      y = relu(ops.add(y, conv2d(x, w3, b3, { stride: 2 })));
      return ops.reshape(adaptiveAvgPool2d(y, 1), [2, -1]);
    },
    [[2, 2, 5, 5], [3, 2, 3, 3], [3], [3], [3, 3, 3, 3], [3], [3], [3, 2, 1, 1], [3]],
  );
  gradcheck(
    "composed net: conv-relu-pool-conv-relu-pool-flatten-linear-relu-linear-cross-entropy",
    (x, w1, b1, w2, b2, w3, b3, w4, b4) => {
      let h = maxPool2d(relu(conv2d(x, w1, b1, { padding: 1 })), 3, { stride: 2 });
      h = maxPool2d(relu(conv2d(h, w2, b2, { padding: 1 })), 2);
      h = relu(linear(ops.flatten(h), w3, b3));
      return crossEntropy(linear(h, w4, b4), [0, 2]);
    },
    [[2, 1, 9, 9], [3, 1, 3, 3], [3], [4, 3, 3, 3], [4], [5, 16], [5], [3, 5], [3]],
  );
});

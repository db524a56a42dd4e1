// Class probabilities of a batch of images: the network in evaluation mode, softmax of each row of its
// logits, read asynchronously (any backend). Used by `alexnet predict` and the web page alike.
import type { Backend } from "../backend/backend.js";
import type { Module } from "../nn/module.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";

/** images are (N, C, H, W) row-major values; one probability row per image. */
export async function probabilities(net: Module, images: Float32Array, shape: readonly number[], backend: Backend): Promise<Float32Array[]> {
  const wasTraining = net.training;
  net.eval();
  try {
    const out = tidy(() => noGrad(() => net.call(tensor(images, { shape, backend }))));
    const logits = Float32Array.from(await out.data());
    out.dispose();
    const n = shape[0]!;
    const k = logits.length / n;
    return Array.from({ length: n }, (_, i) => {
      const row = logits.subarray(i * k, (i + 1) * k);
      const max = Math.max(...row);
      const e = row.map((v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / sum);
    });
  } finally {
    net.train(wasTraining);
  }
}

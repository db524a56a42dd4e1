// The webgpu backend's loss, metric and optimizer ops: log-softmax + cross-entropy forward beside its
// backward, the on-device accuracy count, and the in-place SGD step (kernels/loss.ts, kernels/sgd.ts;
// reference/layers.ts crossEntropyForward/crossEntropyBackward/sgdUpdate).
import type { OpContext, SgdParams } from "../backend.js";
import { Params, grid1d } from "./device.js";
import { CORRECT_COUNT, CROSS_ENTROPY_BACKWARD, CROSS_ENTROPY_FORWARD } from "./kernels/loss.js";
import { sgdShader } from "./kernels/sgd.js";
import { type GpuStorage, type KernelHost, forChunks } from "./host.js";

/** What crossEntropy saves: the softmax and the labels on the device. */
export interface LossContext extends OpContext {
  probs: GpuStorage;
  labels: GpuStorage;
  shape: readonly number[];
}

function checkLabels(labels: Int32Array, N: number, K: number): void {
  if (labels.length !== N) throw new Error(`cross-entropy got ${labels.length} labels for ${N} rows`);
  for (let n = 0; n < N; n++) {
    const l = labels[n]!;
    if (!(l >= 0 && l < K)) throw new Error(`label ${l} at row ${n} is outside [0, ${K})`);
  }
}

/** logits (N,K), labels (N) -> mean loss (scalar) and the softmax for the backward. */
export function crossEntropy(be: KernelHost, g: GpuStorage, labels: Int32Array): { loss: GpuStorage; ctx: LossContext } {
  const [N, K] = g.shape as [number, number];
  checkLabels(labels, N, K);
  const lab = be.fromInt32(labels);
  const probs = be.alloc([N, K], "softmax");
  const loss = be.alloc([], "loss");
  const what = "cross-entropy";
  be.ctx.dispatch(CROSS_ENTROPY_FORWARD, new Params().u32(N, K, 0, 0).bytes(),
    [be.view(g, 0, N * K, what), be.view(lab, 0, N, what), be.view(loss, 0, 1, what), be.view(probs, 0, N * K, what)], [1, 1, 1]);
  const ctx: LossContext = { probs, labels: lab, shape: [N, K], dispose: () => { be.dispose(probs); be.dispose(lab); } };
  return { loss, ctx };
}

/** dloss (scalar) -> dlogits (N,K) = dloss (softmax - onehot) / N. */
export function crossEntropyBackward(be: KernelHost, dloss: GpuStorage, c: LossContext): GpuStorage {
  const [N, K] = c.shape as [number, number];
  const d = be.alloc([N, K], "cross-entropy backward");
  const what = "cross-entropy backward";
  be.ctx.dispatch(CROSS_ENTROPY_BACKWARD, new Params().u32(N, K, 0, 0).bytes(),
    [be.view(dloss, 0, 1, what), be.view(c.probs, 0, N * K, what), be.view(c.labels, 0, N, what), be.view(d, 0, N * K, what)],
    grid1d(Math.ceil((N * K) / 256)));
  return d;
}

/** logits (N,K), labels -> scalar count of rows whose first maximum is at the label. */
export function correctCount(be: KernelHost, g: GpuStorage, labels: Int32Array): GpuStorage {
  const [N, K] = g.shape as [number, number];
  checkLabels(labels, N, K);
  const lab = be.fromInt32(labels);
  const count = be.alloc([], "correct count");
  be.ctx.dispatch(CORRECT_COUNT, new Params().u32(N, K, 0, 0).bytes(),
    [be.view(g, 0, N * K, "correctCount"), be.view(lab, 0, N, "correctCount"), be.view(count, 0, 1, "correctCount")], [1, 1, 1]);
  be.dispose(lab); // safe: the queue runs the count before any reuse of the buffer
  return count;
}

/** In place: torch.optim.SGD's step on param (and velocity when momentum > 0), chunked by binding size. */
export function sgdUpdate(be: KernelHost, w: GpuStorage, g: GpuStorage, v: GpuStorage | null, p: SgdParams, firstStep: boolean): void {
  const code = sgdShader(v !== null);
  forChunks(be, w.shape.reduce((a, b) => a * b, 1), (start, count) => {
    const views = [be.view(w, start, count, "sgd"), be.view(g, start, count, "sgd")];
    if (v) views.push(be.view(v, start, count, "sgd"));
    const params = new Params().u32(count, views[0]!.shift, views[1]!.shift, v ? views[2]!.shift : 0)
      .f32(p.lr, p.momentum, p.dampening, p.weightDecay).u32(p.nesterov ? 1 : 0, firstStep ? 1 : 0, 0, 0);
    be.ctx.dispatch(code, params.bytes(), views, grid1d(Math.ceil(count / 256)));
  });
}

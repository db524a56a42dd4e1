// Log-softmax + cross-entropy and the accuracy count (reference/layers.ts crossEntropyForward and
// crossEntropyBackward; correctCount as the contract defines it). The forward is one workgroup: rows
// are few (the batch) and short (10 classes), and one workgroup can reduce the mean loss in shared
// memory without a second pass. It saves the softmax for the backward, as the reference does.
import { MAIN_SIGNATURE, LINEAR_ID } from "./elementwise.js";

const PARAMS = `struct Params { rows: u32, k: u32, lOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

/** logits (N,K), labels (N) -> loss (1), probs (N,K). */
export const CROSS_ENTROPY_FORWARD = `// cross-entropy forward
${PARAMS}
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
var<workgroup> partial: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var total = 0.0;
  for (var r = li; r < p.rows; r += 256u) {
    let base = p.lOff + r * p.k;
    var mx = logits[base];
    for (var j = 1u; j < p.k; j++) { mx = max(mx, logits[base + j]); }
    var sumExp = 0.0;
    for (var j = 0u; j < p.k; j++) { sumExp += exp(logits[base + j] - mx); }
    let lse = mx + log(sumExp);
    for (var j = 0u; j < p.k; j++) { probs[r * p.k + j] = exp(logits[base + j] - lse); }
    total += lse - logits[base + u32(labels[r])];
  }
  partial[li] = total;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (li < half) { partial[li] += partial[li + half]; }
    workgroupBarrier();
  }
  if (li == 0u) { loss[0] = partial[0] / f32(p.rows); }
}`;

/** dloss (1), probs (N,K), labels -> dlogits (N,K) = dloss (softmax - onehot) / N. */
export const CROSS_ENTROPY_BACKWARD = `// cross-entropy backward
${PARAMS}
@group(0) @binding(1) var<storage, read> dloss: array<f32>;
@group(0) @binding(2) var<storage, read> probs: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<i32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.rows * p.k) { return; }
  let r = i / p.k;
  let onehot = select(0.0, 1.0, u32(labels[r]) == i % p.k);
  dlogits[i] = dloss[0] / f32(p.rows) * (probs[i] - onehot);
}`;

/** logits (N,K), labels -> count (1): rows whose first maximum is at the label. */
export const CORRECT_COUNT = `// correct count
${PARAMS}
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> count: array<f32>;
var<workgroup> partial: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var hits = 0u;
  for (var r = li; r < p.rows; r += 256u) {
    let base = p.lOff + r * p.k;
    var best = 0u;
    for (var j = 1u; j < p.k; j++) { if (logits[base + j] > logits[base + best]) { best = j; } }
    if (i32(best) == labels[r]) { hits++; }
  }
  partial[li] = hits;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (li < half) { partial[li] += partial[li + half]; }
    workgroupBarrier();
  }
  if (li == 0u) { count[0] = f32(partial[0]); }
}`;

// Batch normalization over channel axis 1 of (N,C,S) (S = H·W, or 1 for (N,C)); reference batchNorm and
// batchNormBackward. The batch is cut into groups of `ipg` images; one workgroup per (channel, group)
// reduces its N'·S values with 256 invocations and a shared-memory tree, and a per-channel kernel then
// folds the groups in order. Precision: each group computes its mean, then in a second pass the sum of
// squared deviations from it (no E[x²] - E[x]² cancellation) and the sum of the deviations, which
// corrects the mean; groups merge with Chan's parallel-variance formula on offsets from the first group's
// mean. The mean is kept as an unevaluated sum hi + lo of two f32 (x - hi is exact for x near the mean),
// so that x - mean keeps f32 precision even when the mean is large against the spread (a float32 mean
// alone would be off by half an ulp of the mean, which normalization then divides by the std).
// `stats` is (3, C): mean hi, mean lo, 1/sqrt(var + eps).
import { LINEAR_ID, MAIN_SIGNATURE } from "./elementwise.js";

const WG_SUM = `
var<workgroup> red: array<f32, 256>;
/** Sum of v over the workgroup (call from uniform control flow). */
fn wgSum(v: f32, li: u32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (li < half) { red[li] += red[li + half]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;

const GROUP_PARAMS = `struct Params { C: u32, S: u32, nImg: u32, ipg: u32, groupBase: u32, aOff: u32, bOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

/** Start of a workgroup over (channel c, group wg.y); `width` floats per partial slot. */
const groupMain = (width: number): string => `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = wg.x;
  let n0 = wg.y * p.ipg;
  let cnt = (min(n0 + p.ipg, p.nImg) - n0) * p.S;
  let slot = ${width}u * ((p.groupBase + wg.y) * p.C + c);`;

/** x - mean with the mean as hi + lo (stats rows 0 and 1). */
const CENTER = "fn center(v: f32, c: u32) -> f32 { return (v - stats[c]) - stats[p.C + c]; }";

/** Element e of channel c in the group starting at image n0 (offset within a chunk's view). */
const ELEM = "fn elem(n0: u32, c: u32, e: u32) -> u32 { return ((n0 + e / p.S) * p.C + c) * p.S + e % p.S; }";

/** x (chunk) -> partial[g][c] = (group mean hi, lo, sum of squared deviations). Grid [C, groups, 1]. */
export const BN_STATS = `// batch-norm statistics per (channel, group)
${GROUP_PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
${WG_SUM}
${ELEM}
${groupMain(3)}
  var acc = 0.0;
  for (var e = li; e < cnt; e += 256u) { acc += x[p.aOff + elem(n0, c, e)]; }
  let mean = wgSum(acc, li) / f32(cnt);
  var dev = 0.0;
  var sq = 0.0;
  for (var e = li; e < cnt; e += 256u) {
    let d = x[p.aOff + elem(n0, c, e)] - mean;
    dev += d;
    sq += d * d;
  }
  let s = wgSum(dev, li);
  let q = wgSum(sq, li);
  // sum (x - m)^2 about the corrected mean m = mean + s/cnt is q - s^2/cnt
  if (li == 0u) { partial[slot] = mean; partial[slot + 1u] = s / f32(cnt); partial[slot + 2u] = max(q - s * s / f32(cnt), 0.0); }
}`;

const CHANNEL_PARAMS = `struct Params { C: u32, groups: u32, ipg: u32, N: u32, S: u32, pad0: u32, momentum: f32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;`;

const CHANNEL_MAIN = `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= p.C) { return; }`;

/** partial -> stats (batch mean hi and lo, 1/std with the biased variance); running mean and variance
 * updated in place with the unbiased variance. One invocation per channel. */
export const BN_FINALIZE = `// batch-norm statistics: fold the groups, update the running statistics
${CHANNEL_PARAMS}
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> runMean: array<f32>;
@group(0) @binding(4) var<storage, read_write> runVar: array<f32>;
${CHANNEL_MAIN}
  let base = partial[3u * c];
  var count = 0.0;
  var mean = 0.0; // offset from base
  var m2 = 0.0;
  for (var g = 0u; g < p.groups; g++) {
    let nb = f32((min((g + 1u) * p.ipg, p.N) - g * p.ipg) * p.S);
    let slot = 3u * (g * p.C + c);
    let delta = ((partial[slot] - base) + partial[slot + 1u]) - mean;
    let total = count + nb;
    mean += delta * (nb / total);
    m2 += partial[slot + 2u] + delta * delta * (count * nb / total);
    count = total;
  }
  let hi = base + mean;
  stats[c] = hi;
  stats[p.C + c] = mean - (hi - base);
  stats[2u * p.C + c] = 1.0 / sqrt(m2 / count + p.eps);
  runMean[c] = (1.0 - p.momentum) * runMean[c] + p.momentum * hi;
  runVar[c] = (1.0 - p.momentum) * runVar[c] + p.momentum * (m2 / (count - 1.0));
}`;

/** Eval mode: stats from the running statistics (not written). */
export const BN_EVAL_STATS = `// batch-norm statistics from the running statistics
${CHANNEL_PARAMS}
@group(0) @binding(1) var<storage, read> runMean: array<f32>;
@group(0) @binding(2) var<storage, read> runVar: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
${CHANNEL_MAIN}
  stats[c] = runMean[c];
  stats[p.C + c] = 0.0;
  stats[2u * p.C + c] = 1.0 / sqrt(runVar[c] + p.eps);
}`;

/** y = (x - mean) · invstd · weight + bias (ReLU'd when relu), flat over a chunk of whole images. */
export const BN_NORMALIZE = `// batch-norm normalize
struct Params { n: u32, xOff: u32, yOff: u32, C: u32, S: u32, relu: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${CENTER}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let c = (i / p.S) % p.C;
  let v = center(x[p.xOff + i], c) * stats[2u * p.C + c] * weight[c] + bias[c];
  if (p.relu != 0u) { y[p.yOff + i] = select(0.0, v, v > 0.0); } else { y[p.yOff + i] = v; }
}`;

/** dy, x (chunk) -> partial[g][c] = (sum dy, sum dy·(x - mean)). Grid [C, groups, 1]. */
export const BN_BACKWARD_PARTIAL = `// batch-norm backward sums per (channel, group)
${GROUP_PARAMS}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;
${WG_SUM}
${ELEM}
${CENTER}
${groupMain(2)}
  var s1 = 0.0;
  var s2 = 0.0;
  for (var e = li; e < cnt; e += 256u) {
    let k = elem(n0, c, e);
    let g = dy[p.aOff + k];
    s1 += g;
    s2 += g * center(x[p.bOff + k], c);
  }
  let t1 = wgSum(s1, li);
  let t2 = wgSum(s2, li);
  if (li == 0u) { partial[slot] = t1; partial[slot + 1u] = t2; }
}`;

/** partial -> dbias = sum dy, dweight = invstd · sum dy·(x - mean). One invocation per channel. */
export const BN_BACKWARD_FINALIZE = `// batch-norm backward: fold the groups
${CHANNEL_PARAMS}
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbias: array<f32>;
${CHANNEL_MAIN}
  var s1 = 0.0;
  var s2 = 0.0;
  for (var g = 0u; g < p.groups; g++) {
    s1 += partial[2u * (g * p.C + c)];
    s2 += partial[2u * (g * p.C + c) + 1u];
  }
  dbias[c] = s1;
  dweight[c] = s2 * stats[2u * p.C + c];
}`;

/** Training: dx = weight·invstd·(dy - dbias/M - xhat·dweight/M) with xhat = (x - mean)·invstd;
 * eval (training = 0): dx = dy·weight·invstd. Flat over a chunk of whole images. */
export const BN_BACKWARD_DX = `// batch-norm backward dx
struct Params { n: u32, dyOff: u32, xOff: u32, dxOff: u32, C: u32, S: u32, training: u32, count: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
@group(0) @binding(5) var<storage, read> dweight: array<f32>;
@group(0) @binding(6) var<storage, read> dbias: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
${CENTER}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let c = (i / p.S) % p.C;
  let invstd = stats[2u * p.C + c];
  let g = dy[p.dyOff + i];
  if (p.training == 0u) { dx[p.dxOff + i] = g * weight[c] * invstd; return; }
  let xhat = center(x[p.xOff + i], c) * invstd;
  dx[p.dxOff + i] = weight[c] * invstd * (g - dbias[c] / p.count - xhat * dweight[c] / p.count);
}`;

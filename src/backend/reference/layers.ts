// Reference kernels for AlexNet's layer ops: naive loops over row-major arrays, each forward beside its
// backward. These define what every other backend must compute.
import { type Conv2dParams, type Pool2dParams, type SgdParams, dropoutUniform } from "../backend.js";
import { windowOutSize } from "../shapes.js";

type Data = Float32Array | Float64Array;
type Shape = readonly number[];

function like(a: Data, n: number): Data {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

// ---- convolution ----------------------------------------------------------------------------------

export function conv2dForward(
  x: Data, xs: Shape, w: Data, ws: Shape, b: Data | null, p: Conv2dParams,
): { data: Data; shape: number[] } {
  // x is (N,C,H,W), w is (O,C,KH,KW), y is (N,O,OH,OW)
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, , KH, KW] = ws as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const OH = windowOutSize(H, KH, sh, ph);
  const OW = windowOutSize(W, KW, sw, pw);
  const y = like(x, N * O * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const bias = b ? b[o]! : 0;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let acc = bias;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh;
              if (ih < 0 || ih >= H) continue;
              const xRow = ((n * C + c) * H + ih) * W;
              const wRow = ((o * C + c) * KH + kh) * KW;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pw + kw;
                if (iw < 0 || iw >= W) continue;
                acc += x[xRow + iw]! * w[wRow + kw]!;
              }
            }
          }
          y[((n * O + o) * OH + oh) * OW + ow] = acc;
        }
      }
    }
  }
  return { data: y, shape: [N, O, OH, OW] };
}

export function conv2dBackward(
  dy: Data, dys: Shape, x: Data, xs: Shape, w: Data, ws: Shape, p: Conv2dParams, needDx: boolean,
): { dx: Data | null; dw: Data; db: Data } {
  // dy is (N,O,OH,OW); each output cell spreads dy into dx through w and into dw through x.
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, , KH, KW] = ws as [number, number, number, number];
  const [, , OH, OW] = dys as [number, number, number, number];
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const dx = needDx ? like(x, x.length) : null;
  const dw = like(w, w.length);
  const db = like(w, O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const g = dy[((n * O + o) * OH + oh) * OW + ow]!;
          db[o] += g;
          if (g === 0) continue;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * sh - ph + kh;
              if (ih < 0 || ih >= H) continue;
              const xRow = ((n * C + c) * H + ih) * W;
              const wRow = ((o * C + c) * KH + kh) * KW;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * sw - pw + kw;
                if (iw < 0 || iw >= W) continue;
                dw[wRow + kw] += g * x[xRow + iw]!;
                if (dx) dx[xRow + iw] += g * w[wRow + kw]!;
              }
            }
          }
        }
      }
    }
  }
  return { dx, dw, db };
}

// ---- max pooling ----------------------------------------------------------------------------------

export function maxPool2dForward(
  x: Data, xs: Shape, p: Pool2dParams,
): { data: Data; shape: number[]; argmax: Int32Array } {
  // x is (N,C,H,W), y is (N,C,OH,OW); argmax holds the flat index into x of each output's maximum.
  const [N, C, H, W] = xs as [number, number, number, number];
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const OH = windowOutSize(H, KH, sh, ph);
  const OW = windowOutSize(W, KW, sw, pw);
  const y = like(x, N * C * OH * OW);
  const argmax = new Int32Array(y.length);
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let bestIdx = -1;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw;
            if (iw < 0 || iw >= W) continue;
            const idx = (nc * H + ih) * W + iw;
            const v = x[idx]!;
            // First maximum in scan order wins; NaN propagates (as PyTorch's CPU kernel).
            if (v > best || Number.isNaN(v) || bestIdx < 0) {
              best = v;
              bestIdx = idx;
              if (Number.isNaN(v)) break;
            }
          }
        }
        const o = (nc * OH + oh) * OW + ow;
        y[o] = best;
        argmax[o] = bestIdx;
      }
    }
  }
  return { data: y, shape: [N, C, OH, OW], argmax };
}

export function maxPool2dBackward(dy: Data, argmax: Int32Array, inputSize: number): Data {
  // Each output's gradient goes to the input element that won its window (overlapping windows add up).
  const dx = like(dy, inputSize);
  for (let o = 0; o < dy.length; o++) dx[argmax[o]!] += dy[o]!;
  return dx;
}

// ---- ReLU -----------------------------------------------------------------------------------------

export function reluForward(x: Data): Data {
  const y = like(x, x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
  return y;
}

export function reluBackward(dy: Data, y: Data): Data {
  const dx = like(dy, dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = y[i]! > 0 ? dy[i]! : 0;
  return dx;
}

// ---- linear ---------------------------------------------------------------------------------------

export function linearForward(x: Data, xs: Shape, w: Data, ws: Shape, b: Data | null): Data {
  // x is (N,I), w is (O,I), y is (N,O) = x w^T + b
  const [N, I] = xs as [number, number];
  const [O] = ws as [number, number];
  const y = like(x, N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      let acc = b ? b[o]! : 0;
      for (let i = 0; i < I; i++) acc += x[n * I + i]! * w[o * I + i]!;
      y[n * O + o] = acc;
    }
  }
  return y;
}

export function linearBackward(
  dy: Data, x: Data, xs: Shape, w: Data, ws: Shape, needDx: boolean,
): { dx: Data | null; dw: Data; db: Data } {
  // dx (N,I) = dy w; dw (O,I) = dy^T x; db (O) = sum over N of dy
  const [N, I] = xs as [number, number];
  const [O] = ws as [number, number];
  const dx = needDx ? like(x, N * I) : null;
  const dw = like(w, O * I);
  const db = like(w, O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = dy[n * O + o]!;
      db[o] += g;
      for (let i = 0; i < I; i++) {
        dw[o * I + i] += g * x[n * I + i]!;
        if (dx) dx[n * I + i] += g * w[o * I + i]!;
      }
    }
  }
  return { dx, dw, db };
}

// ---- dropout --------------------------------------------------------------------------------------

export function dropoutForward(x: Data, p: number, seed: number, offset = 0): { y: Data; mask: Data } {
  // mask[i] is 0 (dropped) or 1/(1-p) (kept, scaled so the expectation is unchanged); the hash index is
  // offset + i, so a shard of a batch draws the same mask as the whole batch does for those rows.
  const scale = p < 1 ? 1 / (1 - p) : 0;
  const mask = like(x, x.length);
  const y = like(x, x.length);
  for (let i = 0; i < x.length; i++) {
    mask[i] = dropoutUniform(seed, offset + i) >= p ? scale : 0;
    y[i] = x[i]! * mask[i]!;
  }
  return { y, mask };
}

export function dropoutBackward(dy: Data, mask: Data): Data {
  const dx = like(dy, dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * mask[i]!;
  return dx;
}

// ---- log-softmax + cross-entropy ------------------------------------------------------------------

export function crossEntropyForward(
  logits: Data, ls: Shape, labels: Int32Array,
): { loss: number; probs: Data } {
  // logits is (N,K); loss = mean over n of -(logits[n,label] - logsumexp(logits[n,:]))
  const [N, K] = ls as [number, number];
  if (labels.length !== N) throw new Error(`cross-entropy got ${labels.length} labels for ${N} rows`);
  const probs = like(logits, N * K);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const label = labels[n]!;
    if (!(label >= 0 && label < K)) throw new Error(`label ${label} at row ${n} is outside [0, ${K})`);
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[n * K + k]!);
    let sumExp = 0;
    for (let k = 0; k < K; k++) sumExp += Math.exp(logits[n * K + k]! - max);
    const logSumExp = max + Math.log(sumExp);
    for (let k = 0; k < K; k++) probs[n * K + k] = Math.exp(logits[n * K + k]! - logSumExp);
    total += logSumExp - logits[n * K + label]!;
  }
  return { loss: total / N, probs };
}

export function crossEntropyBackward(dloss: number, probs: Data, ls: Shape, labels: Int32Array): Data {
  // dlogits[n,k] = dloss * (softmax[n,k] - [k == label]) / N
  const [N, K] = ls as [number, number];
  const d = like(probs, N * K);
  const s = dloss / N;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) d[n * K + k] = s * (probs[n * K + k]! - (k === labels[n] ? 1 : 0));
  }
  return d;
}

// ---- SGD ------------------------------------------------------------------------------------------

export function sgdUpdate(param: Data, grad: Data, velocity: Data | null, p: SgdParams, firstStep: boolean): void {
  // torch.optim.SGD: d = g + wd*w; v = momentum*v + (1-dampening)*d (v = d on the first step);
  // d = nesterov ? d + momentum*v : v; w -= lr*d
  for (let i = 0; i < param.length; i++) {
    let d = grad[i]! + p.weightDecay * param[i]!;
    if (p.momentum !== 0) {
      if (!velocity) throw new Error("sgdUpdate with momentum needs a velocity buffer");
      const v = firstStep ? d : p.momentum * velocity[i]! + (1 - p.dampening) * d;
      velocity[i] = v;
      d = p.nesterov ? d + p.momentum * v : v;
    }
    param[i] = param[i]! - p.lr * d;
  }
}

// ---- metrics and layout ---------------------------------------------------------------------------

/** logits (N,K) -> how many rows have their first largest value at the label (torch.argmax's tie rule). */
export function correctCount(logits: Data, ls: Shape, labels: Int32Array): number {
  const [n, k] = ls as [number, number];
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j]! > logits[i * k + best]!) best = j;
    if (best === labels[i]) correct++;
  }
  return correct;
}

/** a (M,N) -> (N,M). */
export function transpose(a: Data, as: Shape): Data {
  const [m, n] = as as [number, number];
  const out = like(a, a.length);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j]!;
  return out;
}

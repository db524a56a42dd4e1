// The reference kernels of the layers d2l's CNN chapter adds after AlexNet: sigmoid and tanh, average and
// adaptive average pooling, batch normalization, concatenation and its inverse (split). Plain loops over
// row-major arrays, forward beside backward: the readable definition every fast kernel is tested against.
import type { BatchNormParams, Pool2dParams } from "../backend.js";
import { adaptiveBin, windowOutSize } from "../shapes.js";

type Data = Float32Array | Float64Array;
type Shape = readonly number[];

const like = (a: Data, n: number): Data => (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

// ---- sigmoid and tanh -----------------------------------------------------------------------------

export function sigmoidForward(x: Data): Data {
  const y = like(x, x.length);
  for (let i = 0; i < x.length; i++) y[i] = 1 / (1 + Math.exp(-x[i]!));
  return y;
}

export function sigmoidBackward(dy: Data, y: Data): Data {
  // dsigmoid/dx = y (1 - y), from the saved output
  const dx = like(dy, dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * y[i]! * (1 - y[i]!);
  return dx;
}

export function tanhForward(x: Data): Data {
  const y = like(x, x.length);
  for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
  return y;
}

export function tanhBackward(dy: Data, y: Data): Data {
  // dtanh/dx = 1 - y^2
  const dx = like(dy, dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * (1 - y[i]! * y[i]!);
  return dx;
}

// ---- average pooling (count_include_pad=True) -----------------------------------------------------

export function avgPool2dForward(x: Data, xs: Shape, p: Pool2dParams): { data: Data; shape: number[] } {
  // x is (N,C,H,W), y is (N,C,OH,OW); the divisor is always KH*KW (padded zeros count).
  const [N, C, H, W] = xs as [number, number, number, number];
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const OH = windowOutSize(H, KH, sh, ph);
  const OW = windowOutSize(W, KW, sw, pw);
  const y = like(x, N * C * OH * OW);
  const scale = 1 / (KH * KW);
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = 0;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw;
            if (iw >= 0 && iw < W) s += x[(nc * H + ih) * W + iw]!;
          }
        }
        y[(nc * OH + oh) * OW + ow] = s * scale;
      }
    }
  }
  return { data: y, shape: [N, C, OH, OW] };
}

export function avgPool2dBackward(dy: Data, xs: Shape, p: Pool2dParams): Data {
  // dy is (N,C,OH,OW) -> dx (N,C,H,W): each output's gradient / (KH*KW) to every input of its window.
  const [N, C, H, W] = xs as [number, number, number, number];
  const [KH, KW] = p.kernel;
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const OH = windowOutSize(H, KH, sh, ph);
  const OW = windowOutSize(W, KW, sw, pw);
  const dx = like(dy, N * C * H * W);
  const scale = 1 / (KH * KW);
  for (let nc = 0; nc < N * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const g = dy[(nc * OH + oh) * OW + ow]! * scale;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - ph + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - pw + kw;
            if (iw >= 0 && iw < W) dx[(nc * H + ih) * W + iw] += g;
          }
        }
      }
    }
  }
  return dx;
}

// ---- adaptive average pooling (PyTorch's bins) ----------------------------------------------------

export function adaptiveAvgPool2dForward(x: Data, xs: Shape, out: readonly [number, number]): Data {
  // x is (N,C,H,W), y is (N,C,OH,OW); bin (i, j) averages rows adaptiveBin(i, H, OH), columns adaptiveBin(j, W, OW).
  const [N, C, H, W] = xs as [number, number, number, number];
  const [OH, OW] = out;
  const y = like(x, N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++) {
    for (let i = 0; i < OH; i++) {
      const [h0, h1] = adaptiveBin(i, H, OH);
      for (let j = 0; j < OW; j++) {
        const [w0, w1] = adaptiveBin(j, W, OW);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[(nc * H + h) * W + w]!;
        y[(nc * OH + i) * OW + j] = s / ((h1 - h0) * (w1 - w0));
      }
    }
  }
  return y;
}

export function adaptiveAvgPool2dBackward(dy: Data, dys: Shape, xs: Shape): Data {
  // dy is (N,C,OH,OW) -> dx (N,C,H,W); bins may overlap when H is not a multiple of OH, so gradients add.
  const [N, C, H, W] = xs as [number, number, number, number];
  const [, , OH, OW] = dys as [number, number, number, number];
  const dx = like(dy, N * C * H * W);
  for (let nc = 0; nc < N * C; nc++) {
    for (let i = 0; i < OH; i++) {
      const [h0, h1] = adaptiveBin(i, H, OH);
      for (let j = 0; j < OW; j++) {
        const [w0, w1] = adaptiveBin(j, W, OW);
        const g = dy[(nc * OH + i) * OW + j]! / ((h1 - h0) * (w1 - w0));
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) dx[(nc * H + h) * W + w] += g;
      }
    }
  }
  return dx;
}

// ---- batch normalization --------------------------------------------------------------------------

/** What the forward saves: per channel, the mean and 1/sqrt(var + eps) it normalized with. */
export interface BatchNormSaved {
  mean: Float64Array;
  invStd: Float64Array;
}

/** Channels, values per channel and the stride of one (n, c) plane for x (N,C) or (N,C,H,W). */
function bnDims(xs: Shape): { N: number; C: number; S: number } {
  return { N: xs[0]!, C: xs[1]!, S: xs.length === 4 ? xs[2]! * xs[3]! : 1 };
}

export function batchNormForward(
  x: Data, xs: Shape, weight: Data, bias: Data, runningMean: Data, runningVar: Data, p: BatchNormParams,
): { y: Data; saved: BatchNormSaved } {
  // x is (N,C[,H,W]); statistics per channel c over N and the spatial positions (count = N*H*W).
  const { N, C, S } = bnDims(xs);
  const count = N * S;
  const mean = new Float64Array(C);
  const invStd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let m: number;
    let v: number;
    if (p.training) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) s += x[(n * C + c) * S + k]!;
      m = s / count;
      let q = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) q += (x[(n * C + c) * S + k]! - m) ** 2;
      v = q / count; // biased: what normalizes the batch
      // The running variance takes the unbiased estimate, as PyTorch does.
      runningMean[c] = (1 - p.momentum) * runningMean[c]! + p.momentum * m;
      runningVar[c] = (1 - p.momentum) * runningVar[c]! + p.momentum * (count > 1 ? (q / (count - 1)) : v);
    } else {
      m = runningMean[c]!;
      v = runningVar[c]!;
    }
    mean[c] = m;
    invStd[c] = 1 / Math.sqrt(v + p.eps);
  }
  const y = like(x, x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const a = weight[c]! * invStd[c]!;
      const b = bias[c]! - mean[c]! * a;
      for (let k = 0; k < S; k++) {
        const i = (n * C + c) * S + k;
        y[i] = x[i]! * a + b;
      }
    }
  }
  return { y, saved: { mean, invStd } };
}

export function batchNormBackward(
  dy: Data, x: Data, xs: Shape, weight: Data, saved: BatchNormSaved, training: boolean,
): { dx: Data; dweight: Data; dbias: Data } {
  // dy, x (N,C[,H,W]) -> dx like x, dweight (C) = sum(dy * xhat), dbias (C) = sum(dy).
  // Training: dx = w * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)), since the batch statistics
  // depend on x; eval: the statistics are constants, dx = w * invStd * dy.
  const { N, C, S } = bnDims(xs);
  const count = N * S;
  const dweight = like(dy, C);
  const dbias = like(dy, C);
  const dx = like(dy, dy.length);
  for (let c = 0; c < C; c++) {
    const m = saved.mean[c]!;
    const is = saved.invStd[c]!;
    let sdy = 0;
    let sdyx = 0;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < S; k++) {
        const i = (n * C + c) * S + k;
        sdy += dy[i]!;
        sdyx += dy[i]! * (x[i]! - m) * is;
      }
    }
    dweight[c] = sdyx;
    dbias[c] = sdy;
    const scale = weight[c]! * is;
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < S; k++) {
        const i = (n * C + c) * S + k;
        dx[i] = training ? scale * (dy[i]! - sdy / count - (x[i]! - m) * is * (sdyx / count)) : scale * dy[i]!;
      }
    }
  }
  return { dx, dweight, dbias };
}

// ---- concatenation and split ----------------------------------------------------------------------

/** Views a shape as (outer, axis, inner) around `axis`. */
function around(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, len: shape[axis]!, inner };
}

export function concat(parts: readonly Data[], shapes: readonly Shape[], axis: number, outShape: Shape): Data {
  // Each part (outer, len_i, inner) is copied into (outer, sum len_i, inner) at its offset along the axis.
  const o = around(outShape, axis);
  const out = like(parts[0]!, o.outer * o.len * o.inner);
  let offset = 0;
  parts.forEach((part, k) => {
    const { len } = around(shapes[k]!, axis);
    for (let a = 0; a < o.outer; a++) {
      out.set(part.subarray(a * len * o.inner, (a + 1) * len * o.inner), (a * o.len + offset) * o.inner);
    }
    offset += len;
  });
  return out;
}

export function split(x: Data, xs: Shape, axis: number, sizes: readonly number[]): Data[] {
  // The inverse of concat: part k is x's slice [offset_k, offset_k + sizes[k]) along the axis.
  const o = around(xs, axis);
  let offset = 0;
  return sizes.map((len) => {
    const part = like(x, o.outer * len * o.inner);
    for (let a = 0; a < o.outer; a++) {
      part.set(x.subarray((a * o.len + offset) * o.inner, (a * o.len + offset + len) * o.inner), a * len * o.inner);
    }
    offset += len;
    return part;
  });
}

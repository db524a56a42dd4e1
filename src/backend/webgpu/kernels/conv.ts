// Convolution as three implicit GEMMs on kernels/gemm.ts, gathering x, w and dy through index maps (no
// im2col buffer: conv1 at 224 and batch 128 would need ~560 MB). Implements reference/layers.ts
// conv2dForward and conv2dBackward. Shape fields come from the GEMM uniforms: nb images in this batch
// chunk, c/h/w input, o/oh/ow output, kh/kw kernel, sh/sw stride, ph/pw padding; aOff/bOff/outOff are the
// element shifts of the bound views.
import { type GemmSpec } from "./gemm.js";

const cache = new Map<string, GemmSpec>();

function cached(key: string, make: () => GemmSpec): GemmSpec {
  let s = cache.get(key);
  if (!s) cache.set(key, (s = make()));
  return s;
}

const DST = (first: number): string => `@group(0) @binding(${first}) var<storage, read_write> dst: array<f32>;`;

// Decoding (image, output pixel) from a GEMM row and (channel, ky, kx) from a GEMM column costs a few
// integer divisions per loaded element; every variant bakes the shape in, so they are divisions by
// literals (multiply-shifts), and where rows are the fast index the row decode leaves the K loop (aRow).
const X_AT_OUTPUT_PIXEL = `
  let img = pixRow / (p.oh * p.ow); let pix = pixRow % (p.oh * p.ow);
  let oy = pix / p.ow; let ox = pix % p.ow;
  let kk = p.kh * p.kw; let c = col / kk; let r = col % kk; let ky = r / p.kw; let kx = r % p.kw;
  let iy = i32(oy * p.sh + ky) - i32(p.ph); let ix = i32(ox * p.sw + kx) - i32(p.pw);
  if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { return 0.0; }`;

/** Forward: y (N,O,OH,OW) = conv(x (N,C,H,W), w (O,C,KH,KW)) + b, optionally ReLU'd.
 * GEMM M = N·OH·OW (pixels, contiguous in y), N = O, K = C·KH·KW; srcA = x, srcB = w. */
export function convForwardSpec(bias: boolean, relu: boolean): GemmSpec {
  return cached(`fwd${+bias}${+relu}`, () => ({
    name: `conv_fwd_${+bias}${+relu}`,
    loadA: `let pixRow = m; let col = k;${X_AT_OUTPUT_PIXEL}
  return srcA[p.aOff + ((img * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)];`,
    loadB: "return srcB[p.bOff + n * p.K + k];",
    aFast: "m",
    bFast: "k",
    // the output pixel's image and top-left input corner, decoded once per invocation (gemm.ts hoists it)
    aRow: {
      fields: "base: u32, iy0: i32, ix0: i32",
      row: `let ohw = p.oh * p.ow; let img = m / ohw; let pix = m % ohw;
  return ARow(p.aOff + img * p.c * p.h * p.w, i32((pix / p.ow) * p.sh) - i32(p.ph), i32((pix % p.ow) * p.sw) - i32(p.pw));`,
      load: `let kk = p.kh * p.kw; let c = k / kk; let r = k % kk;
  let iy = a.iy0 + i32(r / p.kw); let ix = a.ix0 + i32(r % p.kw);
  if (iy < 0 || iy >= i32(p.h) || ix < 0 || ix >= i32(p.w)) { return 0.0; }
  return srcA[a.base + (c * p.h + u32(iy)) * p.w + u32(ix)];`,
    },
    store: `let ohw = p.oh * p.ow; let img = m / ohw; let pix = m % ohw;
  ${bias ? "var r = v + bias[n];" : "var r = v;"}
  ${relu ? "r = select(0.0, r, r > 0.0);" : ""}
  dst[p.outOff + (img * p.o + n) * ohw + pix] = r;`,
    outDecls: (first) => DST(first) + (bias ? `\n@group(0) @binding(${first + 1}) var<storage, read> bias: array<f32>;` : ""),
  }));
}

/** Backward data: dx (N,C,H,W)[n,c,iy,ix] = sum over (o,ky,kx) of dy[n,o,oy,ox] w[o,c,ky,kx] where
 * oy·sh = iy + ph - ky. GEMM M = N·H·W, N = C, K = O·KH·KW; srcA = dy, srcB = w. Strided convs skip
 * the (o,ky,kx) that hit no output row inside the gather (zeros); conv1 never needs dx. */
export function convBackwardDataSpec(): GemmSpec {
  return cached("bwd_data", () => ({
    name: "conv_bwd_data",
    loadA: `let hw = p.h * p.w; let img = m / hw; let pix = m % hw; let iy = pix / p.w; let ix = pix % p.w;
  let kk = p.kh * p.kw; let o = k / kk; let r = k % kk; let ky = r / p.kw; let kx = r % p.kw;
  let ty = i32(iy + p.ph) - i32(ky); let tx = i32(ix + p.pw) - i32(kx);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty); let ux = u32(tx);
  if (uy % p.sh != 0u || ux % p.sw != 0u) { return 0.0; }
  let oy = uy / p.sh; let ox = ux / p.sw;
  if (oy >= p.oh || ox >= p.ow) { return 0.0; }
  return srcA[p.aOff + ((img * p.o + o) * p.oh + oy) * p.ow + ox];`,
    loadB: `let kk = p.kh * p.kw; let o = k / kk; let r = k % kk;
  return srcB[p.bOff + (o * p.c + n) * kk + r];`,
    aFast: "m",
    bFast: "k",
    // the input pixel's image and (iy + ph, ix + pw), decoded once per invocation (gemm.ts hoists it)
    aRow: {
      fields: "base: u32, ty0: i32, tx0: i32",
      row: `let hw = p.h * p.w; let img = m / hw; let pix = m % hw;
  return ARow(p.aOff + img * p.o * p.oh * p.ow, i32(pix / p.w + p.ph), i32(pix % p.w + p.pw));`,
      load: `let kk = p.kh * p.kw; let o = k / kk; let r = k % kk;
  let ty = a.ty0 - i32(r / p.kw); let tx = a.tx0 - i32(r % p.kw);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty); let ux = u32(tx);
  if (uy % p.sh != 0u || ux % p.sw != 0u) { return 0.0; }
  let oy = uy / p.sh; let ox = ux / p.sw;
  if (oy >= p.oh || ox >= p.ow) { return 0.0; }
  return srcA[a.base + (o * p.oh + oy) * p.ow + ox];`,
    },
    store: "let hw = p.h * p.w; dst[p.outOff + ((m / hw) * p.c + n) * hw + m % hw] = v;",
    outDecls: DST,
  }));
}

/** Backward weights: dw (O, C·KH·KW)[o][j] = sum over (n, oy, ox) of dy[n,o,oy,ox] x[n,c,iy,ix].
 * GEMM M = C·KH·KW (contiguous in dw), N = O, K = nb·OH·OW: the reduction over batch and pixels is the
 * tiled K loop (split along K, and along batch chunks, into partials when the output tiles are few).
 * srcA = x, srcB = dy. `accumulate` adds to dw instead of storing (batch chunks in several groups). */
export function convBackwardWeightSpec(accumulate = false): GemmSpec {
  return cached(`bwd_weight${+accumulate}`, () => ({
    name: `conv_bwd_weight${accumulate ? "_accumulate" : ""}`,
    loadA: `let pixRow = k; let col = m;${X_AT_OUTPUT_PIXEL}
  return srcA[p.aOff + ((img * p.c + c) * p.h + u32(iy)) * p.w + u32(ix)];`,
    loadB: `let ohw = p.oh * p.ow; return srcB[p.bOff + ((k / ohw) * p.o + n) * ohw + k % ohw];`,
    aFast: "k",
    bFast: "k",
    // accumulate: later groups of batch chunks add to what earlier groups stored
    store: `dst[p.outOff + n * p.M + m] ${accumulate ? "+=" : "="} v;`,
    outDecls: DST,
  }));
}

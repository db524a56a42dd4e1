// Max pooling (reference/layers.ts maxPool2dForward/maxPool2dBackward), average and adaptive average
// pooling (reference avgPool2d/adaptiveAvgPool2d and their backwards). The forward keeps, per output,
// where its maximum came from as an index into its (n, c) plane (iy·W + ix), so the index does not
// depend on how the batch was chunked. The backward is a gather (WGSL has no float atomics): each input
// element visits the outputs whose windows cover it, in the reference's order, and adds the gradients of
// those whose argmax it is. Ties keep the first maximum in scan order; NaN wins and stops the scan.
// Average pooling counts padding in the divisor (count_include_pad=True; with floor mode every window lies
// inside the padded input, so the divisor is always kh·kw); its backward is the same gather. Adaptive
// pooling's bins are PyTorch's (shapes.ts adaptiveBin): output row i covers input rows
// floor(i·H/OH) .. ceil((i+1)·H/OH) - 1, so input row r is covered by outputs floor(r·OH/H) ..
// ceil((r+1)·OH/H) - 1 (columns likewise).
import { MAIN_SIGNATURE, LINEAR_ID } from "./elementwise.js";

const PARAMS = `struct Params { n: u32, c: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, ph: u32, pw: u32, xOff: u32, yOff: u32, iOff: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

/** x (nb,C,H,W) -> y (nb,C,OH,OW) and argmax (same shape as y); p.n = number of outputs in the chunk. */
export const MAXPOOL_FORWARD = `// max-pool forward
${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ox = i % p.ow; let oy = (i / p.ow) % p.oh; let plane = i / (p.ow * p.oh);
  var best = 0.0;
  var bestIdx = 0xffffffffu;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.sh + ky) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    var stop = false;
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.sw + kx) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      let idx = u32(iy) * p.w + u32(ix);
      let v = x[p.xOff + plane * p.h * p.w + idx];
      if (bestIdx == 0xffffffffu || v > best || isNan(v)) {
        best = v;
        bestIdx = idx;
        if (isNan(v)) { stop = true; break; }
      }
    }
    if (stop) { break; }
  }
  // -inf through a uniform (pad0 is 0): WGSL rejects an infinite constant
  if (bestIdx == 0xffffffffu) { best = bitcast<f32>(p.pad0 | 0xff800000u); }
  y[p.yOff + i] = best;
  argmax[p.iOff + i] = bestIdx;
}`;

/** dy (nb,C,OH,OW), argmax -> dx (nb,C,H,W); p.n = number of inputs in the chunk. */
export const MAXPOOL_BACKWARD = `// max-pool backward (gather)
${PARAMS}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ix = i % p.w; let iy = (i / p.w) % p.h; let plane = i / (p.w * p.h);
  let idx = iy * p.w + ix;
  // outputs oy with oy·sh - ph <= iy <= oy·sh - ph + kh - 1
  let yLo = max(i32(iy + p.ph) - i32(p.kh) + 1, 0);
  let xLo = max(i32(ix + p.pw) - i32(p.kw) + 1, 0);
  let oyLo = u32((yLo + i32(p.sh) - 1) / i32(p.sh));
  let oxLo = u32((xLo + i32(p.sw) - 1) / i32(p.sw));
  let oyHi = min((iy + p.ph) / p.sh + 1u, p.oh);
  let oxHi = min((ix + p.pw) / p.sw + 1u, p.ow);
  var acc = 0.0;
  for (var oy = oyLo; oy < oyHi; oy++) {
    for (var ox = oxLo; ox < oxHi; ox++) {
      let o = (plane * p.oh + oy) * p.ow + ox;
      if (argmax[p.iOff + o] == idx) { acc += dy[p.yOff + o]; }
    }
  }
  dx[p.xOff + i] = acc;
}`;

/** x (nb,C,H,W) -> y (nb,C,OH,OW), window means with padding counted; p.n = outputs in the chunk. */
export const AVGPOOL_FORWARD = `// avg-pool forward
${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ox = i % p.ow; let oy = (i / p.ow) % p.oh; let plane = i / (p.ow * p.oh);
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.sh + ky) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.sw + kx) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      acc += x[p.xOff + plane * p.h * p.w + u32(iy) * p.w + u32(ix)];
    }
  }
  y[p.yOff + i] = acc / f32(p.kh * p.kw);
}`;

/** dy (nb,C,OH,OW) -> dx (nb,C,H,W): each input gathers the outputs whose windows cover it. */
export const AVGPOOL_BACKWARD = `// avg-pool backward (gather)
${PARAMS}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ix = i % p.w; let iy = (i / p.w) % p.h; let plane = i / (p.w * p.h);
  let yLo = max(i32(iy + p.ph) - i32(p.kh) + 1, 0);
  let xLo = max(i32(ix + p.pw) - i32(p.kw) + 1, 0);
  let oyLo = u32((yLo + i32(p.sh) - 1) / i32(p.sh));
  let oxLo = u32((xLo + i32(p.sw) - 1) / i32(p.sw));
  let oyHi = min((iy + p.ph) / p.sh + 1u, p.oh);
  let oxHi = min((ix + p.pw) / p.sw + 1u, p.ow);
  var acc = 0.0;
  for (var oy = oyLo; oy < oyHi; oy++) {
    for (var ox = oxLo; ox < oxHi; ox++) { acc += dy[p.yOff + (plane * p.oh + oy) * p.ow + ox]; }
  }
  dx[p.xOff + i] = acc / f32(p.kh * p.kw);
}`;

const ADAPTIVE_BINS = `
fn binStart(i: u32, inSize: u32, outSize: u32) -> u32 { return (i * inSize) / outSize; }
fn binEnd(i: u32, inSize: u32, outSize: u32) -> u32 { return ((i + 1u) * inSize + outSize - 1u) / outSize; }`;

/** x (nb,C,H,W) -> y (nb,C,OH,OW), the mean of each adaptive bin; p.n = outputs in the chunk. */
export const ADAPTIVE_AVGPOOL_FORWARD = `// adaptive avg-pool forward
${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${ADAPTIVE_BINS}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ox = i % p.ow; let oy = (i / p.ow) % p.oh; let plane = i / (p.ow * p.oh);
  let y0 = binStart(oy, p.h, p.oh); let y1 = binEnd(oy, p.h, p.oh);
  let x0 = binStart(ox, p.w, p.ow); let x1 = binEnd(ox, p.w, p.ow);
  var acc = 0.0;
  for (var iy = y0; iy < y1; iy++) {
    for (var ix = x0; ix < x1; ix++) { acc += x[p.xOff + (plane * p.h + iy) * p.w + ix]; }
  }
  y[p.yOff + i] = acc / f32((y1 - y0) * (x1 - x0));
}`;

/** dy (nb,C,OH,OW) -> dx (nb,C,H,W): each input gathers dy / (bin size) of the bins that contain it. */
export const ADAPTIVE_AVGPOOL_BACKWARD = `// adaptive avg-pool backward (gather)
${PARAMS}
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
${ADAPTIVE_BINS}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let ix = i % p.w; let iy = (i / p.w) % p.h; let plane = i / (p.w * p.h);
  let oyLo = (iy * p.oh) / p.h; let oyHi = min(((iy + 1u) * p.oh + p.h - 1u) / p.h, p.oh);
  let oxLo = (ix * p.ow) / p.w; let oxHi = min(((ix + 1u) * p.ow + p.w - 1u) / p.w, p.ow);
  var acc = 0.0;
  for (var oy = oyLo; oy < oyHi; oy++) {
    let y0 = binStart(oy, p.h, p.oh); let y1 = binEnd(oy, p.h, p.oh);
    if (iy < y0 || iy >= y1) { continue; }
    for (var ox = oxLo; ox < oxHi; ox++) {
      let x0 = binStart(ox, p.w, p.ow); let x1 = binEnd(ox, p.w, p.ow);
      if (ix < x0 || ix >= x1) { continue; }
      acc += dy[p.yOff + (plane * p.oh + oy) * p.ow + ox] / f32((y1 - y0) * (x1 - x0));
    }
  }
  dx[p.xOff + i] = acc;
}`;

// Max pooling (reference/layers.ts maxPool2dForward/maxPool2dBackward). The forward keeps, per output,
// where its maximum came from as an index into its (n, c) plane (iy·W + ix), so the index does not
// depend on how the batch was chunked. The backward is a gather (WGSL has no float atomics): each input
// element visits the outputs whose windows cover it, in the reference's order, and adds the gradients of
// those whose argmax it is. Ties keep the first maximum in scan order; NaN wins and stops the scan.
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

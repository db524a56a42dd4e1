// Concatenation and its inverse (reference concat/split): a tensor seen as (rows, cols) around the axis,
// with rows = product of the dims before it and cols = (its size) · (product of the dims after it). Each
// part is a (rows, partCols) block of the whole (rows, totalCols) at column colOff. One invocation per
// element of the part: concat scatters the part into the whole, split gathers it back.
import { LINEAR_ID, MAIN_SIGNATURE } from "./elementwise.js";

const PARAMS = `struct Params { n: u32, srcOff: u32, dstOff: u32, partCols: u32, totalCols: u32, colOff: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;`;

/** src is the part (rows, partCols), dst the whole (rows, totalCols). */
export const CONCAT_PART = `// concat: one part into the whole
${PARAMS}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let row = i / p.partCols; let col = i % p.partCols;
  dst[p.dstOff + row * p.totalCols + p.colOff + col] = src[p.srcOff + i];
}`;

/** src is the whole (rows, totalCols), dst the part (rows, partCols). */
export const SPLIT_PART = `// split: one part out of the whole
${PARAMS}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let row = i / p.partCols; let col = i % p.partCols;
  dst[p.dstOff + i] = src[p.srcOff + row * p.totalCols + p.colOff + col];
}`;

// Sums and maxima over any set of axes (reference/index.ts sum and max; conv and linear bias gradients).
// One workgroup per output element: its 256 invocations stride over the reduced elements and combine in
// shared memory, so the bias gradient of conv1 (96 outputs, 128·54·54 terms each) is not one serial loop
// per output. The maximum propagates NaN (the first NaN an invocation meets wins its combine), as the
// reference's; an empty reduction gives 0 for sum and -inf for max.
import { MAX_RANK } from "./elementwise.js";

export type ReduceOp = "sum" | "max";

// Initial value and combine of each reduction; -inf comes through a uniform (pad0 is 0) because WGSL
// rejects an infinite constant.
const INIT: Record<ReduceOp, string> = { sum: "0.0", max: "bitcast<f32>(p.pad0 | 0xff800000u)" };
const COMBINE: Record<ReduceOp, string> = {
  sum: "fn combine(a: f32, b: f32) -> f32 { return a + b; }",
  max: `fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn combine(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  return max(a, b);
}`,
};

/** Reduction over axes: a (viewed through keptShape/keptStr and redShape/redStr) -> out (nOut). */
export function reduceShader(op: ReduceOp): string {
  return `// ${op} over axes
struct Params { nOut: u32, nRed: u32, aOff: u32, outOff: u32, pad0: u32, pad1: u32, pad2: u32, pad3: u32,
  keptShape: array<vec4<u32>, 2>, keptStr: array<vec4<u32>, 2>, redShape: array<vec4<u32>, 2>, redStr: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> partial: array<f32, 256>;
${COMBINE[op]}
/** Input offset of flat index \`e\` over dims (shape, strides), both padded to ${MAX_RANK}. */
fn offsetOf(e: u32, red: bool) -> u32 {
  var rest = e;
  var off = 0u;
  for (var d = ${MAX_RANK - 1}i; d >= 0; d--) {
    var size = p.keptShape[d / 4][d % 4];
    var stride = p.keptStr[d / 4][d % 4];
    if (red) { size = p.redShape[d / 4][d % 4]; stride = p.redStr[d / 4][d % 4]; }
    off += (rest % size) * stride;
    rest = rest / size;
  }
  return off;
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = wg.x + wg.y * nwg.x;
  var s = ${INIT[op]};
  if (o < p.nOut) {
    let base = p.aOff + offsetOf(o, false);
    for (var r = li; r < p.nRed; r += 256u) { s = combine(s, a[base + offsetOf(r, true)]); }
  }
  partial[li] = s;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half >>= 1u) {
    if (li < half) { partial[li] = combine(partial[li], partial[li + half]); }
    workgroupBarrier();
  }
  if (li == 0u && o < p.nOut) { out[p.outOff + o] = partial[0]; }
}`;
}

export const SUM = reduceShader("sum");
export const MAX = reduceShader("max");

/** The kept and reduced dims of \`shape\` for reducing over \`axes\` (normalised), with their strides
 * in the input, each padded to MAX_RANK; kept dims come out in their original order. */
export function sumLayout(shape: readonly number[], axes: ReadonlySet<number>): {
  nOut: number; nRed: number; keptShape: number[]; keptStr: number[]; redShape: number[]; redStr: number[];
} {
  const strides: number[] = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  const pad = (v: number[], fill: number): number[] => [...new Array<number>(MAX_RANK - v.length).fill(fill), ...v];
  const kept = shape.map((_, i) => i).filter((i) => !axes.has(i));
  const red = shape.map((_, i) => i).filter((i) => axes.has(i));
  const prod = (ix: number[]): number => ix.reduce((acc, i) => acc * shape[i]!, 1);
  return {
    nOut: prod(kept),
    nRed: prod(red),
    keptShape: pad(kept.map((i) => shape[i]!), 1),
    keptStr: pad(kept.map((i) => strides[i]!), 0),
    redShape: pad(red.map((i) => shape[i]!), 1),
    redStr: pad(red.map((i) => strides[i]!), 0),
  };
}

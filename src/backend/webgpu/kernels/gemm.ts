// The tiled GEMM every conv and linear op runs on: C[m][n] = sum_k A(m,k) B(k,n), where A, B and the
// store of C are WGSL snippets (index maps), so convolutions are implicit GEMMs (no im2col buffer) and
// transposes cost nothing. Optional split-K writes per-split partial products that a second pass sums
// in a fixed order and sends through the real epilogue (bias, ReLU, NCHW scatter), so results are
// deterministic without float atomics. Implements the inner loops of reference/layers.ts conv2dForward,
// conv2dBackward, linearForward, linearBackward and reference/index.ts matmul.
import { type BufferView, type GpuContext, Params, grid1d } from "../device.js";
import { type BufferPool } from "../pool.js";

/** Every GEMM variant reads the same uniform struct; fields a variant does not need stay 0. */
const FIELDS = [
  "M", "N", "K", "kSplit", "zBase", "nb", "c", "h", "w", "o", "oh", "ow", "kh", "kw", "sh", "sw", "ph", "pw",
  "aOff", "bOff", "outOff",
] as const;
export type GemmField = (typeof FIELDS)[number];
export type GemmDims = Partial<Record<GemmField, number>> & { M: number; N: number; K: number };

const PARAMS_WGSL = `struct Params { ${FIELDS.map((f) => `${f}: u32`).join(", ")} }
@group(0) @binding(0) var<uniform> p: Params;`;

export interface GemmSpec {
  /** Unique among specs (part of the pipeline key via the generated code). */
  name: string;
  /** WGSL body of `fn loadA(m: u32, k: u32) -> f32`, called only with m < M and k < K. */
  loadA: string;
  /** WGSL body of `fn loadB(k: u32, n: u32) -> f32`, called only with k < K and n < N. */
  loadB: string;
  /** Which index of A (B) is contiguous in memory: neighbouring threads load neighbouring addresses. */
  aFast: "m" | "k";
  bFast: "n" | "k";
  /** WGSL body of `fn store(m: u32, n: u32, v: f32)`, the epilogue, called with m < M and n < N. */
  store: string;
  /** Declarations of the store's bindings, numbered from `first` (dst first, then e.g. bias). */
  outDecls: (first: number) => string;
}

// Tile shape: a 16x16 workgroup (256 invocations, the WebGPU default maximum) where each invocation keeps
// RM x RN accumulators, rows strided by 16 so that neighbouring invocations touch neighbouring shared-
// memory words (no bank conflicts) and neighbouring output addresses along m (coalesced stores: m is the
// pixel index of convs and the contiguous index of row-major outputs). The FMA : shared-load ratio is
// RM·RN : (RM + RN): 4x4 (64x64 tiles) gives 2, 8x4 (128x64) 2.7, 8x8 (128x128) 4, which is what a
// big GPU needs to approach its FMA peak; 8x8 needs 2 x 16 x 129 floats of shared memory (16.5 KB) and
// 64 accumulator registers. Big layers (AlexNet's conv2-5 and linear layers at batch 128) take 8x8,
// narrow ones 8x4 (conv1: N = 96), small ones 4x4 so that there are enough workgroups. TK = 16 keeps
// the K loop's two barriers per step rare relative to its RM·RN·16 FMAs.
export interface Tile {
  rm: number;
  rn: number;
}
const TK = 16;
const THREADS = 16;

/** Bytes of workgroup memory a tile needs (the two padded K-slices). */
export function tileSharedBytes(t: Tile): number {
  return 4 * TK * (THREADS * t.rm + 1 + THREADS * t.rn + 1);
}

export function gemmTile(M: number, N: number, opt?: Pick<GemmOptions, "tile" | "maxSharedBytes">): Tile {
  if (opt?.tile) return opt.tile;
  const fits = (t: Tile): boolean => tileSharedBytes(t) <= (opt?.maxSharedBytes ?? 16384);
  if (M >= 2048 && N >= 128 && fits({ rm: 8, rn: 8 })) return { rm: 8, rn: 8 };
  if (M >= 2048 && N >= 64 && fits({ rm: 8, rn: 4 })) return { rm: 8, rn: 4 };
  return { rm: 4, rn: 4 };
}

function loaders(spec: GemmSpec): string {
  return `fn loadA(m: u32, k: u32) -> f32 { ${spec.loadA} }
fn loadB(k: u32, n: u32) -> f32 { ${spec.loadB} }`;
}

/** The GEMM kernel; `partial` makes it write raw per-split products to `part` instead of the epilogue. */
export function gemmShader(spec: GemmSpec, tile: Tile, partial: boolean): string {
  const TM = THREADS * tile.rm;
  const TN = THREADS * tile.rn;
  const SA = TM + 1; // shared-memory row strides padded by one word against bank conflicts on transposed fills
  const SB = TN + 1;
  const aIdx = spec.aFast === "m" ? `let am = e % ${TM}u; let ak = e / ${TM}u;` : `let ak = e % ${TK}u; let am = e / ${TK}u;`;
  const bIdx = spec.bFast === "n" ? `let bn = e % ${TN}u; let bk = e / ${TN}u;` : `let bk = e % ${TK}u; let bn = e / ${TK}u;`;
  const fills: string[] = [];
  for (let r = 0; r < tile.rm; r++) {
    fills.push(`{ let e = li + ${256 * r}u; ${aIdx} let gm = m0 + am; let gk = k0 + ak;
      var v = 0.0; if (gm < p.M && gk < kEnd) { v = loadA(gm, gk); } As[ak * ${SA}u + am] = v; }`);
  }
  for (let r = 0; r < tile.rn; r++) {
    fills.push(`{ let e = li + ${256 * r}u; ${bIdx} let gn = n0 + bn; let gk = k0 + bk;
      var v = 0.0; if (gn < p.N && gk < kEnd) { v = loadB(gk, gn); } Bs[bk * ${SB}u + bn] = v; }`);
  }
  const inner: string[] = [];
  for (let i = 0; i < tile.rm; i++) inner.push(`let a${i} = As[kk * ${SA}u + lid.x + ${16 * i}u];`);
  for (let j = 0; j < tile.rn; j++) inner.push(`let b${j} = Bs[kk * ${SB}u + lid.y + ${16 * j}u];`);
  for (let i = 0; i < tile.rm; i++) {
    for (let j = 0; j < tile.rn; j++) inner.push(`acc[${i * tile.rn + j}] = fma(a${i}, b${j}, acc[${i * tile.rn + j}]);`);
  }
  const stores: string[] = [];
  for (let i = 0; i < tile.rm; i++) {
    for (let j = 0; j < tile.rn; j++) {
      const v = `acc[${i * tile.rn + j}]`;
      const body = partial ? `part[(p.zBase + wg.z) * p.M * p.N + n * p.M + m] = ${v};` : `store(m, n, ${v});`;
      stores.push(`{ let m = m0 + lid.x + ${16 * i}u; let n = n0 + lid.y + ${16 * j}u; if (m < p.M && n < p.N) { ${body} } }`);
    }
  }
  const outs = partial
    ? "@group(0) @binding(3) var<storage, read_write> part: array<f32>;"
    : `${spec.outDecls(3)}\nfn store(m: u32, n: u32, v: f32) { ${spec.store} }`;
  return `// gemm ${spec.name} ${tile.rm}x${tile.rn}${partial ? " partial" : ""}
${PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> srcA: array<f32>;
@group(0) @binding(2) var<storage, read> srcB: array<f32>;
${outs}
var<workgroup> As: array<f32, ${TK * SA}>;
var<workgroup> Bs: array<f32, ${TK * SB}>;
${loaders(spec)}
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wg.x * ${TM}u;
  let n0 = wg.y * ${TN}u;
  let kBegin = wg.z * p.kSplit;
  let kEnd = min(p.K, kBegin + p.kSplit);
  var acc: array<f32, ${tile.rm * tile.rn}>;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TK}u) {
    ${fills.join("\n    ")}
    workgroupBarrier();
    for (var kk = 0u; kk < ${TK}u; kk++) {
      ${inner.join("\n      ")}
    }
    workgroupBarrier();
  }
  ${stores.join("\n  ")}
}`;
}

/** Sums the split-K partials in split order and applies the epilogue; one invocation per output. */
export function reduceShader(spec: GemmSpec): string {
  return `// gemm ${spec.name} split-K reduction
${PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> part: array<f32>;
${spec.outDecls(2)}
fn store(m: u32, n: u32, v: f32) { ${spec.store} }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = (wg.x + wg.y * nwg.x) * 256u + li;
  let mn = p.M * p.N;
  if (e >= mn) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.zBase; z++) { s += part[z * mn + e]; }
  store(e % p.M, e / p.M, s);
}`;
}

function pack(d: GemmDims): ArrayBuffer {
  const params = new Params();
  for (const f of FIELDS) params.u32(d[f] ?? 0);
  return params.bytes();
}

/** How to cut K: enough workgroups to fill a big GPU (~2 per SM on 132 SMs) where the output tiles alone
 * are too few, each split still a long loop (>= minSplitK), and the partials within `maxPartialBytes`. */
export function planSplitK(M: number, N: number, K: number, tile: Tile, minSplitK: number, maxPartialBytes: number): { splits: number; kSplit: number } {
  const tiles = Math.ceil(M / (THREADS * tile.rm)) * Math.ceil(N / (THREADS * tile.rn));
  const byOccupancy = Math.ceil(256 / tiles);
  const byLength = Math.floor(K / minSplitK);
  const byMemory = Math.floor(maxPartialBytes / (4 * M * N));
  const want = Math.max(1, Math.min(byOccupancy, byLength, byMemory, 64));
  const kSplit = Math.ceil(Math.ceil(K / want) / TK) * TK;
  return { splits: Math.ceil(K / kSplit), kSplit };
}

export interface GemmOptions {
  minSplitK: number;
  maxPartialBytes: number;
  /** The device's maxComputeWorkgroupStorageSize. */
  maxSharedBytes: number;
  /** Forces one tile shape for every GEMM (tests run the big tiles on small shapes). */
  tile?: Tile;
}

/** The workgroup grid of one GEMM dispatch. */
function gemmGroups(d: GemmDims, tile: Tile, splits: number): [number, number, number] {
  return [Math.ceil(d.M / (THREADS * tile.rm)), Math.ceil(d.N / (THREADS * tile.rn)), splits];
}

/** Runs C = A B with the spec's epilogue, split along K where that fills the GPU better. `outs` are the
 * store's bindings (dst, then e.g. bias). */
export function runGemm(
  ctx: GpuContext, pool: BufferPool, spec: GemmSpec, d: GemmDims, a: BufferView, b: BufferView,
  outs: readonly BufferView[], opt: GemmOptions,
): void {
  const tile = gemmTile(d.M, d.N, opt);
  const { splits, kSplit } = planSplitK(d.M, d.N, d.K, tile, opt.minSplitK, opt.maxPartialBytes);
  if (splits === 1) {
    ctx.dispatch(gemmShader(spec, tile, false), pack({ ...d, kSplit: d.K }), [a, b, ...outs], gemmGroups(d, tile, 1));
    return;
  }
  const part = pool.acquire(4 * splits * d.M * d.N, `split-K partials of gemm ${spec.name}`);
  const pv: BufferView = { buffer: part.gpu, offset: 0, size: part.bytes, shift: 0 };
  ctx.dispatch(gemmShader(spec, tile, true), pack({ ...d, kSplit, zBase: 0 }), [a, b, pv], gemmGroups(d, tile, splits));
  gemmReduce(ctx, spec, d, splits, pv, outs);
  pool.release(part);
}

/** One GEMM whose K range is one chunk of a bigger sum (the batch chunks of conv backward-weights): its
 * splits land in partial slots zBase, zBase+1, ...; gemmReduce later sums all slots. Returns the slots. */
export function gemmPartial(
  ctx: GpuContext, spec: GemmSpec, d: GemmDims, a: BufferView, b: BufferView, part: BufferView, zBase: number, splits: number,
  opt: GemmOptions,
): void {
  const kSplit = Math.ceil(Math.ceil(d.K / splits) / TK) * TK;
  const tile = gemmTile(d.M, d.N, opt);
  ctx.dispatch(gemmShader(spec, tile, true), pack({ ...d, kSplit, zBase }), [a, b, part], gemmGroups(d, tile, Math.ceil(d.K / kSplit)));
}

/** The number of partial slots gemmPartial fills for `splits` requested splits of K. */
export function partialSlots(K: number, splits: number): number {
  return Math.ceil(K / (Math.ceil(Math.ceil(K / splits) / TK) * TK));
}

export function gemmReduce(ctx: GpuContext, spec: GemmSpec, d: GemmDims, slots: number, part: BufferView, outs: readonly BufferView[]): void {
  ctx.dispatch(reduceShader(spec), pack({ ...d, zBase: slots }), [part, ...outs], grid1d(Math.ceil((d.M * d.N) / 256)));
}

// The tiled GEMM every conv and linear op runs on: C[m][n] = sum_k A(m,k) B(k,n), where A, B and the
// store of C are WGSL snippets (index maps), so convolutions are implicit GEMMs (no im2col buffer) and
// transposes cost nothing. Optional split-K writes per-split partial products that a second pass sums
// in a fixed order and sends through the real epilogue (bias, ReLU, NCHW scatter), so results are
// deterministic without float atomics. Implements the inner loops of reference/layers.ts conv2dForward,
// conv2dBackward, linearForward, linearBackward and reference/index.ts matmul. Variants (tile, register
// prefetch, split-K) are what tuner.ts times per shape; every variant bakes the layer's shape into its
// code as constants, so index decodes divide by literals (multiply-shifts) rather than by uniforms.
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
  /** Optional split of loadA where aFast is "m": each invocation fills the same row m of the A tile at
   * every K step, so `row` (body of `fn rowA(m: u32) -> ARow`, struct fields `fields`) decodes m once,
   * before the K loop, and `load` (body of `fn loadAr(a: ARow, k: u32) -> f32`) finishes the gather. */
  aRow?: { fields: string; row: string; load: string };
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
  // the default variant's choice, kept as it was before the tuner (what --no-tune runs)
  const fits = (t: Tile): boolean => tileSharedBytes(t) <= (opt?.maxSharedBytes ?? 16384);
  if (M >= 2048 && N >= 128 && fits({ rm: 8, rn: 8 })) return { rm: 8, rn: 8 };
  if (M >= 2048 && N >= 64 && fits({ rm: 8, rn: 4 })) return { rm: 8, rn: 4 };
  return { rm: 4, rn: 4 };
}

/** One way to run a GEMM: the tile, whether the next K slice is prefetched into registers while the
 * current one is multiplied (global-load latency hidden behind FMAs, at RM + RN more registers), and
 * whether K may be split (planSplitK) when the output tiles alone are too few to fill the GPU. */
export interface GemmVariant {
  tile: Tile;
  prefetch: boolean;
  splitK: boolean;
}

/** Bumped whenever a variant's code or the set changes: tuned choices cached under another version are
 * ignored (they timed other kernels). */
export const VARIANT_SET_VERSION = 1;
export const TILES: readonly Tile[] = [{ rm: 4, rn: 4 }, { rm: 8, rn: 4 }, { rm: 8, rn: 8 }];

export function variantName(v: GemmVariant): string {
  return `${THREADS * v.tile.rm}x${THREADS * v.tile.rn}${v.prefetch ? "+prefetch" : ""}${v.splitK ? "+splitK" : ""}`;
}

/** Every variant of the set, whatever the device (tests run each one). */
export function allVariants(): GemmVariant[] {
  const out: GemmVariant[] = [];
  for (const tile of TILES) for (const prefetch of [false, true]) for (const splitK of [false, true]) out.push({ tile, prefetch, splitK });
  return out;
}

export function parseVariant(name: string): GemmVariant | null {
  return allVariants().find((v) => variantName(v) === name) ?? null;
}

/** What runs when nothing was tuned (and with --no-tune): gemmTile's tile, no prefetch, split-K planned. */
export function defaultVariant(d: GemmDims, opt: GemmOptions): GemmVariant {
  return { tile: gemmTile(d.M, d.N, opt), prefetch: false, splitK: true };
}

/** The variants worth timing for a shape on this device: tiles within its workgroup memory, split-K only
 * where planSplitK would split (else it is the same kernel as without). */
export function applicableVariants(d: GemmDims, opt: GemmOptions): GemmVariant[] {
  return allVariants().filter((v) => {
    if (tileSharedBytes(v.tile) > opt.maxSharedBytes) return false;
    return !v.splitK || planSplitK(d.M, d.N, d.K, v.tile, opt.minSplitK, opt.maxPartialBytes).splits > 1;
  });
}

/** Fields baked into a variant's code; the offsets and the split-K fields stay uniforms (they change
 * between the batch chunks and splits of one layer). */
const DYNAMIC = new Set<string>(["aOff", "bOff", "outOff", "zBase", "kSplit"]);

/** Replaces every `p.<field>` of the shape with its value as a WGSL literal. */
export function bakeShape(code: string, d: GemmDims): string {
  return code.replace(/\bp\.(\w+)\b/g, (whole, f: string) => (DYNAMIC.has(f) || !(FIELDS as readonly string[]).includes(f) ? whole : `${d[f as GemmField] ?? 0}u`));
}

function loaders(spec: GemmSpec): string {
  const row = spec.aRow
    ? `\nstruct ARow { ${spec.aRow.fields} }\nfn rowA(m: u32) -> ARow { ${spec.aRow.row} }\nfn loadAr(a: ARow, k: u32) -> f32 { ${spec.aRow.load} }`
    : "";
  return `fn loadA(m: u32, k: u32) -> f32 { ${spec.loadA} }
fn loadB(k: u32, n: u32) -> f32 { ${spec.loadB} }${row}`;
}

export interface ShaderOptions {
  /** Prefetch the next K slice into registers (GemmVariant.prefetch). */
  prefetch?: boolean;
  /** Bake this shape into the code (bakeShape); without it every shape field is a uniform. */
  dims?: GemmDims;
}

/** The GEMM kernel; `partial` makes it write raw per-split products to `part` instead of the epilogue. */
export function gemmShader(spec: GemmSpec, tile: Tile, partial: boolean, so: ShaderOptions = {}): string {
  const TM = THREADS * tile.rm;
  const TN = THREADS * tile.rn;
  const SA = TM + 1; // shared-memory row strides padded by one word against bank conflicts on transposed fills
  const SB = TN + 1;
  // Which element of each tile invocation li fills in its r-th slot; these do not change along K.
  const pre: string[] = [];
  for (let r = 0; r < tile.rm; r++) {
    const e = `(li + ${256 * r}u)`;
    pre.push(spec.aFast === "m" ? `let aM${r} = ${e} % ${TM}u; let aK${r} = ${e} / ${TM}u;` : `let aK${r} = ${e} % ${TK}u; let aM${r} = ${e} / ${TK}u;`);
  }
  for (let r = 0; r < tile.rn; r++) {
    const e = `(li + ${256 * r}u)`;
    pre.push(spec.bFast === "n" ? `let bN${r} = ${e} % ${TN}u; let bK${r} = ${e} / ${TN}u;` : `let bK${r} = ${e} % ${TK}u; let bN${r} = ${e} / ${TK}u;`);
  }
  // With m fast and 256 a multiple of TM, slot r's row is the same for every r and every K step: the
  // gather's per-pixel decode (image, output row and column) runs once per invocation, not per element.
  const hoist = spec.aRow !== undefined && spec.aFast === "m" && 256 % TM === 0;
  if (hoist) pre.push("let aRowInfo = rowA(min(m0 + aM0, p.M - 1u));");
  const loadA = (r: number, k0: string, to: string): string =>
    `{ let gm = m0 + aM${r}; let gk = ${k0} + aK${r}; var v = 0.0; if (gm < p.M && gk < kEnd) { v = ${hoist ? "loadAr(aRowInfo, gk)" : "loadA(gm, gk)"}; } ${to} = v; }`;
  const loadB = (r: number, k0: string, to: string): string =>
    `{ let gn = n0 + bN${r}; let gk = ${k0} + bK${r}; var v = 0.0; if (gn < p.N && gk < kEnd) { v = loadB(gk, gn); } ${to} = v; }`;
  const sharedA = (r: number): string => `As[aK${r} * ${SA}u + aM${r}]`;
  const sharedB = (r: number): string => `Bs[bK${r} * ${SB}u + bN${r}]`;
  const slots = (f: (r: number, side: "a" | "b") => string): string[] => [
    ...Array.from({ length: tile.rm }, (_, r) => f(r, "a")), ...Array.from({ length: tile.rn }, (_, r) => f(r, "b")),
  ];
  const fetch = (k0: string, to: (r: number, side: "a" | "b") => string): string =>
    slots((r, side) => (side === "a" ? loadA(r, k0, to(r, side)) : loadB(r, k0, to(r, side)))).join("\n    ");
  const reg = (r: number, side: "a" | "b"): string => `p${side}${r}`;
  const shared = (r: number, side: "a" | "b"): string => (side === "a" ? sharedA(r) : sharedB(r));
  const inner: string[] = [];
  for (let i = 0; i < tile.rm; i++) inner.push(`let a${i} = As[kk * ${SA}u + lid.x + ${16 * i}u];`);
  for (let j = 0; j < tile.rn; j++) inner.push(`let b${j} = Bs[kk * ${SB}u + lid.y + ${16 * j}u];`);
  for (let i = 0; i < tile.rm; i++) {
    for (let j = 0; j < tile.rn; j++) inner.push(`acc[${i * tile.rn + j}] = fma(a${i}, b${j}, acc[${i * tile.rn + j}]);`);
  }
  const multiply = `for (var kk = 0u; kk < ${TK}u; kk++) {
      ${inner.join("\n      ")}
    }`;
  // Prefetch: slice k0 + TK is loaded into registers after the barrier that publishes slice k0, so its
  // global loads are in flight while slice k0 is multiplied out of shared memory.
  const loop = so.prefetch
    ? `${slots((r, side) => `var ${reg(r, side)}: f32;`).join(" ")}
  ${fetch("kBegin", reg)}
  for (var k0 = kBegin; k0 < kEnd; k0 += ${TK}u) {
    ${slots((r, side) => `${shared(r, side)} = ${reg(r, side)};`).join("\n    ")}
    workgroupBarrier();
    ${fetch(`(k0 + ${TK}u)`, reg)}
    ${multiply}
    workgroupBarrier();
  }`
    : `for (var k0 = kBegin; k0 < kEnd; k0 += ${TK}u) {
    ${fetch("k0", shared)}
    workgroupBarrier();
    ${multiply}
    workgroupBarrier();
  }`;
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
  const code = `// gemm ${spec.name} ${tile.rm}x${tile.rn}${so.prefetch ? " prefetch" : ""}${partial ? " partial" : ""}
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
  ${pre.join("\n  ")}
  var acc: array<f32, ${tile.rm * tile.rn}>;
  ${loop}
  ${stores.join("\n  ")}
}`;
  return so.dims ? bakeShape(code, so.dims) : code;
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
  /** Forces one variant for every GEMM (tests check each one against the reference backend). */
  variant?: GemmVariant;
  /** The tuner: the variant to run for this GEMM (`fallback` is the default variant); `bytes` are the
   * sizes of the bindings A, B and the store's, so that the tuner can later time the shape on copies. */
  select?: (spec: GemmSpec, d: GemmDims, bytes: number[], fallback: GemmVariant) => GemmVariant;
}

/** The workgroup grid of one GEMM dispatch. */
function gemmGroups(d: GemmDims, tile: Tile, splits: number): [number, number, number] {
  return [Math.ceil(d.M / (THREADS * tile.rm)), Math.ceil(d.N / (THREADS * tile.rn)), splits];
}

/** The variant a GEMM runs: forced, else the tuner's, else the default. */
function chooseVariant(spec: GemmSpec, d: GemmDims, views: readonly BufferView[], opt: GemmOptions): GemmVariant {
  if (opt.variant) return opt.variant;
  const fallback = defaultVariant(d, opt);
  if (opt.tile || !opt.select) return fallback;
  return opt.select(spec, d, views.map((v) => v.size), fallback);
}

/** The split of K a variant runs with (one slice without split-K). */
function splitOf(d: GemmDims, v: GemmVariant, opt: GemmOptions): { splits: number; kSplit: number } {
  return v.splitK ? planSplitK(d.M, d.N, d.K, v.tile, opt.minSplitK, opt.maxPartialBytes) : { splits: 1, kSplit: Math.max(d.K, 1) };
}

/** The WGSL a variant compiles for this shape (the tuner compiles them ahead, catching failures). */
export function variantShaders(spec: GemmSpec, d: GemmDims, v: GemmVariant, opt: GemmOptions): string[] {
  const split = splitOf(d, v, opt).splits > 1;
  const main = gemmShader(spec, v.tile, split, { prefetch: v.prefetch, dims: d });
  return split ? [main, reduceShader(spec)] : [main];
}

/** Runs C = A B with the spec's epilogue in the chosen variant, split along K where that fills the GPU
 * better. `outs` are the store's bindings (dst, then e.g. bias). */
export function runGemm(
  ctx: GpuContext, pool: BufferPool, spec: GemmSpec, d: GemmDims, a: BufferView, b: BufferView,
  outs: readonly BufferView[], opt: GemmOptions,
): void {
  encodeGemm(ctx, pool, spec, d, a, b, outs, chooseVariant(spec, d, [a, b, ...outs], opt), opt);
}

/** Encodes one GEMM in the given variant. */
export function encodeGemm(
  ctx: GpuContext, pool: BufferPool, spec: GemmSpec, d: GemmDims, a: BufferView, b: BufferView,
  outs: readonly BufferView[], v: GemmVariant, opt: GemmOptions,
): void {
  const { splits, kSplit } = splitOf(d, v, opt);
  const so: ShaderOptions = { prefetch: v.prefetch, dims: d };
  if (splits === 1) {
    ctx.dispatch(gemmShader(spec, v.tile, false, so), pack({ ...d, kSplit }), [a, b, ...outs], gemmGroups(d, v.tile, 1));
    return;
  }
  const part = pool.acquire(4 * splits * d.M * d.N, `split-K partials of gemm ${spec.name}`);
  const pv: BufferView = { buffer: part.gpu, offset: 0, size: part.bytes, shift: 0 };
  ctx.dispatch(gemmShader(spec, v.tile, true, so), pack({ ...d, kSplit, zBase: 0 }), [a, b, pv], gemmGroups(d, v.tile, splits));
  gemmReduce(ctx, spec, d, splits, pv, outs);
  pool.release(part);
}

/** One GEMM whose K range is one chunk of a bigger sum (the batch chunks of conv backward-weights): its
 * splits land in partial slots zBase, zBase+1, ...; gemmReduce later sums all slots. The variant's tile
 * and prefetch apply (its split-K flag does not: this path always writes partials). */
export function gemmPartial(
  ctx: GpuContext, spec: GemmSpec, d: GemmDims, a: BufferView, b: BufferView, part: BufferView, zBase: number, splits: number,
  opt: GemmOptions,
): void {
  const kSplit = Math.ceil(Math.ceil(d.K / splits) / TK) * TK;
  const v = opt.variant ?? defaultVariant(d, opt);
  const code = gemmShader(spec, v.tile, true, { prefetch: v.prefetch, dims: d });
  ctx.dispatch(code, pack({ ...d, kSplit, zBase }), [a, b, part], gemmGroups(d, v.tile, Math.ceil(d.K / kSplit)));
}

/** The number of partial slots gemmPartial fills for `splits` requested splits of K. */
export function partialSlots(K: number, splits: number): number {
  return Math.ceil(K / (Math.ceil(Math.ceil(K / splits) / TK) * TK));
}

export function gemmReduce(ctx: GpuContext, spec: GemmSpec, d: GemmDims, slots: number, part: BufferView, outs: readonly BufferView[]): void {
  ctx.dispatch(reduceShader(spec), pack({ ...d, zBase: slots }), [part, ...outs], grid1d(Math.ceil((d.M * d.N) / 256)));
}

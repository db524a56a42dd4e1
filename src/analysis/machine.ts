// This machine's two roofline figures, measured through a backend and cached: memory bandwidth (a
// STREAM-style kernel over arrays far larger than the last-level cache) and peak FLOP/s (a large fp32 GEMM
// through the backend's linear op, the one Linear layers run: oneDNN's inner product on native). `alexnet
// bench --machine` measures and caches them; `alexnet analyze` reads the cache, or measures once (about a
// second) when nothing is cached for this backend, CPU and thread count. Node-only (files, os).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { cpus, homedir } from "node:os";
import { dirname, join } from "node:path";
import type { Backend, Storage } from "../backend/backend.js";

/** What the roofline needs, and how it was measured. */
export interface MachineFigures {
  /** Cache key: backend, processor (CPU model or GPU adapter), threads, precision. */
  key: string;
  backend: string;
  /** The backend's report line, e.g. "cpu (native, 2 threads)". */
  device: string;
  /** Best sustained memory bandwidth, bytes/s. */
  bandwidth: number;
  /** How: the kernel, array size and bytes counted per element. */
  bandwidthKernel: string;
  /** Best GEMM rate, FLOP/s (2 per multiply-add). */
  peakFlops: number;
  peakKernel: string;
  /** ISO time of the measurement. */
  measuredAt: string;
  /** Wall time the measurement took. */
  seconds: number;
}

export interface MeasureOptions {
  /** Bytes per array of the bandwidth kernel (default: CPU max(64 MiB, 4x the last-level cache); GPU 128 MiB,
   * WebGPU's default largest storage binding, so that one copy outlasts the cost of queueing it).
   * Tests pass small sizes. */
  arrayBytes?: number;
  /** Largest GEMM side tried (default 2048 on the native backend, 256 on the reference backend, 4096 on a GPU). */
  maxGemm?: number;
  /** A timed region is grown (repeating the kernel) to at least this many milliseconds (default 40). */
  targetMs?: number;
  /** Timed regions per figure; the best counts, as STREAM reports (default 5, fewer past the budget). */
  repeats?: number;
}

export interface CacheOptions {
  /** Environment to read XDG_CACHE_HOME and HOME from (default process.env). */
  env?: Record<string, string | undefined>;
}

const MiB = 2 ** 20;

/** $XDG_CACHE_HOME/alexnet-ts/machine.json, by default ~/.cache/alexnet-ts/machine.json (where the data
 * cache lives too). */
export function machineCachePath(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "alexnet-ts", "machine.json");
}

const threadsOf = (backend: Backend): number => (backend as { threads?: () => number }).threads?.() ?? 1;
const isGpu = (backend: Backend): boolean => backend.readSync === undefined;

/** The figures differ by backend (its kernels), processor (a GPU: its adapter), CPU thread count and
 * precision (bf16 GEMMs are faster). */
export function machineKey(backend: Backend): string {
  const precision = backend.precision?.() ?? "fp32";
  if (isGpu(backend)) return [backend.name, backend.describe(), precision].join(" | ");
  const n = threadsOf(backend);
  return [backend.name, cpus()[0]?.model.trim() || "unknown CPU", `${n} thread${n === 1 ? "" : "s"}`, precision].join(" | ");
}

interface CacheFile {
  version: 1;
  machines: Record<string, MachineFigures>;
}

function readCacheFile(path: string): CacheFile {
  try {
    const j = JSON.parse(readFileSync(path, "utf8")) as CacheFile;
    if (j.version === 1 && j.machines && typeof j.machines === "object") return j;
  } catch {
    // absent or unreadable: start afresh
  }
  return { version: 1, machines: {} };
}

/** The cached figures for this backend and machine, or null. */
export function readMachineCache(backend: Backend, options: CacheOptions = {}): MachineFigures | null {
  const f = readCacheFile(machineCachePath(options.env)).machines[machineKey(backend)];
  return f && f.bandwidth > 0 && f.peakFlops > 0 ? f : null;
}

/** Adds (or replaces) the figures in the cache file, atomically; returns its path. */
export function writeMachineCache(figures: MachineFigures, options: CacheOptions = {}): string {
  const path = machineCachePath(options.env);
  const file = readCacheFile(path);
  file.machines[figures.key] = figures;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}

/** The cached figures, or new ones measured now and cached. `source` says which; `cacheError` why the
 * new ones could not be written (they are used all the same). */
export async function machineFigures(backend: Backend, options: CacheOptions & MeasureOptions = {}):
  Promise<{ figures: MachineFigures; source: "cached" | "measured"; path: string; cacheError?: string }> {
  const path = machineCachePath(options.env);
  const cached = readMachineCache(backend, options);
  if (cached) return { figures: cached, source: "cached", path };
  const figures = await measureMachine(backend, options);
  try {
    writeMachineCache(figures, options);
    return { figures, source: "measured", path };
  } catch (e) {
    return { figures, source: "measured", path, cacheError: (e as Error).message };
  }
}

/** Measures both figures on `backend` now (no cache). */
export async function measureMachine(backend: Backend, options: MeasureOptions = {}): Promise<MachineFigures> {
  const start = performance.now();
  const gpu = isGpu(backend);
  const arrayBytes = options.arrayBytes ?? (gpu ? 128 * MiB : Math.max(64 * MiB, 4 * lastLevelCacheBytes()));
  const timing: Timing = { targetMs: options.targetMs ?? 40, repeats: options.repeats ?? 5, budgetMs: 1000 };
  const bw = gpu ? await gpuCopy(backend, arrayBytes, timing)
    : backend.name === "native" ? await backendAdd(backend, arrayBytes, timing)
      : await jsTriad(arrayBytes, timing);
  // JavaScript's GEMM (reference backend) peaks while its operands fit the caches, and is slow: 256.
  const peak = await gemm(backend, options.maxGemm ?? (gpu ? 4096 : backend.name === "native" ? 2048 : 256), timing);
  return {
    key: machineKey(backend),
    backend: backend.name,
    device: backend.describe(),
    bandwidth: bw.rate,
    bandwidthKernel: bw.kernel,
    peakFlops: peak.rate,
    peakKernel: peak.kernel,
    measuredAt: new Date().toISOString(),
    seconds: (performance.now() - start) / 1000,
  };
}

interface Timing {
  targetMs: number;
  repeats: number;
  /** Past this much time spent on one figure, no further repeats start (a slow backend's GEMM). */
  budgetMs: number;
}

/** Milliseconds of `fn`, fenced by sync() on an asynchronous backend. */
async function timed(backend: Backend | null, fn: () => void): Promise<number> {
  await backend?.sync?.();
  const t0 = performance.now();
  fn();
  await backend?.sync?.();
  return performance.now() - t0;
}

/** The best rate of `work` units per call: `op` repeated k times per timed region, k chosen so that a
 * region lasts about targetMs; the first call (page faults, kernel compilation) is not counted. */
async function bestRate(backend: Backend | null, op: () => void, work: number, t: Timing): Promise<number> {
  const once = await timed(backend, op);
  return repeatBest(backend, op, Math.max(await timed(backend, op), once / 4), work, t);
}

/** The best rate over timed regions of k calls of a warmed-up `op` that took `ms` once. */
async function repeatBest(backend: Backend | null, op: () => void, ms: number, work: number, t: Timing): Promise<number> {
  const started = performance.now();
  const k = Math.max(1, Math.ceil(t.targetMs / Math.max(ms, 1e-3)));
  let best = Infinity;
  for (let r = 0; r < t.repeats && (r < 2 || performance.now() - started < t.budgetMs); r++) {
    best = Math.min(best, await timed(backend, () => {
      for (let i = 0; i < k; i++) op();
    }) / k);
  }
  return work / (best / 1000);
}

/** The native backend's element-wise add (c = a + b on its OpenMP threads): STREAM's "add", 12 bytes per
 * element (two reads, one write; the write-allocate is not counted, as STREAM does not). */
async function backendAdd(backend: Backend, arrayBytes: number, t: Timing): Promise<{ rate: number; kernel: string }> {
  const n = Math.floor(arrayBytes / 4);
  const a = backend.fill([n], "float32", 1);
  const b = backend.fill([n], "float32", 2);
  try {
    const rate = await bestRate(backend, () => backend.dispose(backend.binary("add", a, b)), 12 * n, t);
    return { rate, kernel: `${backend.name} add c = a + b, 3 fp32 arrays of ${fmtBytes(4 * n)}, 12 bytes per element, ${threadsOf(backend)} threads` };
  } finally {
    backend.dispose(a);
    backend.dispose(b);
  }
}

/** STREAM's triad a[i] = b[i] + s*c[i] in JavaScript on one thread (the reference backend's kernels are
 * single-threaded JavaScript loops): 12 bytes per element. */
async function jsTriad(arrayBytes: number, t: Timing): Promise<{ rate: number; kernel: string }> {
  const n = Math.floor(arrayBytes / 4);
  const a = new Float32Array(n);
  const b = new Float32Array(n).fill(1);
  const c = new Float32Array(n).fill(2);
  const s = 0.5;
  const rate = await bestRate(null, () => triad(a, b, c, s), 12 * n, t);
  return { rate, kernel: `STREAM triad a = b + s*c in JavaScript, 3 fp32 arrays of ${fmtBytes(4 * n)}, 12 bytes per element, 1 thread` };
}

function triad(a: Float32Array, b: Float32Array, c: Float32Array, s: number): void {
  for (let i = 0; i < a.length; i++) a[i] = b[i]! + s * c[i]!;
}

/** A GPU buffer copied on the device: 2 x its bytes per copy (read and write). */
async function gpuCopy(backend: Backend, arrayBytes: number, t: Timing): Promise<{ rate: number; kernel: string }> {
  const n = Math.floor(arrayBytes / 4);
  const x = backend.fill([n], "float32", 1);
  try {
    const rate = await bestRate(backend, () => backend.dispose(backend.copy(x)), 8 * n, t);
    return { rate, kernel: `${backend.name} buffer copy of ${fmtBytes(4 * n)} on the device, 8 bytes per element` };
  } finally {
    backend.dispose(x);
  }
}

/** y = x w^T for square n x n operands through the backend's linear op, n doubled from 256 up to `maxN`
 * (sooner on a slow backend, which reaches its peak at small sizes anyway). */
async function gemm(backend: Backend, maxN: number, t: Timing): Promise<{ rate: number; kernel: string }> {
  let n = Math.min(256, maxN);
  let rate: number | null = null;
  while (rate === null) {
    const size = n;
    rate = await withOperands(backend, size, async (x, w) => {
      const op = (): void => backend.dispose(backend.linear(x, w, null));
      await timed(backend, op); // pays for creating the primitive (oneDNN) or compiling the shader (GPU)
      const ms = await timed(backend, op);
      // Doubling n costs 8x: stop where the next size would take over a second (a slow backend), so that
      // a fast one reaches maxN even when other work slows this call down.
      return ms * 8 > 1000 || size * 2 > maxN ? repeatBest(backend, op, ms, 2 * size ** 3, t) : null;
    });
    if (rate === null) n *= 2;
  }
  const precision = backend.precision?.() ?? "fp32";
  return { rate, kernel: `${backend.name} linear (GEMM) ${n}x${n}x${n}, ${precision}${backend.name === "native" ? " (oneDNN)" : ""}` };
}

async function withOperands<T>(backend: Backend, n: number, f: (x: Storage, w: Storage) => Promise<T>): Promise<T> {
  const x = backend.fill([n, n], "float32", 0.01);
  const w = backend.fill([n, n], "float32", 0.02);
  try {
    return await f(x, w);
  } finally {
    backend.dispose(x);
    backend.dispose(w);
  }
}

/** The largest cache's size from Linux's sysfs (0 when it does not say, as in some VMs). */
function lastLevelCacheBytes(): number {
  let best = 0;
  for (let i = 0; i < 5; i++) {
    try {
      const text = readFileSync(`/sys/devices/system/cpu/cpu0/cache/index${i}/size`, "utf8").trim();
      const m = /^(\d+)([KMG]?)/.exec(text);
      if (m) best = Math.max(best, Number(m[1]) * ({ "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2] as "" | "K" | "M" | "G"]));
    } catch {
      // no such level
    }
  }
  return best;
}

function fmtBytes(b: number): string {
  return b >= MiB ? `${(b / MiB).toFixed(0)} MiB` : `${(b / 1024).toFixed(0)} KiB`;
}

/** `alexnet bench --machine`: measures now, caches, and returns what to print (one JSON line with `json`). */
export async function benchMachine(backend: Backend, options: CacheOptions & { json?: boolean } = {}): Promise<string[]> {
  const f = await measureMachine(backend);
  let cached: string;
  try {
    cached = `cached in ${writeMachineCache(f, options)} for ${f.key}`;
  } catch (e) {
    cached = `not cached: ${(e as Error).message}`;
  }
  const balance = f.peakFlops / f.bandwidth;
  if (options.json) return [JSON.stringify({ ...f, balance, cache: machineCachePath(options.env) })];
  return [
    `Machine for the roofline on ${f.device} (${f.key}), measured in ${f.seconds.toFixed(1)} s:`,
    `memory bandwidth ${(f.bandwidth / 1e9).toFixed(1)} GB/s (${f.bandwidthKernel}; best of the timed runs, as STREAM reports)`,
    `peak compute ${(f.peakFlops / 1e9).toFixed(1)} GFLOP/s (${f.peakKernel})`,
    `balance point ${fmtBalance(balance)} FLOP/B: a layer doing fewer FLOPs per byte it moves is bandwidth-bound (alexnet analyze shows which)`,
    cached,
  ];
}

/** A balance point in FLOP/B: 0.23, 5.6, 12.3. */
export function fmtBalance(x: number): string {
  return x >= 1 ? x.toFixed(1) : x.toPrecision(2);
}

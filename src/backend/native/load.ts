// Loads the native CPU backend's addon: build/Release/alexnet_native.node when a source build made one
// (a checkout, or a platform without a prebuild), else the prebuilt prebuilds/<platform>-<arch>/ copy that
// ships in the npm package with oneDNN beside it (scripts/prepack-native.mjs). Node-only. When no addon
// loads, the result carries one line saying why and how to fix it, so callers can fall back to the
// reference backend and say so. Environment: ALEXNET_NATIVE_THREADS (thread count), ALEXNET_NATIVE_CONV_ALGO
// (auto|direct|winograd), ALEXNET_NATIVE_POOL_MB (bytes of freed buffers kept for reuse, default 2048),
// ALEXNET_NATIVE_GRAIN_US (estimated single-thread microseconds of work per thread an op needs before it
// runs on more than one, default 150; 0: every op on all threads; native/threads.h), ALEXNET_NATIVE_ADDON
// (an addon file to load instead of the build's, for benchmarks of two builds), and OpenMP's own
// OMP_WAIT_POLICY / GOMP_SPINCOUNT (see withOpenMpDefaults).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import type { Backend } from "../backend.js";
import { packageRoot } from "../../packageRoot.js";
import { type ConvAlgorithm, type NativeAddon, NativeBackend } from "./index.js";

const FIX = "apt-get install libdnnl-dev && npm rebuild";
const ADDON_FILE = "alexnet_native.node";

/** Where an addon may be, best first: a source build beats the prebuild, since it was made for this machine. */
export function addonCandidates(root: string): string[] {
  return [join(root, "build", "Release", ADDON_FILE), join(root, "prebuilds", `${process.platform}-${process.arch}`, ADDON_FILE)];
}

/** Why the build left no addon, from build/native-status.json when the build script wrote one. */
function buildFailure(root: string): string {
  try {
    const status = JSON.parse(readFileSync(join(root, "build", "native-status.json"), "utf8")) as {
      ok?: boolean; reason?: string; fix?: string;
    };
    if (status.ok === false && status.reason) return `${status.reason} (fix: ${status.fix ?? FIX})`;
  } catch {
    // no status file: the build never ran
  }
  return `addon not built (build/Release/${ADDON_FILE} missing, no prebuild for ${process.platform}-${process.arch}; fix: ${FIX})`;
}

/**
 * Runs `load` (which loads the addon, and with it libgomp) with OpenMP waiting passively unless the user chose
 * a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set). libgomp reads them once, when it loads; by default a
 * thread that waits (for the next parallel region, or at a barrier) spins 300,000 PAUSE iterations first,
 * ~7.5 ms on AMD Zen 5 (PAUSE ~25 ns there). Between the addon's ops the JavaScript thread works alone, so
 * with 2 threads on 2 cores the idle OpenMP thread spun through every step, taking the core the data
 * loader's worker or another process needed; and when the other core was busy, each parallel region waited
 * a whole spin for a thread that was not running. Passive waiting costs ~10 us per region here (futex
 * wake-up) instead, and ops too small to pay even that run on one thread (native/threads.h). The variables
 * are removed again once the addon has loaded, so processes we start inherit the user's environment.
 */
function withOpenMpDefaults<T>(load: () => T): T {
  if (process.env.OMP_WAIT_POLICY !== undefined || process.env.GOMP_SPINCOUNT !== undefined) return load();
  process.env.OMP_WAIT_POLICY = "PASSIVE";
  try {
    return load();
  } finally {
    delete process.env.OMP_WAIT_POLICY;
  }
}

let cached: { backend: Backend } | { error: string } | undefined;

/** The native backend (one instance per process: the addon's buffers and caches are process-wide), or
 * the reason it is unavailable. */
export function loadNativeBackend(): { backend: NativeBackend } | { error: string } {
  if (cached) return cached as { backend: NativeBackend } | { error: string };
  cached = load();
  return cached as { backend: NativeBackend } | { error: string };
}

function load(): { backend: NativeBackend } | { error: string } {
  let root: string;
  try {
    root = packageRoot();
  } catch (e) {
    return { error: `native backend unavailable: ${(e as Error).message}` };
  }
  // ALEXNET_NATIVE_ADDON: one addon file to load instead (benchmarks comparing two builds, bench/threads.ts).
  const override = process.env.ALEXNET_NATIVE_ADDON ? resolve(process.env.ALEXNET_NATIVE_ADDON) : undefined;
  if (override && !existsSync(override)) return { error: `native backend unavailable: ALEXNET_NATIVE_ADDON=${override} does not exist` };
  const files = override ? [override] : addonCandidates(root).filter((f) => existsSync(f));
  if (files.length === 0) return { error: `native backend unavailable: ${buildFailure(root)}` };
  let addon: NativeAddon | undefined;
  let loadError = "";
  for (const file of files) {
    try {
      addon = withOpenMpDefaults(() => createRequire(import.meta.url)(file) as NativeAddon);
      break;
    } catch (e) {
      // Keep the first reason: it is about the addon that should have loaded.
      loadError ||= `${file}: ${String((e as Error).message).split("\n")[0]}`;
    }
  }
  if (!addon) return { error: `native backend unavailable: the addon does not load: ${loadError} (fix: ${FIX})` };
  const backend = new NativeBackend(addon);
  try {
    const threads = process.env.ALEXNET_NATIVE_THREADS;
    if (threads) backend.setThreads(Number(threads));
    const algo = process.env.ALEXNET_NATIVE_CONV_ALGO;
    if (algo) backend.setConvAlgorithm(algo as ConvAlgorithm);
    const poolMb = process.env.ALEXNET_NATIVE_POOL_MB;
    if (poolMb) addon.SetPoolLimit(Number(poolMb) * 2 ** 20);
  } catch (e) {
    return { error: `native backend: bad environment setting: ${(e as Error).message}` };
  }
  return { backend };
}

/** The native backend's factory for createBackend: options.threads sets its OpenMP thread count. */
export async function createNativeBackend(options: { threads?: unknown } = {}): Promise<NativeBackend> {
  const native = loadNativeBackend();
  if ("error" in native) throw new Error(native.error);
  if (options.threads !== undefined) native.backend.setThreads(options.threads as number);
  return native.backend;
}

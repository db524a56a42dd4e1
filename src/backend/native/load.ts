// Loads the native CPU backend's addon (build/Release/alexnet_native.node, built by
// scripts/build-native.mjs during npm install). Node-only. When the addon is absent or does not load,
// the result carries one line saying why and how to fix it, so callers can fall back to the reference
// backend and say so. Environment: ALEXNET_NATIVE_THREADS (thread count), ALEXNET_NATIVE_CONV_ALGO
// (auto|direct|winograd), ALEXNET_NATIVE_POOL_MB (bytes of freed buffers kept for reuse, default 2048).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend } from "../backend.js";
import { type ConvAlgorithm, type NativeAddon, NativeBackend } from "./index.js";

const FIX = "apt-get install libdnnl-dev && npm rebuild";

/** The package root: the nearest directory above this file with our package.json (works from src/ and dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "alexnet-ts") return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the alexnet-ts package root");
    dir = up;
  }
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
  return `addon not built (build/Release/alexnet_native.node missing; fix: ${FIX})`;
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
  const file = join(root, "build", "Release", "alexnet_native.node");
  if (!existsSync(file)) return { error: `native backend unavailable: ${buildFailure(root)}` };
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    const first = String((e as Error).message).split("\n")[0];
    return { error: `native backend unavailable: the addon does not load: ${first} (fix: ${FIX})` };
  }
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

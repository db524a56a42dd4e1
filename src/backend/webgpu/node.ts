// Node-only: loads Dawn's `webgpu` package (an optional dependency) on first use, never at import of
// alexnet-ts, so machines without it or without a Vulkan driver lose nothing until a GPU is asked for.
// Its absence, or an adapter-less machine, comes back as one line saying why. Also the tuner's cache on
// Node: a JSON file in the user's cache directory (the page uses tuneCacheIdb.ts).
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { BackendFactory } from "../registry.js";
import { type WebGpuBackend, type WebGpuOptions, createWebGpuBackend, webGpuFactory } from "./index.js";
import type { TuneCache } from "./tuner.js";

/** Where tuned GEMM choices live: $XDG_CACHE_HOME/alexnet-ts/webgpu-tuning.json (~/.cache by default),
 * beside the data sets' cache (src/data/dataset.ts cacheDirOf). */
export function tuneCachePath(env: Record<string, string | undefined> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "alexnet-ts", "webgpu-tuning.json");
}

const CACHE_FORMAT = "alexnet-ts webgpu tuning";

/** The tuner's cache as a JSON file: { format, entries: { key: variant } }. A file that does not parse is
 * ignored with one warning and rewritten at the next save; saves merge with what another process wrote
 * meanwhile and replace the file atomically (write, then rename). */
export class FileTuneCache implements TuneCache {
  constructor(readonly where: string = tuneCachePath()) {}

  private async read(): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(this.where, "utf8");
    } catch {
      return {}; // no file yet
    }
    const j = JSON.parse(text) as { format?: unknown; entries?: unknown };
    if (j === null || typeof j !== "object" || j.format !== CACHE_FORMAT || typeof j.entries !== "object" || j.entries === null) {
      throw new Error(`not a ${CACHE_FORMAT} file`);
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(j.entries)) if (typeof v === "string") out[k] = v;
    return out;
  }

  async load(warn: (line: string) => void): Promise<Record<string, string>> {
    try {
      return await this.read();
    } catch (e) {
      warn(`alexnet: ignoring the corrupt GPU tuning cache ${this.where} (${(e as Error).message.split("\n")[0]}); it will be rewritten`);
      return {};
    }
  }

  async save(entries: Record<string, string>): Promise<void> {
    let merged: Record<string, string>;
    try {
      merged = { ...(await this.read()), ...entries };
    } catch {
      merged = { ...entries };
    }
    await mkdir(dirname(this.where), { recursive: true });
    const tmp = `${this.where}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ format: CACHE_FORMAT, entries: merged }, null, 1)}\n`);
    await rename(tmp, this.where);
  }
}

/** The path of the SwiftShader Vulkan driver Debian's chromium ships (a CPU emulation of a GPU). */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

let gpuPromise: Promise<GPU | { error: string }> | undefined;

/** The Vulkan driver manifests (ICD files) the loader would find on Linux, by its own search rules. */
export function vulkanDriverFiles(env: Record<string, string | undefined> = process.env): string[] {
  const listed = `${env.VK_ICD_FILENAMES ?? ""}:${env.VK_DRIVER_FILES ?? ""}`.split(":").filter((f) => f !== "");
  if (listed.length > 0) return listed.filter((f) => existsSync(f));
  const dataDirs = (env.XDG_DATA_DIRS ?? "/usr/local/share:/usr/share").split(":");
  const configDirs = (env.XDG_CONFIG_DIRS ?? "/etc/xdg").split(":");
  const dirs = [
    ...configDirs.map((d) => join(d, "vulkan/icd.d")), "/usr/local/etc/vulkan/icd.d", "/etc/vulkan/icd.d",
    join(env.XDG_DATA_HOME ?? join(homedir(), ".local/share"), "vulkan/icd.d"), ...dataDirs.map((d) => join(d, "vulkan/icd.d")),
  ];
  const found: string[] = [];
  for (const d of dirs) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith(".json")) found.push(join(d, f));
    } catch {
      // no such directory
    }
  }
  return found;
}

/** Dawn's GPU object (navigator.gpu's Node twin), or why there is none. On Linux without any Vulkan
 * driver file, Dawn is not even loaded: it would only print the Vulkan loader's warnings to stderr. */
export function nodeGpu(): Promise<GPU | { error: string }> {
  gpuPromise ??= (async () => {
    if (process.platform === "linux" && vulkanDriverFiles().length === 0) {
      return { error: "no Vulkan driver (no ICD file under /etc/vulkan/icd.d or /usr/share/vulkan/icd.d, nor in VK_ICD_FILENAMES; install the GPU's Vulkan driver, e.g. the NVIDIA driver or mesa-vulkan-drivers)" };
    }
    let mod: { create(options: string[]): GPU; globals: object };
    try {
      const name = "webgpu"; // through a variable: bundlers and tsc leave the optional package alone
      mod = (await import(name)) as typeof mod;
    } catch (e) {
      const msg = (e as Error).message.split("\n")[0];
      return { error: `the 'webgpu' package (Dawn for Node) is not installed or does not load: ${msg} (fix: npm install webgpu)` };
    }
    try {
      // GPUBufferUsage, GPUMapMode and friends are globals in browsers; Dawn hands them over here.
      for (const [k, v] of Object.entries(mod.globals)) {
        if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      }
      // Dawn rounds timestamps to 65.5 us by default (against timing attacks in browsers); the tuner and
      // analyze --profile time kernels of a few microseconds, so that rounding is turned off here.
      return mod.create(["disable-dawn-features=timestamp_quantization"]);
    } catch (e) {
      return { error: `Dawn could not start: ${(e as Error).message.split("\n")[0]} (is a Vulkan loader, libvulkan1, installed?)` };
    }
  })();
  return gpuPromise;
}

/** The registry factory for Node: createBackend("webgpu", options) opens Dawn's adapter. */
export function nodeWebGpuFactory(): BackendFactory {
  const factory = webGpuFactory(nodeGpu, { apiHint: nodeApiHint(), powerPreference: "high-performance", tuneCache: new FileTuneCache() });
  return async (options) => {
    try {
      return await factory(options);
    } catch (e) {
      throw new Error(`${(e as Error).message}${process.platform === "linux" && /adapter/.test((e as Error).message) ? NO_DRIVER : ""}`);
    }
  };
}

const NO_DRIVER = " (no Vulkan driver for a GPU: install the GPU's Vulkan ICD, e.g. the NVIDIA driver or mesa-vulkan-drivers)";

function nodeApiHint(): string {
  return process.platform === "darwin" ? "Metal" : process.platform === "win32" ? "D3D12" : "Vulkan";
}

/** The webgpu backend on this machine's adapter, or one line saying why not. Dawn reaches GPUs through
 * Vulkan on Linux; with no Vulkan driver for a GPU there is no adapter. */
export async function createNodeWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend | { error: string }> {
  const gpu = await nodeGpu();
  if ("error" in gpu) return gpu;
  const backend = await createWebGpuBackend(gpu, { apiHint: nodeApiHint(), powerPreference: "high-performance", tuneCache: new FileTuneCache(), ...opts });
  if ("error" in backend) return { error: `${backend.error}${process.platform === "linux" ? NO_DRIVER : ""}` };
  return backend;
}

/** The GPU part of a DeviceOffer (src/backend/device.ts): opens the adapter to look at it. The backend
 * comes back too, so `--device gpu`/`auto` need not open the device twice; a caller that does not use
 * it calls destroy(). */
export async function probeNodeGpu(opts: WebGpuOptions = {}): Promise<{
  offer: { description: string; software: boolean } | { error: string };
  backend: WebGpuBackend | null;
}> {
  const be = await createNodeWebGpuBackend(opts);
  if ("error" in be) return { offer: be, backend: null };
  return { offer: { description: be.ctx.adapter.description, software: be.isSoftware() }, backend: be };
}

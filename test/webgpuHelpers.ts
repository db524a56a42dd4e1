// Shared by the webgpu tests: one backend on Dawn's SwiftShader adapter (a CPU emulation of a GPU, so
// the tests run in CI without a GPU; shapes stay small), seeded random data, and comparison against the
// reference backend, the oracle.
import { existsSync } from "node:fs";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import type { Storage } from "../src/backend/backend.js";
import { SWIFTSHADER_ICD, createNodeWebGpuBackend } from "../src/backend/webgpu/node.js";
import type { WebGpuBackend, WebGpuOptions } from "../src/backend/webgpu/index.js";

// Dawn reads VK_ICD_FILENAMES when it enumerates adapters: point it at SwiftShader unless the caller chose.
if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

/** A webgpu backend on the software adapter; throws (never skips) when there is none. */
export async function openTestGpu(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  const be = await createNodeWebGpuBackend(opts);
  if ("error" in be) throw new Error(`webgpu tests need Dawn and SwiftShader (chromium, libvulkan1): ${be.error}`);
  return be;
}

export const ref = new ReferenceBackend();

/** Deterministic values in [-1, 1) (mulberry32). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Throws naming the first element off by more than atol + rtol·|want|. */
export function assertNear(got: ArrayLike<number>, want: ArrayLike<number>, what: string, rtol = 1e-4, atol = 1e-5): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, want ${want.length}`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w) - (atol + rtol * Math.abs(w));
    if (Number.isNaN(g) !== Number.isNaN(w) || err > worstErr) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0) throw new Error(`${what}: element ${worst} is ${got[worst]}, want ${want[worst]} (of ${got.length})`);
}

/** The same values on the webgpu backend and on the reference backend. */
export function pair(gpu: WebGpuBackend, data: Float32Array, shape: readonly number[]): { g: Storage; r: Storage } {
  return { g: gpu.fromArray(data, shape, "float32"), r: ref.fromArray(data, shape, "float32") };
}

export async function expectSame(gpu: WebGpuBackend, g: Storage, r: Storage, what: string, rtol?: number, atol?: number): Promise<void> {
  if (g.shape.join(",") !== r.shape.join(",")) throw new Error(`${what}: shape [${g.shape.join(", ")}], want [${r.shape.join(", ")}]`);
  assertNear(await gpu.read(g), ref.readSync(r), what, rtol, atol);
}

// The --device/--backend/--threads/--precision flags shared by every command that computes, and how they
// pick a backend. --device is d2l's try_gpu(): `auto` takes a hardware GPU adapter (webgpu) when there is
// one, else the CPU; a software adapter (SwiftShader, llvmpipe) is never chosen by auto, and `--device gpu`
// accepts it with a one-line warning (the rule is src/backend/device.ts). On the CPU, native when its
// addon loads, else the reference backend with a one-line note saying why and how to fix it. --backend
// names one backend outright (webgpu is --device gpu); `native` fails with its reason instead. --precision
// bf16 warns where bf16 is emulated (slower than fp32) and refuses, before any work, where the backend has
// no bf16 at all.
import type { Backend, Precision } from "../backend/backend.js";
import { DEVICE_REQUESTS, DeviceError, type DeviceOffer, type DeviceRequest, resolveDevice } from "../backend/device.js";
import { applyPrecision, PRECISIONS, PrecisionError } from "../backend/precision.js";
import { createBackend, registerBackend, registerBackendFactory } from "../backend/registry.js";
import { createNativeBackend } from "../backend/native/load.js";
import type { WebGpuBackend } from "../backend/webgpu/index.js";
import { nodeWebGpuFactory } from "../backend/webgpu/node.js";
import { setYield } from "../train/platform.js";
import { type FlagSpecs, type ParsedFlags, UsageError } from "./args.js";

export const BACKEND_FLAGS: FlagSpecs = {
  device: { type: "string", default: "auto", choices: DEVICE_REQUESTS, help: "auto (a hardware GPU when there is one, else the CPU), cpu or gpu" },
  backend: { type: "string", default: "auto", choices: ["auto", "native", "reference", "webgpu"], help: "where to compute (auto: by --device)" },
  threads: { type: "int", min: 1, help: "compute threads of the native backend (default: all cores)" },
  precision: { type: "string", default: "fp32", choices: PRECISIONS, help: "fp32, or bf16 mixed precision for conv and linear layers" },
  "no-tune": { type: "boolean", help: "GPU: run the default GEMM kernels, never time variants (default: tune each new shape once, cached per GPU)" },
};

registerBackendFactory("native", createNativeBackend);
// Dawn's `webgpu` package loads only when a GPU is probed (--device auto|gpu, --backend webgpu).
const webgpuFactory = nodeWebGpuFactory();
registerBackendFactory("webgpu", webgpuFactory);
// Node's macrotask without setTimeout's clamp, between training steps (see train/platform.ts).
setYield(() => new Promise((resolve) => setImmediate(resolve)));

export async function selectBackend(flags: ParsedFlags, warn: (msg: string) => void = (m) => console.error(m)): Promise<Backend> {
  const backend = await pickBackend(flags, warn);
  try {
    applyPrecision(backend, (flags.precision as Precision | undefined) ?? "fp32", warn);
  } catch (e) {
    if (e instanceof PrecisionError) throw new UsageError(e.message);
    throw e;
  }
  return backend;
}

async function pickBackend(flags: ParsedFlags, warn: (msg: string) => void): Promise<Backend> {
  const name = flags.backend as string;
  const device = (flags.device as DeviceRequest | undefined) ?? "auto";
  if ((name === "native" || name === "reference") && device === "gpu") {
    throw new UsageError(`--backend ${name} computes on the CPU; drop --device gpu or use --backend webgpu`);
  }
  if (name === "webgpu" || (name === "auto" && device !== "cpu")) {
    const request: DeviceRequest = name === "webgpu" ? "gpu" : device;
    // Probing opens the adapter; the backend it made is used when chosen, else destroyed.
    let gpu: WebGpuBackend | null = null;
    let offer: DeviceOffer["gpu"];
    try {
      // --no-tune: the default GEMM variant, never timed (src/backend/webgpu/tuner.ts)
      gpu = (await webgpuFactory(flags["no-tune"] === true ? { tune: "off" } : {})) as WebGpuBackend;
      offer = { description: gpu.ctx.adapter.description, software: gpu.isSoftware() };
    } catch (e) {
      offer = { error: (e as Error).message };
    }
    let choice;
    try {
      choice = resolveDevice(request, { gpu: offer, native: true });
    } catch (e) {
      if (e instanceof DeviceError) throw new UsageError(name === "webgpu" ? e.message.replace("--device gpu", "--backend webgpu") : e.message);
      throw e;
    }
    for (const w of choice.warnings) warn(w);
    if (choice.backend === "webgpu" && gpu) {
      registerBackend(gpu);
      return gpu;
    }
    gpu?.destroy();
  }
  if (name === "reference") {
    if (flags.threads !== undefined && flags.threads !== 1) warn("alexnet: --threads applies to the native backend; the reference backend uses 1");
    return createBackend("reference");
  }
  try {
    return await createBackend("native", { threads: flags.threads });
  } catch (e) {
    const reason = (e as Error).message;
    if (name === "native") throw new UsageError(`--backend native is unavailable: ${reason}`);
    warn(`alexnet: native backend unavailable, using the slow reference backend: ${reason}`);
    return createBackend("reference");
  }
}

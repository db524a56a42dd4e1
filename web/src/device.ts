// Which backend the page trains on, by the command line's `--device auto|cpu|gpu` rule (src/backend/device.ts):
// auto takes a hardware GPU adapter through the core's WebGPU backend (navigator.gpu) and never a CPU
// emulation (SwiftShader, llvmpipe, an adapter that says isFallbackAdapter); gpu takes whatever adapter there
// is, saying when it is an emulation; cpu is the reference backend (the page has no native one). One line
// says why when the choice is not the obvious one.
import {
  createBackend, DeviceError, getBackend, navigatorGpu, registerBackendFactory, resolveDevice, webGpuFactory,
  type Backend, type DeviceOffer, type DeviceRequest,
} from "../../src/core.js";
import { summarizeAdapter } from "../../src/backend/webgpu/device.js";
import { IdbTuneCache } from "../../src/backend/webgpu/tuneCacheIdb.js";

// The GEMM tuner's choices persist across visits in IndexedDB (on hardware adapters; none is tuned on a
// CPU emulation).
registerBackendFactory("webgpu", webGpuFactory(navigatorGpu, { tuneCache: new IdbTuneCache() }));

export type { DeviceRequest };

export interface Selected {
  backend: Backend;
  /** What was asked: auto (the default), gpu or cpu. */
  request: DeviceRequest;
  /** The report line's device: `gpu (webgpu, <adapter>)` or `cpu (reference, 1 thread)`. */
  device: string;
  /** One line when the choice needs a word (an emulation found and not used, or used; no GPU); else null. */
  note: string | null;
  /** The GPU adapter the browser offers, or why there is none: the page's device picker shows it. */
  gpu: DeviceOffer["gpu"];
}

interface GpuLike {
  requestAdapter(): Promise<GPUAdapter | null>;
}

/** navigator.gpu of the page or the worker (both have it where WebGPU exists). */
function webGpu(): GpuLike | undefined {
  return (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
}

/** What the browser offers as a GPU, in the terms of the command line's rule. */
async function gpuOffer(): Promise<DeviceOffer["gpu"]> {
  const gpu = webGpu();
  if (!gpu) return { error: "this browser has no WebGPU (navigator.gpu is missing)" };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { error: "WebGPU is present but gave no adapter" };
    const s = summarizeAdapter(adapter);
    const info = adapter.info as GPUAdapterInfo | undefined;
    const description = [info?.vendor, info?.architecture, info?.description].filter((t) => t).join(" ") || s.description;
    return { description, software: s.software };
  } catch (e) {
    return { error: `WebGPU gave no adapter (${(e as Error).message})` };
  }
}

const SLOW_CPU = "training runs on the CPU reference backend, slowly; BN-LeNet's quick run is offered (and AlexNet narrow)";

/** d2l's try_gpu() for the page, by the command line's rule. */
export async function selectBackend(request: DeviceRequest): Promise<Selected> {
  const gpu = await gpuOffer();
  const cpu = (note: string | null): Selected => {
    const backend = getBackend("reference");
    return { backend, request, device: backend.describe(), note, gpu };
  };
  let choice: ReturnType<typeof resolveDevice>;
  try {
    choice = resolveDevice(request, { gpu, native: { error: "a web page has no native backend" } });
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e;
    return cpu(`GPU asked for, but ${"error" in gpu ? gpu.error : "it failed"}: ${SLOW_CPU}.`);
  }
  if (choice.backend !== "webgpu") {
    if (request === "cpu") return cpu(`CPU, as asked: ${SLOW_CPU}.`);
    if ("error" in gpu) return cpu(`No GPU: ${gpu.error}; ${SLOW_CPU}.`);
    return cpu(`A CPU emulation of a GPU (${gpu.description}) was found and not used: ${SLOW_CPU}; pick GPU to use it anyway.`);
  }
  try {
    const backend = await createBackend("webgpu", {});
    const note = "error" in gpu || !gpu.software ? null
      : `The GPU adapter, ${gpu.description}, is a CPU emulation (as asked): expect training far slower than on a real GPU.`;
    return { backend, request, device: backend.describe(), note, gpu };
  } catch (e) {
    return cpu(`WebGPU failed (${(e as Error).message.split("\n")[0]}): ${SLOW_CPU}.`);
  }
}

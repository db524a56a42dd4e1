// Which backend the page trains on: the GPU through the core's WebGPU backend (navigator.gpu) when the
// browser has an adapter, else the CPU reference backend, with one line saying why.
import { createBackend, getBackend, navigatorGpu, registerBackendFactory, webGpuFactory, type Backend } from "../../src/core.js";

registerBackendFactory("webgpu", webGpuFactory(navigatorGpu));

export interface Selected {
  backend: Backend;
  /** The report line's device: `gpu (webgpu, <adapter>)` or `cpu (reference, 1 thread)`. */
  device: string;
  /** Why the CPU was chosen, one line; null on the GPU. */
  note: string | null;
}

interface GpuLike {
  requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
}

/** navigator.gpu of the page or the worker (both have it where WebGPU exists). */
function webGpu(): GpuLike | undefined {
  return (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
}

async function adapterName(gpu: GpuLike): Promise<string | null> {
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    const i = adapter.info ?? {};
    return [i.vendor, i.architecture, i.description].filter((s) => s).join(" ") || "unnamed adapter";
  } catch {
    return null;
  }
}

/** d2l's try_gpu() for the page. `preferReference` (URL ?backend=reference) forces the CPU, as the tests do
 * to compare with the command line's reference backend. */
export async function selectBackend(preferReference: boolean): Promise<Selected> {
  const cpu = (note: string): Selected => {
    const backend = getBackend("reference");
    return { backend, device: backend.describe(), note };
  };
  if (preferReference) return cpu("CPU reference backend, as asked (?backend=reference).");
  const gpu = webGpu();
  if (!gpu) return cpu("This browser has no WebGPU (navigator.gpu is missing): training runs on the CPU reference backend, slowly; the narrow network is offered.");
  const adapter = await adapterName(gpu);
  if (!adapter) return cpu("WebGPU is present but gave no adapter: training runs on the CPU reference backend, slowly; the narrow network is offered.");
  try {
    const backend = await createBackend("webgpu", {});
    return { backend, device: backend.describe(), note: null };
  } catch (e) {
    return cpu(`WebGPU failed (${(e as Error).message}) on ${adapter}: training runs on the CPU reference backend, slowly; the narrow network is offered.`);
  }
}

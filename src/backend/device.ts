// `--device auto|cpu|gpu` as a pure decision over what this machine offers, so the rule is testable
// without the hardware: `auto` is d2l's try_gpu() (a hardware GPU adapter when there is one, else the CPU:
// native, else reference); a software adapter (SwiftShader, llvmpipe) is never chosen by auto, and
// `gpu` accepts it with a one-line warning that it is a CPU emulation. Browser-safe.

export type DeviceRequest = "auto" | "cpu" | "gpu";
export const DEVICE_REQUESTS: readonly DeviceRequest[] = ["auto", "cpu", "gpu"];

/** What probing found: the GPU adapter (or why there is none) and whether the native CPU backend loads. */
export interface DeviceOffer {
  gpu: { description: string; software: boolean } | { error: string };
  native: true | { error: string };
}

export interface DeviceChoice {
  backend: "webgpu" | "native" | "reference";
  /** One-line notes for stderr (software GPU, missing native addon); empty when nothing is worth saying. */
  warnings: string[];
}

/** Thrown when the request cannot be met (`--device gpu` without an adapter); the message is one line. */
export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeviceError";
  }
}

function cpuChoice(offer: DeviceOffer, warnings: string[]): DeviceChoice {
  if (offer.native === true) return { backend: "native", warnings };
  warnings.push(`alexnet: native backend unavailable, using the slow reference backend: ${offer.native.error}`);
  return { backend: "reference", warnings };
}

export function resolveDevice(request: DeviceRequest, offer: DeviceOffer): DeviceChoice {
  switch (request) {
    case "cpu":
      return cpuChoice(offer, []);
    case "gpu": {
      if ("error" in offer.gpu) throw new DeviceError(`--device gpu: ${offer.gpu.error}`);
      const warnings = offer.gpu.software
        ? [`alexnet: warning: the only GPU adapter, ${offer.gpu.description}, is a CPU emulation: expect it to be far slower than --device cpu`]
        : [];
      return { backend: "webgpu", warnings };
    }
    case "auto":
      if (!("error" in offer.gpu) && !offer.gpu.software) return { backend: "webgpu", warnings: [] };
      return cpuChoice(offer, []);
    default:
      throw new DeviceError(`unknown device '${String(request)}' (use auto, cpu or gpu)`);
  }
}

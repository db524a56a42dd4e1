// The --backend/--threads/--precision flags shared by every command that computes, and how they pick a
// backend: `auto` is native when its addon loads, else the reference backend with a one-line note saying
// why and how to fix it; `native` fails with that reason instead. --precision bf16 warns where bf16 is
// emulated (slower than fp32) and refuses, before any work, where the backend has no bf16 at all.
import type { Backend, Precision } from "../backend/backend.js";
import { applyPrecision, PRECISIONS, PrecisionError } from "../backend/precision.js";
import { createBackend, registerBackendFactory } from "../backend/registry.js";
import { createNativeBackend } from "../backend/native/load.js";
import { setYield } from "../train/platform.js";
import { type FlagSpecs, type ParsedFlags, UsageError } from "./args.js";

export const BACKEND_FLAGS: FlagSpecs = {
  backend: { type: "string", default: "auto", choices: ["auto", "native", "reference"], help: "where to compute (auto: native when built)" },
  threads: { type: "int", min: 1, help: "compute threads of the native backend (default: all cores)" },
  precision: { type: "string", default: "fp32", choices: PRECISIONS, help: "fp32, or bf16 mixed precision for conv and linear layers" },
};

registerBackendFactory("native", createNativeBackend);
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

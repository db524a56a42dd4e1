// The --backend/--threads/--precision flags shared by every command that computes, and how they pick a
// backend: `auto` is native when its addon loads, else the reference backend with a one-line note saying
// why and how to fix it; `native` fails with that reason instead. --precision bf16 warns where bf16 is
// emulated (slower than fp32) and refuses, before any work, where the backend has no bf16 at all.
import type { Backend, Precision } from "../backend/backend.js";
import { applyPrecision, PRECISIONS, PrecisionError } from "../backend/precision.js";
import { getBackend, registerBackend } from "../backend/registry.js";
import { loadNativeBackend } from "../backend/native/load.js";
import { type FlagSpecs, type ParsedFlags, UsageError } from "./args.js";

export const BACKEND_FLAGS: FlagSpecs = {
  backend: { type: "string", default: "auto", choices: ["auto", "native", "reference"], help: "where to compute (auto: native when built)" },
  threads: { type: "int", min: 1, help: "compute threads of the native backend (default: all cores)" },
  precision: { type: "string", default: "fp32", choices: PRECISIONS, help: "fp32, or bf16 mixed precision for conv and linear layers" },
};

export function selectBackend(flags: ParsedFlags, warn: (msg: string) => void = (m) => console.error(m)): Backend {
  const backend = pickBackend(flags, warn);
  try {
    applyPrecision(backend, (flags.precision as Precision | undefined) ?? "fp32", warn);
  } catch (e) {
    if (e instanceof PrecisionError) throw new UsageError(e.message);
    throw e;
  }
  return backend;
}

function pickBackend(flags: ParsedFlags, warn: (msg: string) => void): Backend {
  const name = flags.backend as string;
  if (name === "reference") {
    if (flags.threads !== undefined && flags.threads !== 1) warn("alexnet: --threads applies to the native backend; the reference backend uses 1");
    return getBackend("reference");
  }
  const native = loadNativeBackend();
  if ("error" in native) {
    if (name === "native") throw new UsageError(`--backend native is unavailable: ${native.error}`);
    warn(`alexnet: native backend unavailable, using the slow reference backend: ${native.error}`);
    return getBackend("reference");
  }
  registerBackend(native.backend);
  if (flags.threads !== undefined) native.backend.setThreads(flags.threads as number);
  return native.backend;
}

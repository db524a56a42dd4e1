// The --backend/--threads flags shared by every command that computes, and how they pick a backend.
import type { Backend } from "../backend/backend.js";
import { getBackend, listBackends } from "../backend/registry.js";
import { type FlagSpecs, type ParsedFlags, UsageError } from "./args.js";

export const BACKEND_FLAGS: FlagSpecs = {
  backend: { type: "string", default: "auto", help: "reference|native|auto (native when built)" },
  threads: { type: "int", min: 1, help: "compute threads (default: all cores)" },
};

export function selectBackend(flags: ParsedFlags): Backend {
  const name = flags.backend as string;
  const available = listBackends();
  if (name === "auto") return getBackend(available.includes("native") ? "native" : "reference");
  if (!available.includes(name)) {
    throw new UsageError(`--backend ${name} is not available here (available: ${available.join(", ")})`);
  }
  const backend = getBackend(name);
  const threads = flags.threads as number | undefined;
  const settable = backend as Backend & { setThreads?: (n: number) => void };
  if (threads !== undefined) settable.setThreads?.(threads);
  return backend;
}

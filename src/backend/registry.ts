// Which backends exist and which one new tensors go to. Backends register themselves (the reference
// backend always; the native one from the Node entry point when its addon loads).
import type { Backend } from "./backend.js";
import { ReferenceBackend } from "./reference/index.js";

const backends = new Map<string, Backend>();
const reference = new ReferenceBackend();
backends.set(reference.name, reference);
let current: Backend = reference;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function listBackends(): string[] {
  return [...backends.keys()];
}

export function hasBackend(name: string): boolean {
  return backends.has(name);
}

/** The named backend, or the current default. */
export function getBackend(name?: string): Backend {
  if (name === undefined) return current;
  const b = backends.get(name);
  if (!b) throw new Error(`unknown backend '${name}' (available: ${listBackends().join(", ")})`);
  return b;
}

export function setBackend(nameOrBackend: string | Backend): Backend {
  current = typeof nameOrBackend === "string" ? getBackend(nameOrBackend) : nameOrBackend;
  if (!backends.has(current.name)) registerBackend(current);
  return current;
}

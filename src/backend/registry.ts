// Which backends exist and which one new tensors go to. Backends are made by asynchronous factories (a GPU
// adapter and device can only be requested asynchronously): the reference backend's is always here; the
// Node entry point and the CLI add the native one, and the WebGPU one where it can load. Created backends
// are registered by name, so tensors can name their backend.
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

/** Backend-specific settings (e.g. the native backend's `threads`); each factory reads what it knows. */
export type BackendOptions = Record<string, unknown>;
export type BackendFactory = (options: BackendOptions) => Promise<Backend>;

const factories = new Map<string, BackendFactory>([["reference", async () => reference]]);

export function registerBackendFactory(name: string, factory: BackendFactory): void {
  factories.set(name, factory);
}

export function listBackendFactories(): string[] {
  return [...factories.keys()];
}

/** Makes (or finds) the named backend and registers it; rejects with one line when it cannot be had here. */
export async function createBackend(name: string, options: BackendOptions = {}): Promise<Backend> {
  const factory = factories.get(name);
  if (!factory) throw new Error(`unknown backend '${name}' (available here: ${listBackendFactories().join(", ")})`);
  const backend = await factory(options);
  registerBackend(backend);
  return backend;
}

// Explicit memory ownership: tensors created inside `tidy(fn)` are disposed when fn returns, except the
// tensors it returns and those passed to `keep`. Native buffers are large and the garbage collector does
// not see their size, so a training step runs inside a scope instead of waiting for finalizers.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];

/** Called by every new tensor: the innermost scope (if any) owns it. */
export function track<T extends Disposable>(t: T): T {
  scopes[scopes.length - 1]?.add(t);
  return t;
}

/** Takes `t` out of every open scope so that it outlives them (parameters, optimizer state, results). */
export function keep<T extends Disposable>(t: T): T {
  for (const scope of scopes) scope.delete(t);
  return t;
}

/** Runs fn and disposes every tensor it created that is neither returned nor kept. Synchronous only: an
 * async fn would return before its tensors exist. Returned tensors may sit in arrays or plain objects. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  if (result instanceof Promise) {
    throw new Error("tidy() needs a synchronous function; dispose tensors of async code explicitly");
  }
  const survivors = new Set<Disposable>();
  collect(result, survivors, 0);
  for (const t of scope) {
    if (survivors.has(t)) scopes[scopes.length - 1]?.add(t);
    else t.dispose();
  }
  return result;
}

function collect(value: unknown, out: Set<Disposable>, depth: number): void {
  if (value === null || typeof value !== "object" || depth > 3) return;
  if ("dispose" in value && "isDisposed" in value) {
    out.add(value as Disposable);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const item of items) collect(item, out, depth + 1);
}

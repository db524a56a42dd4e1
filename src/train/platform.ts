// How the browser-safe training loop lets the host's event loop run between steps (signals, timers, a
// page's UI). The default is a macrotask through setTimeout, which every JavaScript host has; Node's CLI
// installs setImmediate (no 1 ms clamp), a page may install a MessageChannel yield.
export type Yield = () => Promise<void>;

let current: Yield = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Replaces how the loop yields; returns the previous one. */
export function setYield(fn: Yield): Yield {
  const previous = current;
  current = fn;
  return previous;
}

/** Lets signals, timers and worker messages run. Node drains a worker's message stream with its promise
 * continuations in one go: without a macrotask between steps, a Ctrl-C would wait for the epoch's end. */
export function yieldToEventLoop(): Promise<void> {
  return current();
}

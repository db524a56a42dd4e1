// Type stubs so that web/tsconfig.json can type-check the core for the browser without Node's types. They
// cover only what core files name in type positions or in code the page never runs: the DataLoader's worker
// (imported as a type by the trainer), the trainer's setImmediate (the worker defines it until issue 14),
// Node's error type, and zlib, which the bundle maps to src/web/zlib.ts. The bundle test checks that no
// Node built-in reaches the built files.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare function setImmediate(fn: () => void): void;

declare namespace NodeJS {
  interface ErrnoException extends Error {
    code?: string;
  }
}

declare module "node:worker_threads" {
  export class Worker {
    constructor(url: URL);
    on(event: string, listener: (...args: any[]) => void): this;
    postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void;
    ref(): void;
    unref(): void;
    terminate(): Promise<number>;
  }
  export const parentPort: { on(event: string, listener: (...args: any[]) => void): void; postMessage(message: unknown, transfer?: readonly ArrayBuffer[]): void } | null;
}

declare module "node:zlib" {
  export function inflateSync(data: Uint8Array, options?: { maxOutputLength?: number }): Uint8Array;
  export function deflateSync(data: Uint8Array, options?: { level?: number }): Uint8Array;
}

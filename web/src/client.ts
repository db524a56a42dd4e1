// The page's side of the worker protocol: each call is a promise answered by the worker's reply with the
// same id; events (training points, progress) go to one listener. A worker that fails to start or crashes
// rejects every open call with one line instead of leaving the page waiting.
import type { Envelope, Reply, Request, Results, WorkerEvent } from "./protocol.js";

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  onEvent: (e: WorkerEvent) => void = () => {};

  constructor(url: string) {
    this.worker = new Worker(url);
    this.worker.addEventListener("message", (e: MessageEvent<Reply | WorkerEvent>) => {
      const data = e.data;
      if (!("id" in data)) return this.onEvent(data);
      const p = this.pending.get(data.id);
      this.pending.delete(data.id);
      if (data.ok) p?.resolve(data.result);
      else p?.reject(new Error(data.error));
    });
    this.worker.addEventListener("error", (e) => {
      const error = new Error(`the worker failed: ${e.message || "it could not be started"}`);
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    });
  }

  call<T extends Request["type"]>(request: Extract<Request, { type: T }>, transfer: Transferable[] = []): Promise<Results[T]> {
    const id = this.nextId++;
    return new Promise<Results[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, ...request } as Envelope, transfer);
    });
  }
}

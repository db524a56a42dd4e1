// The data loader's worker thread: receives the dataset once (shared memory, no copy), then turns lists of
// example indices into finished float32 batches and sends them back (buffers transferred, not copied).
// Keeping this work off the main thread lets resizing overlap with the training step.
import { parentPort } from "node:worker_threads";
import { BatchAssembler, type Preprocess } from "./batch.js";

export interface InitMessage {
  type: "init";
  images: Uint8Array;
  labels: Uint8Array;
  rows: number;
  cols: number;
  outHeight: number;
  outWidth: number;
  preprocess: Preprocess;
}

export interface BatchRequest {
  type: "batch";
  id: number;
  epoch: number;
  indices: Int32Array;
}

export type WorkerReply =
  | { type: "batch"; id: number; images: Float32Array; labels: Int32Array; indices: Int32Array }
  | { type: "error"; id: number; message: string };

if (parentPort) {
  const port = parentPort;
  let data: InitMessage | null = null;
  let assembler: BatchAssembler | null = null;
  port.on("message", (msg: InitMessage | BatchRequest) => {
    if (msg.type === "init") {
      data = msg;
      assembler = new BatchAssembler(msg.rows, msg.cols, msg.outHeight, msg.outWidth, msg.preprocess);
      return;
    }
    try {
      if (!data || !assembler) throw new Error("loader worker: batch requested before init");
      const batch = assembler.assemble(data.images, data.labels, msg.indices, msg.epoch);
      const { images, labels, indices } = batch;
      const reply: WorkerReply = { type: "batch", id: msg.id, images, labels, indices };
      port.postMessage(reply, [batch.images.buffer, batch.labels.buffer, batch.indices.buffer] as ArrayBuffer[]);
    } catch (err) {
      const reply: WorkerReply = { type: "error", id: msg.id, message: (err as Error).message };
      port.postMessage(reply);
    }
  });
}

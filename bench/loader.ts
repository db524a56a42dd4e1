// Loader benchmark: how long preparing a batch of 128 Fashion-MNIST images resized to 224x224 takes, on
// the calling thread and in the worker thread, and how long a training loop waits for data when each step
// takes a given time (the worker should hide the preparation completely).
// Usage: node dist/bench/loader.js [--batches N] [--batch-size B] [--size S] [--step-ms MS]
import { performance } from "node:perf_hooks";
import { DataLoader, type ImageDataset } from "../src/data/loader.js";
import { findData, loadSplitFrom } from "../src/data/fashionMnist.js";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

const batches = flag("batches", 30);
const batchSize = flag("batch-size", 128);
const size = flag("size", 224);
const stepMs = flag("step-ms", 100);

function dataset(): { ds: ImageDataset; what: string } {
  const loc = findData();
  if (loc) return { ds: loadSplitFrom(loc, "train"), what: `Fashion-MNIST train from ${loc.dir}` };
  const count = 60000;
  const images = new Uint8Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = (i * 2654435761) >>> 24;
  return { ds: { images, labels: new Uint8Array(count), count, rows: 28, cols: 28 }, what: "synthetic 60000x28x28" };
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // stands in for a training step that keeps the main thread busy
  }
}

async function main(): Promise<void> {
  const { ds, what } = dataset();
  console.log(`data: ${what}; batch ${batchSize}, ${size}x${size}, ${batches} batches per measurement`);
  const opts = { batchSize, resize: size, seed: 1 };

  const inline = new DataLoader(ds, { ...opts, worker: false });
  inline.batchSync(0, 0); // warm up the JIT and the coefficient tables
  let t0 = performance.now();
  for (let b = 0; b < batches; b++) inline.batchSync(0, b % inline.numBatches);
  const inlineMs = (performance.now() - t0) / batches;
  const perSec = 1000 / inlineMs;
  console.log(
    `in-thread: ${inlineMs.toFixed(1)} ms/batch, ${perSec.toFixed(1)} batches/s, ${(perSec * batchSize).toFixed(0)} images/s`,
  );

  const threaded = new DataLoader(ds, { ...opts, worker: true, prefetch: 2 });
  try {
    // throughput: consume as fast as the worker produces
    let n = 0;
    for await (const b of threaded.iterate(0)) {
      if (n === 0) t0 = performance.now(); // excludes worker start-up and the first batch
      if (b.labels.length === 0) throw new Error("empty batch");
      if (++n > batches) break;
    }
    const workerMs = (performance.now() - t0) / batches;
    console.log(`worker:    ${workerMs.toFixed(1)} ms/batch, ${(1000 / workerMs).toFixed(1)} batches/s (main thread idle)`);

    // overlap: each "step" busies the main thread for stepMs; count the time spent waiting for data
    let waited = 0;
    n = 0;
    let tWait = performance.now();
    for await (const b of threaded.iterate(1)) {
      const now = performance.now();
      if (n > 0) waited += now - tWait; // the first batch pays the pipeline fill, as any epoch start does
      if (b.labels.length === 0) throw new Error("empty batch");
      busyWait(stepMs);
      tWait = performance.now();
      if (++n > batches) break;
    }
    const waitMs = (waited / batches).toFixed(2);
    console.log(`with a ${stepMs} ms step: waited ${waitMs} ms/batch for data (in-thread would add ${inlineMs.toFixed(1)} ms)`);
  } finally {
    await threaded.close();
  }
}

await main();

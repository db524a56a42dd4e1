// DataLoader: every example once per epoch, per-epoch orders from (seed, epoch), batch shapes at 28 and
// 224, the worker path giving the in-thread path's batches, resume, limit, and no hanging process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DataLoader, type Batch, type ImageDataset } from "../src/data/loader.js";
import { shuffledOrder, Xoshiro128 } from "../src/data/prng.js";
import { TO_TENSOR_LUT } from "../src/data/resize.js";

const N = 250;
/** Image i has pixel value i at its top-left corner and a gradient elsewhere; label i % 10. */
function dataset(): ImageDataset {
  const images = new Uint8Array(N * 784);
  for (let i = 0; i < N; i++) {
    for (let p = 0; p < 784; p++) images[i * 784 + p] = (p * 3 + i) & 0xff;
    images[i * 784] = i;
  }
  return { images, labels: Uint8Array.from({ length: N }, (_, i) => i % 10), count: N, rows: 28, cols: 28 };
}
const ds = dataset();

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

test("PRNG: pinned sequence and order (changing them changes every run's data order)", () => {
  const rng = new Xoshiro128(42, 0);
  const first = [rng.nextU32(), rng.nextU32(), rng.nextU32()];
  assert.deepEqual(first, PINNED_U32);
  assert.deepEqual(Array.from(shuffledOrder(10, 42, 0)), PINNED_ORDER);
  // below(n) stays in range, including awkward n
  for (const n of [1, 3, 1000, 2 ** 31 + 7]) for (let i = 0; i < 50; i++) assert.ok(rng.below(n) < n);
});

test("every example exactly once per epoch; last partial batch kept; pixels match indices", async () => {
  const loader = new DataLoader(ds, { batchSize: 32, seed: 7, worker: false });
  assert.equal(loader.numBatches, 8);
  const batches = await collect(loader);
  assert.deepEqual(batches.map((b) => b.labels.length), [32, 32, 32, 32, 32, 32, 32, 26]);
  const seen = new Int32Array(N);
  for (const b of batches) {
    assert.deepEqual(b.shape, [b.labels.length, 1, 28, 28]);
    assert.equal(b.images.length, b.labels.length * 784);
    b.indices.forEach((idx, k) => {
      seen[idx]!++;
      assert.equal(b.labels[k], idx % 10);
      assert.equal(b.images[k * 784], TO_TENSOR_LUT[idx]);
      assert.equal(b.images[k * 784 + 5], TO_TENSOR_LUT[(15 + idx) & 0xff]);
    });
  }
  assert.ok(seen.every((c) => c === 1));
  assert.equal(loader.epoch, 1);
});

test("orders: differ between epochs, repeat for the same seed, identity without shuffle", async () => {
  const a = new DataLoader(ds, { batchSize: 50, seed: 3, worker: false });
  const b = new DataLoader(ds, { batchSize: 50, seed: 3, worker: false });
  const e0 = Array.from(a.order(0));
  const e1 = Array.from(a.order(1));
  assert.notDeepEqual(e0, e1);
  assert.deepEqual(Array.from(b.order(1)), e1);
  assert.deepEqual([...e0].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i));
  assert.notDeepEqual(Array.from(new DataLoader(ds, { batchSize: 50, seed: 4 }).order(0)), e0);
  const first = (await collect(a)).flatMap((x) => Array.from(x.indices));
  const second = (await collect(a)).flatMap((x) => Array.from(x.indices));
  assert.deepEqual(first, e0);
  assert.deepEqual(second, e1);
  const plain = new DataLoader(ds, { batchSize: 100, shuffle: false, worker: false });
  assert.deepEqual((await collect(plain)).flatMap((x) => Array.from(x.indices)), Array.from({ length: N }, (_, i) => i));
});

test("resize to 224 in a worker: shapes right, same batches as the in-thread path", { timeout: 60_000 }, async () => {
  const opts = { batchSize: 16, seed: 11, resize: 224, limit: 40 };
  const threaded = new DataLoader(ds, { ...opts, worker: true, prefetch: 2 });
  const inline = new DataLoader(ds, { ...opts, worker: false });
  try {
    assert.equal(threaded.size, 40);
    for (let epoch = 0; epoch < 2; epoch++) {
      const w = await collect(threaded);
      const s = await collect(inline);
      assert.deepEqual(w.map((b) => b.shape), [[16, 1, 224, 224], [16, 1, 224, 224], [8, 1, 224, 224]]);
      assert.equal(w.length, s.length);
      for (let i = 0; i < w.length; i++) {
        assert.deepEqual(w[i]!.indices, s[i]!.indices);
        assert.deepEqual(w[i]!.labels, s[i]!.labels);
        assert.deepEqual(w[i]!.images, s[i]!.images);
        assert.ok(Array.from(w[i]!.indices).every((idx) => idx < 40), "limit keeps the first examples only");
      }
    }
  } finally {
    await threaded.close();
  }
});

test("resume at (epoch, batch) gives the uninterrupted run's batches; state round-trips", async () => {
  const loader = new DataLoader(ds, { batchSize: 32, seed: 5, worker: false });
  await collect(loader);
  const epoch1 = await collect(loader);
  const resumed = new DataLoader(ds, { batchSize: 32, seed: 5, worker: true, startEpoch: 1 });
  try {
    const tail = await collect(resumed.iterate(1, 3));
    assert.deepEqual(tail.map((b) => Array.from(b.indices)), epoch1.slice(3).map((b) => Array.from(b.indices)));
    const st = loader.state();
    assert.deepEqual(st, { seed: 5, shuffle: true, epoch: 2 });
    resumed.setState(st);
    assert.equal(resumed.epoch, 2);
    assert.throws(() => resumed.setState({ ...st, seed: 6 }));
  } finally {
    await resumed.close();
  }
});

test("dropLast, options validation, breaking out early", async () => {
  const loader = new DataLoader(ds, { batchSize: 32, dropLast: true, worker: true });
  assert.equal(loader.numBatches, 7);
  let n = 0;
  for await (const b of loader) {
    assert.equal(b.labels.length, 32);
    if (++n === 2) break; // the prefetched batches still in flight must not cause trouble
  }
  await loader.close();
  await loader.close();
  assert.throws(() => new DataLoader(ds, { batchSize: 0 }), RangeError);
  assert.throws(() => new DataLoader(ds, { batchSize: 4, limit: 0 }), RangeError);
});

test("a loader that is never closed does not keep the process alive", { timeout: 30_000 }, () => {
  const loaderUrl = new URL("../src/data/loader.js", import.meta.url).href;
  const script = `
    const { DataLoader } = await import(${JSON.stringify(loaderUrl)});
    const images = new Uint8Array(64 * 784), labels = new Uint8Array(64);
    const loader = new DataLoader({ images, labels, count: 64, rows: 28, cols: 28 }, { batchSize: 8, resize: 224 });
    for await (const b of loader) { if (b.indices.length) break; }
    console.log("done");`;
  const dir = mkdtempSync(join(tmpdir(), "alexnet-loader-"));
  const file = join(dir, "no-close.mjs");
  writeFileSync(file, script);
  const res = spawnSync(process.execPath, [file], { timeout: 20_000, encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(res.signal, null, "process had to be killed: it hung");
  assert.equal(res.status, 0, res.stderr);
  assert.equal(res.stdout.trim(), "done");
});

const PINNED_U32 = [3547363234, 273847689, 403704836];
const PINNED_ORDER = [8, 7, 3, 1, 2, 5, 6, 9, 0, 4];

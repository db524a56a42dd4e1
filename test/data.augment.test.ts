// Preprocessing and augmentation (issue 25): the random crop (zero padding) and horizontal flip are
// pixel-exact on a tiny image; the same seed gives the same batches on the worker thread and the calling
// thread; a loader resumed mid-epoch continues the same stream; another epoch draws anew; normalization is
// (x - mean) / std after ToTensor; train's flags refuse bad values with one line.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { augmentDraw, augmentImage, parseAugment } from "../src/data/augment.js";
import { DataLoader, type Batch, type ImageDataset } from "../src/data/loader.js";

/** 20 images of 4x4 whose pixels are 10 * image + position (distinct everywhere, below 256). */
function tinyDataset(count = 20, side = 4): ImageDataset {
  const images = new Uint8Array(count * side * side);
  for (let i = 0; i < count; i++) for (let p = 0; p < side * side; p++) images[i * side * side + p] = (i * 10 + p) % 256;
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % 10), count, rows: side, cols: side };
}

async function all(loader: DataLoader, epoch: number, startBatch = 0): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.iterate(epoch, startBatch)) out.push(b);
  return out;
}

describe("augmentation", () => {
  it("crop and flip are exact on a 3x3 image", () => {
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const out = new Uint8Array(9);
    // padding 1, crop corner (0, 0): the image moves one pixel down and right, zeros enter top and left
    augmentImage(src, 0, 3, 3, 1, { flip: false, top: 0, left: 0 }, out);
    assert.deepEqual([...out], [0, 0, 0, 0, 1, 2, 0, 4, 5]);
    // corner (2, 1): one pixel up, no horizontal shift
    augmentImage(src, 0, 3, 3, 1, { flip: false, top: 2, left: 1 }, out);
    assert.deepEqual([...out], [4, 5, 6, 7, 8, 9, 0, 0, 0]);
    // flip alone (corner at the padding: no shift)
    augmentImage(src, 0, 3, 3, 1, { flip: true, top: 1, left: 1 }, out);
    assert.deepEqual([...out], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
    // flip then shift, as torchvision's RandomCrop followed by RandomHorizontalFlip: crop (1, 2) is one
    // pixel left ([2, 3, 0] per row), flipped ([0, 3, 2])
    augmentImage(src, 0, 3, 3, 1, { flip: true, top: 1, left: 2 }, out);
    assert.deepEqual([...out], [0, 3, 2, 0, 6, 5, 0, 9, 8]);
  });

  it("draws are a function of (seed, epoch, index): both crop offsets in range, flips about half", () => {
    const options = { flip: true, crop: true, padding: 4, seed: 7 };
    const draws = Array.from({ length: 2000 }, (_, i) => augmentDraw(options, 3, i));
    assert.deepEqual(augmentDraw(options, 3, 11), draws[11]);
    assert.notDeepEqual(Array.from({ length: 50 }, (_, i) => augmentDraw(options, 4, i)), draws.slice(0, 50));
    assert.ok(draws.every((d) => d.top >= 0 && d.top <= 8 && d.left >= 0 && d.left <= 8));
    assert.equal(new Set(draws.map((d) => d.top)).size, 9);
    const flips = draws.filter((d) => d.flip).length;
    assert.ok(flips > 900 && flips < 1100, String(flips));
    assert.deepEqual(augmentDraw({ ...options, crop: false, flip: false }, 3, 5), { flip: false, top: 4, left: 4 });
  });

  it("the same seed gives the same batches in the worker and on the calling thread, and on resume mid-epoch", async () => {
    const data = tinyDataset();
    const opts = { batchSize: 6, seed: 5, augment: { flip: true, crop: true, padding: 2 } };
    const worker = new DataLoader(data, opts);
    const inThread = new DataLoader(data, { ...opts, worker: false });
    try {
      const a = await all(worker, 1);
      const b = await all(inThread, 1);
      assert.deepEqual(a.map((x) => [...x.images]), b.map((x) => [...x.images]));
      const resumed = await all(new DataLoader(data, opts), 1, 2);
      assert.deepEqual(resumed.map((x) => [...x.images]), a.slice(2).map((x) => [...x.images]));
      // each image is its source, cropped and flipped as augmentDraw says
      const first = a[0]!;
      const idx = first.indices[0]!;
      const draw = augmentDraw({ ...opts.augment, seed: 5 }, 1, idx);
      const expect = new Uint8Array(16);
      augmentImage(data.images, idx * 16, 4, 4, 2, draw, expect);
      assert.deepEqual([...first.images.subarray(0, 16)].map((v) => Math.round(v * 255)), [...expect]);
      // another epoch, other draws; without augmentation, the plain images
      const next = await all(inThread, 2);
      assert.notDeepEqual(next.map((x) => [...x.images]), a.map((x) => [...x.images]));
      const plain = await all(new DataLoader(data, { batchSize: 6, seed: 5, worker: false }), 1);
      assert.deepEqual(plain.map((x) => [...x.indices]), a.map((x) => [...x.indices]));
    } finally {
      await worker.close();
    }
  });

  it("normalize is (x - mean) / std after ToTensor, also with a resize", async () => {
    const data = tinyDataset();
    for (const resize of [undefined, 8]) {
      const plain = (await all(new DataLoader(data, { batchSize: 20, shuffle: false, worker: false, resize }), 0))[0]!;
      const norm = (await all(new DataLoader(data, { batchSize: 20, shuffle: false, resize, normalize: { mean: 0.25, std: 0.5 } }), 0))[0]!;
      for (let i = 0; i < plain.images.length; i += 7) assert.ok(Math.abs(norm.images[i]! - (plain.images[i]! - 0.25) / 0.5) < 1e-6);
    }
  });

  it("--augment takes flip, crop or both", () => {
    assert.deepEqual(parseAugment("crop,flip"), { flip: true, crop: true });
    assert.deepEqual(parseAugment("flip"), { flip: true, crop: false });
    assert.throws(() => parseAugment("rotate"), /--augment takes flip, crop or flip,crop \(got 'rotate'\)/);
  });
});

describe("train's preprocessing flags", () => {
  const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
  const work = mkdtempSync(join(tmpdir(), "alexnet-augment-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const train = (...args: string[]) => spawnSync(process.execPath, [CLI, "train", "--train-limit", "256", "--test-limit", "128", "--epochs", "1", "--plain", ...args],
    { encoding: "utf8", cwd: work, timeout: 300_000 });

  it("bad values are one line and exit 2; a model without dropout refuses --dropout", () => {
    for (const [args, message] of [
      [["--augment", "spin"], "--augment takes flip, crop or flip,crop (got 'spin')"],
      [["--normalize-stats", "0.5"], "--normalize-stats takes MEAN,STD with STD > 0 (got '0.5')"],
      [["--model", "lenet", "--dropout", "0.3"], "--dropout: LeNet has no Dropout layer"],
      [["--dropout", "1"], "--dropout must be below 1 (got 1)"],
    ] as const) {
      const r = train(...args, "--run-dir", join(work, "bad"));
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.split("\n")[0], `alexnet train: ${message} (see alexnet train --help)`);
    }
  });

  it("a run records its preprocessing, says it, and its checkpoint records the normalization", () => {
    const dir = join(work, "run");
    const r = train("--variant", "28", "--width-scale", "0.125", "--batch-size", "64", "--augment", "flip,crop", "--normalize", "--dropout", "0.2", "--run-dir", dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /augment crop \(padding 4\) \+ flip, normalize \(0\.286, 0\.353\), dropout 0\.2, on /);
    const settings = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")).settings;
    assert.deepEqual([settings.augment, settings.normalize, settings.dropout], [{ flip: true, crop: true, padding: 4 }, { mean: 0.286, std: 0.353 }, 0.2]);
    const header = readFileSync(join(dir, "model.safetensors"));
    const meta = JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString()).__metadata__;
    assert.deepEqual(JSON.parse(meta["alexnet-ts.model"]).normalize, { mean: 0.286, std: 0.353 });
  });
});

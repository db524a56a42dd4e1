// IDX reader: valid files (raw and gzip) load; every kind of broken file gives a DataError that names the
// file and the problem.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DataError, encodeIdx, parseIdx } from "../src/data/idx.js";
import { readIdxImages, readIdxLabels, readIdxPair } from "../src/data/idxFile.js";

const dir = mkdtempSync(join(tmpdir(), "alexnet-idx-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const N = 5;
const pixels = Uint8Array.from({ length: N * 4 * 3 }, (_, i) => (i * 7) % 256);
const labels = Uint8Array.of(0, 9, 3, 3, 1);
const imagesIdx = encodeIdx([N, 4, 3], pixels);
const labelsIdx = encodeIdx([N], labels);

function expectError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DataError, `expected DataError, got ${String(err)}`);
    assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test("reads raw and gzip IDX images and labels", () => {
  for (const gz of [false, true]) {
    const enc = (b: Uint8Array) => (gz ? gzipSync(b) : b);
    const img = readIdxImages(write(`ok-images${gz ? ".gz" : ""}`, enc(imagesIdx)));
    assert.deepEqual([img.count, img.rows, img.cols], [N, 4, 3]);
    assert.deepEqual(Array.from(img.images), Array.from(pixels));
    const lab = readIdxLabels(write(`ok-labels${gz ? ".gz" : ""}`, enc(labelsIdx)));
    assert.deepEqual(Array.from(lab), Array.from(labels));
  }
});

test("pair of matching files", () => {
  const pair = readIdxPair(write("p-img", imagesIdx), write("p-lab", labelsIdx));
  assert.equal(pair.count, N);
  assert.equal(pair.labels.length, N);
});

test("truncated file", () => {
  const f = write("trunc-images", imagesIdx.subarray(0, imagesIdx.length - 5));
  expectError(() => readIdxImages(f), f, /truncated: \d+ bytes, but the header \(dims 5x4x3\) needs 76/);
  const g = write("trunc-images.gz", gzipSync(imagesIdx.subarray(0, 10)));
  expectError(() => readIdxImages(g), g, /truncated/);
  const tiny = write("tiny", Uint8Array.of(0, 0));
  expectError(() => readIdxLabels(tiny), tiny, /too short for an IDX header/);
});

test("bad magic number", () => {
  const bytes = imagesIdx.slice();
  bytes[0] = 0x50;
  const f = write("magic-images", bytes);
  expectError(() => readIdxImages(f), f, /bad magic number 0x50000803/);
  const swapped = write("swapped", labelsIdx);
  expectError(() => readIdxImages(swapped), swapped, /expected 0x00000803 for images \(this is a label file\)/);
  const swapped2 = write("swapped2", imagesIdx);
  expectError(() => readIdxLabels(swapped2), swapped2, /expected 0x00000801 for labels \(this is an image file\)/);
});

test("counts in the header that do not match the data", () => {
  const more = encodeIdx([N + 1, 4, 3], pixels); // header promises one more image than present
  const f = write("count-high", more);
  expectError(() => readIdxImages(f), f, /truncated/);
  const fewer = encodeIdx([N - 1, 4, 3], pixels);
  const g = write("count-low", fewer);
  expectError(() => readIdxImages(g), g, /12 unexpected trailing bytes/);
  // a header claiming billions of images must fail on length, before anything is allocated
  const huge = encodeIdx([0xffffffff, 0xffffffff, 0xffffffff], pixels);
  const h = write("count-huge", huge);
  expectError(() => readIdxImages(h), h, /truncated/);
});

test("bad gzip data", () => {
  const gz = gzipSync(imagesIdx);
  const corrupt = gz.slice();
  for (let i = 12; i < corrupt.length - 8; i++) corrupt[i] ^= 0x5a;
  const f = write("corrupt.gz", corrupt);
  expectError(() => readIdxImages(f), f, /corrupt gzip data/);
  const cut = write("cut.gz", gz.subarray(0, gz.length - 12));
  expectError(() => readIdxImages(cut), cut, /corrupt gzip data/);
  const junk = write("junk.gz", Uint8Array.of(0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  expectError(() => readIdxImages(junk), junk, /corrupt gzip data/);
});

test("size bounds: big files and gzip bombs are refused", () => {
  const bomb = write("bomb.gz", gzipSync(new Uint8Array(1 << 20)));
  expectError(() => readIdxImages(bomb, { maxBytes: 1 << 16 }), bomb, /decompresses to more than 65536 bytes/);
  const big = write("big", new Uint8Array(1 << 17));
  expectError(() => readIdxImages(big, { maxBytes: 1 << 16 }), big, /more than the 65536 allowed/);
});

test("mismatched image and label counts", () => {
  const img = write("mm-images", imagesIdx);
  const lab = write("mm-labels", encodeIdx([N - 1], labels.subarray(0, N - 1)));
  expectError(() => readIdxPair(img, lab), lab, /has 4 labels but .*mm-images has 5 images/);
});

test("labels out of range", () => {
  const f = write("bad-labels", encodeIdx([3], Uint8Array.of(1, 2, 12)));
  expectError(() => readIdxLabels(f), f, /label 12 at index 2 is out of range 0\.\.9/);
});

test("unsupported element type, missing file, empty file", () => {
  const bytes = imagesIdx.slice();
  bytes[2] = 0x0d;
  const f = write("float-images", bytes);
  expectError(() => readIdxImages(f), f, /bad magic number/);
  const generic = encodeIdx([2], Uint8Array.of(1, 2));
  generic[2] = 0x0d;
  expectError(() => parseIdx(generic, "float.idx"), "float.idx", /element type 0xd \(float32\) unsupported/);
  const missing = join(dir, "nope");
  expectError(() => readIdxImages(missing), missing, /cannot read/);
  const empty = write("empty-images", encodeIdx([0, 28, 28], new Uint8Array(0)));
  expectError(() => readIdxImages(empty), empty, /contains no images/);
});

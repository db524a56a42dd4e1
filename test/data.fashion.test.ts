// Fashion-MNIST files: the search order, checksum verification, the no-data message, and (when Debian's
// dataset-fashion-mnist is installed) the real files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { DataError, encodeIdx } from "../src/data/idx.js";
import {
  ALL_FILES,
  DEBIAN_DIR,
  FASHION_FILES,
  TEXT_LABELS,
  dataCandidates,
  findData,
  loadFashionMnist,
  missingDataHelp,
  textLabels,
} from "../src/data/fashionMnist.js";

const root = mkdtempSync(join(tmpdir(), "alexnet-fm-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** Writes four small, valid IDX files (3 train and 2 test images of 2x2) under Fashion-MNIST's names. */
function fakeDataset(dir: string, gz = true, firstLabel = 0): string {
  mkdirSync(dir, { recursive: true });
  const files: [string, Uint8Array][] = [
    [FASHION_FILES.train.images.name, encodeIdx([3, 2, 2], new Uint8Array(12).fill(7))],
    [FASHION_FILES.train.labels.name, encodeIdx([3], Uint8Array.of(firstLabel, 1, 2))],
    [FASHION_FILES.test.images.name, encodeIdx([2, 2, 2], new Uint8Array(8).fill(9))],
    [FASHION_FILES.test.labels.name, encodeIdx([2], Uint8Array.of(9, 8))],
  ];
  for (const [name, bytes] of files) {
    writeFileSync(join(dir, gz ? name : name.replace(/\.gz$/, "")), gz ? gzipSync(bytes) : bytes);
  }
  return dir;
}

const noDebian = join(root, "no-debian");
const envHome = (home: string) => ({ HOME: home });

test("d2l's text labels", () => {
  const d2l = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"];
  assert.deepEqual(TEXT_LABELS, d2l);
  assert.deepEqual(textLabels([9, 0]), ["ankle boot", "t-shirt"]);
});

test("search order: --data-dir, ALEXNET_DATA, cache, Debian", () => {
  const flagDir = fakeDataset(join(root, "order/flag"), true, 1);
  const envDir = fakeDataset(join(root, "order/env"), false, 2);
  const home = join(root, "order/home");
  const cache = fakeDataset(join(home, ".cache/alexnet-ts/fashion-mnist"), true, 3);
  const debian = fakeDataset(join(root, "order/debian"), true, 4);
  const env = { HOME: home, ALEXNET_DATA: envDir };
  assert.equal(findData({ dataDir: flagDir, env, debianDir: debian })!.dir, flagDir);
  assert.equal(findData({ env, debianDir: debian })!.origin, "ALEXNET_DATA");
  assert.equal(findData({ env: { HOME: home }, debianDir: debian })!.dir, cache);
  assert.equal(findData({ env: { HOME: join(root, "order/nohome") }, debianDir: debian })!.origin, "debian");
  // an incomplete --data-dir is not passed over: a named directory is the only place used
  const partial = join(root, "order/partial");
  mkdirSync(partial, { recursive: true });
  writeFileSync(join(partial, ALL_FILES[0]!.name), "x");
  const cands = dataCandidates({ dataDir: partial, env, debianDir: debian });
  assert.deepEqual(cands.map((c) => [c.origin, c.paths.size, c.complete]), [["--data-dir", 1, false]]);
  assert.equal(findData({ dataDir: partial, env, debianDir: debian }), null);
  // without it, an incomplete directory is passed over
  const partialEnv = { ...env, ALEXNET_DATA: partial };
  assert.equal(findData({ env: partialEnv, debianDir: debian })!.dir, cache);
  // XDG_CACHE_HOME moves the cache
  assert.equal(findData({ env: { XDG_CACHE_HOME: join(home, ".cache") }, debianDir: noDebian })!.dir, cache);
});

test("loads a split; checksums reject files that are not Fashion-MNIST", async () => {
  const dir = fakeDataset(join(root, "load"));
  const opts = { dataDir: dir, env: envHome(join(root, "h")), debianDir: noDebian, download: false };
  const train = await loadFashionMnist("train", { ...opts, verify: false });
  assert.deepEqual([train.count, train.rows, train.cols], [3, 2, 2]);
  assert.deepEqual(Array.from(train.labels), [0, 1, 2]);
  assert.equal(train.source.origin, "--data-dir");
  const test_ = await loadFashionMnist("test", { ...opts, verify: false });
  assert.equal(test_.count, 2);
  await assert.rejects(loadFashionMnist("train", opts), (err: Error) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, /train-images-idx3-ubyte\.gz: checksum mismatch: not the published Fashion-MNIST/);
    return true;
  });
});

test("no data and no download: the message names the files, the place and the Debian package", async () => {
  const home = join(root, "empty-home");
  const opts = { env: envHome(home), debianDir: noDebian, download: false };
  await assert.rejects(loadFashionMnist("train", opts), (err: Error) => {
    assert.ok(err instanceof DataError);
    for (const f of ALL_FILES) assert.ok(err.message.includes(f.name), f.name);
    assert.ok(err.message.includes(join(home, ".cache/alexnet-ts/fashion-mnist")));
    assert.match(err.message, /apt install dataset-fashion-mnist/);
    return true;
  });
  assert.match(missingDataHelp({ dataDir: "/x/y" }), /into \/x\/y/);
});

test("real Fashion-MNIST from Debian's dataset-fashion-mnist", async (t) => {
  if (!ALL_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.name)))) {
    t.skip(`${DEBIAN_DIR} not present (install the Debian package dataset-fashion-mnist)`);
    return;
  }
  const opts = { env: envHome(join(root, "real-home")), download: false };
  const train = await loadFashionMnist("train", opts);
  const test_ = await loadFashionMnist("test", opts);
  assert.equal(train.source.origin, "debian");
  assert.deepEqual([train.count, train.rows, train.cols, train.images.length], [60000, 28, 28, 60000 * 784]);
  assert.equal(test_.count, 10000);
  const perClass = new Array<number>(10).fill(0);
  for (const l of train.labels) perClass[l]!++;
  assert.deepEqual(perClass, new Array<number>(10).fill(6000));
  // d2l's first test images are an ankle boot and a pullover
  assert.deepEqual(textLabels(test_.labels.subarray(0, 2)), ["ankle boot", "pullover"]);
});

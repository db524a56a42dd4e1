// `--dataset mnist` (issue 25, item 6) against a loopback server (the real files are not reachable here): a
// descriptor like MNIST's but with the checksums of small generated IDX files downloads them into the user
// cache (~/.cache/alexnet-ts/mnist, apart from Fashion-MNIST's) from the mirrors $ALEXNET_MNIST_MIRRORS
// names, and a second load uses the cache without a request; MNIST's own published checksums refuse those
// files (nothing left under their names, the error naming the files, their MD5s and where they go), also
// through `alexnet data download --dataset mnist`; --data-dir and $ALEXNET_MNIST_DATA follow Fashion-MNIST's
// rules; labels are the digits.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, it } from "node:test";
import { type CliRun, runCli } from "./cliProcess.js";
import { loopbackFiles } from "./loopbackFiles.js";
import { type DatasetSpec, cacheDirOf, findDataset, loadSplitOf, missingHelpOf } from "../src/data/dataset.js";
import { DATASET_NAMES, FASHION_MNIST, MNIST, classLabels, datasetSpec, loadDataset, recordedDataset } from "../src/data/datasets.js";
import { DownloadError } from "../src/data/download.js";
import { DataError, encodeIdx } from "../src/data/idx.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-mnist-"));
const { routes, hits, base: baseUrl } = loopbackFiles(() => rmSync(work, { recursive: true, force: true }));

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("hex");

/** Small MNIST-shaped files (5 train and 3 test digits of 28x28) under MNIST's names, gzip-compressed. */
const content = {
  trainImages: encodeIdx([5, 28, 28], Uint8Array.from({ length: 5 * 784 }, (_, i) => (i * 7) & 0xff)),
  trainLabels: encodeIdx([5], Uint8Array.of(5, 0, 4, 1, 9)),
  testImages: encodeIdx([3, 28, 28], Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 3) & 0xff)),
  testLabels: encodeIdx([3], Uint8Array.of(7, 2, 1)),
};
const gz = (b: Uint8Array): Uint8Array => new Uint8Array(gzipSync(b));
const served = new Map<string, Uint8Array>([
  [MNIST.files.train.images.name, gz(content.trainImages)],
  [MNIST.files.train.labels.name, gz(content.trainLabels)],
  [MNIST.files.test.images.name, gz(content.testImages)],
  [MNIST.files.test.labels.name, gz(content.testLabels)],
]);
/** A file of exactly the published size of MNIST's train-images-idx3-ubyte.gz, but not it. */
const impostor = new Map([[MNIST.files.train.images.name, Uint8Array.from({ length: MNIST.files.train.images.size }, (_, i) => (i * 13) & 0xff)]]);

/** MNIST's descriptor with the generated files' checksums and sizes (what the server really has). */
const small: DatasetSpec = (() => {
  const file = (f: { name: string }, raw: Uint8Array) => ({ name: f.name, md5: md5(served.get(f.name)!), size: served.get(f.name)!.length, contentSize: raw.length });
  return {
    ...MNIST,
    files: {
      train: { images: file(MNIST.files.train.images, content.trainImages), labels: file(MNIST.files.train.labels, content.trainLabels) },
      test: { images: file(MNIST.files.test.images, content.testImages), labels: file(MNIST.files.test.labels, content.testLabels) },
    },
  };
})();

function serveAt(prefix: string, override: Map<string, Uint8Array> = new Map()): string {
  for (const [name, bytes] of served) routes.set(`/${prefix}/${name}`, override.get(name) ?? bytes);
  return `${baseUrl()}/${prefix}/`;
}

const quiet = { progress: false as const, log: () => {} };

describe("MNIST", () => {
  it("is the published descriptor: torchvision's files, MD5s and mirrors; labels 0-9; a separate cache", () => {
    assert.deepEqual(DATASET_NAMES, ["fashion-mnist", "mnist"]);
    assert.equal(datasetSpec("mnist"), MNIST);
    assert.deepEqual([MNIST.files.train.images, MNIST.files.train.labels, MNIST.files.test.images, MNIST.files.test.labels].map((f) => [f.name, f.md5, f.size]), [
      ["train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422],
      ["train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881],
      ["t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877],
      ["t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542],
    ]);
    assert.deepEqual(MNIST.mirrors, ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]);
    assert.deepEqual(MNIST.labels, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    assert.deepEqual(classLabels("mnist", 10), MNIST.labels);
    assert.deepEqual(classLabels("mnist", 3), ["class 0", "class 1", "class 2"]);
    const env = { HOME: "/home/u" };
    assert.equal(cacheDirOf(MNIST, env), "/home/u/.cache/alexnet-ts/mnist");
    assert.equal(cacheDirOf(FASHION_MNIST, env), "/home/u/.cache/alexnet-ts/fashion-mnist");
    assert.equal(recordedDataset({ model: "lenet", dataset: "mnist" }), "mnist");
    assert.equal(recordedDataset({ model: "lenet" }), undefined);
    assert.throws(() => datasetSpec("cifar10"), /unknown data set 'cifar10' \(data sets: fashion-mnist, mnist\)/);
    const help = missingHelpOf(MNIST, { env });
    assert.match(help, /^MNIST was not found\. Put these four files \(from http:\/\/yann\.lecun\.com\/exdb\/mnist\/\)/);
    assert.match(help, /t10k-labels-idx1-ubyte\.gz {2}\(MD5 ec29112dd5afa0611ce80d1b7f02629c\)/);
    assert.match(help, /into \/home\/u\/\.cache\/alexnet-ts\/mnist\n.*ALEXNET_MNIST_DATA environment variable\)\.$/);
    assert.doesNotMatch(help, /apt install/, "no Debian package ships MNIST");
  });

  it("download into the user cache from $ALEXNET_MNIST_MIRRORS (a bad mirror skipped), then the cache without a request", { timeout: 20_000 }, async () => {
    const home = join(work, "home-dl");
    const corrupt = served.get(MNIST.files.train.labels.name)!.slice();
    corrupt[corrupt.length - 10] ^= 0xff;
    const env = { HOME: home, ALEXNET_MNIST_MIRRORS: `${serveAt("bad", new Map([[MNIST.files.train.labels.name, corrupt]]))},${serveAt("good")}`, ALEXNET_DATA: join(work, "fashion-elsewhere") };
    const lines: string[] = [];
    const train = await loadDataset(small, "train", { env, progress: false, log: (l) => lines.push(l) });
    const cache = join(home, ".cache", "alexnet-ts", "mnist");
    assert.deepEqual(readdirSync(cache).sort(), [...served.keys()].sort(), "the four files, and nothing half-written");
    assert.equal(train.dataset, "mnist");
    assert.deepEqual([train.count, train.rows, train.cols], [5, 28, 28]);
    assert.deepEqual([...train.labels], [5, 0, 4, 1, 9]);
    assert.deepEqual(train.source, { ...train.source, origin: "cache", dir: cache, downloaded: true });
    assert.ok(lines.some((l) => /bad\/train-labels-idx1-ubyte\.gz: checksum mismatch/.test(l)), lines.join("\n"));
    assert.ok(hits.includes("/good/train-labels-idx1-ubyte.gz"));

    const before = hits.length;
    const test = await loadDataset(small, "test", { env, ...quiet });
    assert.equal(hits.length, before, "no request once the cache has the files");
    assert.deepEqual([...test.labels], [7, 2, 1]);
    assert.deepEqual([test.source.origin, test.source.downloaded], ["cache", false]);
    assert.equal(findDataset(FASHION_MNIST, { env: { HOME: home }, debianDir: join(work, "none") }), null, "Fashion-MNIST does not see MNIST's cache");
  });

  it("the published checksums refuse other files: nothing kept, the error names the files and where they go", { timeout: 20_000 }, async () => {
    const home = join(work, "home-bad");
    const env = { HOME: home, ALEXNET_MNIST_MIRRORS: serveAt("fake", impostor) };
    await assert.rejects(loadDataset("mnist", "train", { env, ...quiet }), (e: Error) => {
      assert.ok(e instanceof DownloadError, e.message);
      assert.match(e.message, /could not download train-images-idx3-ubyte\.gz from any mirror/);
      assert.match(e.message, /fake\/train-images-idx3-ubyte\.gz: checksum mismatch: MD5 [0-9a-f]{32}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873/);
      assert.match(e.message, /MNIST was not found/);
      assert.ok(e.message.includes(`into ${join(home, ".cache", "alexnet-ts", "mnist")}`), e.message);
      return true;
    });
    const cache = join(home, ".cache", "alexnet-ts", "mnist");
    assert.deepEqual(existsSync(cache) ? readdirSync(cache) : [], []);

    // Files already there under MNIST's names but not MNIST's: refused when loaded, with the reason.
    const dir = join(work, "not-mnist");
    mkdirSync(dir);
    for (const [name, bytes] of served) writeFileSync(join(dir, name), bytes);
    const location = findDataset(MNIST, { dataDir: dir })!;
    assert.equal(location.origin, "--data-dir");
    assert.throws(() => loadSplitOf(MNIST, location, "test"), (e: Error) => e instanceof DataError &&
      /t10k-images-idx3-ubyte\.gz: checksum mismatch: not the published MNIST t10k-images-idx3-ubyte\.gz .*each needs a directory of its own/.test(e.message));
    assert.deepEqual([...loadSplitOf(MNIST, location, "test", false).labels], [7, 2, 1], "verify: false loads them");
  });

  it("--data-dir is the only place (downloaded into), $ALEXNET_MNIST_DATA comes before the cache, $ALEXNET_DATA is Fashion-MNIST's", { timeout: 20_000 }, async () => {
    const home = join(work, "home-dirs");
    const dir = join(work, "flag-dir");
    const env = { HOME: home, ALEXNET_MNIST_MIRRORS: serveAt("dirs") };
    const ds = await loadDataset(small, "test", { dataDir: dir, env, ...quiet });
    assert.deepEqual([ds.source.origin, ds.source.dir, ds.source.downloaded], ["--data-dir", dir, true]);
    assert.equal(existsSync(join(home, ".cache")), false, "nothing went to the cache");

    const envDir = join(work, "env-dir");
    const viaEnv = await loadDataset(small, "train", { env: { ...env, ALEXNET_MNIST_DATA: envDir }, ...quiet });
    assert.deepEqual([viaEnv.source.origin, viaEnv.source.dir], ["ALEXNET_DATA", envDir]);
    assert.equal(readdirSync(envDir).length, 4);
    // Fashion-MNIST's variable names a directory of Fashion-MNIST's files: MNIST does not look there.
    const found = findDataset(MNIST, { env: { HOME: join(work, "nohome"), ALEXNET_DATA: envDir } });
    assert.equal(found, null);
    assert.equal(findDataset(MNIST, { env: { HOME: join(work, "nohome"), ALEXNET_MNIST_DATA: envDir } })!.dir, envDir);
  });

  it("alexnet data download/info --dataset mnist: the same rules and messages on the command line", { timeout: 60_000 }, async () => {
    const dir = join(work, "cli-dir");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: join(work, "cli-home"), ALEXNET_MNIST_MIRRORS: serveAt("cli", impostor) };
    delete env.ALEXNET_MNIST_DATA;
    const dl = await run(["data", "download", "--dataset", "mnist", "--data-dir", dir], env);
    assert.equal(dl.code, 1, dl.stderr);
    assert.match(dl.stderr, /checksum mismatch: MD5 [0-9a-f]{32}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873/);
    assert.match(dl.stderr, /MNIST is not in .*cli-dir \(named with --data-dir\)/);
    assert.deepEqual(readdirSync(dir), []);
    const info = await run(["data", "info", "--dataset", "mnist"], env);
    assert.equal(info.code, 1);
    assert.match(info.stdout, /^MNIST search order:\n {2}--data-dir +\(not given\)\n {2}\$ALEXNET_MNIST_DATA +\(not set\)\n {2}user cache +.*alexnet-ts\/mnist: no files\n/);
    assert.match(info.stdout, /alexnet data download --dataset mnist/);
    const help = await run(["predict", "--help"], env);
    assert.match(help.stdout, /--dataset fashion-mnist\|mnist/);
  });
});

function run(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runCli(args, { env });
}

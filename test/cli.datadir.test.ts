// `alexnet train --data-dir DIR` means DIR, as a user runs it: an empty DIR with every mirror answering 404
// fails before any training (the error names DIR, the four files and the Debian package; no checkpoint), even
// though Debian's copy may be installed; with a mirror serving the files they land in DIR, checksummed (a
// corrupted one is refused), and the run trains on them (config.json records them and package.json's
// version). Mirrors are a local HTTP server ($ALEXNET_MIRRORS).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type CliRun, runCli } from "./cliProcess.js";
import { loopbackFiles } from "./loopbackFiles.js";
import { ALL_FILES, DEBIAN_DIR } from "../src/data/fashionMnist.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-datadir-"));
/** What the server answers for each path; anything else is a 404. */
const { routes, base: baseUrl } = loopbackFiles(() => rmSync(work, { recursive: true, force: true }));

/** Runs the CLI without blocking this process, whose server it downloads from. */
function alexnet(args: string[], mirror: string): Promise<CliRun> {
  const home = join(work, "home");
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, ALEXNET_MIRRORS: mirror };
  delete env.ALEXNET_DATA;
  delete env.XDG_CACHE_HOME;
  return runCli(args, { env });
}

const SMALL_RUN = ["train", "--variant", "28", "--epochs", "1", "--train-limit", "16", "--test-limit", "16", "--batch-size", "8", "--width-scale", "0.1", "--plain"];

describe("alexnet train --data-dir", { timeout: 120_000 }, () => {
  it("an empty directory and no mirror that has the files: a clear error, nothing trained, no checkpoint", async () => {
    const dir = join(work, "empty");
    mkdirSync(dir);
    const runDir = join(work, "run-404");
    const r = await alexnet([...SMALL_RUN, "--data-dir", dir, "--run-dir", runDir], `${baseUrl()}/nothing-here/`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /train-images-idx3-ubyte/);
    assert.ok(r.stderr.includes(`into ${dir}`), r.stderr);
    for (const f of ALL_FILES) assert.ok(r.stderr.includes(f.name), `${f.name} not named:\n${r.stderr}`);
    assert.match(r.stderr, /apt install dataset-fashion-mnist/);
    assert.match(r.stderr, /HTTP 404/);
    assert.doesNotMatch(r.stdout, /training AlexNet/);
    assert.deepEqual(readdirSync(dir), [], "no partial download left behind");
    for (const file of ["model.safetensors", "metrics.jsonl", "config.json"]) assert.equal(existsSync(join(runDir, file)), false, file);
    assert.deepEqual(existsSync(join(runDir, "checkpoints")) ? readdirSync(join(runDir, "checkpoints")) : [], []);
  });

  const haveDebian = ALL_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.name)));
  it("a mirror serving the files: they land in the directory, checksummed, and the run uses them", { skip: haveDebian ? false : `${DEBIAN_DIR} is needed as the files to serve` }, async () => {
    const dir = join(work, "served");
    const files = new Map(ALL_FILES.map((f) => [f.name, new Uint8Array(readFileSync(join(DEBIAN_DIR, f.name)))]));
    for (const [name, bytes] of files) routes.set(`/mirror/${name}`, bytes);
    // A damaged copy of one file is refused and leaves nothing under its name.
    const damaged = files.get("t10k-labels-idx1-ubyte.gz")!.slice();
    damaged[damaged.length - 20] ^= 0xff;
    routes.set("/mirror/t10k-labels-idx1-ubyte.gz", damaged);
    const refused = await alexnet(["data", "download", "--data-dir", dir], `${baseUrl()}/mirror/`);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /t10k-labels-idx1-ubyte\.gz: checksum mismatch/);
    assert.deepEqual(readdirSync(dir).sort(), ["t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]);

    routes.set("/mirror/t10k-labels-idx1-ubyte.gz", files.get("t10k-labels-idx1-ubyte.gz")!);
    const runDir = join(work, "run-served");
    const r = await alexnet([...SMALL_RUN, "--data-dir", dir, "--run-dir", runDir], `${baseUrl()}/mirror/`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ALL_FILES.map((f) => f.name).sort());
    for (const [name, bytes] of files) assert.deepEqual(new Uint8Array(readFileSync(join(dir, name))), bytes, name);
    assert.ok(r.stdout.includes(`data from ${dir} (--data-dir, downloaded)`), r.stdout);
    const config = JSON.parse(readFileSync(join(runDir, "config.json"), "utf8")) as { data: { train: { dir: string } }; versions: { alexnetTs: string } };
    assert.equal(config.data.train.dir, dir);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    assert.equal(config.versions.alexnetTs, pkg.version, "config.json records package.json's version");
  });
});

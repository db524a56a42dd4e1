// Reliability, resource faults and numerics: a run directory that cannot be written (a path through a regular
// file: ENOTDIR even as root), a file size limit hit at a checkpoint mid-run (`ulimit -f` in a child shell:
// EFBIG, our stand-in for a full disk), the checkpoints directory replaced by a file mid-run, a missing or
// broken native addon (a copy of the package without build/), a data directory deleted mid-run, no data at
// all, and an exploding learning rate. Each must give a clear error, keep the last good checkpoint, and let
// --resume finish on the uninterrupted run's exact weights.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ALL_FILES, DEBIAN_DIR, locateData } from "../src/data/fashionMnist.js";
import { readCheckpoint } from "../src/checkpoint/checkpoint.js";
import { nativeBackend } from "./helpers.js";
import { alexnet, assertCleanFailure, Child, CLI, listCheckpoints, newestGoodStep, QUICK, record, type CliResult } from "./reliabilityHelpers.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-rel-faults-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = nativeBackend ? false : "the native backend is not built here (CI requires it)";

// 4 steps per epoch, a checkpoint after every step (--checkpoint-every is not a saved setting: resumes repeat it).
const ARGS = [...QUICK, "--train-limit", "256", "--test-limit", "64", "--checkpoint-every", "1", "--backend", "native"];
const ckpt = (dir: string, step: number): string => join(dir, "checkpoints", `step-${String(step).padStart(9, "0")}`);
let faults = 0;
const notes: string[] = [];
after(() => record("faults", { faults, notes }));

let base: { oneEpoch: string; twoEpochs: string } | undefined;
/** A finished 1-epoch run (checkpoints 3 and 4) to extend with --epochs 2, and the uninterrupted 2-epoch run. */
function runs(): { oneEpoch: string; twoEpochs: string } {
  if (!base) {
    const oneEpoch = join(work, "one-epoch");
    const twoEpochs = join(work, "two-epochs");
    for (const [dir, epochs] of [[oneEpoch, "1"], [twoEpochs, "2"]] as const) {
      const r = alexnet(["train", ...ARGS, "--epochs", epochs, "--run-dir", dir]);
      assert.equal(r.code, 0, r.stderr);
    }
    base = { oneEpoch, twoEpochs };
  }
  return base;
}

function assertSameAsUninterrupted(dir: string, what: string): void {
  const ref = runs().twoEpochs;
  assert.ok(readFileSync(join(dir, "model.safetensors")).equals(readFileSync(join(ref, "model.safetensors"))), `${what}: weights differ`);
  assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8"), readFileSync(join(ref, "metrics.jsonl"), "utf8"), `${what}: metrics differ`);
}

/** The run's state after a failed write: step 4 still complete and published, nothing half-written under a step name. */
function assertStep4Intact(dir: string, what: string): void {
  assert.equal(newestGoodStep(dir), 4, `${what}: newest good checkpoint`);
  readCheckpoint(ckpt(dir, 4));
  assert.ok(readFileSync(join(dir, "model.safetensors")).equals(readFileSync(join(ckpt(dir, 4), "model.safetensors"))), `${what}: model.safetensors is not step 4's`);
  assert.deepEqual(listCheckpoints(dir).steps.filter((s) => s > 4), [], `${what}: a checkpoint past step 4`);
}

describe("reliability: resource faults", () => {
  it("a run directory under a regular file (ENOTDIR) is one line before anything starts", () => {
    const file = join(work, "a-file");
    writeFileSync(file, "x");
    const r = alexnet(["train", ...QUICK, "--run-dir", join(file, "run"), "--backend", "reference"]);
    assertCleanFailure(r, "ENOTDIR");
    assert.match(r.stderr, /run directory .*a-file\/run is not writable: a component of the path is not a directory \(ENOTDIR\)/);
    faults++;
  });

  it("a file size limit at a checkpoint mid-run (EFBIG): clear error, step 4 intact, resume ends the same", { skip }, () => {
    const dir = join(work, "efbig");
    cpSync(runs().oneEpoch, dir, { recursive: true });
    // 128 blocks of 512 bytes: config, metrics and plots fit; the 3 MB model file does not.
    const sh = spawnSync("/bin/sh", ["-c", 'ulimit -f 128 && exec "$@"', "sh", process.execPath, CLI, "train", "--resume", dir, "--epochs", "2", "--plain", "--checkpoint-every", "1"],
      { encoding: "utf8", timeout: 120_000 });
    const r: CliResult = { code: sh.status, signal: sh.signal, stdout: sh.stdout, stderr: sh.stderr };
    assertCleanFailure(r, "EFBIG");
    assert.match(r.stderr, /alexnet train: cannot write checkpoint step-000000005 in .*checkpoints: file too large \(file size limit reached\) \(EFBIG\) \(at .*step-000000005\.tmp-\d+\/model\.safetensors\); the previous checkpoint is unchanged/);
    assertStep4Intact(dir, "EFBIG");
    const resumed = alexnet(["train", "--resume", dir, "--epochs", "2", "--plain", "--checkpoint-every", "1"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assertSameAsUninterrupted(dir, "EFBIG");
    faults++;
    notes.push("EFBIG at a checkpoint: clear error, previous checkpoint intact, resume equal");
  });

  it("the checkpoints directory replaced by a file mid-run: clear error, resume ends the same", { skip }, async () => {
    const dir = join(work, "replaced");
    cpSync(runs().oneEpoch, dir, { recursive: true });
    const child = new Child(["train", "--resume", dir, "--epochs", "2", "--plain", "--checkpoint-every", "1"]);
    // Swap right after the resume has read its checkpoint, before step 5 is saved.
    assert.ok(await child.waitFor(() => /resuming /.test(child.stderr)), child.stderr);
    renameSync(join(dir, "checkpoints"), join(dir, "checkpoints.away"));
    writeFileSync(join(dir, "checkpoints"), "not a directory");
    const end = await child.exited;
    assertCleanFailure({ ...end, stdout: child.stdout, stderr: child.stderr }, "replaced");
    assert.match(child.stderr, /alexnet train: cannot write checkpoint step-000000005 in .*checkpoints: .*(EEXIST|ENOTDIR).*the previous checkpoint is unchanged/);
    rmSync(join(dir, "checkpoints"));
    renameSync(join(dir, "checkpoints.away"), join(dir, "checkpoints"));
    assertStep4Intact(dir, "replaced");
    const resumed = alexnet(["train", "--resume", dir, "--epochs", "2", "--plain", "--checkpoint-every", "1"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assertSameAsUninterrupted(dir, "replaced");
    faults++;
  });

  it("a missing or broken native addon: one-line note and the reference backend; --backend native is one line, exit 2", () => {
    // A copy of the package without build/: what a user has when `npm install` could not build the addon.
    const pkg = join(work, "pkg");
    cpSync(fileURLToPath(new URL("../src", import.meta.url)), join(pkg, "dist", "src"), { recursive: true });
    cpSync(fileURLToPath(new URL("../../package.json", import.meta.url)), join(pkg, "package.json"));
    // Its dependencies (fflate, protobufjs) installed, as npm install leaves them even when the build fails.
    symlinkSync(fileURLToPath(new URL("../../node_modules", import.meta.url)), join(pkg, "node_modules"));
    const cli = join(pkg, "dist", "src", "cli", "main.js");
    for (const broken of [false, true]) {
      if (broken) {
        // An addon that exists but cannot be dlopen'ed, as when libdnnl is missing at run time.
        mkdirSync(join(pkg, "build", "Release"), { recursive: true });
        writeFileSync(join(pkg, "build", "Release", "alexnet_native.node"), "not an ELF file");
      }
      const why = broken ? /the addon does not load: .*\(fix: apt-get install libdnnl-dev && npm rebuild\)/ : /addon not built .*fix: apt-get install libdnnl-dev && npm rebuild/;
      // analyze computes on a backend (summary's shapes come from the shape-only trace and need none).
      const auto = alexnet(["analyze", "--variant", "28", "--no-measure"], { cli });
      assert.equal(auto.code, 0, auto.stderr);
      assert.equal(auto.stderr.trim().split("\n").length, 1, auto.stderr);
      assert.match(auto.stderr, /^alexnet: native backend unavailable, using the slow reference backend: native backend unavailable: /);
      assert.match(auto.stderr, why);
      assert.match(auto.stdout, /Linear/);
      const ref = alexnet(["analyze", "--variant", "28", "--no-measure", "--backend", "reference"], { cli });
      assert.equal(ref.code, 0, ref.stderr);
      assert.equal(ref.stderr, "");
      for (const cmd of [["analyze", "--variant", "28", "--no-measure"], ["train", ...QUICK, "--run-dir", join(work, "never")]]) {
        const r = alexnet([...cmd, "--backend", "native"], { cli });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /^alexnet (analyze|train): --backend native is unavailable: native backend unavailable: /);
        assert.match(r.stderr, why);
      }
      faults++;
    }
    notes.push("missing and broken native addon: fallback note / one-line error");
  });

  it("the data directory deleted mid-run: training goes on from memory and finishes", { skip }, async () => {
    const data = join(work, "data");
    mkdirSync(data);
    for (const f of readdirSync(DEBIAN_DIR)) cpSync(join(DEBIAN_DIR, f), join(data, f));
    const dir = join(work, "data-gone");
    const child = new Child(["train", ...ARGS, "--epochs", "1", "--data-dir", data, "--run-dir", dir]);
    assert.ok(await child.waitFor(() => /batch 1\/4/.test(child.stderr)), child.stderr);
    rmSync(data, { recursive: true, force: true });
    const end = await child.exited;
    assert.equal(end.code, 0, child.stderr);
    assert.ok(existsSync(join(dir, "model.safetensors")));
    faults++;
    notes.push("data dir deleted mid-run: the run finishes (both splits are loaded into memory before the first step)");
  });

  it("no data anywhere and no network: the error names the four files, where they go, and the Debian package", async () => {
    const home = join(work, "home");
    mkdirSync(home);
    const offline = (): Promise<Response> => Promise.reject(new Error("network unreachable (test)"));
    await assert.rejects(
      locateData({ dataDir: join(work, "no-such-dir"), debianDir: join(work, "no-debian"), env: { HOME: home }, fetch: offline, progress: false, log: () => {} }),
      (e: Error) => {
        for (const f of ALL_FILES) assert.ok(e.message.includes(f.name), `${f.name} not named: ${e.message}`);
        assert.match(e.message, /no-such-dir/);
        assert.match(e.message, /apt install dataset-fashion-mnist/);
        return true;
      },
    );
    faults++;
  });
});

describe("reliability: numerics", { skip }, () => {
  it("--lr 1e6: the NaN stop (exit 1, one message), the last good checkpoint intact, and resume from it stops the same way", () => {
    const dir = join(work, "nan");
    const r = alexnet(["train", ...ARGS, "--lr", "1e6", "--epochs", "1", "--run-dir", dir]);
    assertCleanFailure(r, "NaN");
    assert.equal(r.code, 1);
    const m = /alexnet train: the loss became (NaN|Infinity|-Infinity) at epoch 1, batch (\d+) \(step (\d+)\); training stopped and the last good checkpoint was kept\. Try a lower --lr \(now 1000000\)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const failedStep = Number(m[3]);
    const good = newestGoodStep(dir);
    assert.equal(good, failedStep - 1, "the checkpoint before the diverging step");
    for (const t of readCheckpoint(ckpt(dir, good)).data.model) assert.ok(t.data.every(Number.isFinite), `${t.name} has non-finite values`);
    const again = alexnet(["train", "--resume", dir, "--plain"]);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, new RegExp(`resuming .* from .*step-0*${good}: epoch 1, batch ${good}, step ${good}`));
    assert.match(again.stderr, new RegExp(`the loss became .* \\(step ${failedStep}\\)`));
    faults++;
    notes.push(`lr 1e6: stopped at step ${failedStep}, checkpoint ${good} intact, resume stops at the same step`);
  });
});

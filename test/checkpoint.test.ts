// Checkpoints in a run directory: round trip, retention (the previous checkpoint survives until the new one is
// complete), crash leftovers and corrupted files skipped with a logged reason, and write failures (a path through
// a regular file, a file size limit in a child process: both fail even as root) giving CheckpointError with
// the previous checkpoint intact and nothing half-written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  checkpointDirName, checkWritable, readCheckpoint, readLatestCheckpoint, readModelWeights, writeCheckpoint, type CheckpointData,
} from "../src/checkpoint/checkpoint.js";
import { CheckpointError } from "../src/checkpoint/errors.js";
import { decodeSafetensors } from "../src/checkpoint/safetensors.js";

const root = mkdtempSync(join(tmpdir(), "alexnet-ckpt-"));
after(() => rmSync(root, { recursive: true, force: true }));
let runs = 0;
function freshRun(): string {
  return join(root, `run-${++runs}`);
}

/** Small checkpoint data whose values depend on `seed`, so that checkpoints can be told apart. */
function data(seed: number, size = 6): CheckpointData {
  const fill = (n: number, k: number): Float32Array => Float32Array.from({ length: n }, (_, i) => seed + k + i / 8);
  return {
    model: [
      { name: "0.weight", shape: [2, 1, size / 2, 1], data: fill(size, 0) },
      { name: "0.bias", shape: [2], data: fill(2, 100) },
    ],
    optimizer: [{ name: "0.weight.momentum_buffer", shape: [2, 1, size / 2, 1], data: fill(size, 200) }],
    state: { epoch: seed, rng: [1, 2, 3, seed], order: [3, 1, 2], metrics: [{ loss: 0.5 }], config: { lr: 0.01 } },
  };
}

function steps(runDir: string): string[] {
  return readdirSync(join(runDir, "checkpoints")).sort();
}

function logger(): { log: (m: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m) };
}

function flipByte(path: string, at: number): void {
  const b = readFileSync(path);
  assert.ok(at < b.length, `${path} has only ${b.length} bytes`);
  b[at]! ^= 0x40;
  writeFileSync(path, b);
}

describe("checkpoint round trip and retention", () => {
  it("writes step-<9 digits>/ with the four files and reads back exactly what was written", () => {
    const run = freshRun();
    const dir = writeCheckpoint(run, 123, data(1));
    assert.equal(dir, join(run, "checkpoints", "step-000000123"));
    assert.equal(checkpointDirName(123), "step-000000123");
    assert.deepEqual(readdirSync(dir).sort(), ["manifest.json", "model.safetensors", "optimizer.safetensors", "state.json"]);
    const latest = readLatestCheckpoint(run);
    assert.ok(latest);
    assert.equal(latest.step, 123);
    assert.equal(latest.dir, dir);
    assert.deepEqual(latest.data, data(1));
    // The model file is a plain safetensors file with PyTorch's names, and runDir/model.safetensors is the same.
    const model = decodeSafetensors(readFileSync(join(dir, "model.safetensors")), "model.safetensors");
    assert.deepEqual([...model.tensors.keys()], ["0.weight", "0.bias"]);
    assert.deepEqual(model.metadata, { format: "pt" });
    assert.deepEqual(readFileSync(join(run, "model.safetensors")), readFileSync(join(dir, "model.safetensors")));
    assert.deepEqual(readModelWeights(join(run, "model.safetensors")), data(1).model);
    assert.deepEqual(readModelWeights(dir), data(1).model);
    assert.deepEqual(readModelWeights(run), data(1).model);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { step: number; files: Record<string, unknown> };
    assert.equal(manifest.step, 123);
    assert.deepEqual(Object.keys(manifest.files), ["model.safetensors", "optimizer.safetensors", "state.json"]);
  });

  it("keeps only the newest checkpoint and the previous one; runDir/model.safetensors follows the newest", () => {
    const run = freshRun();
    for (const step of [1, 2, 3, 4]) writeCheckpoint(run, step, data(step));
    assert.deepEqual(steps(run), ["step-000000003", "step-000000004"]);
    assert.deepEqual(readModelWeights(join(run, "model.safetensors")), data(4).model);
    assert.deepEqual(readdirSync(run).sort(), ["checkpoints", "model.safetensors"]);
  });

  it("the same step written again replaces it; an earlier step written after resuming drops the later ones", () => {
    const run = freshRun();
    writeCheckpoint(run, 10, data(10));
    writeCheckpoint(run, 20, data(20));
    writeCheckpoint(run, 20, data(21));
    assert.deepEqual(steps(run), ["step-000000010", "step-000000020"]);
    assert.deepEqual(readLatestCheckpoint(run)!.data, data(21));
    writeCheckpoint(run, 15, data(15));
    assert.deepEqual(steps(run), ["step-000000010", "step-000000015"]);
    assert.equal(readLatestCheckpoint(run)!.step, 15);
  });

  it("deletes leftovers of interrupted writes by exited processes, but not the previous checkpoint", () => {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    mkdirSync(join(run, "checkpoints", "step-000000002.tmp-99999999"));
    writeFileSync(join(run, "checkpoints", "step-000000002.tmp-99999999", "model.safetensors"), "partial");
    writeCheckpoint(run, 3, data(3));
    assert.deepEqual(steps(run), ["step-000000001", "step-000000003"]);
  });

  it("a checkpoint whose deletion was interrupted is a .del- leftover: never loaded, named, and cleaned up", () => {
    const run = freshRun();
    writeCheckpoint(run, 2, data(2));
    // What a process killed while pruning step 3 (an abandoned later timeline) leaves behind.
    const doomed = join(run, "checkpoints", "step-000000003.del-99999999");
    mkdirSync(doomed);
    writeFileSync(join(doomed, "model.safetensors"), "partly deleted");
    const { log, lines } = logger();
    assert.equal(readLatestCheckpoint(run, log)!.step, 2);
    assert.deepEqual(lines, ["ignoring step-000000003.del-99999999: left by an interrupted deletion of an old checkpoint; using step-000000002"]);
    writeCheckpoint(run, 4, data(4));
    writeCheckpoint(run, 6, data(6));
    assert.deepEqual(readdirSync(join(run, "checkpoints")).sort(), ["step-000000004", "step-000000006"]);
  });

  it("returns null when there is no checkpoint", () => {
    assert.equal(readLatestCheckpoint(freshRun()), null);
    const run = freshRun();
    mkdirSync(join(run, "checkpoints"), { recursive: true });
    assert.equal(readLatestCheckpoint(run), null);
  });
});

describe("reading after a crash or corruption", () => {
  /** A run with good checkpoints at steps 1 and 2, then whatever `damage` does to a newer one. */
  function damagedRun(damage: (checkpoints: string) => void): { run: string; lines: string[]; step: number | undefined } {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    writeCheckpoint(run, 2, data(2));
    damage(join(run, "checkpoints"));
    const { log, lines } = logger();
    const latest = readLatestCheckpoint(run, log);
    if (latest) assert.deepEqual(latest.data, data(latest.step));
    return { run, lines, step: latest?.step };
  }

  /** Copies step 2's files to a directory named step 3, as a careless manual copy would. */
  function copyAsStep3(checkpoints: string): void {
    const src = join(checkpoints, "step-000000002");
    const dst = join(checkpoints, "step-000000003");
    mkdirSync(dst);
    for (const f of readdirSync(src)) writeFileSync(join(dst, f), readFileSync(join(src, f)));
  }

  it("a leftover tmp directory and a newer checkpoint with a flipped byte are skipped, with the reasons", () => {
    const { lines, step } = damagedRun((c) => {
      writeCheckpoint(join(c, ".."), 4, data(4));
      flipByte(join(c, "step-000000004", "model.safetensors"), 150);
      // What a process killed while writing step 5 leaves behind.
      mkdirSync(join(c, "step-000000005.tmp-999"));
      writeFileSync(join(c, "step-000000005.tmp-999", "model.safetensors"), "partial");
    });
    assert.equal(step, 2);
    assert.deepEqual(lines.sort(), [
      "checkpoint step-000000004 is corrupt (model.safetensors checksum mismatch); using step-000000002",
      "ignoring step-000000005.tmp-999: left by an interrupted checkpoint write; using step-000000002",
    ]);
  });

  it("truncated, missing, incomplete and tampered files are each detected", () => {
    const cases: [string, (dir: string) => void, RegExp][] = [
      ["truncated", (d) => truncateSync(join(d, "optimizer.safetensors"), 20), /is corrupt \(optimizer\.safetensors is 20 bytes, the manifest says \d+\)/],
      ["missing file", (d) => rmSync(join(d, "state.json")), /is corrupt \(state\.json is missing\)/],
      ["no manifest", (d) => rmSync(join(d, "manifest.json")), /is incomplete \(manifest\.json is missing: an interrupted write\)/],
      ["manifest bit flip", (d) => flipByte(join(d, "manifest.json"), 60), /is corrupt \(manifest\.json (checksum mismatch|is not valid JSON)\)/],
      ["manifest truncated", (d) => truncateSync(join(d, "manifest.json"), 30), /is corrupt \(manifest\.json is not valid JSON\)/],
      ["state edited", (d) => writeFileSync(join(d, "state.json"), readFileSync(join(d, "state.json"), "utf8").replace('"epoch":3', '"epoch":9')), /state\.json checksum mismatch/],
    ];
    for (const [what, damage, pattern] of cases) {
      const { lines, step } = damagedRun((c) => {
        writeCheckpoint(join(c, ".."), 3, data(3));
        damage(join(c, "step-000000003"));
      });
      assert.equal(step, 2, what);
      assert.equal(lines.length, 1, `${what}: ${lines.join(" | ")}`);
      assert.match(lines[0]!, /^checkpoint step-000000003 /, what);
      assert.match(lines[0]!, pattern, what);
      assert.match(lines[0]!, /; using step-000000002$/, what);
    }
  });

  it("a checkpoint copied under another step's name is refused", () => {
    const { lines, step } = damagedRun(copyAsStep3);
    assert.equal(step, 2);
    assert.match(lines[0]!, /step-000000003 is corrupt \(its manifest is for step 2\)/);
  });

  it("when every checkpoint is bad the result is null and each is named", () => {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    writeCheckpoint(run, 2, data(2));
    flipByte(join(run, "checkpoints", "step-000000001", "model.safetensors"), 100);
    rmSync(join(run, "checkpoints", "step-000000002", "manifest.json"));
    const { log, lines } = logger();
    assert.equal(readLatestCheckpoint(run, log), null);
    assert.deepEqual(lines, [
      "checkpoint step-000000002 is incomplete (manifest.json is missing: an interrupted write); no complete checkpoint is left",
      "checkpoint step-000000001 is corrupt (model.safetensors checksum mismatch); no complete checkpoint is left",
    ]);
    assert.throws(() => readCheckpoint(join(run, "checkpoints", "step-000000001")), CheckpointError);
    assert.throws(() => readModelWeights(run), /holds no complete checkpoint/);
  });
});

describe("write failures", () => {
  it("a run directory under a regular file: CheckpointError naming the path, nothing created", () => {
    const file = join(root, "a-file");
    writeFileSync(file, "x");
    const run = join(file, "run");
    assert.throws(() => checkWritable(run), (e: unknown) =>
      e instanceof CheckpointError && /run directory .*a-file\/run is not writable: a component of the path is not a directory \(ENOTDIR\)/.test(e.message));
    assert.throws(() => writeCheckpoint(run, 1, data(1)), (e: unknown) =>
      e instanceof CheckpointError && /cannot write checkpoint step-000000001 in .*a-file\/run\/checkpoints: .*ENOTDIR/.test(e.message));
  });

  it("checkpoints/ being a file fails before training (checkWritable) and at the write, previous model kept", () => {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    rmSync(join(run, "checkpoints"), { recursive: true });
    writeFileSync(join(run, "checkpoints"), "not a directory");
    assert.throws(() => checkWritable(run), CheckpointError);
    assert.throws(() => writeCheckpoint(run, 2, data(2)), CheckpointError);
    assert.deepEqual(readModelWeights(join(run, "model.safetensors")), data(1).model);
  });

  it("a full disk (a file size limit in a child process): CheckpointError, previous intact, no partial directory", () => {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    const script = join(root, "write-big.mjs");
    const moduleUrl = new URL("../src/checkpoint/checkpoint.js", import.meta.url).href;
    writeFileSync(script, `
      import { writeCheckpoint } from ${JSON.stringify(moduleUrl)};
      const big = new Float32Array(64 * 1024);
      try {
        writeCheckpoint(process.argv[2], 2, { model: [{ name: "0.weight", shape: [big.length], data: big }], optimizer: [], state: {} });
        console.log(JSON.stringify({ ok: true }));
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, message: e.message }));
      }
    `);
    // ulimit -f counts 512-byte blocks: 64 KB lets small files through and stops the 256 KB model (EFBIG),
    // which, unlike chmod, stops root too.
    const r = spawnSync("/bin/sh", ["-c", 'ulimit -f 128 && exec "$@"', "sh", process.execPath, script, run], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string; message: string };
    assert.equal(out.name, "CheckpointError");
    assert.match(out.message, /cannot write checkpoint step-000000002 in .*checkpoints: file too large .*EFBIG.*at .*step-000000002\.tmp-\d+\/model\.safetensors.*previous checkpoint is unchanged/);
    assert.deepEqual(steps(run), ["step-000000001"]);
    assert.deepEqual(readLatestCheckpoint(run)!.data, data(1));
    assert.deepEqual(readModelWeights(join(run, "model.safetensors")), data(1).model);
  });

  it("state JSON cannot hold exactly, and inconsistent tensors, fail before anything is written", () => {
    const run = freshRun();
    writeCheckpoint(run, 1, data(1));
    const bad: [Partial<CheckpointData>, RegExp][] = [
      [{ state: { loss: NaN } }, /state value "loss" is NaN/],
      [{ state: { rng: new Uint32Array(4) } }, /state value "rng" is a Uint32Array/],
      [{ state: { big: 1n } }, /state value "big" is a bigint/],
      [{ model: [{ name: "0.weight", shape: [3], data: new Float32Array(2) }] }, /cannot encode .*model\.safetensors: tensor "0\.weight" has shape \[3\]/],
    ];
    for (const [patch, pattern] of bad) {
      assert.throws(() => writeCheckpoint(run, 2, { ...data(2), ...patch }), (e: unknown) => e instanceof CheckpointError && pattern.test(e.message));
    }
    assert.throws(() => writeCheckpoint(run, -1, data(2)), /non-negative integer/);
    assert.deepEqual(steps(run), ["step-000000001"]);
  });

  it("checkWritable creates the directory and checks free space when asked", () => {
    const run = freshRun();
    checkWritable(run, { needBytes: 1 });
    assert.ok(existsSync(join(run, "checkpoints")));
    assert.deepEqual(readdirSync(join(run, "checkpoints")), []);
    assert.throws(() => checkWritable(run, { needBytes: 1e18 }), /not enough space for checkpoints in .*: \d+ MB free, about 1000000000000 MB needed/);
  });
});

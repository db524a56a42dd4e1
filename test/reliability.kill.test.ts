// Reliability, kills: a short training run is SIGKILLed at seeded random moments (during start-up, between
// steps, right while a checkpoint directory is being written) and resumed with --resume, several kills per
// run, and must end with exactly the uninterrupted run's weights (byte-equal model.safetensors) and metrics.
// Between kills the newest complete checkpoint may only move forward ("nothing lost"); some kills are
// followed by damaging the newest checkpoint (truncation, bit flip, missing manifest), and the resume must
// skip it, name it and the one it uses instead, and still end on the same weights.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { nativeBackend } from "./helpers.js";
import { alexnet, Child, listCheckpoints, newestGoodStep, prng, QUICK, record, sleep } from "./reliabilityHelpers.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-rel-kill-"));
after(() => rmSync(work, { recursive: true, force: true }));

// 6 batches per epoch, 12 steps, a checkpoint every 2 steps and at each epoch end (step 6 is both).
const ARGS = [...QUICK, "--epochs", "2", "--train-limit", "384", "--test-limit", "64", "--checkpoint-every", "2", "--backend", "native"];
const KILLS_WANTED = 20;
/** Stop starting new chains after this long, so a slow machine shortens the test instead of timing it out. */
const BUDGET_MS = 150_000;
const skip = nativeBackend ? false : "the native backend is not built here (CI requires it)";

type KillKind = "startup" | "steps" | "checkpoint";
const ckptName = (s: number): string => `step-${String(s).padStart(9, "0")}`;

/** Damages the newest checkpoint of `dir` in one of three ways; returns the expected resume message. */
function damageNewest(dir: string, how: number): { damaged: string; expect: RegExp } | null {
  const { steps } = listCheckpoints(dir);
  const good = newestGoodStep(dir);
  // Only where an older checkpoint verifies, so that the resume has one to fall back on.
  if (steps.length < 2 || good !== steps[steps.length - 1] || newestGoodStep(dir, good) < 0) return null;
  const name = ckptName(good);
  const path = join(dir, "checkpoints", name);
  if (how % 3 === 0) {
    const file = join(path, "model.safetensors");
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    return { damaged: name, expect: new RegExp(`checkpoint ${name} is corrupt \\(model\\.safetensors is \\d+ bytes, the manifest says \\d+\\); using step-\\d+`) };
  }
  if (how % 3 === 1) {
    const file = join(path, "optimizer.safetensors");
    const b = readFileSync(file);
    b[b.length - 5]! ^= 0x10; // one bit of one momentum value: only the checksum can tell
    writeFileSync(file, b);
    return { damaged: name, expect: new RegExp(`checkpoint ${name} is corrupt \\(optimizer\\.safetensors checksum mismatch\\); using step-\\d+`) };
  }
  unlinkSync(join(path, "manifest.json"));
  return { damaged: name, expect: new RegExp(`checkpoint ${name} is incomplete \\(manifest\\.json is missing: an interrupted write\\); using step-\\d+`) };
}

interface ChainStats {
  kills: number;
  midWrite: number;
  damaged: number;
  byKind: Record<KillKind, number>;
}

/** One run killed up to `killsWanted` times, resumed after each kill, then run to the end. */
async function killChain(dir: string, rng: ReturnType<typeof prng>, killsWanted: number, stats: ChainStats): Promise<void> {
  let lastGood = -1;
  // Messages the next resume must print (a leftover it ignores, a damaged checkpoint it skips).
  let expect: RegExp[] = [];
  for (let attempt = 0; ; attempt++) {
    assert.ok(attempt < 60, "the chain does not finish");
    // Killed before config.json existed, the run cannot be resumed: the user runs the same command again.
    const fresh = listCheckpoints(dir).steps.length === 0 && !existsConfig(dir);
    const args = fresh ? ["train", ...ARGS, "--run-dir", dir] : ["train", "--resume", dir, "--plain", "--checkpoint-every", "2"];
    const child = new Child(args);
    const check = (): void => {
      if (!/resuming .* from /.test(child.stderr) && !/no complete checkpoint/.test(child.stderr)) return;
      for (const re of expect) assert.match(child.stderr, re, `resume after a fault: ${child.stderr}`);
      expect = [];
    };
    if (stats.kills >= killsWanted) {
      const end = await child.exited;
      assert.equal(end.code, 0, `final resume failed: ${child.stderr}`);
      check();
      return;
    }
    const kind: KillKind = rng.pick(["startup", "steps", "steps", "checkpoint", "checkpoint"] as const);
    let leftover: string | null = null;
    if (kind === "startup") await sleep(30 + rng.int(700));
    else if (kind === "steps") {
      await child.waitFor(() => /batch \d+\/6/.test(child.stderr));
      await sleep(rng.int(1500));
    } else {
      // Poll the checkpoints directory every millisecond: a write takes a few ms (fsyncs), so most kills
      // land while `step-N.tmp-PID/` is being filled or just after its rename.
      // The target is one of the next three checkpoints, so that chains get past the first one; only this
      // process's own tmp directory counts (an older one may be lying there from an earlier kill).
      const target = Math.max(lastGood, 0) + 2 * (1 + rng.int(3));
      const mine = new RegExp(`^step-(\\d+)\\.tmp-${child.proc.pid}$`);
      const seen = await child.waitFor(() => {
        leftover = listCheckpoints(dir).leftovers.find((n) => Number(mine.exec(n)?.[1] ?? -1) >= target) ?? null;
        return leftover !== null;
      }, 1);
      if (!seen) leftover = null;
    }
    await child.kill("SIGKILL");
    const end = await child.exited;
    check();
    if (end.code === 0) {
      // It finished before the kill landed: this chain is complete.
      return;
    }
    assert.equal(end.signal, "SIGKILL", `the run failed by itself (exit ${end.code}): ${child.stderr}`);
    stats.kills++;
    stats.byKind[kind]++;
    // Nothing lost: the newest checkpoint that verifies never goes back.
    const good = newestGoodStep(dir);
    assert.ok(good >= lastGood, `after a ${kind} kill the newest good checkpoint went from step ${lastGood} back to ${good}`);
    lastGood = good;
    const left = listCheckpoints(dir).leftovers.find((n) => n.endsWith(`.tmp-${child.proc.pid}`));
    if (kind === "checkpoint" && leftover && left) {
      const step = Number(/^step-(\d+)/.exec(left)![1]);
      // Only a leftover newer than the checkpoint used is mentioned (an older one is simply pruned).
      const using = good < 0 ? "no complete checkpoint is left" : `using ${ckptName(good)}`;
      if (step >= good) expect.push(new RegExp(`ignoring ${left.replace(/\./g, "\\.")}: left by an interrupted checkpoint write; ${using}`));
      stats.midWrite++;
    }
    // After about one kill in three, damage the newest checkpoint too (when an older good one exists to fall
    // back on: a kill during a write leaves only one, since the write first prunes all but the newest).
    if (stats.damaged < stats.kills / 3) {
      const d = damageNewest(dir, stats.damaged);
      if (d) {
        expect.push(d.expect);
        stats.damaged++;
        lastGood = newestGoodStep(dir);
      }
    }
  }
}

function existsConfig(dir: string): boolean {
  try {
    readFileSync(join(dir, "config.json"));
    return true;
  } catch {
    return false;
  }
}

let reference: { model: Buffer; metrics: string; dir: string } | undefined;
/** The uninterrupted run, once per file. */
function uninterrupted(): { model: Buffer; metrics: string; dir: string } {
  if (!reference) {
    const dir = join(work, "straight");
    const r = alexnet(["train", ...ARGS, "--run-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    reference = { dir, model: readFileSync(join(dir, "model.safetensors")), metrics: readFileSync(join(dir, "metrics.jsonl"), "utf8") };
  }
  return reference;
}

describe("reliability: SIGKILL at random moments, then --resume", { skip }, () => {
  it(`survives ${KILLS_WANTED} kills (some mid-checkpoint) and ends on the uninterrupted run's bytes`, async (t) => {
    const started = Date.now();
    const ref = uninterrupted();
    const rng = prng(20240608);
    const stats: ChainStats = { kills: 0, midWrite: 0, damaged: 0, byKind: { startup: 0, steps: 0, checkpoint: 0 } };
    let chains = 0;
    while (stats.kills < KILLS_WANTED && Date.now() - started < BUDGET_MS) {
      const dir = join(work, `chain-${++chains}`);
      // At most 6 kills per run, so the suite also covers several fresh runs.
      await killChain(dir, rng, Math.min(KILLS_WANTED, stats.kills + 6), stats);
      assert.ok(readFileSync(join(dir, "model.safetensors")).equals(ref.model), `chain ${chains}: weights differ from the uninterrupted run`);
      assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8"), ref.metrics, `chain ${chains}: metrics differ`);
      rmSync(dir, { recursive: true, force: true });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const line = `${stats.kills} kills survived in ${chains} runs (${stats.byKind.startup} at start-up, ${stats.byKind.steps} between steps, ` +
      `${stats.byKind.checkpoint} at a checkpoint write, ${stats.midWrite} of them leaving a half-written step-N.tmp; ` +
      `${stats.damaged} newest checkpoints also damaged and skipped), ${seconds}s`;
    t.diagnostic(line);
    console.log(`# reliability.kill: ${line}`);
    record("kill", { kills: stats.kills, faults: stats.damaged, notes: [line] });
    // A slow machine may run out of budget; the floor still asks for many kills.
    assert.ok(stats.kills >= Math.min(KILLS_WANTED, 12), `only ${stats.kills} kills in the time budget`);
  });

  it("skips a truncated, bit-flipped or manifest-less newest checkpoint, names it and the one used, and ends the same", (t) => {
    const ref = uninterrupted();
    // The finished run keeps step 10 and step 12; damaging step 12 makes --resume redo steps 11 and 12.
    assert.deepEqual(listCheckpoints(ref.dir).steps, [10, 12]);
    for (let how = 0; how < 3; how++) {
      const dir = join(work, `damaged-${how}`);
      cpSync(ref.dir, dir, { recursive: true });
      const d = damageNewest(dir, how);
      assert.ok(d);
      assert.equal(newestGoodStep(dir), 10);
      const r = alexnet(["train", "--resume", dir, "--plain"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, d.expect);
      assert.match(r.stderr, /resuming .* from .*step-000000010: epoch 2, batch 4, step 10/);
      assert.ok(readFileSync(join(dir, "model.safetensors")).equals(ref.model), `damage ${how}: weights differ`);
      assert.equal(readFileSync(join(dir, "metrics.jsonl"), "utf8"), ref.metrics, `damage ${how}: metrics differ`);
      t.diagnostic(d.expect.source.slice(0, 60));
    }
    record("kill", { faults: 3, notes: ["3 damaged newest checkpoints (truncated, bit flip, no manifest) skipped and named"] });
  });

  it("a kill after the last checkpoint but before model.safetensors was updated: --resume publishes the checkpoint's weights", () => {
    const ref = uninterrupted();
    const dir = join(work, "unpublished");
    cpSync(ref.dir, dir, { recursive: true });
    // What the run directory holds when the kill lands between renaming step-12 into place and linking its
    // model.safetensors into the run directory: the previous checkpoint's weights.
    const stale = join(dir, "model.safetensors");
    rmSync(stale);
    cpSync(join(dir, "checkpoints", ckptName(10), "model.safetensors"), stale);
    assert.ok(!readFileSync(stale).equals(ref.model));
    const r = alexnet(["train", "--resume", dir, "--plain"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /resuming .* from .*step-000000012/);
    assert.ok(readFileSync(stale).equals(ref.model), "model.safetensors is not the newest checkpoint's weights");
    record("kill", { faults: 1, notes: ["a stale model.safetensors (kill before publishing) is replaced on --resume"] });
  });
});

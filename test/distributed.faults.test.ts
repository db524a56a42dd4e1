// Faults and refusals of data parallelism (issue 17): SIGKILL one of two ranks mid-epoch, and the other
// stops within 60 s naming the lost rank, with the last complete checkpoint intact; `--resume` with 2 ranks
// or 1 process then ends on the uninterrupted run's weights. A stopped (hung) rank is named within the
// collective timeout. Ranks with different --lr are refused at start-up; --distributed without mpirun or
// without Open MPI fails with a one-line reason.
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { nativeBackend } from "./helpers.js";
import { alexnet, CLI, collect, listCheckpoints, newestGoodStep, waitFor } from "./reliabilityHelpers.js";
import { MPIRUN_FLAGS, mpiSkip, mpirun, readWeights, relDiff, spawnMpirun } from "./distributedHelpers.js";
import { spawnSync } from "node:child_process";

const work = mkdtempSync(join(tmpdir(), "alexnet-dist-faults-"));
after(() => rmSync(work, { recursive: true, force: true }));
const skip = !nativeBackend ? "the native backend is not built here" : mpiSkip();

// 32 steps per epoch, 96 in all, a checkpoint every 8 steps.
const ARGS = ["--variant", "28", "--width-scale", "0.125", "--seed", "0", "--epochs", "3", "--train-limit", "1024", "--test-limit", "128",
  "--batch-size", "32", "--checkpoint-every", "8", "--plain"];

/** The pid of rank `rank` among mpirun's children (Open MPI sets OMPI_COMM_WORLD_RANK in each). */
function rankPid(mpirunPid: number, rank: number): number | null {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== mpirunPid) continue;
      const env = readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

const finalLine = (s: string): string => /loss [\d.]+, train acc [\d.]+, test acc [\d.]+/.exec(s)?.[0] ?? `(no final line in ${s})`;

describe("distributed: a lost rank", { skip }, () => {
  it("SIGKILL of rank 1 mid-epoch: rank 0 names it and exits non-zero within 60 s; --resume with 2 ranks or 1 process ends on the uninterrupted weights", async () => {
    const ref = join(work, "ref");
    const r = mpirun(2, [CLI, "train", ...ARGS, "--distributed", "--run-dir", ref]);
    assert.equal(r.status, 0, r.stderr);
    const refWeights = readWeights(join(ref, "model.safetensors"));

    const dir = join(work, "killed");
    const child = spawnMpirun(2, [CLI, "train", ...ARGS, "--distributed", "--run-dir", dir]);
    const run = collect(child);
    // Mid-epoch 1: after the checkpoint at step 16 of 32.
    assert.ok(await waitFor(() => newestGoodStep(dir) >= 16, 120_000), `no checkpoint at step 16: ${run.out()}`);
    const pid = rankPid(child.pid!, 1);
    assert.ok(pid, "rank 1's process not found");
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");
    const code = await run.exited;
    const seconds = (Date.now() - killedAt) / 1000;
    const line = /^alexnet: rank 0 of 2: lost rank 1 .*$/m.exec(run.out())?.[0];
    console.log(`kill: rank 1 (pid ${pid}) SIGKILLed after checkpoint step ${newestGoodStep(dir)}; mpirun exited ${code} after ${seconds.toFixed(1)} s; rank 0 said: ${line}`);
    assert.notEqual(code, 0);
    assert.ok(seconds < 60, `took ${seconds} s`);
    assert.ok(line, `no line naming the lost rank in: ${run.out()}`);
    assert.ok(!/step 96/.test(listCheckpoints(dir).steps.join()), "the killed run finished");
    const kept = newestGoodStep(dir);
    assert.ok(kept >= 16, "the last complete checkpoint is gone");

    const single = join(work, "resume1");
    cpSync(dir, single, { recursive: true });
    const two = mpirun(2, [CLI, "train", "--resume", dir, "--distributed", "--plain"]);
    assert.equal(two.status, 0, two.stderr);
    const one = alexnet(["train", "--resume", single, "--plain", "--threads", "1"], { timeoutMs: 300_000 });
    assert.equal(one.code, 0, one.stderr);
    const names = [...refWeights.keys()];
    const w2 = readWeights(join(dir, "model.safetensors"));
    const w1 = readWeights(join(single, "model.safetensors"));
    const d2 = relDiff(names.map((n) => w2.get(n)!), names.map((n) => refWeights.get(n)!));
    const d1 = relDiff(names.map((n) => w1.get(n)!), names.map((n) => refWeights.get(n)!));
    console.log(`resume from step ${kept}: 2 ranks "${finalLine(two.stdout)}" (weights ${d2.toExponential(2)} from the uninterrupted run), ` +
      `1 process "${finalLine(one.stdout)}" (${d1.toExponential(2)}); uninterrupted "${finalLine(r.stdout)}"`);
    assert.equal(d2, 0, "2 ranks resumed: not the uninterrupted run's weights");
    assert.equal(finalLine(two.stdout), finalLine(r.stdout));
    assert.ok(d1 <= 1e-3, `1 process resumed: weights ${d1} from the uninterrupted run`);
  });

  it("a hung rank (SIGSTOP) is named within the collective timeout", async () => {
    const dir = join(work, "hung");
    const child = spawnMpirun(2, [CLI, "train", ...ARGS, "--distributed", "--run-dir", dir, "--collective-timeout", "5"]);
    const run = collect(child);
    assert.ok(await waitFor(() => newestGoodStep(dir) >= 8, 120_000), `no checkpoint at step 8: ${run.out()}`);
    const pid = rankPid(child.pid!, 1)!;
    const stoppedAt = Date.now();
    process.kill(pid, "SIGSTOP");
    const code = await run.exited;
    const seconds = (Date.now() - stoppedAt) / 1000;
    const line = /^alexnet: rank 0 of 2: lost rank 1 .*$/m.exec(run.out())?.[0];
    console.log(`hang: rank 1 stopped; mpirun exited ${code} after ${seconds.toFixed(1)} s; rank 0 said: ${line}`);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // mpirun already ended it
    }
    assert.notEqual(code, 0);
    assert.ok(line, `no line naming the lost rank in: ${run.out()}`);
    assert.ok(seconds < 30, `took ${seconds} s`);
  });
});

describe("distributed: refusals", () => {
  it("ranks started with different --lr are refused at start-up, naming the rank and the setting", { skip }, () => {
    const common = ["train", ...ARGS, "--epochs", "1", "--distributed", "--run-dir", join(work, "mismatch")];
    const r = spawnSync("mpirun", [...MPIRUN_FLAGS, "-np", "1", process.execPath, CLI, ...common, "--lr", "0.01", ":",
      "-np", "1", process.execPath, CLI, ...common, "--lr", "0.02"], { encoding: "utf8", timeout: 120_000 });
    const line = /^alexnet train: rank 1 was started with other settings than rank 0 .*$/m.exec(r.stderr)?.[0];
    console.log(`refused: ${line}`);
    assert.notEqual(r.status, 0);
    assert.ok(line && /settings\.lr: 0\.01 on rank 0, 0\.02 there/.test(line), r.stderr);
    assert.equal(listCheckpoints(join(work, "mismatch")).steps.length, 0, "a refused run trained");
    assert.ok(!existsSync(join(work, "mismatch", "model.safetensors")), "a refused run trained");
  });

  it("--distributed without mpirun fails with one line", { skip: mpiSkip() }, () => {
    const r = alexnet(["train", "--distributed", "--variant", "28"], { env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMIX_)/.test(k))) });
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^alexnet: --distributed must be started by mpirun, e\.g\. `mpirun -np 2 npx alexnet train --distributed \.\.\.`$/);
  });

  it("--distributed without Open MPI fails with one line saying what to install", () => {
    const r = alexnet(["train", "--distributed", "--variant", "28"], { env: { ...process.env, ALEXNET_MPI_ADDON: join(work, "none.node") } });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^alexnet: --distributed needs Open MPI: .*install it with: apt-get install openmpi-bin libopenmpi-dev && npm rebuild$/m);
  });
});

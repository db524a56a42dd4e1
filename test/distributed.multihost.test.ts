// Data parallelism between hosts over TCP (issue 29), on hosts made of network namespaces on a bridge
// (test/multihostHarness.ts, scripts/multihost/cluster.sh): each rank on its own host, with its own
// hostname and pid namespace, started by mpirun through an rsh agent, over `--mca btl self,tcp`.
// - The harness leaves no namespace, bridge, state or process behind after a passing run, a failing run
//   and a SIGKILLed test (its watcher), nor after a SIGKILLed test whose watcher died too (the sweep).
// - 2 and 3 ranks on separate hosts end 3 epochs with the single process's metrics and weights, to the
//   tolerance of the shared-memory test (test/distributed.equivalence.test.ts), and a checkpoint written by
//   rank 0 on a 3-host run resumes in a single process and ends on the single process's weights.
// Skipped with the reason without root, namespaces or Open MPI; in CI a skip is a failure.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { nativeBackend } from "./helpers.js";
import { CLI, listCheckpoints, sleep } from "./reliabilityHelpers.js";
import { maxRelDiff, readWeights, relDiff } from "./distributedHelpers.js";
import { Cluster, hostPids, leftovers, multihostSkip, sweep } from "./multihostHarness.js";

const skip = !nativeBackend ? "the native backend is not built here" : multihostSkip();
const work = mkdtempSync(join(tmpdir(), "alexnet-multihost-"));
const CHILD = fileURLToPath(new URL("./multihost/clusterChild.js", import.meta.url));
let cluster: Cluster | null = null;

before(() => {
  if (!skip) sweep();
});
after(() => {
  cluster?.down();
  if (!skip) sweep();
  rmSync(work, { recursive: true, force: true });
});

const nothingLeft = (l: ReturnType<typeof leftovers>): boolean => l.namespaces.length === 0 && !l.state && l.pids.length === 0;

async function until(test: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (test()) return (Date.now() - start) / 1000;
    await sleep(100);
  }
  return -1;
}

/** A child test process owning a cluster with a running job; resolves with the cluster's name. */
function child(mode: string): Promise<{ name: string; pids: number; proc: ReturnType<typeof spawn>; exited: Promise<number | null>; err: () => string }> {
  const proc = spawn(process.execPath, [CHILD, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    proc.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve({ ...(JSON.parse(line) as { name: string; pids: number }), proc, exited, err: () => err });
    });
    void exited.then((code) => reject(new Error(`the child exited (${code}) before its cluster was up: ${err}`)));
  });
}

describe("multi-host harness: nothing left behind", { skip }, () => {
  it("a passing run: down() removes the namespaces, the bridge, the state and every process of the job", async () => {
    const c = Cluster.up(2, "pass");
    const job = c.spawnCommand(2, ["sleep", "300"]);
    const exited = new Promise((resolve) => job.on("exit", resolve));
    assert.ok(await until(() => ["h1", "h2"].every((h) => hostPids(c.name, h, (cmd) => cmd[0] === "sleep").length > 0), 30_000) >= 0, "the job did not start");
    const before = c.leftovers();
    assert.equal(before.namespaces.length, 4, `namespaces: ${before.namespaces.join(" ")}`); // switch, launcher, h1, h2
    c.down();
    await exited;
    const left = c.leftovers();
    console.log(`passing run: ${before.namespaces.length} namespaces and ${before.pids.length} processes (mpirun, 2 daemons, 2 ranks, agents) before down(), ` +
      `${left.namespaces.length} and ${left.pids.length} after`);
    assert.ok(nothingLeft(left), JSON.stringify(left));
  });

  it("a failing run (an uncaught error in the test process): its exit removes the cluster", async () => {
    const c = await child("fail");
    const code = await c.exited;
    assert.equal(code, 1);
    assert.match(c.err(), /a failing test, with its cluster up and its job running/);
    const left = leftovers(c.name);
    console.log(`failing run: ${c.pids} processes in ${c.name} while it ran; after its exit: ${JSON.stringify(left)}`);
    assert.ok(nothingLeft(left), JSON.stringify(left));
  });

  it("a SIGKILLed test: its cluster's watcher removes everything within seconds", async () => {
    const c = await child("wait");
    c.proc.kill("SIGKILL");
    await c.exited;
    const seconds = await until(() => nothingLeft(leftovers(c.name)), 15_000);
    console.log(`SIGKILLed test: ${c.pids} processes in ${c.name}; all gone ${seconds.toFixed(1)} s after the kill`);
    assert.ok(seconds >= 0, JSON.stringify(leftovers(c.name)));
  });

  it("a SIGKILLed test whose watcher was killed too: the next sweep removes everything", async () => {
    const c = await child("wait-unwatched");
    c.proc.kill("SIGKILL");
    await c.exited;
    await sleep(1500);
    const before = leftovers(c.name);
    assert.ok(before.namespaces.length > 0 && before.pids.length > 0, "expected the cluster to outlive its owner without a watcher");
    sweep();
    const left = leftovers(c.name);
    console.log(`SIGKILLed test without a watcher: ${before.namespaces.length} namespaces and ${before.pids.length} processes left, after sweep(): ${JSON.stringify(left)}`);
    assert.ok(nothingLeft(left), JSON.stringify(left));
  });
});

const RUN = ["--variant", "28", "--width-scale", "0.125", "--seed", "0", "--test-limit", "256", "--epochs", "3", "--train-limit", "1024",
  "--batch-size", "32", "--plain", "--threads", "1"];

interface Run { final: string; weights: Map<string, Float32Array>; stdout: string }

function finish(what: string, r: { status: number | null; stdout: string; stderr: string }, dir: string): Run {
  assert.equal(r.status, 0, `${what} failed: ${r.stderr}`);
  const final = /loss [\d.]+, train acc [\d.]+, test acc [\d.]+/.exec(r.stdout)?.[0];
  assert.ok(final, `${what}: no final line in ${r.stdout}`);
  assert.ok(existsSync(join(dir, "model.safetensors")));
  return { final, weights: readWeights(join(dir, "model.safetensors")), stdout: r.stdout };
}

function single(dir: string, args: string[]): Run {
  return finish("one process", spawnSync(process.execPath, [CLI, "train", ...args, "--run-dir", dir], { encoding: "utf8", timeout: 300_000 }), dir);
}

function hosts(ranks: number, dir: string, args: string[]): Run {
  const r = cluster!.run(ranks, [CLI, "train", ...args, "--distributed", "--run-dir", dir]);
  const run = finish(`${ranks} hosts`, r, dir);
  assert.match(r.stdout, new RegExp(`examples/sec on cpu \\(native, ${ranks} ranks x 1 thread\\)`));
  // Every host is another machine to the ranks: no Open MPI warning, and no keepalive warning (cluster.sh passes it).
  assert.doesNotMatch(r.stderr, /warning/i, r.stderr);
  return run;
}

/** The shared-memory test's tolerance: loss to 3 decimals, accuracies to a few examples, weights 1e-3 (L2). */
function compare(what: string, one: Run, many: Run): void {
  const parse = (s: string): number[] => s.match(/[\d.]+/g)!.map(Number);
  const [l1, tr1, te1] = parse(one.final);
  const [l2, tr2, te2] = parse(many.final);
  assert.equal(l2!.toFixed(3), l1!.toFixed(3), `${what}: ${many.final} vs ${one.final}`);
  assert.ok(Math.abs(tr2! - tr1!) <= 0.004 && Math.abs(te2! - te1!) <= 0.01, `${what}: ${many.final} vs ${one.final}`);
  const names = [...one.weights.keys()];
  const whole = relDiff(names.map((n) => many.weights.get(n)!), names.map((n) => one.weights.get(n)!));
  const perTensor = Math.max(...names.map((n) => maxRelDiff(many.weights.get(n)!, one.weights.get(n)!)));
  console.log(`${what}: 1 process "${one.final}", "${many.final}", weights within ${whole.toExponential(2)} relative ` +
    `(L2, limit 1e-3; largest per-tensor max-abs ${perTensor.toExponential(2)})`);
  assert.ok(whole <= 1e-3, `${what}: weights differ by ${whole.toExponential(2)} relative`);
}

describe("multi-host: training over TCP between hosts equals one process", { skip }, () => {
  let reference: Run | null = null;
  const ref = (): Run => (reference ??= single(join(work, "one"), RUN));

  it("2 ranks on 2 hosts: 3 epochs on 1,024 examples, batch 32", () => {
    cluster ??= Cluster.up(3);
    compare("2 hosts over TCP", ref(), hosts(2, join(work, "two"), RUN));
  });

  it("3 ranks on 3 hosts (batch 32 as 11 + 11 + 10 rows), and rank 0's checkpoint resumes in one process", () => {
    cluster ??= Cluster.up(3);
    const dir = join(work, "three");
    compare("3 hosts over TCP", ref(), hosts(3, dir, [...RUN, "--checkpoint-every", "8"]));
    // The newest checkpoint but one (step 88 of 96), as rank 0 wrote it, continued by a single process.
    const { steps } = listCheckpoints(dir);
    assert.ok(steps.length >= 2 && steps.at(-1) === 96, `checkpoints: ${steps.join(", ")}`);
    const resumed = join(work, "resumed");
    cpSync(dir, resumed, { recursive: true });
    rmSync(join(resumed, "checkpoints", `step-${String(96).padStart(9, "0")}`), { recursive: true });
    const r = spawnSync(process.execPath, [CLI, "train", "--resume", resumed, "--plain", "--threads", "1"], { encoding: "utf8", timeout: 300_000 });
    assert.match(r.stderr, new RegExp(`resuming ${resumed} from .*step ${steps.at(-2)}`), r.stderr);
    compare(`3 hosts' checkpoint at step ${steps.at(-2)} resumed in one process`, ref(), finish("resume", r, resumed));
  });
});

// `alexnet launch` (src/cli/launch.ts) and the relay of mpirun's tagged output (src/distributed/mpirunOutput.ts),
// without Open MPI: the relay on chunks cut anywhere, the plan's mpirun arguments, and the launcher around a
// stand-in mpirun (a shell script) that prints Open MPI's banner before a survivor's line, or never ends
// after a rank stopped. Under a real mpirun on separate hosts: test/distributed.multihost.faults.test.ts.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { MpirunRelay, type RankStream } from "../src/distributed/mpirunOutput.js";
import { planLaunch } from "../src/cli/launch.js";
import { UsageError } from "../src/cli/args.js";
import { runCli } from "./cliProcess.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-launch-"));
after(() => rmSync(work, { recursive: true, force: true }));

function recorder(holdMs: number): { relay: MpirunRelay; events: string[]; stops: string[] } {
  const events: string[] = [];
  const stops: string[] = [];
  const relay = new MpirunRelay({
    rank: (stream: RankStream, text: string) => events.push(`${stream}:${text}`),
    openMpi: (source: RankStream, text: string) => events.push(`ompi-${source}:${text}`),
    stopping: (rank, line) => stops.push(`${rank}|${line}`),
  }, holdMs);
  return { relay, events, stops };
}

const BANNER = "-------\nPrimary job  terminated normally, but 1 process returned\n";
const LOST = "alexnet: rank 0 of 3: lost rank 1 on h2 (its process is gone); stopping\n";

describe("the relay of mpirun --tag-output", () => {
  it("strips the tags, routes each rank's text to its stream, and reads tags cut between chunks", () => {
    const { relay, events } = recorder(0);
    const text = "[1,0]<stdout>:hello\n[1,1]<stderr>:warn\n[1,1]<stdout>:partial[1,0]<stdout>:partial[1,1]<stdout>: rest\n[1,0]<stddiag>:diag\n";
    for (const cut of [1, 3, 7, 13]) {
      events.length = 0;
      for (let i = 0; i < text.length; i += cut) relay.push("stdout", text.slice(i, i + cut));
      relay.end();
      const joined = (s: string) => events.filter((e) => e.startsWith(`${s}:`)).map((e) => e.slice(s.length + 1)).join("");
      assert.equal(joined("stdout"), "hello\npartialpartial rest\n", `chunks of ${cut}`);
      assert.equal(joined("stderr"), "warn\ndiag\n", `chunks of ${cut}`);
      assert.ok(!events.some((e) => e.startsWith("ompi")), `chunks of ${cut}: ${events.join("|")}`);
    }
  });

  it("holds Open MPI's lines: a rank line that comes after the banner, within the hold, goes out first", () => {
    const { relay, events } = recorder(60_000);
    relay.push("stderr", BANNER);
    relay.push("stderr", `[1,0]<stderr>:${LOST}`);
    relay.push("stderr", "[h2:00012] a daemon's line\n");
    relay.end();
    assert.deepEqual(events, [`stderr:${LOST}`, "ompi-stderr:-------\n",
      "ompi-stderr:Primary job  terminated normally, but 1 process returned\n", "ompi-stderr:[h2:00012] a daemon's line\n"]);
  });

  it("lets Open MPI's lines go after the hold, in their order, without waiting for the end", async () => {
    const { relay, events } = recorder(50);
    relay.push("stderr", "first\nsecond\n");
    assert.deepEqual(events, []);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(events, ["ompi-stderr:first\n", "ompi-stderr:second\n"]);
    relay.end();
  });

  it("reports the first line in which a rank stops, also when it came in pieces", () => {
    const { relay, stops } = recorder(0);
    relay.push("stdout", "[1,2]<stderr>:alexnet: rank 2 of 3: lost rank 1 on h2 ");
    relay.push("stdout", "[1,0]<stdout>:epoch 1\n[1,2]<stderr>:(its process is gone); stopping\n");
    relay.push("stdout", `[1,0]<stderr>:${LOST}`);
    relay.end();
    assert.deepEqual(stops, ["2|alexnet: rank 2 of 3: lost rank 1 on h2 (its process is gone); stopping"]);
  });
});

describe("alexnet launch: the mpirun command it runs", () => {
  it("adds --tag-output, the keepalive for the collective timeout, node with our CLI and --distributed", () => {
    const plan = planLaunch(["--hostfile", "hosts", "-np", "4", "--", "train", "--variant", "28", "--collective-timeout", "16"], {})!;
    assert.equal(plan.program, "mpirun");
    assert.equal(plan.timeoutSeconds, 16);
    const at = plan.args.indexOf(process.execPath);
    assert.deepEqual(plan.args.slice(0, 5), ["--hostfile", "hosts", "-np", "4", "--tag-output"]);
    // keepaliveFor(16): interval 2 s, 9 probes, time 5 s (the README's rule)
    assert.deepEqual(plan.args.slice(5, at), ["--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2", "--mca", "oob_tcp_keepalive_probes", "9"]);
    assert.match(plan.args[at + 1]!, /cli[/\\]main\.js$/);
    assert.deepEqual(plan.args.slice(at + 2), ["train", "--distributed", "--variant", "28", "--collective-timeout", "16"]);
  });

  it("keeps the user's keepalive, --mpirun and $ALEXNET_MPIRUN, --hold, and the timeout from the environment", () => {
    const plan = planLaunch(["--mpirun=/opt/ompi/bin/mpirun", "--hold", "0.5", "--mca", "oob_tcp_keepalive_time", "7", "--", "bench", "--distributed"],
      { ALEXNET_MPI_TIMEOUT: "12" })!;
    assert.equal(plan.program, "/opt/ompi/bin/mpirun");
    assert.equal(plan.holdMs, 500);
    assert.equal(plan.timeoutSeconds, 12);
    assert.equal(plan.args.filter((a) => a.startsWith("oob_tcp_keepalive")).length, 1);
    assert.equal(plan.args.filter((a) => a === "--distributed").length, 1);
    assert.equal(planLaunch(["--", "train"], { ALEXNET_MPIRUN: "my-mpirun" })!.program, "my-mpirun");
  });

  it("refuses what it cannot run, in one line; --help is the usage", () => {
    assert.throws(() => planLaunch(["-np", "2", "train"], {}), (e: Error) => e instanceof UsageError && /after --/.test(e.message));
    assert.throws(() => planLaunch(["-np", "2", "--", "trian"], {}), /not 'trian'; did you mean train\?/);
    assert.throws(() => planLaunch(["--"], {}), /no command after --/);
    assert.throws(() => planLaunch(["--hold", "-1", "--", "train"], {}), /--hold must be/);
    assert.equal(planLaunch(["-np", "2", "--help"], {}), null);
  });
});

/** A stand-in mpirun: records its arguments, then plays `mode`. */
function fakeMpirun(mode: "banner-first" | "never-ends" | "child-holds-pipes"): string {
  const path = join(work, `mpirun-${mode}.sh`);
  const script = mode === "banner-first"
    ? `printf '%s\\n' "$@" > ${JSON.stringify(join(work, "args"))}
printf '[1,0]<stdout>:epoch 1/1 batch 1/8\\n'
printf -- '----\\nPrimary job  terminated normally, but 1 process returned\\n' >&2
sleep 0.3
printf '[1,0]<stderr>:${LOST.trim()}\\n' >&2
exit 137`
    : mode === "child-holds-pipes"
    ? `printf '[1,0]<stdout>:done\\n'
sleep 5 &
exit 5`
    : `printf '[1,0]<stderr>:${LOST.trim()}\\n' >&2
trap 'echo "mpirun: got SIGTERM" >&2; exit 143' TERM
while :; do sleep 0.1; done`;
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

function launch(args: string[]): Promise<{ code: number | null; out: string; err: string; seconds: number }> {
  return runCli(["launch", ...args]).then((r) => ({ code: r.code, out: r.stdout, err: r.stderr, seconds: r.seconds }));
}

describe("alexnet launch around a stand-in mpirun", () => {
  it("prints the survivor's line before Open MPI's banner that came first, untagged, and exits with mpirun's code", async () => {
    const r = await launch(["--mpirun", fakeMpirun("banner-first"), "-np", "3", "--", "train", "--variant", "28"]);
    assert.equal(r.code, 137);
    assert.equal(r.out, "epoch 1/1 batch 1/8\n");
    assert.equal(r.err, `${LOST}----\nPrimary job  terminated normally, but 1 process returned\n`);
    const args = readFileSync(join(work, "args"), "utf8").split("\n");
    assert.ok(args.includes("--tag-output") && args.includes("oob_tcp_keepalive_probes"), args.join(" "));
  });

  it("ends an mpirun that still runs the collective timeout after a rank stopped (SIGTERM), with its line", async () => {
    const r = await launch(["--mpirun", fakeMpirun("never-ends"), "--", "train", "--collective-timeout", "1"]);
    assert.equal(r.code, 143);
    assert.equal(r.err, `${LOST}alexnet launch: mpirun still runs 1 s after rank 0 stopped; ending it\nmpirun: got SIGTERM\n`);
    assert.ok(r.seconds < 10, `${r.seconds} s`);
  });

  it("ends when mpirun exits, though a child of mpirun (a cut-off host's rsh agent) still holds its pipes", async () => {
    const r = await launch(["--mpirun", fakeMpirun("child-holds-pipes"), "--", "train"]);
    assert.equal(r.code, 5);
    assert.equal(r.out, "done\n");
    assert.ok(r.seconds < 4, `${r.seconds} s`);
  });

  it("says so in one line when there is no mpirun", async () => {
    const r = await launch(["--mpirun", join(work, "no-such-mpirun"), "--", "train"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^alexnet launch: cannot run '.*no-such-mpirun': no such program/);
  });
});

// Several hosts on one machine for test/distributed.multihost*.test.ts, around scripts/multihost/cluster.sh:
// network namespaces on a bridge of their own (no traffic leaves them), ranks started by mpirun through an
// rsh agent that enters a host's namespace with its own hostname and pid namespace, TCP forced. Every
// cluster is named anmh-<owner pid>[-tag]; it is torn down by down() (each test file's after() and this
// process's exit), by its watcher as soon as its owner is gone (a SIGKILLed test), and by sweep() (which
// every test file runs at start and at exit) for any cluster whose owner is gone.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CLI } from "./cliProcess.js";
import { mpiSkip } from "./distributedHelpers.js";

export const CLUSTER_SH = fileURLToPath(new URL("../../scripts/multihost/cluster.sh", import.meta.url));
export const PREFIX = "anmh-";
export const STATE_ROOT = "/run/alexnet-multihost";

function sh(args: string[], timeoutMs = 60_000): SpawnSyncReturns<string> {
  return spawnSync(CLUSTER_SH, args, { encoding: "utf8", timeout: timeoutMs });
}

/** Why the multi-host tests cannot run here, or false. In CI (or with ALEXNET_EXPECT_MULTIHOST=1) that is a
 * failure, not a skip: CI runs as root, and these tests must run there. */
export function multihostSkip(): string | false {
  let reason: string | null = null;
  const mpi = mpiSkip();
  if (mpi) reason = mpi;
  else if (process.platform !== "linux") reason = "network namespaces need Linux";
  else if (process.getuid?.() !== 0) reason = "network namespaces need root (CI runs as root)";
  else if (spawnSync("ip", ["-V"]).status !== 0) reason = "iproute2 (ip netns) is not installed";
  else if (spawnSync("unshare", ["--version"]).status !== 0) reason = "util-linux's unshare is not installed";
  else {
    const probe = spawnSync("unshare", ["--net", "--uts", "--pid", "--fork", "--mount-proc", "true"], { encoding: "utf8" });
    if (probe.status !== 0) reason = `namespaces are not permitted here (${probe.stderr.trim().split("\n")[0]})`;
  }
  if (!reason) return false;
  if (process.env.CI || process.env.ALEXNET_EXPECT_MULTIHOST === "1") {
    throw new Error(`the multi-host tests are expected to run (CI or ALEXNET_EXPECT_MULTIHOST=1): ${reason}`);
  }
  return reason;
}

/** Removes every cluster whose owner is gone (and namespaces an interrupted teardown left). */
export function sweep(): void {
  sh(["sweep"]);
}

/** What is left of a cluster: its namespaces, its state directory, the processes in its namespaces. */
export function leftovers(name: string): { namespaces: string[]; state: boolean; pids: number[] } {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  const namespaces = list.split("\n").map((l) => l.split(" ")[0]!).filter((n) => n.startsWith(`${name}-`));
  const inodes = new Set<string>();
  for (const ns of namespaces) {
    const r = spawnSync("stat", ["-L", "-c", "%i", `/run/netns/${ns}`], { encoding: "utf8" });
    if (r.status === 0) inodes.add(`net:[${r.stdout.trim()}]`);
  }
  const pids: number[] = [];
  if (inodes.size) {
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (inodes.has(readlinkSync(`/proc/${p}/ns/net`))) pids.push(Number(p));
      } catch {
        // gone meanwhile
      }
    }
  }
  return { namespaces, state: existsSync(`${STATE_ROOT}/${name}`), pids };
}

/** The processes of a cluster host (by network namespace) whose command line matches. */
export function hostPids(name: string, host: string, match: (cmdline: string[]) => boolean): number[] {
  const r = sh(["pids", name, host]);
  return r.stdout.split("\n").filter(Boolean).map(Number).filter((pid) => {
    try {
      return match(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"));
    } catch {
      return false;
    }
  });
}

export const MPIRUN_EXTRA = ["--allow-run-as-root", "--oversubscribe"];

export class Cluster {
  private constructor(readonly name: string, readonly hosts: number) {}

  /** hosts h1..hN (10.231.0.11...) and the launcher (10.231.0.1), owned by this process. */
  static up(hosts: number, tag?: string): Cluster {
    const r = sh(["up", String(hosts), "--owner", String(process.pid), ...(tag ? ["--tag", tag] : [])]);
    if (r.status !== 0) throw new Error(`cluster.sh up ${hosts} failed: ${r.stderr}`);
    const cluster = new Cluster(r.stdout.trim(), hosts);
    // Also when the test process exits without its after() hooks (an uncaught error, process.exit).
    process.on("exit", () => cluster.down());
    return cluster;
  }

  private args(ranks: number, command: string[]): string[] {
    return ["mpirun", this.name, ...MPIRUN_EXTRA, "-np", String(ranks), ...command];
  }

  /** mpirun on the first `ranks` hosts (one rank each): Node with these arguments. */
  run(ranks: number, nodeArgs: string[], options: { timeoutMs?: number } = {}): SpawnSyncReturns<string> {
    return spawnSync(CLUSTER_SH, this.args(ranks, [process.execPath, ...nodeArgs]), { encoding: "utf8", timeout: options.timeoutMs ?? 300_000 });
  }

  spawn(ranks: number, nodeArgs: string[]): ChildProcess {
    return spawn(CLUSTER_SH, this.args(ranks, [process.execPath, ...nodeArgs]), { stdio: ["ignore", "pipe", "pipe"] });
  }

  /** `alexnet launch` on the first `ranks` hosts with this cluster's mpirun: the alexnet command and flags. */
  spawnLaunch(ranks: number, alexnetArgs: string[]): ChildProcess {
    return spawn(process.execPath, [CLI, "launch", "--mpirun", `${STATE_ROOT}/${this.name}/mpirun`, ...MPIRUN_EXTRA, "-np", String(ranks), "--", ...alexnetArgs],
      { stdio: ["ignore", "pipe", "pipe"] });
  }

  /** Any command under mpirun (e.g. `sleep`), for the harness's own tests. */
  spawnCommand(ranks: number, command: string[]): ChildProcess {
    return spawn(CLUSTER_SH, this.args(ranks, command), { stdio: ["ignore", "pipe", "pipe"] });
  }

  /** The host's link goes down (as a cable pulled or a switch port lost). */
  cut(host: string): void {
    const r = sh(["cut", this.name, host]);
    if (r.status !== 0) throw new Error(`cut ${host}: ${r.stderr}`);
  }

  /** The pid (seen from here) of the rank's Node process on a host. */
  rankPid(host: string): number | null {
    return hostPids(this.name, host, (c) => c[0] === process.execPath && c.some((a) => a.endsWith("main.js")))[0] ?? null;
  }

  /** The pid (seen from here) of Open MPI's daemon on a host. */
  daemonPid(host: string): number | null {
    return hostPids(this.name, host, (c) => /(^|\/)orted$/.test(c[0]!))[0] ?? null;
  }

  leftovers(): ReturnType<typeof leftovers> {
    return leftovers(this.name);
  }

  down(): void {
    sh(["down", this.name]);
  }
}

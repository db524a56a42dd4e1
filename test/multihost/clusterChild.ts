// A test process that owns a cluster with a running mpirun job, for the harness's own test
// (test/distributed.multihost.test.ts): `fail` ends with an uncaught error (a failing test), `wait` waits
// to be SIGKILLed; `wait-unwatched` also kills the cluster's watcher first, leaving the cleanup to sweep().
import { readFileSync } from "node:fs";
import { Cluster, hostPids, STATE_ROOT } from "../multihostHarness.js";

const mode = process.argv[2];
const cluster = Cluster.up(2, "child");
cluster.spawnCommand(2, ["sleep", "300"]);
const end = Date.now() + 30_000;
while (["h1", "h2"].some((h) => hostPids(cluster.name, h, (c) => c[0] === "sleep").length === 0)) {
  if (Date.now() > end) throw new Error("the job's ranks did not start");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
}
if (mode === "wait-unwatched") process.kill(Number(readFileSync(`${STATE_ROOT}/${cluster.name}/watcher`, "utf8")), "SIGKILL");
console.log(JSON.stringify({ name: cluster.name, pids: cluster.leftovers().pids.length }));
if (mode === "fail") throw new Error("a failing test, with its cluster up and its job running");
setInterval(() => {}, 1000);

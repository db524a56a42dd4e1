// Shared by test/distributed.*.test.ts: whether Open MPI and our MPI addon are here (else the reason to
// skip, or a failure in CI), mpirun on loopback as CI runs it (--oversubscribe --allow-run-as-root), safetensors weights, and
// the relative difference the limits are stated in.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { decodeSafetensors } from "../src/checkpoint/safetensors.js";

const ADDON = fileURLToPath(new URL("../../build/Release/alexnet_mpi.node", import.meta.url));

/** Why the distributed tests cannot run here, or false. In CI (or with ALEXNET_EXPECT_MPI=1) a missing
 * Open MPI is a failure, not a skip: the Quick start installs it, so the tests must not pass without it. */
export function mpiSkip(): string | false {
  const probe = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  let reason: string | null = null;
  if (probe.error || probe.status !== 0) reason = "Open MPI is not installed (apt-get install openmpi-bin libopenmpi-dev)";
  else if (!existsSync(ADDON)) reason = "the MPI addon is not built (npm rebuild with Open MPI installed)";
  if (!reason) return false;
  if (process.env.CI || process.env.ALEXNET_EXPECT_MPI === "1") throw new Error(`Open MPI is expected (CI or ALEXNET_EXPECT_MPI=1): ${reason}`);
  return reason;
}

export const MPIRUN_FLAGS = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader", "--bind-to", "none"];

export function mpirun(ranks: number, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync("mpirun", [...MPIRUN_FLAGS, "-np", String(ranks), process.execPath, ...args], {
    encoding: "utf8", timeout: options.timeoutMs ?? 300_000, env: { ...process.env, ...options.env },
  });
}

export function spawnMpirun(ranks: number, args: string[]): ChildProcess {
  return spawn("mpirun", [...MPIRUN_FLAGS, "-np", String(ranks), process.execPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** ||a - b|| / ||b|| (L2 norms) over one or several tensors: the relative difference the limits mean. */
export function relDiff(a: Float32Array | Float32Array[], b: Float32Array | Float32Array[]): number {
  const [as, bs] = [Array.isArray(a) ? a : [a], Array.isArray(b) ? b : [b]];
  let num = 0;
  let den = 0;
  bs.forEach((t, k) => {
    for (let i = 0; i < t.length; i++) {
      num += (as[k]![i]! - t[i]!) ** 2;
      den += t[i]! ** 2;
    }
  });
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** max |a - b| / max |b| of one tensor (a stricter view, printed beside the L2 one). */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

export function readWeights(path: string): Map<string, Float32Array> {
  const decoded = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  return new Map([...decoded.tensors].map(([name, t]) => [name, t.data]));
}

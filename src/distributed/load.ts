// Loads the optional Open MPI addon (build/Release/alexnet_mpi.node, built by scripts/build-mpi.mjs) for
// `--distributed`. Node-only, and imported only when --distributed is given, so a single process never
// touches libmpi. Every way this can fail is one line: not started by mpirun, Open MPI not installed (the
// addon was not built, with the build's reason), or the addon does not load.
// ALEXNET_MPI_ADDON overrides the addon's path (tests use it to play a machine without Open MPI).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const MPI_FIX = "apt-get install openmpi-bin libopenmpi-dev && npm rebuild";

/** The functions alexnet_mpi.node exports (native/mpi/mpi.cc). */
export interface MpiAddon {
  /** links: peers with a liveness link (a TCP connection outside MPI that closes when the peer's process ends). */
  Init(timeoutSeconds: number): { rank: number; size: number; host: string; links: number };
  SetPeerPids(pids: number[]): void;
  AllreduceAsync(data: Float32Array | Float64Array, scale: number): number;
  /** Blocks until the job is done; returns the seconds the communication thread spent on it. */
  Wait(id: number): number;
  Allgather(text: string, startUp?: boolean): string[];
  Finalize(): void;
  Exit(code: number, line?: string): never;
  CommSeconds(): number;
  version: string;
}

/** Thrown for every reason --distributed cannot start; the CLI prints its message as one line. */
export class DistributedUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DistributedUnavailable";
  }
}

/** Open MPI's launcher sets these in every rank it starts (PMIx in 4.x, the OMPI_ ones since 1.x). */
export function underMpirun(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OMPI_COMM_WORLD_SIZE || env.PMIX_RANK);
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "src"))) {
    const up = dirname(dir);
    if (up === dir) return dirname(fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

function buildReason(root: string): string {
  try {
    const status = JSON.parse(readFileSync(join(root, "build", "mpi-status.json"), "utf8")) as { ok?: boolean; reason?: string };
    if (status.ok === false && status.reason) return status.reason;
  } catch {
    // the build never ran
  }
  return "the MPI addon (build/Release/alexnet_mpi.node) was not built";
}

export function loadMpiAddon(): MpiAddon {
  const root = packageRoot();
  const path = process.env.ALEXNET_MPI_ADDON ?? join(root, "build", "Release", "alexnet_mpi.node");
  if (!existsSync(path)) {
    throw new DistributedUnavailable(`--distributed needs Open MPI: ${buildReason(root)}; install it with: ${MPI_FIX}`);
  }
  if (!underMpirun()) {
    throw new DistributedUnavailable("--distributed must be started by mpirun, e.g. `mpirun -np 2 npx alexnet train --distributed ...`");
  }
  try {
    return createRequire(import.meta.url)(path) as MpiAddon;
  } catch (e) {
    const first = String((e as Error).message).split("\n")[0];
    throw new DistributedUnavailable(`--distributed needs Open MPI: the MPI addon does not load (${first}); install it with: ${MPI_FIX}`);
  }
}

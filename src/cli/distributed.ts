// The command-line glue of `--distributed` for train and bench: the flags, starting the session (one line
// when MPI is unavailable), agreeing on rank 0's run directory, sharding a data set for evaluation, the
// report's device string (`cpu (native, 2 ranks x 1 thread)`), and a stream that swallows the progress of
// ranks other than 0.
import { Writable } from "node:stream";
import type { ImageDataset } from "../data/batch.js";
import type { FlagSpecs, ParsedFlags } from "./args.js";
import { DistributedUnavailable } from "../distributed/load.js";
import { DistributedSession, timeoutFromEnv } from "../distributed/session.js";

export const DISTRIBUTED_FLAGS: FlagSpecs = {
  distributed: { type: "boolean", help: "data-parallel over the ranks mpirun started (see README, More machines)" },
  "collective-timeout": { type: "number", min: 1, help: "seconds a collective waits for the other ranks (default 30, or $ALEXNET_MPI_TIMEOUT)" },
};

/** Starts MPI when --distributed is given; null otherwise. Unavailability is one line and exit code 1. */
export function startDistributed(flags: ParsedFlags): DistributedSession | null {
  if (!flags.distributed) return null;
  try {
    return DistributedSession.start(timeoutFromEnv(flags["collective-timeout"] as number | undefined));
  } catch (e) {
    if (e instanceof DistributedUnavailable) {
      console.error(`alexnet: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
}

/** Rank 0's value of something each rank computed (the default run directory is a date and time). */
export function rankZeroValue(session: DistributedSession, value: string): string {
  return session.agree(value);
}

/** This rank's contiguous part of the first `limit` examples (evaluation sums counts, so order is free). */
export function shardDataset(session: DistributedSession, data: ImageDataset, limit: number | undefined): ImageDataset {
  const total = Math.min(limit ?? data.count, data.count);
  const { start, count } = session.datasetShard(total);
  const px = data.rows * data.cols;
  return { ...data, count, images: data.images.subarray(start * px, (start + count) * px), labels: data.labels.subarray(start, start + count) };
}

export function describeWorld(device: string, session: DistributedSession | null): string {
  if (!session) return device;
  return device.replace(/(\d+ threads?)/, `${session.size} ranks x $1`);
}

/** Progress of ranks other than 0 goes nowhere (rank 0 prints for the run). */
export function silentStream(): NodeJS.WriteStream {
  return new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
}

// One rank's view of a data-parallel run: starts MPI through the addon, learns the world (rank, size, which
// ranks share this host, for thread defaults and pid-based liveness checks), refuses mismatched settings
// at start-up, and gives the trainer its DistributedHooks: the shard of each global batch, the dropout row
// offset, the gradient allreduce and the sums of metrics and evaluation counts.
import { cpus, hostname } from "node:os";
import { setAutogradLeafObserver } from "../tensor/autograd.js";
import { setDropoutRowOffset } from "../tensor/functional.js";
import type { Tensor } from "../tensor/tensor.js";
import type { DistributedHooks } from "../train/trainer.js";
import { DEFAULT_BUCKET_BYTES, GradientAllreducer } from "./gradients.js";
import { loadMpiAddon, type MpiAddon } from "./load.js";
import { globalBatchRows, shardOf, type Shard } from "./sampler.js";
import { describeDifference } from "./settings.js";
import { keepaliveFlags, keepaliveFor, keepaliveFromEnv, keepaliveProblem } from "./keepalive.js";

export { DEFAULT_TIMEOUT_SECONDS, timeoutFromEnv } from "./keepalive.js";


export class DistributedSession {
  readonly rank: number;
  readonly size: number;
  readonly host: string;
  /** Ranks on this host, and this rank's index among them. */
  readonly localSize: number;
  readonly localRank: number;
  /** Hosts the ranks are on. */
  readonly hosts: number;
  /** Peers this rank has a liveness link to (all of them unless a network refused one). */
  readonly links: number;
  private allreducer: GradientAllreducer | null = null;
  private finalized = false;

  private constructor(private readonly mpi: MpiAddon, timeoutSeconds: number) {
    const world = mpi.Init(timeoutSeconds);
    this.rank = world.rank;
    this.size = world.size;
    // MPI's processor name can differ from os.hostname() in containers; the pair is what must match.
    const me = `${process.pid} ${world.host}|${hostname()}`;
    const all = mpi.Allgather(me, true).map((s) => {
      const space = s.indexOf(" ");
      return { pid: Number(s.slice(0, space)), host: s.slice(space + 1) };
    });
    this.host = world.host;
    const mine = all[this.rank]!.host;
    const local = all.map((p, r) => ({ ...p, r })).filter((p) => p.host === mine);
    this.localSize = local.length;
    this.localRank = local.findIndex((p) => p.r === this.rank);
    this.hosts = new Set(all.map((p) => p.host)).size;
    this.links = world.links;
    mpi.SetPeerPids(all.map((p) => (p.host === mine ? p.pid : -1)));
    // Several hosts: a lost host ends mpirun only through Open MPI's keepalive (src/distributed/keepalive.ts).
    const problem = this.hosts > 1 ? keepaliveProblem(keepaliveFromEnv(), timeoutSeconds) : null;
    if (problem && this.rank === 0) {
      console.error(`alexnet: warning: the ranks are on ${this.hosts} hosts, and ${problem}; for a collective timeout of ${timeoutSeconds} s ` +
        `pass mpirun ${keepaliveFlags(keepaliveFor(timeoutSeconds)).join(" ")} (see README, More machines)`);
    }
  }

  static start(timeoutSeconds: number): DistributedSession {
    return new DistributedSession(loadMpiAddon(), timeoutSeconds);
  }

  /** Compute threads for this rank when --threads is not given: this machine's cores over its ranks. */
  defaultThreads(): number {
    return Math.max(1, Math.floor(cpus().length / this.localSize));
  }

  /** Compares every rank's settings (flags, data checksum, code version) with rank 0's; the message names
   * the first rank that differs and how, or null when all agree. Every rank gets the same answer. */
  checkSettings(settings: Record<string, unknown>): string | null {
    const all = this.mpi.Allgather(JSON.stringify(settings), true);
    for (let r = 1; r < all.length; r++) {
      if (all[r] !== all[0]) {
        return `rank ${r} was started with other settings than rank 0 (${describeDifference(JSON.parse(all[0]!), JSON.parse(all[r]!))}); ` +
          "start every rank with the same flags, data and code";
      }
    }
    return null;
  }

  /** The trainer's hooks for a model with these parameters, trained on `trainSize` examples in batches of
   * `batchSize`; the train loader must deliver this rank's shard of each batch (DataLoader's shard option). */
  hooks(params: readonly Tensor[], trainSize: number, batchSize: number): DistributedHooks {
    // ALEXNET_MPI_BUCKET_MB: the bucket size (default 25 MB, as DDP); tests use small ones to get several.
    const mb = Number(process.env.ALEXNET_MPI_BUCKET_MB);
    const reducer = new GradientAllreducer(this.mpi, params, mb > 0 ? mb * 2 ** 20 : DEFAULT_BUCKET_BYTES);
    this.allreducer = reducer;
    setAutogradLeafObserver((t) => reducer.gradReady(t));
    const sums = new Float64Array(4);
    return {
      beginStep: (batch, rows) => {
        const total = globalBatchRows(trainSize, batchSize, batch);
        const shard = shardOf(total, this.rank, this.size);
        if (shard.count !== rows) throw new Error(`rank ${this.rank} got ${rows} rows of batch ${batch}, its shard has ${shard.count}`);
        setDropoutRowOffset(shard.start);
        reducer.beginStep(rows / total);
      },
      endStep: (lossTimesN, correct, n, stop) => {
        reducer.finish();
        sums.set([lossTimesN, correct, n, stop ? 1 : 0]);
        this.mpi.Wait(this.mpi.AllreduceAsync(sums, 1));
        return { lossSum: sums[0]!, correct: sums[1]!, n: sums[2]!, stop: sums[3]! > 0 };
      },
      reduceCounts: (correct, n) => {
        const a = new Float64Array([correct, n]);
        this.mpi.Wait(this.mpi.AllreduceAsync(a, 1));
        return [a[0]!, a[1]!];
      },
    };
  }

  /** This rank's contiguous part of a whole data set (for sharded evaluation, where order does not matter). */
  datasetShard(count: number): Shard {
    return shardOf(count, this.rank, this.size);
  }

  stats(): { waitSeconds: number; copySeconds: number; steps: number; commSeconds: number; buckets: number } {
    const s = this.allreducer?.stats ?? { waitSeconds: 0, copySeconds: 0, steps: 0 };
    return { ...s, commSeconds: this.mpi.CommSeconds(), buckets: this.allreducer?.bucketCount ?? 0 };
  }

  /** Rank 0's value of a string every rank computed. */
  agree(value: string): string {
    return this.mpi.Allgather(value)[0]!;
  }

  /** Sums a few numbers across ranks (blocking). */
  sum(values: number[]): number[] {
    const a = Float64Array.from(values);
    this.mpi.Wait(this.mpi.AllreduceAsync(a, 1));
    return [...a];
  }

  /** Every rank must call this at the end (a last barrier, then MPI_Finalize). */
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    setAutogradLeafObserver(null);
    setDropoutRowOffset(0);
    this.mpi.Finalize();
  }

  /** Ends this rank at once with one line, without the final barrier (the others see it as lost). */
  abort(code: number, line: string): never {
    return this.mpi.Exit(code, line);
  }
}

// `alexnet bench --distributed` under mpirun: data-parallel training steps on random data (d2l's global
// batch split across the ranks, gradients averaged in buckets during backward), timed like `alexnet bench`
// (median after warm-up). Reports global examples/s and where a step's time goes: JavaScript blocked waiting
// for allreduces (communication not hidden behind backward), the communication thread's busy time (most of
// it overlapped), and copying gradients to and from the buckets. Rank 0 prints.
import { alexNet, alexNetInputShape, initWeights, type AlexNetVariant } from "../models/alexnet.js";
import { selectBackend } from "./backendFlags.js";
import type { ParsedFlags } from "./args.js";
import { SGD } from "../optim/sgd.js";
import { rand } from "../tensor/creation.js";
import { crossEntropy } from "../tensor/functional.js";
import { manualSeed, Rng } from "../tensor/random.js";
import { keep, tidy } from "../tensor/scope.js";
import { describeWorld, startDistributed } from "./distributed.js";
import { shardOf } from "../distributed/sampler.js";

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runDistributedBench(flags: ParsedFlags): Promise<number> {
  const session = startDistributed(flags)!;
  const backend = await selectBackend({ ...flags, threads: (flags.threads as number | undefined) ?? session.defaultThreads(), precision: "fp32" });
  const variant = flags.variant as AlexNetVariant;
  const batch = flags["batch-size"] as number;
  const [steps, warmup] = [flags.steps as number, flags.warmup as number];
  const shard = shardOf(batch, session.rank, session.size);
  if (shard.count === 0) {
    if (session.rank === 0) console.error(`alexnet bench: the batch size ${batch} is smaller than the ${session.size} ranks`);
    session.finalize();
    return 1;
  }
  manualSeed(0);
  const net = await alexNet({ variant }).to(backend);
  initWeights(net);
  net.train();
  const rng = new Rng(1, session.rank);
  const x = keep(rand([shard.count, ...alexNetInputShape({ variant })], { backend, rng }));
  const labels = Int32Array.from({ length: shard.count }, () => rng.nextU32() % 10);
  const opt = new SGD(net.parameters(), { lr: 0.01 });
  const hooks = session.hooks(net.parameters(), batch, batch);
  const gradientBytes = net.parameters().reduce((s, p) => s + p.numel * 4, 0);
  const step = (): void => tidy(() => {
    hooks.beginStep(0, shard.count);
    opt.zeroGrad();
    const loss = crossEntropy(net.call(x), labels);
    const value = loss.item();
    loss.backward();
    hooks.endStep(value * shard.count, 0, shard.count, false);
    opt.step();
  });
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  const before = session.stats();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push((performance.now() - t0) / 1000);
  }
  const after = session.stats();
  opt.dispose();
  x.dispose();
  net.dispose();
  const wall = times.reduce((a, b) => a + b, 0);
  // The slowest rank sets the pace; report rank 0's view of shares and the global median step.
  const slowest = Math.max(...gatherMedians(session, median(times)));
  const result = {
    variant, batch_size: batch, ranks: session.size, threads_per_rank: (backend as { threads?: () => number }).threads?.() ?? 1,
    device: describeWorld(backend.describe(), session), train_examples_per_sec: batch / slowest, step_seconds: slowest,
    wait_share: (after.waitSeconds - before.waitSeconds) / wall, comm_share: (after.commSeconds - before.commSeconds) / wall,
    copy_share: (after.copySeconds - before.copySeconds) / wall, buckets: after.buckets, gradient_mb: gradientBytes / 2 ** 20,
  };
  if (session.rank === 0) {
    if (flags.json) console.log(JSON.stringify(result));
    else {
      console.log(`AlexNet variant ${variant}, global batch ${batch} (${shard.count} on rank 0), on ${result.device}; median of ${steps} steps after ${warmup} warm-up`);
      console.log(`fp32 train: ${result.train_examples_per_sec.toFixed(1)} examples/s (${(slowest * 1000).toFixed(0)} ms/step)`);
      console.log(`       allreduce: waiting ${(100 * result.wait_share).toFixed(1)}% of the step; communication thread busy ${(100 * result.comm_share).toFixed(1)}% ` +
        `(overlapped with backward where not waited for); gradient copies ${(100 * result.copy_share).toFixed(1)}%; ` +
        `${result.buckets} bucket${result.buckets === 1 ? "" : "s"}, ${result.gradient_mb.toFixed(1)} MB of gradients per step`);
    }
  }
  session.finalize();
  return 0;
}

/** Every rank's median step time (the sum of one-hot vectors). */
function gatherMedians(session: ReturnType<typeof startDistributed> & object, mine: number): number[] {
  const v = new Array<number>(session.size).fill(0);
  v[session.rank] = mine;
  return session.sum(v);
}

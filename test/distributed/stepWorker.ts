// One training step of the narrow AlexNet-28 on a fixed random batch, for test/distributed.*.test.ts:
// `node stepWorker.js OUT ROWS [THREADS]` in one process, or under `mpirun -np N ... --distributed` as N ranks that
// each compute their shard and average gradients through the MPI addon. Rank 0 (or the single process)
// writes the parameters' gradients, loss and correct count to OUT as JSON.
import { writeFileSync } from "node:fs";
import { loadNativeBackend } from "../../src/backend/native/load.js";
import { DistributedSession } from "../../src/distributed/session.js";
import { shardOf } from "../../src/distributed/sampler.js";
import { alexNet, initWeights } from "../../src/models/alexnet.js";
import { crossEntropy } from "../../src/tensor/functional.js";
import { manualSeed, Rng } from "../../src/tensor/random.js";
import { tidy } from "../../src/tensor/scope.js";
import { Tensor, tensor } from "../../src/tensor/tensor.js";

const [out, rowsArg, mode] = process.argv.slice(2);
const rows = Number(rowsArg);
const native = loadNativeBackend();
if ("error" in native) throw new Error(native.error);
const backend = native.backend;
backend.setThreads(mode === "--distributed" || mode === undefined ? 1 : Number(mode));
const session = mode === "--distributed" ? DistributedSession.start(30) : null;
manualSeed(0);
const net = await alexNet({ variant: "28", widthScale: 0.125 }).to(backend);
initWeights(net);
net.train();

// The global batch, identical on every rank; each takes its rows.
const rng = new Rng(7, 0);
const pixels = Float32Array.from({ length: rows * 28 * 28 }, () => rng.nextU32() / 2 ** 32);
const labels = Int32Array.from({ length: rows }, () => rng.below(10));
const shard = session ? shardOf(rows, session.rank, session.size) : { start: 0, count: rows };
const x = pixels.subarray(shard.start * 784, (shard.start + shard.count) * 784);
const y = labels.subarray(shard.start, shard.start + shard.count);
const hooks = session?.hooks(net.parameters(), rows, rows);

const result = tidy(() => {
  hooks?.beginStep(0, shard.count);
  const logits = net.call(tensor(x, { shape: [shard.count, 1, 28, 28], backend }));
  const l = crossEntropy(logits, y);
  const value = l.item();
  l.backward();
  const correct = new Tensor(backend.correctCount(logits.storage, y)).item();
  if (!hooks) return { loss: value, correct };
  const sum = hooks.endStep(value * shard.count, correct, shard.count, false);
  return { loss: sum.lossSum / sum.n, correct: sum.correct };
});
const grads = Object.fromEntries(net.namedParameters().map(([name, p]) => [name, Array.from(p.grad!.dataSync())]));
if (!session || session.rank === 0) writeFileSync(out!, JSON.stringify({ ...result, grads, buckets: session?.stats().buckets ?? 0 }));
session?.finalize();

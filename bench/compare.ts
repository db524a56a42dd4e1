// Side-by-side benchmark: `alexnet bench --json` and the PyTorch peer (bench/pytorch_alexnet.py with
// Debian's python3-torch) alternately in one invocation, `--rounds` times each, then medians and ratios.
// Usage: node dist/bench/compare.js [--variant 28|224] [--batch-size 128] [--steps 5] [--rounds 3] [--threads N]
//        [--precision fp32|bf16|both]  (bf16: ours mixed precision against PyTorch's CPU autocast)
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

interface BenchResult {
  device: string;
  train_examples_per_sec: number | null;
  infer_examples_per_sec: number | null;
}

const args = process.argv.slice(2);
const get = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const variant = get("variant", "28");
const batch = get("batch-size", "128");
const steps = get("steps", "5");
const rounds = Number(get("rounds", "3"));
// Both sides get the same thread count (PyTorch alone would pick the physical cores, 1 here).
const threads = get("threads", String(availableParallelism()));
const python = get("python", "/usr/bin/python3");
const precisionArg = get("precision", "fp32");
const precisions = precisionArg === "both" ? ["fp32", "bf16"] : [precisionArg];

const root = fileURLToPath(new URL("../..", import.meta.url));
const common = ["--variant", variant, "--batch-size", batch, "--steps", steps, "--warmup", "2", "--threads", threads];

function run(cmd: string, argv: string[]): BenchResult {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as BenchResult;
}

const torchAvailable = existsSync(python) && spawnSync(python, ["-c", "import torch"]).status === 0;
if (!torchAvailable) console.log(`PyTorch peer not available (${python} cannot import torch; apt-get install python3-torch libopenblas0): timing alexnet-ts alone`);
const med = (xs: (number | null)[]): number => {
  const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
for (const precision of precisions) {
  const ours: BenchResult[] = [];
  const theirs: BenchResult[] = [];
  const argv = [...common, "--precision", precision];
  for (let r = 0; r < rounds; r++) {
    ours.push(run(process.execPath, ["dist/src/cli/main.js", "bench", "--json", ...argv]));
    if (torchAvailable) theirs.push(run(python, ["bench/pytorch_alexnet.py", ...argv]));
  }
  console.log(`AlexNet variant ${variant}, batch ${batch}, ${precision}${precision === "bf16" ? " (PyTorch: torch.autocast bf16)" : ""}, median of ${rounds} rounds x ${steps} steps`);
  for (const kind of ["train", "infer"] as const) {
    const key = `${kind}_examples_per_sec` as const;
    const a = med(ours.map((o) => o[key]));
    const line = `${kind.padEnd(5)}: alexnet-ts ${a.toFixed(1)} examples/s on ${ours[0]!.device}`;
    if (!torchAvailable) {
      console.log(line);
      continue;
    }
    const b = med(theirs.map((o) => o[key]));
    console.log(`${line}; PyTorch ${b.toFixed(1)} on ${theirs[0]!.device}; ratio ${(a / b).toFixed(2)}x`);
  }
}

// bench/compare.ts (ours against PyTorch, model by model) and its Python peers: the per-model plan (recipe
// defaults, overrides, AlexNet's variant), the table, a whole run against a stub peer (so no torch is needed),
// and, where Debian's python3-torch is installed, that bench/pytorch_zoo.py prints `alexnet bench --json`'s
// keys, that its recipes are the registry's, and that scripts/pytorch_train_zoo.py resizes bit for bit as
// torchvision (test/fixtures/resize.json).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { formatTable, parseCompareArgs, type CompareOptions, type Row } from "../bench/compare.js";
import { ZOO } from "../src/models/registry.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const COMPARE = join(ROOT, "dist", "bench", "compare.js");
const CLI = join(ROOT, "dist", "src", "cli", "main.js");
const PY = "/usr/bin/python3";
const torch = spawnSync(PY, ["-c", "import torch, numpy"], { encoding: "utf8" }).status === 0;

const plan = (args: string[]): CompareOptions => {
  const o = parseCompareArgs(args, 2);
  assert.notEqual(o, "help");
  return o as CompareOptions;
};

describe("bench/compare.ts", () => {
  it("plans each model at its recipe, AlexNet at variant 28 alone and 224 in a list", () => {
    const alone = plan([]);
    assert.deepEqual(alone.plans, [{ model: "alexnet", variant: "28", size: 28, batch: 128, lr: 0.01 }]);
    assert.equal(alone.threads, 2);
    assert.deepEqual(alone.precisions, ["fp32"]);
    const all = plan(["--models", "all"]);
    assert.deepEqual(all.plans.map((p) => p.model), ZOO.map((z) => z.name));
    for (const p of all.plans) {
      const z = ZOO.find((m) => m.name === p.model)!;
      assert.equal(p.size, z.recipe.resize ?? 28, p.model);
      assert.equal(p.batch, z.recipe.batchSize, p.model);
      assert.equal(p.lr, z.recipe.lr, p.model);
    }
    assert.equal(all.plans.find((p) => p.model === "alexnet")!.variant, "224");
    assert.deepEqual(plan(["--model", "alexnet", "--variant", "224"]).plans[0], { model: "alexnet", variant: "224", size: 224, batch: 128, lr: 0.01 });
  });

  it("takes --batch-size and --resize for all models or per model", () => {
    const o = plan(["--models", "lenet,resnet18,googlenet", "--batch-size", "resnet18=64,googlenet=64"]);
    assert.deepEqual(o.plans.map((p) => [p.model, p.size, p.batch]), [["lenet", 28, 256], ["resnet18", 96, 64], ["googlenet", 96, 64]]);
    const p = plan(["--model", "resnet18", "--resize", "64", "--batch-size", "32", "--precision", "both"]);
    assert.deepEqual([p.plans[0]!.size, p.plans[0]!.batch], [64, 32]);
    assert.deepEqual(p.precisions, ["fp32", "bf16"]);
    assert.throws(() => parseCompareArgs(["--models", "lenet,foo"]), /unknown model 'foo'/);
    assert.throws(() => parseCompareArgs(["--models", "lenet", "--batch-size", "vgg11=8"]), /'vgg11' is not one of the models run/);
    assert.throws(() => parseCompareArgs(["--models", "lenet", "--variant", "28"]), /AlexNet's/);
    assert.throws(() => parseCompareArgs(["--model", "lenet", "--models", "nin"]), /not both/);
    assert.throws(() => parseCompareArgs(["--steps", "0"]), /--steps/);
    assert.throws(() => parseCompareArgs(["--modle", "lenet"]), /unknown argument '--modle'/);
  });

  it("prints one table, as text or Markdown, with the ratios", () => {
    const rows: Row[] = [
      { plan: { model: "lenet", size: 28, batch: 256, lr: 0.9 }, precision: "fp32", ours: { train: 300, infer: 900, device: "a" }, pytorch: { train: 100, infer: 450, device: "b" } },
      { plan: { model: "vgg11", size: 224, batch: 128, lr: 0.05 }, precision: "fp32", ours: { error: "boom" }, pytorch: null },
    ];
    const md = formatTable(rows, true).split("\n");
    assert.equal(md[0], "| model | input | batch | alexnet-ts train ex/s | PyTorch train ex/s | ratio | alexnet-ts infer ex/s | PyTorch infer ex/s | ratio |");
    assert.equal(md[1], "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    assert.equal(md[2], "| `lenet` | 28x28 | 256 | 300.0 | 100.0 | 3.00x | 900.0 | 450.0 | 2.00x |");
    assert.equal(md[3], "| `vgg11` | 224x224 | 128 | - | - | - | - | - | - |");
    const text = formatTable(rows, false).split("\n");
    assert.match(text[1]!, /^lenet\s+28x28\s+256\s+300\.0\s+100\.0\s+3\.00x\s+900\.0\s+450\.0\s+2\.00x$/);
  });

  it("runs both sides per model and hands the peer the plan and the recipe's lr (stub peer)", { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), "compare-"));
    try {
      // A stand-in for python3: "imports torch", and answers every run with fixed rates and its arguments.
      const stub = join(dir, "python3");
      writeFileSync(stub, `#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nshift\nprintf '{"device":"stub %s","train_examples_per_sec":100,"infer_examples_per_sec":200}\\n' "$*"\n`);
      chmodSync(stub, 0o755);
      const r = spawnSync(process.execPath, [COMPARE, "--models", "lenet,lenet-bn", "--batch-size", "lenet-bn=16", "--steps", "1", "--warmup", "0",
        "--rounds", "1", "--threads", "1", "--python", stub, "--json"], { encoding: "utf8", cwd: ROOT, timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as Row[];
      assert.deepEqual(rows.map((x) => [x.plan.model, x.plan.batch]), [["lenet", 256], ["lenet-bn", 16]]);
      for (const row of rows) {
        assert.ok(!("error" in row.ours) && row.ours.train > 0 && row.ours.infer > 0, JSON.stringify(row));
        assert.ok(row.pytorch && !("error" in row.pytorch));
        assert.equal(row.pytorch.train, 100);
      }
      const peer = rows.map((x) => (x.pytorch as { device: string }).device);
      assert.equal(peer[0], "stub --model lenet --resize 28 --batch-size 256 --steps 1 --warmup 0 --threads 1 --precision fp32 --lr 0.9");
      assert.equal(peer[1], "stub --model lenet-bn --resize 28 --batch-size 16 --steps 1 --warmup 0 --threads 1 --precision fp32 --lr 1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the PyTorch peers", { skip: torch ? false : "no /usr/bin/python3 with torch and numpy here" }, () => {
  it("bench/pytorch_zoo.py prints every key of `alexnet bench --json`", { timeout: 120_000 }, () => {
    const args = ["--model", "lenet-bn", "--batch-size", "8", "--steps", "1", "--warmup", "0", "--threads", "1"];
    const ours = spawnSync(process.execPath, [CLI, "bench", "--json", ...args], { encoding: "utf8", cwd: ROOT });
    assert.equal(ours.status, 0, ours.stderr);
    const theirs = spawnSync(PY, [join(ROOT, "bench", "pytorch_zoo.py"), ...args], { encoding: "utf8", cwd: ROOT });
    assert.equal(theirs.status, 0, theirs.stderr);
    const a = JSON.parse(ours.stdout) as Record<string, unknown>;
    const b = JSON.parse(theirs.stdout) as Record<string, unknown>;
    for (const key of Object.keys(a)) assert.ok(key in b, `the peer has no '${key}'`);
    assert.deepEqual([b.model, b.input, b.batch_size, b.lr, b.threads], ["lenet-bn", [1, 28, 28], 8, 1.0, 1]);
    assert.ok((b.train_examples_per_sec as number) > 0 && (b.infer_examples_per_sec as number) > 0);
  });

  it("the Python recipes are the registry's", { timeout: 60_000 }, () => {
    const r = spawnSync(PY, ["-c", "import json, sys; sys.path.insert(0, 'bench'); import pytorch_zoo as z; print(json.dumps(z.RECIPES))"], { encoding: "utf8", cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    const py = JSON.parse(r.stdout) as Record<string, { resize: number | null; batch_size: number; lr: number; epochs: number }>;
    assert.deepEqual(Object.keys(py), ZOO.map((z) => z.name));
    for (const z of ZOO) assert.deepEqual(py[z.name], { resize: z.recipe.resize, batch_size: z.recipe.batchSize, lr: z.recipe.lr, epochs: z.recipe.epochs }, z.name);
  });

  it("scripts/pytorch_train_zoo.py resizes as transforms.Resize + ToTensor, bit for bit", { timeout: 60_000 }, () => {
    const code = `
import base64, json, sys, zlib
import numpy as np, torch
sys.path.insert(0, "scripts")
from pytorch_train_zoo import Resizer
d = json.load(open("test/fixtures/resize.json"))
un = lambda s: np.frombuffer(zlib.decompress(base64.b64decode(s)), np.uint8)
n = 0
for c in d["cases"]:
    w, h = int(c["width"]), int(c["height"])
    if w != h:
        continue  # Resize(R) of a square image is square
    out = Resizer(28, w)(torch.from_numpy(un(d["inputs"][c["image"]]).reshape(1, 28, 28).copy()))
    want = torch.from_numpy(un(c["out"]).reshape(1, 1, h, w).astype(np.float32) / np.float32(255))
    assert torch.equal(out, want), (c["image"], w)
    n += 1
print(n)
`;
    const r = spawnSync(PY, ["-c", code], { encoding: "utf8", cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stdout.trim()) >= 6, r.stdout);
  });
});

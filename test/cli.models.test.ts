// `--model` on the command line (issue 24): every zoo model's `summary` is d2l's table from PyTorch
// (test/fixtures/zoo.json); `alexnet models` lists them; analyze counts the work inside nested blocks as
// PyTorch's hooks do; LeNet and BN-LeNet train to a stated accuracy on real Fashion-MNIST; a checkpoint
// rebuilds its model in eval and predict without flags (and an AlexNet file without a record still loads);
// a user's model file trains, and each bad one is one line and exit 2 before any data is read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { alexNet } from "../src/models/alexnet.js";
import { encodeSafetensors } from "../src/checkpoint/safetensors.js";
import { getBackend } from "../src/backend/registry.js";
import { chooseModel, loadCheckpointModel } from "../src/cli/modelChoice.js";
import { nativeBackend, readFixture } from "./helpers.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "alexnet-models-"));
after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function alexnet(...args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 300_000, cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** d2l's closing line: loss, train acc, test acc. */
function finalLine(r: Run): { loss: number; trainAcc: number; testAcc: number } {
  const lines = r.stdout.trimEnd().split("\n");
  const m = /^loss (\d+\.\d{3}), train acc (\d\.\d{3}), test acc (\d\.\d{3})$/.exec(lines[lines.length - 2] ?? "");
  assert.ok(m, `final lines: ${lines.slice(-2).join(" | ")}\n${r.stderr}`);
  return { loss: Number(m[1]), trainAcc: Number(m[2]), testAcc: Number(m[3]) };
}

interface ZooFixture {
  input: number[];
  table: [string, number[]][];
  params: number;
}
const fixtures = readFixture<Record<string, ZooFixture>>("zoo.json");
const backend = nativeBackend ? "native" : "reference";

describe("alexnet summary --model and alexnet models", () => {
  for (const [name, want] of Object.entries(fixtures)) {
    it(`summary --model ${name} prints d2l's table for ${want.input.slice(1).join("x")}`, () => {
      const r = alexnet("summary", "--model", name);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trimEnd().split("\n"), want.table.map(([type, shape]) => `${type} output shape:\t [${shape.join(", ")}]`));
    });
  }

  it("summary --input changes the input; a size a model cannot take names the layer", () => {
    const r = alexnet("summary", "--model", "resnet18", "--input", "1x96x96");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trimEnd().split("\n")[0], "Sequential output shape:\t [1, 64, 24, 24]");
    const bad = alexnet("summary", "--model", "vgg11", "--input", "1x96x96");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^alexnet summary: --model vgg11: it cannot take the data's input \[1, 1, 96, 96\]: layer 6 Linear\(in_features=25088.*expected input \[N, 25088\], got \[1, 4608\]/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  });

  it("an unknown model lists the valid ones; --variant is AlexNet's", () => {
    const r = alexnet("summary", "--model", "resnet50");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown model 'resnet50' \(models: lenet, alexnet, vgg11, vgg11-small, nin, googlenet, lenet-bn, resnet18, densenet, or a file \.\/net\.mjs\)/);
    const v = alexnet("train", "--model", "lenet", "--variant", "28");
    assert.equal(v.code, 2);
    assert.match(v.stderr, /--variant is AlexNet's; lenet has one input size/);
  });

  it("alexnet models lists every model with parameters, MACs, recipe and d2l section", () => {
    const r = alexnet("models", "--json");
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; params: number; macs: number; section: string; recipe: { lr: number } });
    assert.deepEqual(rows.map((x) => x.name), Object.keys(fixtures));
    for (const row of rows) assert.equal(row.params, fixtures[row.name]!.params, row.name);
    // Conv2d and Linear MACs per example at the training input, as PyTorch forward hooks count them.
    const macs = Object.fromEntries(rows.map((x) => [x.name, x.macs]));
    assert.equal(macs.alexnet, 938_146_176);
    assert.equal(macs.nin, 762_297_352);
    assert.equal(macs.googlenet, 276_066_304);
    assert.equal(macs.resnet18, 318_657_536);
    assert.equal(macs.densenet, 129_077_168);
    assert.equal(rows.find((x) => x.name === "lenet-bn")!.recipe.lr, 1);
    const text = alexnet("models");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^resnet18 +7\.6 ResNet-18 +11\.2M +318\.7M +resize 96 +256 +0\.05 +10$/m);
  });

  it("analyze --model counts the layers inside nested blocks (ResNet-18, GoogLeNet at 96x96)", () => {
    for (const [name, macs] of [["resnet18", 318_657_536], ["googlenet", 276_066_304]] as const) {
      const r = alexnet("analyze", "--model", name, "--json", "--no-measure", "--batch-size", "2", "--backend", "reference");
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { totals: { macs: number; params: number }; layers: { type: string; macs: number }[]; inputShape: number[] };
      assert.deepEqual(j.inputShape, [2, 1, 96, 96]);
      assert.equal(j.totals.macs, macs, name);
      assert.equal(j.totals.params, fixtures[name]!.params);
      assert.ok(j.layers.filter((l) => l.type === "Sequential").every((l) => l.macs > 0), `${name}: every block has work`);
    }
  });
});

describe("a model of your own: --model FILE", () => {
  const file = (name: string, text: string): string => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };
  const NN = `import { nn } from ${JSON.stringify(new URL("../src/index.js", import.meta.url).href)};\n`;
  const cases: [string, string | null, RegExp][] = [
    ["missing.mjs", null, /--model .*missing\.mjs: no such file$/],
    ["syntax.mjs", "export default function (", /--model .*syntax\.mjs: loading it failed: /],
    ["throws-on-import.mjs", "throw new Error('no GPU here');", /--model .*throws-on-import\.mjs: loading it failed: no GPU here$/],
    ["no-default.mjs", "export const net = 1;", /--model .*no-default\.mjs: its default export must be a function that returns an nn\.Module \(got no default export\)$/],
    ["not-module.mjs", "export default () => ({ layers: [] });", /--model .*not-module\.mjs: its default export returned an object \(Object\), not an nn\.Module$/],
    ["build-throws.mjs", "export default () => { throw new Error('bad width'); };", /--model .*build-throws\.mjs: building the model threw: bad width$/],
    ["five-classes.mjs", `${NN}export default () => new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 5));`,
      /--model .*five-classes\.mjs: its output for input \[1, 1, 28, 28\] is \[1, 5\]; the data needs \[1, 10\] \(one score per class\)$/],
    ["wrong-input.mjs", `${NN}export default () => new nn.Sequential(new nn.Flatten(), new nn.Linear(1024, 10));`,
      /--model .*wrong-input\.mjs: it cannot take the data's input \[1, 1, 28, 28\]: layer 1 Linear\(in_features=1024.*expected input \[N, 1024\], got \[1, 784\]$/],
    ["bad-recipe.mjs", `${NN}export const recipe = { lr: -1 };\nexport default () => new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10));`,
      /--model .*bad-recipe\.mjs: its recipe's lr is -1$/],
  ];
  for (const [name, text, want] of cases) {
    it(`${name}: one line, exit 2, before any data or run directory`, () => {
      const path = text === null ? join(work, name) : file(name, text);
      const runDir = join(work, `run-${name}`);
      const r = alexnet("train", "--model", path, "--epochs", "1", "--train-limit", "8", "--run-dir", runDir, "--data-dir", join(work, "no-data-here"));
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!.replace(/ \(see alexnet train --help\)$/, ""), want);
      assert.ok(!existsSync(runDir), "no run directory");
      assert.ok(!existsSync(join(work, "no-data-here")), "no data read or downloaded");
    });
  }

  for (const example of ["alexnet_simplified.mjs", "lenet_relu_dropout.mjs", "better28.mjs"]) {
    it(`examples/${example} trains a few steps and its checkpoint evaluates without flags`, () => {
      const runDir = join(work, `example-${example}`);
      const r = alexnet("train", "--model", join(EXAMPLES, example), "--epochs", "1", "--train-limit", "96", "--test-limit", "64",
        "--batch-size", "32", "--run-dir", runDir, "--plain", "--backend", backend);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^training ${example.replace(".", "\\.")} on 96 examples`, "m"));
      assert.ok(Number.isFinite(finalLine(r).loss));
      const ev = alexnet("eval", "--checkpoint", runDir, "--test-limit", "64", "--backend", backend, "--out", join(work, "c.png"));
      assert.equal(ev.code, 0, ev.stderr);
      assert.match(ev.stdout, new RegExp(`^${runDir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} \\(${example.replace(".", "\\.")}\\) on 64 test examples`));
    });
  }
});

describe("zoo models train, and their checkpoints rebuild themselves", () => {
  it("BN-LeNet on the reference backend: a few steps", () => {
    const r = alexnet("train", "--model", "lenet-bn", "--epochs", "1", "--train-limit", "128", "--test-limit", "64", "--batch-size", "32",
      "--run-dir", join(work, "bn-ref"), "--plain", "--backend", "reference");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^training BN-LeNet on 128 examples, testing on 64, 1 epoch, lr 1, batch 32, on cpu \(reference/m);
    assert.ok(Number.isFinite(finalLine(r).loss));
  });

  it("LeNet on the reference backend: a few steps", () => {
    const r = alexnet("train", "--model", "lenet", "--epochs", "1", "--train-limit", "128", "--test-limit", "64", "--batch-size", "32",
      "--run-dir", join(work, "lenet-ref"), "--plain", "--backend", "reference");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^training LeNet on 128 examples, testing on 64, 1 epoch, lr 0\.9, batch 32/m);
  });

  const skip = nativeBackend ? false : "the native backend is not built here (CI requires it)";

  it("BN-LeNet (native): test acc >= 0.65 after 2 epochs on 6,000 examples at batch 64 (recipe lr 1.0); eval and predict rebuild it", { skip }, () => {
    const runDir = join(work, "bn-native");
    const r = alexnet("train", "--model", "lenet-bn", "--epochs", "2", "--train-limit", "6000", "--test-limit", "1000", "--batch-size", "64",
      "--run-dir", runDir, "--plain", "--backend", "native");
    assert.equal(r.code, 0, r.stderr);
    const { testAcc } = finalLine(r);
    assert.ok(testAcc >= 0.65, `test acc ${testAcc} below 0.65`);
    // No --model: the checkpoint says what it is; the same 1,000 test images give the same accuracy.
    const ev = alexnet("eval", "--checkpoint", runDir, "--test-limit", "1000", "--backend", "native", "--out", join(work, "bn.png"));
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /\(BN-LeNet\) on 1000 test examples/);
    assert.match(ev.stdout, new RegExp(`^test acc ${testAcc.toFixed(3).replace(".", "\\.")}$`, "m"));
    const pr = alexnet("predict", "--checkpoint", join(runDir, "model.safetensors"), "--from-test", "10", "--backend", "native", "--out", join(work, "bn-pred.png"));
    assert.equal(pr.code, 0, pr.stderr);
    assert.match(pr.stdout, /^\d+\/10 correct/);
  });

  it("LeNet (native, d2l's recipe): test acc >= 0.40 after 2 epochs of the full training set", { skip }, () => {
    // Sigmoid LeNet sits at loss 2.30 for about its first epoch (PyTorch too, with the same recipe): a
    // subset of a few thousand examples never leaves that plateau, so this run takes all 60,000.
    const r = alexnet("train", "--model", "lenet", "--epochs", "2", "--test-limit", "1000", "--run-dir", join(work, "lenet-native"), "--plain", "--backend", "native");
    assert.equal(r.code, 0, r.stderr);
    const { testAcc } = finalLine(r);
    assert.ok(testAcc >= 0.4, `test acc ${testAcc} below 0.40`);
  });

  it("an AlexNet model.safetensors without a model record (older runs, the page) still loads in eval", () => {
    const net = alexNet({ variant: "28", widthScale: 0.125 });
    const path = join(work, "old-alexnet.safetensors");
    writeFileSync(path, encodeSafetensors(net.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(p.dataSync()) })), { format: "pt" }, path));
    net.dispose();
    const ev = alexnet("eval", "--checkpoint", path, "--test-limit", "32", "--backend", "reference", "--out", join(work, "old.png"));
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /\(AlexNet variant 28\) on 32 test examples/);
  });

  it("weights without a record for a network without a Linear layer (NiN) take their classes from the last convolution", async () => {
    const net = (await chooseModel({ model: "nin" })).build({ inChannels: 1, classes: 10 });
    const path = join(work, "pytorch-nin.safetensors");
    writeFileSync(path, encodeSafetensors(net.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(p.dataSync()) })), { format: "pt" }, path));
    net.dispose();
    const loaded = await loadCheckpointModel(path, getBackend(), () => {}, { model: "nin" });
    assert.deepEqual([loaded.saved.classes, loaded.saved.inChannels, loaded.saved.size], [10, 1, 224]);
    loaded.net.dispose();
  });
});

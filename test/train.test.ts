// Training as a user runs it (the CLI on real Fashion-MNIST, native backend): a short run reaches a stated
// accuracy; the run directory holds valid plots, metrics and config; the final two lines have d2l's format;
// a run killed after a checkpoint and resumed ends with exactly the weights of an uninterrupted run; a
// diverging loss stops with a clear message; bad flags give a one-line error.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, after } from "node:test";
import { fileURLToPath } from "node:url";
import { decodeSafetensors } from "../src/checkpoint/safetensors.js";
import { nativeBackend } from "./helpers.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "alexnet-train-"));
after(() => rmSync(work, { recursive: true, force: true }));

function alexnet(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A narrow AlexNet (every width x 1/8) in the 28x28 pattern: the same layers and code paths, fast enough for CI.
const QUICK = ["--variant", "28", "--width-scale", "0.125", "--batch-size", "64", "--lr", "0.02", "--momentum", "0.9", "--seed", "0", "--plain"];
const skip = nativeBackend ? false : "the native backend is not built here (CI requires it)";

describe("alexnet train (native backend)", { skip }, () => {
  it("reaches test accuracy >= 0.60 after 2 epochs on 4,000 examples, and writes the run directory", () => {
    const dir = join(work, "accuracy");
    const r = alexnet(["train", ...QUICK, "--epochs", "2", "--train-limit", "4000", "--test-limit", "1000", "--run-dir", dir, "--backend", "native"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    const [result, speed] = lines.slice(-2) as [string, string];
    const m = /^loss (\d\.\d{3}), train acc (\d\.\d{3}), test acc (\d\.\d{3})$/.exec(result);
    assert.ok(m, `final line: ${result}`);
    assert.match(speed, /^\d+\.\d examples\/sec on cpu \(native, \d+ threads?\)$/);
    assert.ok(Number(m[3]) >= 0.6, `test acc ${m[3]} below the 0.60 bar`);
    // Run directory: config, metrics (5 training points + 1 test point per epoch), plots, weights.
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { settings: { epochs: number } };
    assert.equal(config.settings.epochs, 2);
    const points = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { x: number; testAcc?: number });
    // 63 batches: d2l adds a point every 12 batches and at the last one (6 per epoch), plus the test point.
    assert.equal(points.length, 14);
    assert.equal(points.filter((p) => p.testAcc !== undefined).length, 2);
    assert.equal(points[points.length - 1]!.x, 2);
    const svg = readFileSync(join(dir, "training.svg"), "utf8");
    assert.match(svg, /^<svg xmlns/);
    for (const name of ["train loss", "train acc", "test acc"]) assert.ok(svg.includes(`>${name}</text>`), `legend ${name}`);
    assert.deepEqual([...readFileSync(join(dir, "training.png")).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    const weights = decodeSafetensors(new Uint8Array(readFileSync(join(dir, "model.safetensors"))), "model.safetensors");
    assert.deepEqual([...weights.tensors.keys()].slice(0, 4), ["0.weight", "0.bias", "3.weight", "3.bias"]);
    // eval and predict read that run directory.
    const ev = alexnet(["eval", "--checkpoint", dir, "--test-limit", "500", "--out", join(work, "confusion.png")]);
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /test acc 0\.\d{3}/);
    assert.ok(existsSync(join(work, "confusion.png")));
    const pr = alexnet(["predict", "--checkpoint", dir, "--from-test", "8", "--out", join(work, "pred.png")]);
    assert.equal(pr.code, 0, pr.stderr);
    assert.match(pr.stdout, /\d\/8 correct/);
    // Image files of any size and format: grey, resized to the model's input, top-3 labels.
    const images = ["adobe_ycc.jpg", "custom_411.jpg"].map((f) => fileURLToPath(new URL(`../../test/fixtures/images/${f}`, import.meta.url)));
    const files = alexnet(["predict", "--checkpoint", join(dir, "model.safetensors"), ...images]);
    assert.equal(files.code, 0, files.stderr);
    const predictions = files.stdout.trim().split("\n");
    assert.equal(predictions.length, 2);
    for (const line of predictions) assert.match(line, /\.jpg: [a-z -]+ \d+\.\d%, [a-z -]+ \d+\.\d%, [a-z -]+ \d+\.\d%$/);
    const bad = alexnet(["predict", "--checkpoint", dir, CLI]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /supported formats: PNG, JPEG/);
  });

  it("a run killed after a checkpoint and resumed ends with the uninterrupted run's weights", async () => {
    const args = [...QUICK, "--epochs", "2", "--train-limit", "640", "--test-limit", "128", "--checkpoint-every", "4", "--backend", "native"];
    const straight = join(work, "straight");
    assert.equal(alexnet(["train", ...args, "--run-dir", straight]).code, 0);
    const killed = join(work, "killed");
    // Start the same run and SIGKILL it once its second checkpoint exists (mid first epoch).
    const child = spawn(process.execPath, [CLI, "train", ...args, "--run-dir", killed], { stdio: "ignore" });
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const dirs = existsSync(join(killed, "checkpoints")) ? readdirSync(join(killed, "checkpoints")).filter((d) => /^step-\d+$/.test(d)) : [];
        if (dirs.some((d) => Number(d.slice(5)) >= 8)) {
          clearInterval(poll);
          child.kill("SIGKILL");
          resolve();
        }
      }, 20);
      child.on("exit", (code) => {
        clearInterval(poll);
        if (code === 0) reject(new Error("the run finished before it could be killed"));
        else resolve();
      });
    });
    const resumed = alexnet(["train", "--resume", killed, "--plain"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming .* from .*step-0000000\d+/);
    // The resumed run kept checkpointing every 4 steps, as recorded in config.json.
    const recorded = JSON.parse(readFileSync(join(killed, "config.json"), "utf8")) as { checkpointEvery: number | null };
    assert.equal(recorded.checkpointEvery, 4);
    const a = decodeSafetensors(new Uint8Array(readFileSync(join(straight, "model.safetensors"))), "a").tensors;
    const b = decodeSafetensors(new Uint8Array(readFileSync(join(killed, "model.safetensors"))), "b").tensors;
    for (const [name, t] of a) assert.deepEqual(b.get(name)!.data, t.data, `${name} differs after resume`);
    const metrics = (d: string): string => readFileSync(join(d, "metrics.jsonl"), "utf8");
    assert.equal(metrics(killed), metrics(straight));

    // Ctrl-C: the run saves a checkpoint at the step it is on, says how to continue, and exits 130.
    const interrupted = join(work, "interrupted");
    const run = spawn(process.execPath, [CLI, "train", ...args, "--run-dir", interrupted], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    run.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (/batch 3\/10/.test(stderr) && !run.killed) run.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => run.on("exit", (c) => resolve(c)));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGINT: stopped after step \d+; checkpoint saved\. Continue with: alexnet train --resume /);
    assert.equal(alexnet(["train", "--resume", interrupted, "--plain"]).code, 0);
    const c = decodeSafetensors(new Uint8Array(readFileSync(join(interrupted, "model.safetensors"))), "c").tensors;
    for (const [name, t] of a) assert.deepEqual(c.get(name)!.data, t.data, `${name} differs after Ctrl-C and resume`);
  });

  it("bf16 mixed precision: the same short run learns as well, records its precision, and resumes in it", (t) => {
    const support = nativeBackend?.precisionSupport("bf16");
    if (!support || support.level === "unsupported") {
      t.skip(`no bf16 on this CPU: ${support?.detail ?? "unknown"}`);
      return;
    }
    const dir = join(work, "bf16");
    const r = alexnet(["train", ...QUICK, "--epochs", "2", "--train-limit", "4000", "--test-limit", "1000", "--run-dir", dir, "--backend", "native", "--precision", "bf16"]);
    assert.equal(r.code, 0, r.stderr);
    const [result, speed] = r.stdout.trimEnd().split("\n").slice(-2) as [string, string];
    const acc = Number(/test acc (\d\.\d{3})$/.exec(result)?.[1]);
    assert.ok(acc >= 0.6, `bf16 test acc ${acc} below the 0.60 bar (${result})`);
    assert.match(speed, /examples\/sec on cpu \(native, \d+ threads?, bf16\)$/);
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { settings: { precision: string } };
    assert.equal(config.settings.precision, "bf16");
    // A resumed run keeps its precision; changing it is refused.
    const again = alexnet(["train", "--resume", dir, "--epochs", "3", "--plain"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout.trimEnd().split("\n").pop()!, /, bf16\)$/);
    const switched = alexnet(["train", "--resume", dir, "--precision", "fp32"]);
    assert.equal(switched.code, 2);
    assert.match(switched.stderr, /drop --precision/);
  });

  it("a diverging loss stops with the step, the value and a hint", () => {
    const r = alexnet(["train", ...QUICK, "--lr", "1e6", "--epochs", "1", "--train-limit", "256", "--test-limit", "64", "--run-dir", join(work, "nan"), "--backend", "native"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the loss became (NaN|Infinity|-Infinity) at epoch 1, batch \d+ \(step \d+\); training stopped .* Try a lower --lr \(now 1000000\)/);
  });
});

describe("alexnet train flags", () => {
  it("unknown or invalid flags give one line and exit 2", () => {
    const r = alexnet(["train", "--epoch", "3"]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), "alexnet train: unknown flag '--epoch'; did you mean --epochs? (see alexnet train --help)");
    assert.match(alexnet(["train", "--lr", "fast"]).stderr, /--lr needs a number \(got 'fast'\)/);
    assert.match(alexnet(["train", "--variant", "64"]).stderr, /--variant must be one of 224, 28/);
    const fp16 = alexnet(["train", "--precision", "fp16"]);
    assert.equal(fp16.code, 2);
    assert.equal(fp16.stderr.trim(), "alexnet train: --precision must be one of fp32, bf16 (got 'fp16') (see alexnet train --help)");
  });

  it("an unwritable run directory is reported before training starts", () => {
    const file = join(work, "a-file");
    spawnSync("touch", [file]);
    const r = alexnet(["train", "--run-dir", join(file, "run"), "--backend", "reference"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a-file\/run/);
  });
});

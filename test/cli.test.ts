// The `alexnet` command line as a user runs it: the summary tables of both variants, and one-line errors
// with exit code 2 for unknown commands and bad flags.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nativeBackend, readFixture } from "./helpers.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const table = readFixture<Record<string, { table: { type: string; shape: number[] }[] }>>("alexnet.json");

function alexnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("alexnet CLI", () => {
  for (const variant of ["224", "28"]) {
    it(`summary --variant ${variant} prints d2l's 21-line table`, () => {
      const r = alexnet("summary", "--variant", variant, "--backend", "reference");
      assert.equal(r.code, 0, r.stderr);
      const want = table[variant]!.table.map((l) => `${l.type} output shape:\t [${l.shape.join(", ")}]`);
      assert.deepEqual(r.stdout.trimEnd().split("\n"), want);
    });
  }

  it("a bad flag value is one line plus a pointer to the usage, exit 2", () => {
    const r = alexnet("summary", "--variant", "32");
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), "alexnet summary: --variant must be one of 224, 28 (got '32') (see alexnet summary --help)");
    assert.equal(r.stdout, "");
  });

  it("unknown flags and missing values", () => {
    assert.match(alexnet("summary", "--epochs", "3").stderr, /unknown flag '--epochs'/);
    assert.match(alexnet("summary", "--classes").stderr, /--classes needs a value/);
    assert.match(alexnet("summary", "--classes", "ten").stderr, /--classes needs a number \(got 'ten'\)/);
    assert.match(alexnet("summary", "--backend", "tpu").stderr, /--backend must be one of auto, native, reference, webgpu \(got 'tpu'\)/);
  });

  it("unknown command lists the commands; --help prints usage", () => {
    const r = alexnet("fly");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'fly'/);
    assert.match(r.stderr, /summary/);
    const h = alexnet("summary", "--help");
    assert.equal(h.code, 0);
    assert.match(h.stdout, /usage: alexnet summary/);
    assert.match(h.stdout, /--variant 224\|28/);
  });
});

describe("alexnet bench", { skip: nativeBackend ? false : "the native backend is not built here (CI requires it)" }, () => {
  it("--precision both reports each precision's speed, TFLOP/s and where the time goes", () => {
    const small = ["--variant", "28", "--batch-size", "4", "--steps", "1", "--warmup", "0", "--backend", "native"];
    const j = alexnet("bench", ...small, "--precision", "both", "--json");
    assert.equal(j.code, 0, j.stderr);
    const results = j.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const bf16 = nativeBackend!.precisionSupport("bf16").level;
    assert.deepEqual(results.map((r) => r.precision), bf16 === "unsupported" ? ["fp32"] : ["fp32", "bf16"]);
    for (const r of results) {
      assert.ok((r.train_examples_per_sec as number) > 0 && (r.infer_tflops as number) > 0);
      const shares = r.train_time_shares as Record<string, number>;
      assert.deepEqual(Object.keys(shares).sort(), ["conv", "conversion", "linear", "other", "pool"]);
      assert.ok(Math.abs(Object.values(shares).reduce((a, b) => a + b, 0) - 1) < 1e-9);
      // A sanity check that the op timers run (conv is ~85% of an unloaded step; other work on the machine
      // stretches the JavaScript between ops, so the bound is loose).
      assert.ok(shares.conv! > 0.05, `conv share ${shares.conv}`);
    }
    const text = alexnet("bench", ...small, "--precision", "both");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^bf16 here: (native|emulated|unsupported) \(/m);
    assert.match(text.stdout, /^fp32 train: [\d.]+ examples\/s \(\d+ ms\/step, [\d.]+ TFLOP\/s\)\n {7}time: conv \d+%, pool \d+%, linear \d+%, layout\/type conversion \d+%, other -?\d+%$/m);
    assert.equal(alexnet("bench", "--precision", "int8").code, 2);
  });

  it("bf16 on a CPU without bf16 kernels is refused up front; where it is emulated it warns once and runs", () => {
    // DNNL_MAX_CPU_ISA caps the instruction set oneDNN dispatches to, standing in for older CPUs.
    const capped = (isa: string, ...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, DNNL_MAX_CPU_ISA: isa } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const small = ["--variant", "28", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--backend", "native"];
    const refused = capped("AVX2", "train", "--precision", "bf16", "--epochs", "1", "--train-limit", "10");
    assert.equal(refused.code, 2);
    assert.match(refused.stderr.trim(), /^alexnet train: bf16 is not available on cpu \(native, \d+ threads?\): CPU instruction set avx2: oneDNN has bf16 convolution kernels for AVX-512 CPUs only; use --precision fp32/);
    const both = capped("AVX2", "bench", ...small, "--precision", "both");
    assert.equal(both.code, 0, both.stderr);
    assert.match(both.stdout, /^bf16 here: unsupported \(CPU instruction set avx2/m);
    assert.match(both.stdout, /^bf16: skipped, not available here/m);
    const isa = (nativeBackend as unknown as { info(): { cpuIsa: string } }).info().cpuIsa;
    if (!isa.startsWith("avx512_core")) return;
    const emulated = capped("AVX512_CORE", "bench", ...small, "--precision", "bf16", "--mode", "infer");
    assert.equal(emulated.code, 0, emulated.stderr);
    assert.equal(emulated.stderr.match(/warning: bf16 runs emulated here and will be slower than fp32/g)?.length, 1, emulated.stderr);
    assert.match(emulated.stdout, /^bf16 infer: [\d.]+ examples\/s/m);
  });
});

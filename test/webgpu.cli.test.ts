// --device on the command line, on this machine's only adapter, SwiftShader (a CPU emulation): auto picks
// the CPU and says nothing about GPUs; --device gpu (and --backend webgpu) warn once and run on it; with
// no Vulkan driver at all, --device gpu is one line and exit 2, and auto quietly uses the CPU; a GPU lost in
// the middle of `alexnet train` ends the run with one line, and its last checkpoint resumes on the CPU.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readLatestCheckpoint } from "../src/checkpoint/checkpoint.js";
import { SWIFTSHADER_ICD } from "../src/backend/webgpu/node.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

function alexnet(env: Record<string, string>, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// analyze without measuring computes nothing, but reports the backend it selected
const ANALYZE = ["analyze", "--variant", "28", "--no-measure"];
const SWIFTSHADER = { VK_ICD_FILENAMES: SWIFTSHADER_ICD };
const NO_DRIVER = { VK_ICD_FILENAMES: "/nonexistent/icd.json" };

describe("alexnet --device", () => {
  it("auto with only a software adapter picks the CPU", () => {
    const r = alexnet(SWIFTSHADER, ...ANALYZE, "--device", "auto");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cpu \((native|reference)/);
    assert.doesNotMatch(r.stderr, /GPU|emulation|Vulkan/);
  });

  for (const flags of [["--device", "gpu"], ["--backend", "webgpu"]]) {
    it(`${flags.join(" ")} warns that the adapter is a CPU emulation and runs on it`, () => {
      const r = alexnet(SWIFTSHADER, ...ANALYZE, ...flags);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /gpu \(webgpu, SwiftShader[^)]*, Vulkan\)/);
      const warnings = r.stderr.trim().split("\n").filter((l) => /emulation/.test(l));
      assert.equal(warnings.length, 1, r.stderr);
    });
  }

  it("without a Vulkan driver: --device gpu is one line and exit 2; auto uses the CPU", () => {
    const gpu = alexnet(NO_DRIVER, ...ANALYZE, "--device", "gpu");
    assert.equal(gpu.code, 2);
    assert.match(gpu.stderr.trim(), /^alexnet analyze: --device gpu: no Vulkan driver[^\n]*$/);
    const auto = alexnet(NO_DRIVER, ...ANALYZE);
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stdout, /cpu \(/);
  });

  it("--backend reference with --device gpu is a usage error", () => {
    const r = alexnet(SWIFTSHADER, ...ANALYZE, "--backend", "reference", "--device", "gpu");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--backend reference computes on the CPU/);
  });

  it("a GPU lost mid-run ends train with one line; the last checkpoint resumes with --device cpu", () => {
    const dir = mkdtempSync(join(tmpdir(), "alexnet-gpu-loss-"));
    try {
      const run = ["train", "--variant", "28", "--width-scale", "0.125", "--batch-size", "8", "--epochs", "1", "--train-limit", "40",
        "--test-limit", "16", "--checkpoint-every", "2", "--plain", "--run-dir", dir];
      const lost = alexnet({ ...SWIFTSHADER, ALEXNET_SIMULATE_GPU_LOSS: "3" }, ...run, "--device", "gpu");
      assert.equal(lost.code, 1, lost.stderr);
      const lines = lost.stderr.split("\n").filter((l) => /GPU device lost/.test(l));
      assert.equal(lines.length, 1, lost.stderr);
      assert.match(lines[0]!, /GPU device lost \(simulated by ALEXNET_SIMULATE_GPU_LOSS\)/);
      assert.equal(readLatestCheckpoint(dir)?.step, 2, "the checkpoint before the loss is intact");
      const resumed = alexnet({}, "train", "--resume", dir, "--device", "cpu", "--plain");
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, /resuming .* step 2/);
      assert.match(resumed.stdout, /examples\/sec on cpu/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

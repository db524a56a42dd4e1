// `alexnet sweep` (issue 25): the backend's measured peak memory grows with the batch size on the native and
// the reference backend (beside analyze's estimate, which grows too); a batch size over --memory-limit ends
// its point with the out-of-memory line while the others finish; a sweep killed mid-way (with its running
// `train`) continues when run again: the finished point is kept, the cut one resumes, the rest train.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { SweepPoint } from "../src/cli/sweep.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "alexnet-sweep-"));
after(() => rmSync(work, { recursive: true, force: true }));
/** Narrow AlexNet-28 on a few hundred examples: seconds per run. */
const SMALL = ["--variant", "28", "--width-scale", "0.125", "--epochs", "1", "--train-limit", "256", "--test-limit", "128"];

function sweep(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, "sweep", ...SMALL, ...args], { encoding: "utf8", timeout: 600_000, cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const points = (dir: string): SweepPoint[] => JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")) as SweepPoint[];

describe("alexnet sweep", () => {
  for (const backend of ["native", "reference"]) {
    it(`peak memory grows with the batch size (${backend})`, () => {
      const dir = join(work, backend);
      const r = sweep("--batch-sizes", "16,128", "--backend", backend, "--sweep-dir", dir);
      assert.equal(r.code, 0, r.stderr);
      const [small, large] = points(dir);
      assert.ok(small!.result && large!.result, r.stdout);
      assert.ok(large!.result.peakBytes! > 2 * small!.result.peakBytes!, `peak ${small!.result.peakBytes} -> ${large!.result.peakBytes}`);
      assert.ok(large!.estimateBytes > small!.estimateBytes);
      assert.ok(small!.result.maxRssBytes > small!.result.peakBytes!);
      assert.match(r.stdout, /^ *batch +lr +test acc +examples\/s +peak MiB \(backend\) +max RSS MiB +estimate MiB \(analyze\)$/m);
      for (const name of ["accuracy", "speed", "memory"]) for (const ext of ["svg", "png"]) assert.ok(existsSync(join(dir, `${name}.${ext}`)), `${name}.${ext}`);
    });
  }

  it("a batch size over --memory-limit fails with its line; the other points finish", () => {
    const dir = join(work, "limit");
    // batch 16 peaks near 3 MiB on narrow AlexNet-28, batch 512 near 60 MiB (native)
    const r = sweep("--batch-sizes", "512,16", "--memory-limit", "20M", "--backend", "native", "--sweep-dir", dir);
    assert.equal(r.code, 1, r.stderr);
    const [big, small] = points(dir);
    assert.equal(big!.result, null);
    assert.match(big!.error!, /^out of memory: the backend's tensors reached [\d.]+ MiB by step 1, over --memory-limit 20\.0 MiB$/);
    assert.ok(small!.result, r.stdout);
    assert.match(r.stdout, /^ +512 .* failed: out of memory: /m);
    assert.match(r.stderr, /batch 512: failed: out of memory: .*; going on/);
  });

  it("a killed sweep continues when run again", async () => {
    const dir = join(work, "killed");
    const args = [CLI, "sweep", ...SMALL, "--batch-sizes", "16,32,64", "--backend", "native", "--sweep-dir", dir];
    const child = spawn(process.execPath, args, { cwd: work, detached: true, stdio: "ignore" });
    const deadline = Date.now() + 300_000;
    // Killed while the second point trains: the first has its result, the second its configuration.
    while (!(existsSync(join(dir, "batch-16", "result.json")) && existsSync(join(dir, "batch-32", "config.json"))) && Date.now() < deadline) await sleep(20);
    process.kill(-child.pid!, "SIGKILL");
    assert.ok(!existsSync(join(dir, "batch-64")), "the sweep got past its second point before the kill");
    const again = sweep("--batch-sizes", "16,32,64", "--backend", "native", "--sweep-dir", dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /batch 16: finished before .*, kept/);
    assert.match(again.stderr, /batch 32: (resuming|training)/);
    assert.match(again.stderr, /batch 64: training/);
    assert.ok(points(dir).every((p) => p.result !== null));
  });
});

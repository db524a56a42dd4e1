// `alexnet compare` (issue 25): two real short runs of different models (LeNet, BN-LeNet on a Fashion-MNIST
// subset, native backend) give one table with each run's final metrics as its own `train` printed them,
// its examples/s, parameters and MACs, and one overlaid plot holding both runs' curves; an interrupted run
// shows its last points, marked incomplete; a directory that is not a run is one line and exit 1.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "alexnet-compare-"));
after(() => rmSync(work, { recursive: true, force: true }));

function alexnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 300_000, cwd: work });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("alexnet compare", () => {
  const finals: Record<string, string> = {};
  before(() => {
    for (const model of ["lenet", "lenet-bn"]) {
      const r = alexnet("train", "--model", model, "--epochs", "2", "--train-limit", "1024", "--test-limit", "256", "--backend", "native",
        "--plain", "--run-dir", join(work, model));
      assert.equal(r.code, 0, r.stderr);
      finals[model] = r.stdout.trimEnd().split("\n").slice(-2)[0]!;
    }
  });

  it("tabulates two runs of different models and overlays their curves in one plot", () => {
    const r = alexnet("compare", join(work, "lenet"), join(work, "lenet-bn"), "--out", join(work, "both"));
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.trimEnd().split("\n");
    assert.match(header!, /^run +model +epochs +train loss +train acc +test acc +examples\/s +wall +params +MACs\/example$/);
    for (const [i, model, title, params, macs] of [[0, "lenet", "LeNet", "61.7k", "416.5k"], [1, "lenet-bn", "BN-LeNet", "44.9k", "281.6k"]] as const) {
      const cells = rows[i]!.split(/ {2,}/);
      assert.deepEqual(cells.slice(0, 3), [model, title, "2"]);
      const [, loss, trainAcc, testAcc] = /^loss (\S+), train acc (\S+), test acc (\S+)$/.exec(finals[model]!)!;
      assert.deepEqual(cells.slice(3, 6), [loss, trainAcc, testAcc], `${model}: train printed ${finals[model]}`);
      assert.ok(Number(cells[6]) > 0, rows[i]);
      assert.match(cells[7]!, /^\d+\.\d (s|min)$/);
      assert.deepEqual(cells.slice(8), [params, macs]);
    }
    const svg = readFileSync(join(work, "both.svg"), "utf8");
    for (const name of ["lenet test acc", "lenet train loss", "lenet-bn test acc", "lenet-bn train loss"]) assert.ok(svg.includes(name), name);
    assert.deepEqual([...readFileSync(join(work, "both.png")).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });

  it("an incomplete run shows its last points; --json has every run", () => {
    unlinkSync(join(work, "lenet", "result.json")); // as a run stopped before its end leaves it
    const r = alexnet("compare", join(work, "lenet"), join(work, "lenet-bn"), "--json", "--out", join(work, "json"));
    assert.equal(r.code, 0, r.stderr);
    const [a, b] = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(a!.completed, false);
    assert.equal(typeof a!.testAcc, "number");
    assert.equal(b!.completed, true);
    assert.equal(typeof b!.examplesPerSec, "number");
    const table = alexnet("compare", join(work, "lenet"), "--out", join(work, "one"));
    assert.match(table.stdout, /lenet +lenet +2 \(incomplete\) .* - +- +- +-$/m);
  });

  it("a directory that is not a run is one line and exit 1; no directory is a usage error", () => {
    const r = alexnet("compare", join(work, "lenet"), work);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `alexnet compare: ${work} is not a run directory (no config.json)`);
    assert.ok(!existsSync(join(work, "compare.svg")), "no plot for a failed comparison");
    const none = alexnet("compare");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give one or more run directories/);
  });
});

// The `alexnet` command line as a user runs it: the summary tables of both variants, and one-line errors
// with exit code 2 for unknown commands and bad flags.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readFixture } from "./helpers.js";

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
    assert.match(alexnet("summary", "--backend", "tpu").stderr, /--backend must be one of auto, native, reference \(got 'tpu'\)/);
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

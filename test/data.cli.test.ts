// `alexnet data`: flag errors are UsageErrors; with the Debian files present, `data show` writes a PNG grid
// and `data info` reports the counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dataCommand } from "../src/cli/data.js";
import { UsageError } from "../src/cli/args.js";
import { ALL_FILES, DEBIAN_DIR } from "../src/data/fashionMnist.js";
import { PNG_SIGNATURE } from "../src/data/png.js";

/** Runs the command with console.log/error captured. */
async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return { code: await dataCommand.run(argv), out: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("usage errors", async () => {
  const bogus = (e: Error) => e instanceof UsageError && /unknown flag '--bogus'/.test(e.message);
  await assert.rejects(run(["show", "--bogus"]), bogus);
  await assert.rejects(run(["show", "--split", "val"]), UsageError);
  await assert.rejects(run(["show", "--count", "5000"]), /at most 1000/);
  await assert.rejects(run(["frobnicate"]), /unknown subcommand 'frobnicate'/);
  await assert.rejects(run(["info", "extra"]), UsageError);
  const bare = await run([]);
  assert.equal(bare.code, 2);
  assert.match(bare.out, /usage: alexnet data show/);
  assert.equal((await run(["show", "--help"])).code, 0);
});

test("data show and data info on the real files", async (t) => {
  if (!ALL_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.name)))) {
    t.skip(`${DEBIAN_DIR} not present (install the Debian package dataset-fashion-mnist)`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "alexnet-cli-"));
  try {
    const out = join(dir, "grid.png");
    const shown = await run(["show", "--split", "test", "--count", "4", "--out", out]);
    assert.equal(shown.code, 0, shown.out);
    assert.match(shown.out, /4 test images/);
    assert.deepEqual(new Uint8Array(readFileSync(out).subarray(0, 8)), PNG_SIGNATURE);
    const info = await run(["info"]);
    assert.equal(info.code, 0, info.out);
    assert.match(info.out, /train: 60000 images 28x28, checksums ok/);
    assert.match(info.out, /test: 10000 images 28x28/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

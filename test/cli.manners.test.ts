// Command-line manners (issue 26, item 7): a mistyped command, subcommand or flag names the likely one; a
// stray argument is an error, not ignored; each is one line on stderr with exit code 2. A `train` that fails
// before its first step (missing data) leaves no empty run directory behind. Creation functions given a bad
// shape throw one clear error naming the function and the shape.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { closestMatch, synopsisTakesArguments } from "../src/cli/args.js";
import { full, ones, rand, randn, zeros } from "../src/tensor/creation.js";
import { ShapeError } from "../src/backend/shapes.js";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "alexnet-manners-"));
after(() => rmSync(work, { recursive: true, force: true }));

function alexnet(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8", cwd: work, timeout: 60_000, env: { ...process.env, ALEXNET_SKIP_NATIVE: "1", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The case's stderr is exactly one line, matching `pattern`; nothing on stdout; exit code 2. */
function oneLine(args: string[], pattern: RegExp): string {
  const r = alexnet(args);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(r.code, 2, `alexnet ${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
  assert.equal(lines.length, 1, `alexnet ${args.join(" ")}: one line expected, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.equal(r.stdout, "");
  return lines[0]!;
}

describe("command-line manners", () => {
  it("a mistyped command names the likely one and lists the commands", () => {
    const line = oneLine(["trian"], /^alexnet: unknown command 'trian'; did you mean train\? commands: summary, train, /);
    assert.match(line, /\(see alexnet --help\)$/);
    oneLine(["analyse"], /did you mean analyze\?/);
    oneLine(["fly"], /^alexnet: unknown command 'fly'; commands: summary, train, eval, predict, analyze, bench, data, serve/);
    oneLine(["--verison"], /^alexnet: unknown flag '--verison'; did you mean --version\?/);
  });

  it("a mistyped data subcommand says so once and lists the subcommands", () => {
    const line = oneLine(["data", "shwo"], /^alexnet data: unknown subcommand 'shwo'; did you mean show\? subcommands: show, info, download \(see alexnet data --help\)$/);
    assert.equal(line.match(/data:/g)?.length, 1, line);
    oneLine(["data", "plot"], /^alexnet data: unknown subcommand 'plot'; subcommands: show, info, download/);
  });

  it("stray positional arguments are an error, for every command that takes none", () => {
    for (const command of ["summary", "train", "eval", "analyze", "bench", "serve"]) {
      oneLine([command, "extra"], new RegExp(`^alexnet ${command}: unexpected argument 'extra' \\(see alexnet ${command} --help\\)$`));
    }
    for (const sub of ["show", "info", "download"]) {
      oneLine(["data", sub, "extra"], new RegExp(`^alexnet data ${sub}: unexpected argument 'extra' \\(see alexnet data ${sub} --help\\)$`));
    }
    // A flag's name without its dashes is pointed at.
    oneLine(["summary", "variant", "28"], /unexpected argument 'variant'; did you mean --variant\?/);
  });

  it("a mistyped flag names the likely one, on the subcommand it belongs to", () => {
    oneLine(["train", "--epoch", "2"], /^alexnet train: unknown flag '--epoch'; did you mean --epochs\? \(see alexnet train --help\)$/);
    oneLine(["data", "show", "--cont", "3"], /^alexnet data show: unknown flag '--cont'; did you mean --count\? \(see alexnet data show --help\)$/);
  });

  it("`predict` still takes its image arguments (its synopsis names them)", () => {
    assert.equal(synopsisTakesArguments("--checkpoint PATH [IMAGE...] [flags]"), true);
    assert.equal(synopsisTakesArguments("--checkpoint PATH [flags]"), false);
    assert.equal(synopsisTakesArguments("[flags]"), false);
    const r = alexnet(["predict", "--checkpoint", join(work, "none"), "a.png"]);
    assert.doesNotMatch(r.stderr, /unexpected argument/);
  });

  it("closestMatch: near misses only", () => {
    assert.equal(closestMatch("trian", ["summary", "train", "eval"]), "train");
    assert.equal(closestMatch("evl", ["summary", "train", "eval"]), "eval");
    assert.equal(closestMatch("sum", ["summary", "train", "eval"]), "summary");
    assert.equal(closestMatch("xyz", ["summary", "train", "eval"]), null);
    assert.equal(closestMatch("e", ["summary", "train", "eval"]), null);
  });
});

describe("train that fails before its first step", () => {
  it("leaves no run directory behind (missing data), nor the runs/ it created for it", () => {
    const emptyData = join(work, "no-data");
    mkdirSync(emptyData);
    const cwd = join(work, "project");
    mkdirSync(cwd);
    // --data-dir names an empty directory, and the downloads are pointed at nothing: the data is missing.
    const env = { ALEXNET_MIRRORS: "http://127.0.0.1:9/" };
    const given = join(work, "runs-given", "r1");
    for (const args of [["--run-dir", given], []]) {
      const r = spawnSync(process.execPath, [CLI, "train", "--variant", "28", "--epochs", "1", "--data-dir", emptyData, "--plain", ...args], {
        encoding: "utf8", cwd, timeout: 60_000, env: { ...process.env, ALEXNET_SKIP_NATIVE: "1", ...env },
      });
      assert.notEqual(r.status, 0, r.stderr);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /train-images-idx3-ubyte/);
    }
    assert.equal(existsSync(join(work, "runs-given")), false, "the --run-dir (and its parent this run created) is left behind");
    assert.deepEqual(readdirSync(cwd), [], "the default runs/<date-time> is left behind");
  });

  it("keeps a run directory that existed before it", () => {
    const existing = join(work, "existing-run");
    mkdirSync(existing);
    const emptyData = join(work, "no-data-2");
    mkdirSync(emptyData);
    const r = spawnSync(process.execPath, [CLI, "train", "--variant", "28", "--data-dir", emptyData, "--run-dir", existing, "--plain"], {
      encoding: "utf8", cwd: work, timeout: 60_000,
      env: { ...process.env, ALEXNET_SKIP_NATIVE: "1", ALEXNET_MIRRORS: "http://127.0.0.1:9/" },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(existsSync(existing), true);
  });
});

describe("creation functions with a bad shape", () => {
  const cases: [string, () => unknown][] = [
    ["randn", () => randn([2, -3])],
    ["rand", () => rand([2, -3])],
    ["zeros", () => zeros([2, -3])],
    ["ones", () => ones([2, -3])],
    ["full", () => full([2, -3], 7)],
  ];
  for (const [name, make] of cases) {
    it(`${name}([2, -3]) throws one ShapeError naming the function and the shape`, () => {
      assert.throws(make, (e: unknown) => {
        assert.ok(e instanceof ShapeError, `${String(e)} is not a ShapeError`);
        assert.equal(e.message, `${name}: shape [2, -3] has a negative dimension (-3 at index 1)`);
        return true;
      });
    });
  }

  it("non-integer, NaN, non-array and oversized shapes", () => {
    assert.throws(() => randn([2.5, 3]), { name: "ShapeError", message: "randn: shape [2.5, 3] has a dimension that is not a whole number (2.5 at index 0)" });
    assert.throws(() => zeros([Number.NaN]), { name: "ShapeError", message: "zeros: shape [NaN] has a dimension that is not a whole number (NaN at index 0)" });
    assert.throws(() => rand("2x3" as unknown as number[]), { name: "ShapeError", message: /^rand: shape must be an array of dimensions such as \[2, 3\] \(got '2x3'\)$/ });
    assert.throws(() => randn([1e10, 1e10]), { name: "ShapeError", message: /^randn: shape \[10000000000, 10000000000\] has 1\.00e\+20 elements, more than one tensor can hold/ });
    // Empty tensors stay legal.
    const empty = zeros([0, 3]);
    assert.deepEqual(empty.shape, [0, 3]);
    empty.dispose();
  });
});

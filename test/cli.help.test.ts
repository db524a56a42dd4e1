// Node CLI conventions: `alexnet --version` prints package.json's version, and `-h`/`--help` on every
// command (and `alexnet help <command>`) prints its usage on stdout and exits 0, whatever else is on the line.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

function alexnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ALEXNET_SKIP_NATIVE: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = ["summary", "train", "eval", "predict", "analyze", "bench", "data", "data show", "data info", "data download", "export", "models", "compare", "sweep", "activations", "tune"];

describe("alexnet --version and --help", () => {
  it("--version and -v print package.json's version", () => {
    for (const flag of ["--version", "-v"]) {
      const r = alexnet(flag);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${VERSION}\n`);
    }
  });

  for (const command of COMMANDS) {
    it(`alexnet ${command} -h and --help: its usage, exit 0`, () => {
      for (const flag of ["-h", "--help"]) {
        const r = alexnet(...command.split(" "), flag);
        assert.equal(r.code, 0, `${command} ${flag}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^usage: alexnet ${command.split(" ")[0]} `), `${command} ${flag}: ${r.stdout}`);
        assert.equal(r.stderr, "");
      }
    });
  }

  it("help wins over other flags, even malformed ones; `help <command>` is `<command> --help`", () => {
    const r = alexnet("train", "--epochs", "ten", "-h", "--no-such-flag");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: alexnet train /);
    assert.match(r.stdout, /--data-dir/);
    const h = alexnet("help", "eval");
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^usage: alexnet eval --checkpoint PATH/);
    // after `--`, -h is an argument, not a request for help
    assert.equal(alexnet("predict", "--", "-h").code, 2);
  });

  it("the top level: -h lists the commands and --version; no command is a usage error", () => {
    const h = alexnet("-h");
    assert.equal(h.code, 0);
    assert.match(h.stdout, /alexnet --version/);
    for (const command of ["summary", "train", "eval", "predict", "analyze", "bench", "data"]) assert.match(h.stdout, new RegExp(`\\n  ${command} `));
    const none = alexnet();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^usage: alexnet <command>/);
  });
});

// The CLI inside a checkout (issue 26, item 1). The README's way, `bin/alexnet`, runs the checkout's build at
// once and builds nothing (`npx alexnet` there makes npm install the checkout into its npx cache, running
// `prepare` and `install`). A native build stopped half-way (Ctrl-C, a kill) leaves the previous addons as
// they were and working: scripts/build-native.mjs and build-mpi.mjs compile in a staging directory and put
// the new addon in place by a rename at the end.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const BUILD = join(ROOT, "build");
const NATIVE = join(BUILD, "Release", "alexnet_native.node");
const MPI = join(BUILD, "Release", "alexnet_mpi.node");
const work = mkdtempSync(join(tmpdir(), "alexnet-checkout-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** A user's shell environment: without the npm_* variables of an `npm test` that may be running this. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_(local_prefix|node_gyp)$|^npm_command$|^INIT_CWD$/.test(key)) delete env[key];
  }
  delete env.ALEXNET_SKIP_NATIVE;
  delete env.ALEXNET_SKIP_MPI;
  return { ...env, ...extra };
}

const expectNative = Boolean(process.env.CI) || process.env.ALEXNET_EXPECT_NATIVE === "1";
const noNative = existsSync(NATIVE) ? false : expectNative ? false : "the native addon is not built in this checkout (CI requires it)";

/** A file's identity and age: a rebuild or a replacement changes one of them. */
function stamp(file: string): string {
  const s = statSync(file);
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

describe("bin/alexnet, the README's way of running the CLI in a checkout", () => {
  it("the README's Quick start says to run it that way", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
    assert.match(quickStart, /bin\/alexnet/);
  });

  it("answers --version at once, building nothing (the addon's mtime is unchanged), also through a link on PATH", { skip: noNative }, () => {
    const before = stamp(NATIVE);
    const t0 = performance.now();
    const direct = spawnSync(join(ROOT, "bin", "alexnet"), ["--version"], { cwd: ROOT, encoding: "utf8", timeout: 30_000, env: userEnv() });
    const ms = performance.now() - t0;
    assert.equal(direct.status, 0, direct.stderr);
    assert.equal(direct.stdout.trim(), VERSION);
    console.log(`# bin/alexnet --version: ${ms.toFixed(0)} ms`);

    const binDir = join(work, "bin");
    mkdirSync(binDir);
    symlinkSync(join(ROOT, "bin", "alexnet"), join(binDir, "alexnet"));
    const linked = spawnSync("alexnet", ["--version"], { cwd: work, encoding: "utf8", timeout: 30_000, env: userEnv({ PATH: `${binDir}:${process.env.PATH}` }) });
    assert.equal(linked.status, 0, linked.stderr);
    assert.equal(linked.stdout.trim(), VERSION);
    assert.equal(stamp(NATIVE), before, "the addon was rebuilt or replaced");
  });
});

const haveCompiler = spawnSync(process.env.CXX ?? "c++", ["--version"]).status === 0;
const haveMpicxx = spawnSync("mpicxx", ["--showme:version"]).status === 0;

/** Starts `script` in its own process group, waits until the compiler is at work in its staging directory,
 * stops the whole group with `signal`, and checks that `addon` and `statusFile` are as they were and the
 * addon still loads (`probe` is what a child process evaluates on the loaded module). */
async function interruptBuild(script: string, kind: string, addon: string, statusFile: string, signal: NodeJS.Signals, probe: string): Promise<void> {
  const before = stamp(addon);
  const status = existsSync(statusFile) ? readFileSync(statusFile, "utf8") : null;
  const child = spawn(process.execPath, [join(ROOT, "scripts", script)], {
    cwd: ROOT, detached: true, stdio: "ignore", env: userEnv({ ALEXNET_BUILD_FROM_SOURCE: "1" }),
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const staging = join(BUILD, `.staging-${kind}-${child.pid}`);
  // make creates obj.target/ right before it runs the compiler on the first file.
  const compiling = join(staging, "build", "Release", "obj.target");
  try {
    const end = Date.now() + 180_000;
    while (!existsSync(compiling) && Date.now() < end && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(compiling), `${script} never started compiling in ${staging} (exit ${child.exitCode})`);
    process.kill(-child.pid!, signal);
    await exited;
  } finally {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    rmSync(staging, { recursive: true, force: true });
  }
  assert.equal(stamp(addon), before, `${addon} was changed by a build stopped half-way`);
  assert.equal(existsSync(statusFile) ? readFileSync(statusFile, "utf8") : null, status, `${statusFile} was rewritten`);
  const load = spawnSync(process.execPath, ["-e", `console.log(${probe.replace("$M", `require(${JSON.stringify(addon)})`)})`], { encoding: "utf8", timeout: 30_000 });
  assert.equal(load.status, 0, `${addon} does not load after the interrupted build: ${load.stderr}`);
}

describe("a native build stopped half-way leaves the previous addon working", { timeout: 600_000 }, () => {
  it("scripts/build-native.mjs, stopped by Ctrl-C (SIGINT to its process group) while compiling", { skip: noNative || (!haveCompiler && "no C++ compiler here") }, async () => {
    await interruptBuild("build-native.mjs", "native", NATIVE, join(BUILD, "native-status.json"), "SIGINT", "JSON.stringify($M.Info().onednn)");
  });

  it("scripts/build-mpi.mjs, killed (SIGKILL) while compiling", {
    skip: !existsSync(MPI) && !expectNative ? "the MPI addon is not built here" : !haveMpicxx ? "Open MPI's mpicxx is not installed" : false,
  }, async () => {
    await interruptBuild("build-mpi.mjs", "mpi", MPI, join(BUILD, "mpi-status.json"), "SIGKILL", "$M.version.split(',')[0]");
  });
});

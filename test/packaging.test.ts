// alexnet-ts as another project's dependency: `npm pack` this checkout (its prepack step puts the prebuilt
// linux-x64 addon and oneDNN into the tarball), install the tarball into a fresh project, and check that
// `npx alexnet bench` there runs on the native backend from the prebuild (no compiler involved), that the
// prebuild finds its bundled libraries through its $ORIGIN rpath, and that the tarball holds no tests,
// fixtures or Python. node-addon-api comes from npm's cache (or the registry CI can reach). Packing must leave
// the checkout working: a 2-rank `mpirun ... train --distributed` smoke step runs from it afterwards (prepack's
// rebuild used to empty build/Release of alexnet_mpi.node).
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nativeBackend } from "./helpers.js";
import { mpiSkip, mpirun } from "./distributedHelpers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), "alexnet-pack-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** The environment of a user's shell: without the npm_* variables of the `npm test` that may be running this,
 * which would otherwise point the nested npm at this checkout. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_(local_prefix|node_gyp)$|^npm_command$|^INIT_CWD$/.test(key)) delete env[key];
  }
  delete env.ALEXNET_SKIP_NATIVE;
  delete env.ALEXNET_BUILD_FROM_SOURCE;
  return env;
}

function sh(cmd: string, args: string[], options: SpawnSyncOptions & { cwd: string }): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: userEnv(), maxBuffer: 64 << 20, ...options });
  const out = { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} (in ${options.cwd}) failed: ${r.error?.message ?? ""}\n${out.stderr.slice(-3000)}`);
  return out;
}

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

const linuxX64 = process.platform === "linux" && process.arch === "x64";
const skip = !linuxX64
  ? "the prebuilt addon is made for linux-x64 only"
  : !nativeBackend && !process.env.CI && process.env.ALEXNET_EXPECT_NATIVE !== "1"
    ? "the native backend is not built in this checkout (CI requires it)"
    : false;

/** Root with unshare(1) can hide the system's libraries from one process tree (a private mount namespace). */
const canHideLibraries = process.getuid?.() === 0 && spawnSync("unshare", ["-m", "true"]).status === 0;
const BUNDLED = ["libdnnl.so.2", "libgomp.so.1", "libOpenCL.so.1"];

describe("npm package", { skip, timeout: 240_000 }, () => {
  let pack: PackResult;
  let tarball = "";
  let project = "";

  it("npm pack holds what a user runs, with the prebuilt addon, and no tests, fixtures or Python", () => {
    const packDir = join(work, "pack");
    mkdirSync(packDir);
    const { stdout } = sh("npm", ["pack", "--json", "--pack-destination", packDir], { cwd: ROOT, timeout: 150_000 });
    pack = (JSON.parse(stdout) as PackResult[])[0]!;
    tarball = join(packDir, pack.filename);
    const paths = pack.files.map((f) => f.path);
    console.log(`# tarball ${pack.filename}: ${(pack.size / 1e6).toFixed(1)} MB, ${pack.entryCount} files, ${(pack.unpackedSize / 1e6).toFixed(1)} MB unpacked`);
    const unwanted = paths.filter((p) =>
      /^(test|src|bench|examples|build|\.ci)\//.test(p) || /fixtures|\.py$|\.map$|(^|\/)\.|\.ts$/.test(p.replace(/\.d\.ts$/, "")),
    );
    assert.deepEqual(unwanted, [], "files a user does not run");
    for (const needed of [
      "package.json", "README.md", "LICENSE", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli/main.js",
      "binding.gyp", "native/addon.cc", "scripts/build-native.mjs",
      "prebuilds/linux-x64/alexnet_native.node", "prebuilds/linux-x64/libdnnl.so.2",
    ]) {
      assert.ok(paths.includes(needed), `${needed} missing from the tarball`);
    }
  });

  it("packing left the checkout working: a 2-rank mpirun smoke step of `train --distributed` runs from it", { skip: skip || mpiSkip() }, () => {
    assert.ok(tarball, "npm pack did not run");
    const mpiAddon = join(ROOT, "build", "Release", "alexnet_mpi.node");
    assert.ok(existsSync(mpiAddon), "npm pack removed build/Release/alexnet_mpi.node");
    const cli = join(ROOT, "dist", "src", "cli", "main.js");
    const args = ["train", "--variant", "28", "--width-scale", "0.125", "--epochs", "1", "--train-limit", "64", "--test-limit", "32",
      "--batch-size", "32", "--plain", "--distributed", "--run-dir", join(work, "distributed-smoke")];
    const r = mpirun(2, [cli, ...args], { timeoutMs: 180_000 });
    assert.equal(r.status, 0, `mpirun -np 2 alexnet train --distributed failed after npm pack:\n${r.stderr.slice(-3000)}`);
    assert.match(r.stdout, /on cpu \(native, 2 ranks x /, r.stdout);
    assert.match(r.stdout, /loss [\d.]+, train acc [\d.]+, test acc [\d.]+/, r.stdout);
  });

  it("a fresh project that installs the tarball runs `npx alexnet bench` on the native backend, from the prebuild", () => {
    assert.ok(tarball, "npm pack did not run");
    project = join(work, "consumer");
    mkdirSync(project);
    sh("npm", ["init", "-y"], { cwd: project });
    sh("npm", ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund"], { cwd: project, timeout: 120_000 });
    const installed = join(project, "node_modules", "alexnet-ts");

    const status = JSON.parse(readFileSync(join(installed, "build", "native-status.json"), "utf8")) as { ok: boolean; prebuilt?: boolean };
    assert.deepEqual([status.ok, status.prebuilt], [true, true], `the install did not use the prebuild: ${JSON.stringify(status)}`);
    // Each bundled library must resolve beside the addon, not from the system: a consumer may have no libdnnl.
    const prebuilds = join(installed, "prebuilds", "linux-x64");
    const ldd = sh("ldd", [join(prebuilds, "alexnet_native.node")], { cwd: project }).stdout;
    for (const lib of BUNDLED) {
      assert.ok(ldd.includes(`${lib} => ${join(prebuilds, lib)}`), `${lib} is not found beside the addon:\n${ldd}`);
    }

    const bench = sh("npx", ["--no", "--", "alexnet", "bench", "--steps", "1", "--warmup", "0", "--variant", "28", "--batch-size", "8", "--json"], { cwd: project, timeout: 120_000 });
    console.log(`# npx alexnet bench --steps 1 --json: ${bench.stdout.trim()}`);
    const result = JSON.parse(bench.stdout.trim().split("\n")[0]!) as { backend: string; train_examples_per_sec: number };
    assert.equal(result.backend, "native", bench.stderr);
    assert.ok(result.train_examples_per_sec > 0);
    assert.doesNotMatch(bench.stderr, /unavailable/);
    assert.equal(sh("npx", ["--no", "--", "alexnet", "--version"], { cwd: project }).stdout.trim(), VERSION);
  });

  it("the installed prebuild runs with the system's libdnnl, libgomp and libOpenCL hidden", { skip: canHideLibraries ? false : "needs root and unshare(1)" }, () => {
    assert.ok(project, "the install did not run");
    // The system's copies, as a source build resolves them; each is covered by an empty file.
    const ldd = sh("ldd", [join(ROOT, "build", "Release", "alexnet_native.node")], { cwd: ROOT }).stdout;
    const systemLibs = BUNDLED.map((lib) => new RegExp(`${lib.replaceAll(".", "\\.")} => (\\S+)`).exec(ldd)?.[1]).filter((p) => p !== undefined);
    assert.equal(systemLibs.length, BUNDLED.length, ldd);
    const empty = join(work, "empty-library");
    writeFileSync(empty, "");
    const hide = systemLibs.map((p) => `mount --bind ${empty} ${realpathSync(p)}`).join(" && ");
    // The source build must now fail to load: proof that the system's copies are out of reach.
    const sourceBuild = join(ROOT, "build", "Release", "alexnet_native.node");
    const script = `${hide} && ! node -e 'require("${sourceBuild}")' 2>/dev/null && exec npx --no -- alexnet bench --steps 1 --warmup 0 --variant 28 --batch-size 4 --mode infer --json`;
    const bench = sh("unshare", ["-m", "sh", "-c", script], { cwd: project, timeout: 120_000 });
    assert.equal((JSON.parse(bench.stdout.trim().split("\n")[0]!) as { backend: string }).backend, "native", bench.stderr);
  });
});

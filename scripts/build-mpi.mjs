// Builds the optional Open MPI addon (build/Release/alexnet_mpi.node) behind `alexnet train --distributed`,
// after the native backend (npm install runs both). Like build-native.mjs it never fails the install:
// without Open MPI the single-process toolkit is complete, so the reason goes to build/mpi-status.json,
// which src/distributed/load.ts prints in one line when --distributed is asked for.
// ALEXNET_SKIP_MPI=1 skips it. The flags come from Open MPI's wrapper (mpicxx --showme), not guesses.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "native", "mpi");
const buildDir = join(root, "build");
const target = join(buildDir, "Release", "alexnet_mpi.node");
const statusFile = join(buildDir, "mpi-status.json");
const FIX = "apt-get install openmpi-bin libopenmpi-dev && npm rebuild";

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(statusFile, JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2) + "\n");
}

function fail(reason) {
  rmSync(target, { force: true });
  writeStatus({ ok: false, reason, fix: FIX });
  console.warn(`alexnet-ts: MPI addon not built: ${reason} (fix: ${FIX}); --distributed will be unavailable`);
  process.exit(0);
}

const run = (cmd, args, options = {}) => spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, ...options });

if (process.env.ALEXNET_SKIP_MPI === "1") fail("skipped (ALEXNET_SKIP_MPI=1)");
const compile = run("mpicxx", ["--showme:compile"]);
const link = run("mpicxx", ["--showme:link"]);
if (compile.error || compile.status !== 0 || link.status !== 0) fail("Open MPI's compiler wrapper mpicxx not found");
const includes = compile.stdout.trim().split(/\s+/).filter((f) => f.startsWith("-I")).map((f) => f.slice(2));
// The C API is enough; libmpi_cxx is deprecated and not always installed.
const libs = link.stdout.trim().split(/\s+/).filter((f) => f !== "-lmpi_cxx");

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), ".."), "/usr", "/usr/local"];
  return candidates.find((d) => d && existsSync(join(d, "include", "node", "node_api.h")) && existsSync(join(d, "include", "node", "common.gypi")));
}
const nodeDir = findNodeDir();
if (!nodeDir) fail("Node.js headers not found (include/node/node_api.h)");
let nodeGyp;
try {
  nodeGyp = createRequire(join(root, "package.json")).resolve("node-gyp/bin/node-gyp.js");
} catch {
  fail("node-gyp is not installed (a dev dependency)");
}
const gyp = run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--release", "-j", "1"], {
  cwd: srcDir,
  env: { ...process.env, npm_config_nodedir: nodeDir, ALEXNET_MPI_INCLUDES: includes.join(" "), ALEXNET_MPI_LIBS: libs.join(" ") },
});
mkdirSync(buildDir, { recursive: true });
writeFileSync(join(buildDir, "mpi-build.log"), `${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`);
if (gyp.status !== 0) fail("node-gyp build failed (see build/mpi-build.log)");
mkdirSync(dirname(target), { recursive: true });
copyFileSync(join(srcDir, "build", "Release", "alexnet_mpi.node"), target);
rmSync(join(srcDir, "build"), { recursive: true, force: true });
const check = run(process.execPath, ["-e", `console.log(require(${JSON.stringify(target)}).version.split(",")[0])`]);
const why = (check.stderr ?? "").trim().split("\n").find((l) => /Error/.test(l)) ?? (check.stderr ?? "").trim().split("\n")[0];
if (check.status !== 0) fail(`the built addon does not load: ${why}`);
writeStatus({ ok: true, mpi: check.stdout.trim() });
console.log(`alexnet-ts: MPI addon built (${check.stdout.trim()})`);

// Builds the optional Open MPI addon (build/Release/alexnet_mpi.node) behind `alexnet train --distributed`,
// after the native backend (npm install runs both). Like build-native.mjs it never fails the install:
// without Open MPI the single-process toolkit is complete, so the reason goes to build/mpi-status.json,
// which src/distributed/load.ts prints in one line when --distributed is asked for.
// ALEXNET_SKIP_MPI=1 skips it. The flags come from Open MPI's wrapper (mpicxx --showme), not guesses.
// As build-native.mjs, it compiles in a staging directory (build/.staging-mpi-<pid>/: native/mpi's
// binding.gyp beside links to its sources) and replaces build/Release/alexnet_mpi.node by a rename once the
// new one loads: a build stopped half-way leaves the previous addon working, and one that fails keeps a
// previous addon that still loads.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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

const staging = join(buildDir, `.staging-mpi-${process.pid}`);

const run = (cmd, args, options = {}) => spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, ...options });

/** The MPI version string of the addon at `file`, or the first line of why it does not load. */
function tryLoad(file) {
  const check = run(process.execPath, ["-e", `console.log(require(${JSON.stringify(file)}).version.split(",")[0])`]);
  if (check.status === 0) return { version: check.stdout.trim() };
  const lines = (check.stderr ?? "").trim().split("\n");
  return { error: lines.find((l) => /Error/.test(l)) ?? lines[0] };
}

/** A failure report: where the build itself failed (`keepPrevious`), a previous addon that still loads is
 * kept; otherwise (skipped, no Open MPI) none may outlive the report. */
function fail(reason, { keepPrevious = false } = {}) {
  rmSync(staging, { recursive: true, force: true });
  const kept = keepPrevious && existsSync(target) && tryLoad(target).version !== undefined;
  if (!kept) rmSync(target, { force: true });
  writeStatus({ ok: false, reason, fix: FIX, ...(kept && { previousKept: true }) });
  const outcome = kept ? "the previous build/Release/alexnet_mpi.node is kept" : "--distributed will be unavailable";
  console.warn(`alexnet-ts: MPI addon not built: ${reason} (fix: ${FIX}); ${outcome}`);
  process.exit(0);
}

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
// Staging directories of earlier runs whose process is gone (killed half-way): nothing else removes them.
for (const entry of existsSync(buildDir) ? readdirSync(buildDir) : []) {
  const pid = Number(/^\.staging-mpi-(\d+)$/.exec(entry)?.[1]);
  if (!pid || pid === process.pid) continue;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (e.code === "ESRCH") rmSync(join(buildDir, entry), { recursive: true, force: true });
  }
}
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
for (const entry of readdirSync(srcDir)) {
  if (entry === "build") continue;
  if (entry === "binding.gyp") copyFileSync(join(srcDir, entry), join(staging, entry));
  else symlinkSync(join(srcDir, entry), join(staging, entry));
}
const gyp = run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--release", "-j", "1"], {
  cwd: staging,
  env: { ...process.env, npm_config_nodedir: nodeDir, ALEXNET_MPI_INCLUDES: includes.join(" "), ALEXNET_MPI_LIBS: libs.join(" ") },
});
mkdirSync(buildDir, { recursive: true });
writeFileSync(join(buildDir, "mpi-build.log"), `in ${staging}\n${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`);
if (gyp.status !== 0) fail("node-gyp build failed (see build/mpi-build.log)", { keepPrevious: true });
const staged = join(staging, "build", "Release", "alexnet_mpi.node");
const loaded = tryLoad(staged);
if (!loaded.version) fail(`the built addon does not load: ${loaded.error}`, { keepPrevious: true });
mkdirSync(dirname(target), { recursive: true });
renameSync(staged, target);
rmSync(staging, { recursive: true, force: true });
writeStatus({ ok: true, mpi: loaded.version });
console.log(`alexnet-ts: MPI addon built (${loaded.version})`);

// The install step of the native CPU backend (`npm install`, `npm rebuild`). In an installed package it first
// tries the prebuilt addon that ships in prebuilds/<platform>-<arch>/ (linux-x64, with oneDNN beside it; see
// scripts/prepack-native.mjs): when that loads, nothing is compiled. Otherwise, and always in a git checkout
// (where the sources may be newer than any prebuild), it builds build/Release/alexnet_native.node from source
// with node-gyp. It never fails the install: without a compiler or oneDNN the toolkit still works on the
// reference backend, so failures are written to build/native-status.json with the reason and the fix, which
// the loader (src/backend/native/load.ts) and the CLI print in one line.
// ALEXNET_SKIP_NATIVE=1 skips everything; ALEXNET_BUILD_FROM_SOURCE=1 ignores the prebuild. Node headers come
// from the machine (--nodedir) when it has them, so node-gyp downloads nothing there.
// The compile happens in a staging directory (build/.staging-native-<pid>/, binding.gyp beside a link to
// native/), never in build/ itself: node-gyp's `rebuild` starts by deleting its whole build directory, which
// took the working addon (and build/Release/alexnet_mpi.node) with it. The new addon replaces the old one by a
// rename, once it has loaded, so a build stopped half-way (Ctrl-C, a timeout, a killed `npx`) leaves the
// previous addon as it was, and a build that fails keeps a previous addon that still loads.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "build");
const statusFile = join(buildDir, "native-status.json");
const logFile = join(buildDir, "native-build.log");
const builtAddon = join(buildDir, "Release", "alexnet_native.node");
const prebuiltAddon = join(root, "prebuilds", `${process.platform}-${process.arch}`, "alexnet_native.node");
const FIX_DNNL = "apt-get install libdnnl-dev && npm rebuild alexnet-ts";

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(statusFile, JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2) + "\n");
}

/** Notes gathered before the source build (why the prebuild was not used), prefixed to a failure. */
const notes = [];

/** Where this run compiles (removed at exit, whatever the outcome; a killed run's is removed by the next). */
const staging = join(buildDir, `.staging-native-${process.pid}`);

/** A failure report. Where nothing can be built here (skipped, no compiler, no oneDNN) a stale addon from an
 * earlier build must not outlive the report; where the build itself failed (`keepPrevious`), a previous addon
 * that still loads is kept: it was working, and a failed replacement is no reason to lose it. */
function fail(reason, fix, { keepPrevious = false } = {}) {
  rmSync(staging, { recursive: true, force: true });
  const full = [...notes, reason].join("; ");
  const kept = keepPrevious && existsSync(builtAddon) && tryLoad(builtAddon).info !== undefined;
  if (!kept) rmSync(builtAddon, { force: true });
  writeStatus({ ok: false, reason: full, fix, ...(kept && { previousKept: true }) });
  const outcome = kept ? "the previous build/Release/alexnet_native.node is kept" : "the reference backend will be used";
  console.warn(`alexnet-ts: native backend not built: ${full}${fix ? ` (fix: ${fix})` : ""}; ${outcome}`);
  process.exit(0);
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, ...options });
}

/** Loads an addon in a child process (a crash or a missing library must not take this script down). */
function tryLoad(addon) {
  const check = run(process.execPath, ["-e", `const m = require(${JSON.stringify(addon)}); console.log(JSON.stringify(m.Info()))`]);
  if (check.status !== 0) return { error: (check.stderr ?? "").trim().split("\n").find((l) => /error/i.test(l)) ?? `exit ${check.status}` };
  return { info: JSON.parse(check.stdout.trim()) };
}

if (process.env.ALEXNET_SKIP_NATIVE === "1") fail("skipped (ALEXNET_SKIP_NATIVE=1)", "unset ALEXNET_SKIP_NATIVE && npm rebuild alexnet-ts");

const inCheckout = existsSync(join(root, ".git"));
if (!inCheckout && process.env.ALEXNET_BUILD_FROM_SOURCE !== "1" && existsSync(prebuiltAddon)) {
  const loaded = tryLoad(prebuiltAddon);
  if (loaded.info) {
    rmSync(builtAddon, { force: true });
    writeStatus({ ok: true, prebuilt: true, onednn: loaded.info.onednn, threads: loaded.info.threads });
    console.log(`alexnet-ts: using the prebuilt native backend for ${process.platform}-${process.arch} (oneDNN ${loaded.info.onednn})`);
    process.exit(0);
  }
  notes.push(`the prebuilt addon does not load here (${loaded.error.slice(0, 200)})`);
}

// Node's own headers: npm's nodedir when set, else the ones installed beside this node binary
// (Debian: /usr/include/node). null: node-gyp fetches the headers for this Node version itself.
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), ".."), "/usr", "/usr/local"];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, "include", "node", "node_api.h")) && existsSync(join(dir, "include", "node", "common.gypi"))) return dir;
  }
  return null;
}

/** node-gyp as npm hands it to install scripts, else this package's own (a checkout's dev dependency), else
 * one on PATH. Returns the command and the arguments that come before node-gyp's own. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return { cmd: process.execPath, pre: [fromNpm], where: "npm's" };
  try {
    const own = createRequire(join(root, "package.json")).resolve("node-gyp/bin/node-gyp.js");
    return { cmd: process.execPath, pre: [own], where: "the package's" };
  } catch {
    // not installed beside the package (a consumer's install never has dev dependencies)
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const bin = dir && join(dir, "node-gyp");
    if (bin && existsSync(bin)) return { cmd: bin, pre: [], where: "the global" };
  }
  return null;
}

const cxx = process.env.CXX ?? "c++";
const probe = run(cxx, ["-x", "c++", "-E", "-P", "-"], { input: "#include <oneapi/dnnl/dnnl.hpp>\nint dnnl_major = DNNL_VERSION_MAJOR;\n" });
if (probe.error) fail(`no C++ compiler (${cxx}: ${probe.error.message})`, "apt-get install g++ make python3 libdnnl-dev && npm rebuild alexnet-ts");
if (probe.status !== 0) fail("oneDNN headers not found (oneapi/dnnl/dnnl.hpp)", FIX_DNNL);
const major = /int dnnl_major =\s*(\d+)\s*;/.exec(probe.stdout)?.[1];
if (major !== "2") fail(`oneDNN ${major ?? "?"}.x found; this build supports the oneDNN 2.x API`, "install oneDNN 2.x (Debian 12: apt-get install libdnnl-dev) && npm rebuild alexnet-ts");

const nodeGyp = findNodeGyp();
if (!nodeGyp) fail("node-gyp not found (npm provides it to install scripts; none in the package or on PATH)", "npm install -g node-gyp && npm rebuild alexnet-ts");

/** Staging directories of earlier runs whose process is gone (killed half-way): nothing else removes them. */
function removeAbandonedStaging() {
  if (!existsSync(buildDir)) return;
  for (const entry of readdirSync(buildDir)) {
    const pid = Number(/^\.staging-native-(\d+)$/.exec(entry)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if (e.code === "ESRCH") rmSync(join(buildDir, entry), { recursive: true, force: true });
    }
  }
}

const nodeDir = findNodeDir();
const nodeDirArgs = nodeDir ? [`--nodedir=${nodeDir}`] : [];
removeAbandonedStaging();
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
copyFileSync(join(root, "binding.gyp"), join(staging, "binding.gyp"));
// A junction on Windows, where a directory symlink needs extra privileges.
symlinkSync(join(root, "native"), join(staging, "native"), process.platform === "win32" ? "junction" : "dir");
// -j 1: the build shares small machines with other work; seven files compile quickly one at a time.
const gyp = run(nodeGyp.cmd, [...nodeGyp.pre, "rebuild", ...nodeDirArgs, "--release", "-j", "1"], {
  cwd: staging,
  env: { ...process.env, ...(nodeDir && { npm_config_nodedir: nodeDir }) },
});
mkdirSync(buildDir, { recursive: true });
writeFileSync(logFile, `node-gyp: ${nodeGyp.where} (${[nodeGyp.cmd, ...nodeGyp.pre].join(" ")}), in ${staging}\n${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`);
if (gyp.error || gyp.status !== 0) {
  const tail = `${gyp.error?.message ?? ""}\n${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`.split("\n").filter((l) => /error/i.test(l)).slice(0, 3).join(" | ");
  fail(`node-gyp build failed (see ${logFile})${tail ? `: ${tail.slice(0, 300)}` : ""}`, FIX_DNNL, { keepPrevious: true });
}

// A build that links but cannot load (e.g. libdnnl.so missing at run time) counts as a failure. The check
// loads the new addon where it was built; only then does it replace the old one, in one rename.
const stagedAddon = join(staging, "build", "Release", "alexnet_native.node");
const built = tryLoad(stagedAddon);
if (!built.info) fail(`the built addon does not load: ${built.error}`, FIX_DNNL, { keepPrevious: true });
mkdirSync(dirname(builtAddon), { recursive: true });
renameSync(stagedAddon, builtAddon);
rmSync(staging, { recursive: true, force: true });
writeStatus({ ok: true, prebuilt: false, onednn: built.info.onednn, threads: built.info.threads });
console.log(`alexnet-ts: native backend built (oneDNN ${built.info.onednn})`);

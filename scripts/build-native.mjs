// Builds the native CPU backend (build/Release/alexnet_native.node) with node-gyp during `npm install`.
// It never fails the install: without a compiler or oneDNN the toolkit still works on the reference
// backend, so failures are written to build/native-status.json with the reason and the fix, which the
// loader (src/backend/native/load.ts) and the CLI print in one line.
// ALEXNET_SKIP_NATIVE=1 skips the build. Node headers come from the machine (--nodedir), never a download.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "build");
const statusFile = join(buildDir, "native-status.json");
const logFile = join(buildDir, "native-build.log");
const FIX_DNNL = "apt-get install libdnnl-dev && npm rebuild";

function writeStatus(status) {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(statusFile, JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2) + "\n");
}

function fail(reason, fix) {
  // A stale addon from an earlier build must not outlive the failure report.
  rmSync(join(buildDir, "Release", "alexnet_native.node"), { force: true });
  writeStatus({ ok: false, reason, fix });
  console.warn(`alexnet-ts: native backend not built: ${reason}${fix ? ` (fix: ${fix})` : ""}; the reference backend will be used`);
  process.exit(0);
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, ...options });
}

if (process.env.ALEXNET_SKIP_NATIVE === "1") fail("skipped (ALEXNET_SKIP_NATIVE=1)", "unset ALEXNET_SKIP_NATIVE && npm rebuild");

// Node's own headers: npm's nodedir when set, else the ones installed beside this node binary
// (Debian: /usr/include/node), so node-gyp never tries to download them.
function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), ".."), "/usr", "/usr/local"];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, "include", "node", "node_api.h")) && existsSync(join(dir, "include", "node", "common.gypi"))) return dir;
  }
  return null;
}

const cxx = process.env.CXX ?? "c++";
const probe = run(cxx, ["-x", "c++", "-E", "-P", "-"], { input: "#include <oneapi/dnnl/dnnl.hpp>\nint dnnl_major = DNNL_VERSION_MAJOR;\n" });
if (probe.error) fail(`no C++ compiler (${cxx}: ${probe.error.message})`, "apt-get install g++ make python3 && npm rebuild");
if (probe.status !== 0) fail("oneDNN headers not found (oneapi/dnnl/dnnl.hpp)", FIX_DNNL);
const major = /int dnnl_major =\s*(\d+)\s*;/.exec(probe.stdout)?.[1];
if (major !== "2") fail(`oneDNN ${major ?? "?"}.x found; this build supports the oneDNN 2.x API`, "install oneDNN 2.x (Debian 12: apt-get install libdnnl-dev) && npm rebuild");

const nodeDir = findNodeDir();
if (!nodeDir) fail("Node.js headers not found (include/node/node_api.h)", "apt-get install libnode-dev (or set npm_config_nodedir) && npm rebuild");

let nodeGyp;
try {
  nodeGyp = createRequire(join(root, "package.json")).resolve("node-gyp/bin/node-gyp.js");
} catch {
  fail("node-gyp is not installed (a dev dependency)", "npm install && npm rebuild");
}

// -j 1: the build shares small machines with other work; five files compile quickly one at a time.
const gyp = run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--release", "-j", "1"], {
  env: { ...process.env, npm_config_nodedir: nodeDir },
});
mkdirSync(buildDir, { recursive: true });
writeFileSync(logFile, `${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`);
if (gyp.status !== 0) {
  const tail = `${gyp.stdout ?? ""}\n${gyp.stderr ?? ""}`.split("\n").filter((l) => /error/i.test(l)).slice(0, 3).join(" | ");
  fail(`node-gyp build failed (see build/native-build.log)${tail ? `: ${tail.slice(0, 300)}` : ""}`, FIX_DNNL);
}

// A build that links but cannot load (e.g. libdnnl.so missing at run time) counts as a failure.
const addon = join(buildDir, "Release", "alexnet_native.node");
const check = run(process.execPath, ["-e", `const m = require(${JSON.stringify(addon)}); console.log(JSON.stringify(m.Info()))`]);
if (check.status !== 0) fail(`the built addon does not load: ${(check.stderr ?? "").trim().split("\n")[0]}`, FIX_DNNL);
const info = JSON.parse(check.stdout.trim());
writeStatus({ ok: true, onednn: info.onednn, threads: info.threads });
console.log(`alexnet-ts: native backend built (oneDNN ${info.onednn})`);

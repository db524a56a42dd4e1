// `npm pack` / `npm publish` step (package.json "prepack"): puts the prebuilt native addon for linux-x64 into
// prebuilds/linux-x64/ with every shared library it needs that a base Debian/Node image lacks (oneDNN's
// libdnnl.so.2 and what it pulls in: libgomp.so.1, libOpenCL.so.1), found with ldd, plus their copyright
// files. The addon's $ORIGIN rpath (binding.gyp) makes the loader look beside it first, so a consumer on
// linux-x64 needs neither apt nor a compiler. The addon comes from build/Release, rebuilt from source first
// when it is missing, older than a native source, or lacks that rpath (build-native.mjs compiles in a staging
// directory and renames the result into place, so the rebuild leaves the rest of build/Release alone:
// alexnet_mpi.node, and with it the checkout's `--distributed`). Other platforms pack no prebuild (their
// install builds from source). Reports go to stderr, keeping `npm pack --json` parseable. Fails loudly: a
// package without its prebuild is the bug this exists for.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const platform = `${process.platform}-${process.arch}`;
const builtAddon = join(root, "build", "Release", "alexnet_native.node");
const outDir = join(root, "prebuilds", platform);

/** Libraries every glibc Linux with Node.js has (Node itself links them), so they are never bundled. */
const SYSTEM_LIBS = /^(linux-vdso|ld-linux[^/]*|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so/;

function die(message) {
  console.error(`prepack-native: ${message}`);
  process.exit(1);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20, ...options });
  if (r.error) die(`${cmd} failed to start: ${r.error.message}`);
  return r;
}

if (platform !== "linux-x64") {
  console.error(`prepack-native: no prebuild for ${platform} (only linux-x64 is prebuilt; installs here build from source)`);
  process.exit(0);
}

function hasOriginRpath(file) {
  const r = run("readelf", ["-d", file]);
  return r.status === 0 && /\((RPATH|RUNPATH)\)[^\n]*\$ORIGIN/.test(r.stdout);
}

function newestSource() {
  const sources = [join(root, "binding.gyp"), ...readdirSync(join(root, "native")).map((f) => join(root, "native", f))];
  return Math.max(...sources.map((f) => statSync(f).mtimeMs));
}

const stale = !existsSync(builtAddon) || statSync(builtAddon).mtimeMs < newestSource() || !hasOriginRpath(builtAddon);
if (stale) {
  console.error("prepack-native: building the addon from source (build/Release is missing, older than native/, or has no $ORIGIN rpath)");
  const build = run(process.execPath, [join(root, "scripts", "build-native.mjs")], {
    env: { ...process.env, ALEXNET_BUILD_FROM_SOURCE: "1" },
    stdio: ["ignore", 2, 2],
  });
  // build-native.mjs never fails an install: its verdict is in the status file (a failed build may have kept
  // the previous, stale addon, which must not be packed).
  let status = {};
  try {
    status = JSON.parse(readFileSync(join(root, "build", "native-status.json"), "utf8"));
  } catch {
    // no status: the build did not get that far
  }
  if (build.status !== 0 || status.ok !== true || !existsSync(builtAddon)) {
    die(`the source build failed (${status.reason ?? "see build/native-status.json"}); nothing to prebuild`);
  }
  if (!hasOriginRpath(builtAddon)) die(`${builtAddon} has no $ORIGIN rpath; check binding.gyp's ldflags`);
}

/** The shared libraries ldd resolves for `file` (all of them, transitively): soname -> path on this machine. */
function resolvedLibraries(file) {
  const r = run("ldd", [file]);
  if (r.status !== 0) die(`ldd ${file} failed: ${r.stderr.trim()}`);
  const libs = new Map();
  for (const line of r.stdout.split("\n")) {
    const m = /^\s*(\S+)\s+=>\s+(not found|\S+)/.exec(line);
    if (!m) continue;
    if (m[2] === "not found") die(`${file} needs ${m[1]}, which this machine does not have`);
    libs.set(m[1], m[2]);
  }
  return libs;
}

/** The Debian copyright file of the package that installed `path`, when dpkg knows it. */
function copyrightOf(path) {
  // ldd may name /lib/... where dpkg recorded /usr/lib/... (merged /usr).
  for (const candidate of [path, path.replace(/^\/lib/, "/usr/lib")]) {
    const owner = spawnSync("dpkg", ["-S", candidate], { encoding: "utf8" });
    const pkg = owner.status === 0 ? owner.stdout.split(":")[0] : null;
    const file = pkg ? `/usr/share/doc/${pkg}/copyright` : null;
    if (file && existsSync(file)) return { pkg, file };
  }
  return null;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const addon = join(outDir, "alexnet_native.node");
copyFileSync(builtAddon, addon);
const bundled = [];
for (const [soname, path] of resolvedLibraries(builtAddon)) {
  if (SYSTEM_LIBS.test(soname)) continue;
  // copyFileSync follows the symlink chain (libdnnl.so.2 -> libdnnl.so.2.6): the copy is named by soname,
  // which is the name the loader asks for.
  copyFileSync(path, join(outDir, soname));
  const copyright = copyrightOf(path);
  if (copyright) copyFileSync(copyright.file, join(outDir, `${soname}.copyright`));
  bundled.push(`${soname} (${copyright?.pkg ?? basename(path)})`);
}

// The copy must find every bundled library beside itself, not in the system, or the consumer would need them.
const resolved = resolvedLibraries(addon);
for (const [soname, path] of resolved) {
  if (!SYSTEM_LIBS.test(soname) && dirname(path) !== outDir) die(`the prebuilt addon resolves ${soname} to ${path}, not to its copy in ${outDir}`);
}
const check = run(process.execPath, ["-e", `console.log(JSON.stringify(require(${JSON.stringify(addon)}).Info()))`]);
if (check.status !== 0) die(`the prebuilt addon does not load: ${check.stderr.trim().split("\n")[0]}`);
const info = JSON.parse(check.stdout.trim());
console.error(`prepack-native: prebuilds/${platform}/alexnet_native.node (oneDNN ${info.onednn}) with ${bundled.join(", ")}`);

// Types for TypeScript users (issue 26, item 4): a consumer project that type-checks its dependencies
// (`skipLibCheck: false`, strict) compiles against the packed tarball. The WebGPU declarations reference
// @webgpu/types (a dependency of the package), which once were 17 "Cannot find name 'GPUBuffer'" errors.
// The tarball is packed without its scripts (`--ignore-scripts`): those add the native prebuild, which has
// no declarations, and would rebuild what the test does not look at; the declarations are the checkout's
// build, as `npm pack` ships them. Dependencies come from npm's cache (the checkout's `npm ci` filled it).
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const work = mkdtempSync(join(tmpdir(), "alexnet-consumer-types-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** A user's shell environment: without the npm_* variables of an `npm test` that may be running this. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_|^npm_config_(local_prefix|node_gyp)$|^npm_command$|^INIT_CWD$/.test(key)) delete env[key];
  }
  return env;
}

function sh(cmd: string, args: string[], options: SpawnSyncOptions & { cwd: string }): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: userEnv(), maxBuffer: 64 << 20, ...options });
  return { status: r.status, out: `${String(r.stdout ?? "")}${String(r.stderr ?? "")}${r.error ? `\n${r.error.message}` : ""}` };
}

const version = (pkg: string): string => (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;

/** What a consumer writes: the main entry and the browser-safe core, values and types. */
const CONSUMER_SOURCE = `import { nn, optim, randn, tidy, noGrad, type Tensor } from "alexnet-ts";
import * as core from "alexnet-ts/core";

const net = new nn.Sequential(new nn.Flatten(), new nn.Linear(784, 10));
const opt = new optim.SGD(net.parameters(), { lr: 0.1 });
const x: Tensor = randn([2, 1, 28, 28]);
const y = noGrad(() => tidy(() => net.call(x)));
console.log(y.shape, opt, Object.keys(core).length);
`;

describe("a TypeScript consumer of the packed tarball", { timeout: 300_000, skip: existsSync(join(ROOT, "dist", "src", "index.d.ts")) ? false : "dist/ is not built" }, () => {
  let project = "";

  it("installs the tarball (with @webgpu/types as its dependency)", () => {
    const packDir = join(work, "pack");
    mkdirSync(packDir);
    const pack = sh("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packDir], { cwd: ROOT, timeout: 120_000 });
    assert.equal(pack.status, 0, pack.out);
    const tarball = join(packDir, (JSON.parse(pack.out.slice(pack.out.indexOf("["))) as { filename: string }[])[0]!.filename);

    project = join(work, "consumer");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }, null, 2));
    // @types/node at the checkout's version (a Node project has it; the declarations use node: modules).
    const install = sh("npm", ["install", tarball, `@types/node@${version("@types/node")}`, "--prefer-offline", "--ignore-scripts", "--omit=optional", "--no-audit", "--no-fund"],
      { cwd: project, timeout: 180_000 });
    assert.equal(install.status, 0, install.out);
    assert.ok(existsSync(join(project, "node_modules", "@webgpu", "types", "package.json")), "@webgpu/types was not installed with alexnet-ts");
    writeFileSync(join(project, "main.ts"), CONSUMER_SOURCE);
  });

  for (const [name, lib] of [["the default libraries", undefined], ["lib ES2022 + DOM", ["ES2022", "DOM"]]] as const) {
    it(`compiles with skipLibCheck false, strict, NodeNext, ${name}`, () => {
      assert.ok(project, "the install did not run");
      const config = {
        compilerOptions: {
          target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, skipLibCheck: false, noEmit: true,
          types: ["node"], ...(lib && { lib }),
        },
        files: ["main.ts"],
      };
      const file = `tsconfig.${lib ? "dom" : "default"}.json`;
      writeFileSync(join(project, file), JSON.stringify(config, null, 2));
      const tsc = sh(process.execPath, [TSC, "-p", file], { cwd: project, timeout: 180_000 });
      const errors = tsc.out.split("\n").filter((l) => /error TS\d+/.test(l));
      assert.deepEqual(errors, [], `tsc found ${errors.length} errors:\n${tsc.out.slice(0, 4000)}`);
      assert.equal(tsc.status, 0, tsc.out);
    });
  }
});

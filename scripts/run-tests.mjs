// Runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Files run one at a time (--test-concurrency=1): the machine has 2 cores and the native backend
// uses both through OpenMP, so parallel files would only fight over them.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (entry.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect("dist/test").sort();
if (filter.length > 0) files = files.filter((f) => filter.some((pattern) => f.includes(pattern)));
if (files.length === 0) {
  console.error("run-tests: no test files found under dist/test (did the build run?)");
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);

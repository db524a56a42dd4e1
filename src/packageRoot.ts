// Where the alexnet-ts package is installed and which version it is, found from this file's own location,
// so it works from src/ and dist/, in a checkout and inside a consumer's node_modules alike.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "alexnet-ts";

let cached: { root: string; version: string } | undefined;

function find(): { root: string; version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        const json = JSON.parse(readFileSync(pkg, "utf8")) as { name?: string; version?: string };
        if (json.name === PACKAGE_NAME) return { root: dir, version: json.version ?? "unknown" };
      } catch {
        // a damaged or foreign package.json: keep looking further up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The directory holding alexnet-ts's package.json. Throws when it cannot be found. */
export function packageRoot(): string {
  cached ??= find();
  return cached.root;
}

/** The version in alexnet-ts's package.json. */
export function packageVersion(): string {
  cached ??= find();
  return cached.version;
}

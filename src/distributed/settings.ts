// What must be equal on every rank for N ranks to compute what one process computes: the run's settings,
// a checksum of the training and test data, and the code (our compiled JavaScript and both addons). Each
// rank gathers the record; a difference is refused at start-up with the rank and the field that differ.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function dataChecksum(...arrays: (Uint8Array | Int32Array)[]): string {
  const h = createHash("sha256");
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest("hex").slice(0, 16);
}

let codeHash: string | null = null;

function walkSources(dir: string, h: ReturnType<typeof createHash>): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== "build") walkSources(p, h);
    } else if (/\.(cc|h|gyp)$/.test(name)) h.update(name).update(readFileSync(p));
  }
}

/** A hash of the compiled package (every .js file under dist/src or src) and the native addons' sources. */
export function codeVersion(): string {
  if (codeHash) return codeHash;
  const here = dirname(fileURLToPath(import.meta.url));
  const srcRoot = dirname(here);
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".js")) h.update(name).update(readFileSync(p));
    }
  };
  walk(srcRoot);
  // The addons' sources, not their binaries: machines that built the same code separately must agree.
  let dir = srcRoot;
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  const native = join(dir, "native");
  if (existsSync(native)) walkSources(native, h);
  codeHash = h.digest("hex").slice(0, 16);
  return codeHash;
}

/** The first differing fields of two settings records, as `lr: 0.01 here, 0.02 there`. */
export function describeDifference(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ""): string {
  const out: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
    const [x, y] = [a[key], b[key]];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (x && y && typeof x === "object" && typeof y === "object" && !Array.isArray(x)) {
      out.push(describeDifference(x as Record<string, unknown>, y as Record<string, unknown>, `${prefix}${key}.`));
    } else {
      out.push(`${prefix}${key}: ${JSON.stringify(x)} on rank 0, ${JSON.stringify(y)} there`);
    }
  }
  return out.slice(0, 3).join("; ");
}

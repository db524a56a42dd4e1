// Builds the web page into dist/web (part of `npm run build`, so it ships in the package): page.js and
// worker.js bundled by esbuild from web/src, the browser-safe core alone as core.js (an ES module for other
// pages, and the bundle whose size and Node-freedom the tests check), index.html and style.css copied. It
// reports on stderr: `npm pack --json` runs this build (prepare) and its stdout must stay JSON.
// Any Node built-in reaching a bundle fails the build (the core is Node-free; see eslint.config.js).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "web");

const browserOnly = {
  name: "browser-only",
  setup(b) {
    b.onResolve({ filter: /^(node:|(fs|path|os|crypto|worker_threads|child_process|http|zlib|url|util|stream)$)/ }, (args) => ({
      errors: [{ text: `${args.path} is a Node built-in, imported by ${args.importer}: the browser bundle cannot contain it` }],
    }));
  },
};

const common = {
  bundle: true,
  platform: "browser",
  target: "es2022",
  sourcemap: true,
  legalComments: "none",
  // Minified, but class names kept: d2l's shape table prints layer.constructor.name.
  keepNames: true,
  logLevel: "warning",
  plugins: [browserOnly],
};

mkdirSync(out, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: [join(root, "web", "src", "page.ts")], outfile: join(out, "page.js"), format: "iife", minify: true }),
  build({ ...common, entryPoints: [join(root, "web", "src", "worker.ts")], outfile: join(out, "worker.js"), format: "iife", minify: true }),
  build({ ...common, entryPoints: [join(root, "src", "core.ts")], outfile: join(out, "core.js"), format: "esm", minify: true }),
]);
for (const f of ["index.html", "style.css"]) copyFileSync(join(root, "web", f), join(out, f));
const kb = (f) => `${f} ${(statSync(join(out, f)).size / 1024).toFixed(0)} KiB`;
console.error(`build-web: ${out}: ${["page.js", "worker.js", "core.js"].map(kb).join(", ")}`);

// The browser-safe core (`alexnet-ts/core`, src/core.ts): esbuild bundles it for the browser platform with
// no Node built-ins, and a forward and backward pass runs from the bundle in a bare V8 context (node:vm)
// that has no require, process or Buffer. (test/web.parts.test.ts holds the built core.js to its size.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { build } from "esbuild";

const ENTRY = fileURLToPath(new URL("../../src/core.ts", import.meta.url));

async function bundleCore(minify: boolean): Promise<string> {
  const result = await build({
    entryPoints: [ENTRY], bundle: true, platform: "browser", format: "iife", globalName: "alexnet",
    target: "es2022", minify, write: false, logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
  return result.outputFiles[0]!.text;
}

test("the core bundles for the browser platform without Node built-ins", async () => {
  const min = await bundleCore(true);
  assert.doesNotMatch(min, /require\(["'](node:)?(fs|path|os|zlib|crypto|worker_threads|child_process)["']\)/);
});

test("a forward and backward pass runs from the bundle in a context with no Node globals", async () => {
  const code = await bundleCore(false);
  const sandbox: Record<string, unknown> = { console, setTimeout };
  runInNewContext(`${code}
    globalThis.result = (() => {
      if (typeof require !== "undefined" || typeof process !== "undefined" || typeof Buffer !== "undefined") {
        throw new Error("the context has Node globals");
      }
      const { nn, tensor, tidy, manualSeed, functional } = alexnet;
      manualSeed(1);
      const net = new nn.Sequential(
        new nn.Conv2d(1, 4, { kernelSize: 3, padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Flatten(), new nn.Linear(4 * 4 * 4, 3),
      );
      const x = tensor(Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i)), { shape: [2, 1, 8, 8] });
      const loss = tidy(() => {
        const l = functional.crossEntropy(net.call(x), [0, 2]);
        l.backward();
        return l.item();
      });
      const grads = net.parameters().map((p) => Array.from(p.grad.dataSync()));
      return { loss, gradNorm: Math.sqrt(grads.flat().reduce((s, g) => s + g * g, 0)), count: grads.length };
    })();`, sandbox);
  const r = sandbox.result as { loss: number; gradNorm: number; count: number };
  assert.ok(Number.isFinite(r.loss) && r.loss > 0, `loss ${r.loss}`);
  assert.equal(r.count, 4);
  assert.ok(r.gradNorm > 0 && Number.isFinite(r.gradNorm));
});

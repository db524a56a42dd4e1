// The web page's pure parts, in Node: the built bundles hold no Node built-in and the core bundle stays under
// its stated size; the core's own inflate reads what Node's zlib deflates and fails the way the PNG decoder expects;
// ArrayLoader gives DataLoader's batches; weights saved as the page saves them load as `alexnet eval` loads them.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { describe, it } from "node:test";
import * as zlib from "node:zlib";
import { DataLoader } from "../src/data/loader.js";
import { decodePng } from "../src/data/decode/png.js";
import { getBackend } from "../src/backend/registry.js";
import { ArrayLoader } from "../src/web/arrayLoader.js";
import { loadModel, saveModel } from "../src/web/model.js";
import { InflateError, inflateZlib } from "../src/data/inflate.js";
import { alexNet } from "../src/models/alexnet.js";

const WEB = new URL("../web/", import.meta.url);
/** The size the README states for dist/web/core.js (minified). */
const CORE_BUNDLE_LIMIT = 160 * 1024;

describe("web bundles", () => {
  it("page.js, worker.js and core.js import no Node built-in, and core.js is under 160 KiB", () => {
    for (const f of ["page.js", "worker.js", "core.js"]) {
      const text = readFileSync(new URL(f, WEB), "utf8");
      assert.doesNotMatch(text, /["']node:[a-z_]+["']/, `${f} names a node: module`);
      assert.doesNotMatch(text, /\brequire\s*\(\s*["'](fs|path|os|zlib|crypto|worker_threads|child_process|http|url|util|stream)["']/, `${f} requires a Node module`);
      assert.doesNotMatch(text, /\bprocess\.(env|argv|exit|memoryUsage)\b/, `${f} uses process`);
    }
    const size = statSync(new URL("core.js", WEB)).size;
    console.log(`# dist/web/core.js: ${(size / 1024).toFixed(1)} KiB (limit ${CORE_BUNDLE_LIMIT / 1024} KiB)`);
    assert.ok(size < CORE_BUNDLE_LIMIT, `core.js is ${size} bytes`);
  });
});

describe("the core's inflate (src/data/inflate.ts, behind the PNG decoder in browsers and Node)", () => {
  const samples: Uint8Array[] = [
    new Uint8Array(0),
    new TextEncoder().encode("abcabcabcabc ".repeat(5000)),
    Uint8Array.from({ length: 200_000 }, (_, i) => (i * 2654435761) >>> 24),
    Uint8Array.from({ length: 70_000 }, (_, i) => (i % 7 === 0 ? 255 : i % 3)),
  ];
  const inflateSync = (data: Uint8Array, limit = 1 << 24): Uint8Array => inflateZlib(data, limit);

  it("inflates Node's deflate output at every level and strategy", () => {
    for (const data of samples) {
      for (const options of [{ level: 0 }, { level: 1 }, { level: 6 }, { level: 9 }, { strategy: zlib.constants.Z_HUFFMAN_ONLY }, { strategy: zlib.constants.Z_FIXED }, { strategy: zlib.constants.Z_RLE }]) {
        assert.deepEqual(inflateSync(zlib.deflateSync(data, options)), data, JSON.stringify(options));
      }
    }
  });

  it("fails as the PNG decoder expects: truncated, too large, corrupt", () => {
    const packed = zlib.deflateSync(samples[1]!);
    const kind = (k: InflateError["kind"]) => (e: unknown) => e instanceof InflateError && e.kind === k;
    assert.throws(() => inflateSync(packed.subarray(0, packed.length - 10)), kind("truncated"));
    assert.throws(() => inflateSync(packed, 100), kind("too-large"));
    const bad = Uint8Array.from(packed);
    bad[bad.length - 1]! ^= 0xff;
    assert.throws(() => inflateSync(bad), (e: unknown) => kind("corrupt")(e) && /incorrect data check/.test((e as Error).message));
    assert.throws(() => inflateSync(Uint8Array.of(0x12, 0x34, 0, 0)), /incorrect header check/);
  });

  it("inflates the PNG fixtures' image data as Node's zlib does", () => {
    for (const name of ["gray8.png", "rgb8_interlaced.png", "pal4_interlaced.png", "rgba16.png"]) {
      const bytes = readFileSync(new URL(`../../test/fixtures/images/${name}`, import.meta.url));
      const idat: Buffer[] = [];
      for (let at = 8; at < bytes.length;) {
        const len = bytes.readUInt32BE(at);
        if (bytes.toString("latin1", at + 4, at + 8) === "IDAT") idat.push(bytes.subarray(at + 8, at + 8 + len));
        at += 12 + len;
      }
      const stream = Buffer.concat(idat);
      assert.deepEqual(inflateSync(stream), new Uint8Array(zlib.inflateSync(stream)), name);
      assert.ok(decodePng(bytes, name).width > 0);
    }
  });
});

describe("ArrayLoader and the page's weights", () => {
  const count = 37;
  const dataset = { images: Uint8Array.from({ length: count * 28 * 28 }, (_, i) => (i * 31) & 255), labels: Uint8Array.from({ length: count }, (_, i) => i % 10), count, rows: 28, cols: 28 };

  it("gives DataLoader's batches, shuffled or not, limited, resized", async () => {
    for (const [shuffle, limit, size] of [[true, undefined, 28], [true, 30, 28], [false, 20, 28], [true, 9, 224]] as const) {
      const reference = new DataLoader(dataset, { batchSize: 8, shuffle, seed: 5, limit, resize: size === 224 ? 224 : undefined, worker: false });
      const ours = new ArrayLoader(dataset, { batchSize: 8, shuffle, seed: 5, limit, size });
      assert.equal(ours.numBatches, reference.numBatches);
      for (const epoch of [0, 3]) {
        const want = [];
        for await (const b of reference.iterate(epoch)) want.push(b);
        const got = [];
        for await (const b of ours.iterate(epoch)) got.push(b);
        assert.deepEqual(got, want, `shuffle ${shuffle}, limit ${limit}, size ${size}, epoch ${epoch}`);
      }
    }
  });

  it("saves state_dict-named safetensors and loads them back strictly, naming a bad file in one line", async () => {
    const backend = getBackend("reference");
    const net = alexNet({ variant: "28", widthScale: 0.125 });
    const bytes = await saveModel(net);
    const loaded = await loadModel(bytes, "model.safetensors", backend);
    assert.equal(loaded.variant, "28");
    assert.equal(loaded.widthScale, 0.125);
    const names = net.namedParameters().map(([n]) => n);
    assert.deepEqual(loaded.net.namedParameters().map(([n]) => n), names);
    assert.deepEqual(loaded.net.namedParameters()[0]![1].toFloat32Array(), net.namedParameters()[0]![1].toFloat32Array());
    const png = readFileSync(new URL("../../test/fixtures/images/gray8.png", import.meta.url));
    await assert.rejects(loadModel(png, "photo.png", backend), (e: Error) => /^invalid safetensors file photo\.png: /.test(e.message) && !e.message.includes("\n"));
    net.dispose();
    loaded.net.dispose();
  });
});

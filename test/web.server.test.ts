// `alexnet serve`'s server: it serves the built page with the cross-origin isolation headers and the data it
// found, refuses every way out of its folders with 404 (dot segments plain and encoded, encoded slashes,
// empty segments, absolute paths, symlinks), and serves a flood of 1,000 requests from 50 concurrent
// clients without an error and with flat memory.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { requestSegments } from "../src/server/safePath.js";
import { createStaticServer } from "../src/server/staticServer.js";
import { alexnet, get, startServe, type Served } from "./webHelpers.js";

const TRAVERSALS = [
  "/../package.json",
  "/../../../../etc/passwd",
  "/%2e%2e/package.json",
  "/%2E%2E/%2e%2e/etc/passwd",
  "/.%2e/package.json",
  "/%2e%2e%2fpackage.json",
  "/..%2f..%2fetc%2fpasswd",
  "/..%5c..%5cpackage.json",
  "/..\\package.json",
  "//etc/passwd",
  "///etc/passwd",
  "/data/../package.json",
  "/data/%2e%2e/%2e%2e/package.json",
  "/data//etc/passwd",
  "/data/%2fetc%2fpasswd",
  "/index.html%00.js",
  "/%c0%ae%c0%ae/package.json",
  "/%/package.json",
  "/.git/config",
  "http://127.0.0.1/etc/passwd",
];

describe("requestSegments", () => {
  it("maps / to index.html and plain paths to their segments, query and fragment dropped", () => {
    assert.deepEqual(requestSegments("/"), ["index.html"]);
    assert.deepEqual(requestSegments("/page.js?v=1"), ["page.js"]);
    assert.deepEqual(requestSegments("/data/t10k-labels-idx1-ubyte.gz"), ["data", "t10k-labels-idx1-ubyte.gz"]);
    assert.deepEqual(requestSegments("/a%20b.txt"), ["a b.txt"]);
  });
  it("refuses every traversal form before touching the disk", () => {
    for (const t of TRAVERSALS) assert.equal(requestSegments(t), null, t);
  });
});

describe("alexnet serve", () => {
  let served: Served;
  before(async () => {
    served = await startServe();
  });
  after(async () => {
    await served?.stop();
  });

  it("prints a loopback URL and serves the page with the isolation headers", async () => {
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await get(served.port, "/");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /text\/html/);
    assert.equal(r.headers["cross-origin-opener-policy"], "same-origin");
    assert.equal(r.headers["cross-origin-embedder-policy"], "require-corp");
    assert.match(r.body.toString(), /<title>AlexNet in the browser/);
    for (const f of ["/page.js", "/worker.js", "/core.js", "/style.css"]) assert.equal((await get(served.port, f)).status, 200, f);
  });

  it("serves the Fashion-MNIST files it found, as found, and lists them in /data/index.json", async () => {
    const index = JSON.parse((await get(served.port, "/data/index.json")).body.toString()) as { files: { test: { labels: string } } | null; source: string | null };
    assert.ok(index.files, "no data found: install dataset-fashion-mnist (scripts/setup.sh) or set ALEXNET_DATA");
    const r = await get(served.port, index.files.test.labels);
    assert.equal(r.status, 200);
    assert.equal(r.headers["cross-origin-embedder-policy"], "require-corp");
    // gzip magic, or the IDX labels magic when the files were found uncompressed
    assert.ok(r.body[0] === 0x1f ? r.body[1] === 0x8b : r.body.readUInt32BE(0) === 0x801);
    assert.equal((await get(served.port, "/data/train-images-idx3-ubyte")).status, 404, "only the names found are served");
  });

  it("answers every traversal attempt with 404, and other methods with 405", async () => {
    for (const t of TRAVERSALS) {
      const r = await get(served.port, t);
      assert.equal(r.status, 404, `${t} gave ${r.status}`);
      assert.doesNotMatch(r.body.toString(), /root:|"name": "alexnet-ts"/, t);
    }
    assert.equal((await get(served.port, "/", { method: "POST" })).status, 405);
    assert.equal((await get(served.port, "/missing.js")).status, 404);
  });

  it("serves 1,000 requests from 50 concurrent clients with no error", async () => {
    const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${served.child.pid}/status`, "utf8"))![1]) * 1024;
    const started = Date.now();
    await flood(served.port, 200); // warm-up
    const before = rss();
    const { errors, wrong } = await flood(served.port, 1000);
    const growth = rss() - before;
    console.log(`# flood on alexnet serve: 1,000 requests in ${Date.now() - started} ms (with 200 warm-up); RSS ${mb(before)} MiB, +${mb(growth)} MiB`);
    assert.equal(errors, 0, "connection errors");
    assert.equal(wrong, 0, "unexpected statuses");
    // RSS only bounds it loosely: glibc keeps freed buffers (it levels off near +40 MiB); the heap test below is the strict one.
    assert.ok(growth < 64 * 2 ** 20, `server RSS grew ${mb(growth)} MiB`);
  });
});

const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
const FLOOD_PATHS = ["/", "/page.js", "/core.js", "/style.css", "/data/index.json", "/missing", "/../package.json"];

/** `total` requests over FLOOD_PATHS from 50 concurrent keep-alive clients; counts failures and wrong statuses. */
async function flood(port: number, total: number): Promise<{ errors: number; wrong: number }> {
  const expected = (p: string): number => (p === "/missing" || p.includes("..") ? 404 : 200);
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  let errors = 0;
  let wrong = 0;
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < total) {
      const p = FLOOD_PATHS[next++ % FLOOD_PATHS.length]!;
      try {
        if ((await get(port, p, { agent })).status !== expected(p)) wrong++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: 50 }, client));
  agent.destroy();
  return { errors, wrong };
}

describe("static server memory", () => {
  it("keeps its heap flat over a flood (measured after garbage collection)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const server = createStaticServer({ webRoot: fileURLToPath(new URL("../web/", import.meta.url)), dataFiles: new Map(), dataIndex: {} });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const used = async (): Promise<number> => {
      // Let the closed keep-alive sockets go first: their last buffers are not garbage until they close.
      await new Promise((resolve) => setTimeout(resolve, 100));
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    try {
      await flood(port, 500); // warm-up: sockets, caches, JIT
      const before = await used();
      const first = await flood(port, 500);
      const middle = await used();
      const second = await flood(port, 500);
      const end = await used();
      console.log(`# heap + external after gc: ${mb(before)} MiB, ${mb(middle)} after 500 requests, ${mb(end)} after 1,000`);
      assert.deepEqual([first, second], [{ errors: 0, wrong: 0 }, { errors: 0, wrong: 0 }]);
      // A leak grows with the requests: a few hundred bytes kept per request would show here.
      assert.ok(end - before < 1 * 2 ** 20, `heap grew ${mb(end - before)} MiB over 1,000 requests`);
    } finally {
      server.close();
    }
  });
});

describe("alexnet serve flags", () => {
  it("refuses a bad port or a stray argument with one line and exit 2", () => {
    const port = alexnet("serve", "--port", "70000");
    assert.equal(port.code, 2);
    assert.match(port.stderr, /^alexnet serve: --port must be at most 65535 \(got 70000\)/);
    assert.equal(alexnet("serve", "extra").code, 2);
    assert.match(alexnet("serve", "--help").stdout, /--host <string>/);
  });
});

describe("static server and symlinks", () => {
  it("serves symlinks that stay inside its folder and refuses those that lead out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "alexnet-serve-"));
    const root = join(dir, "web");
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "index.html"), "<p>ok</p>");
    writeFileSync(join(root, "sub", "inside.txt"), "inside");
    writeFileSync(join(dir, "secret.txt"), "secret");
    symlinkSync(join(dir, "secret.txt"), join(root, "leak.txt"));
    symlinkSync(dir, join(root, "up"));
    symlinkSync("/etc", join(root, "etc"));
    symlinkSync(join(root, "sub", "inside.txt"), join(root, "alias.txt"));
    const server = createStaticServer({ webRoot: root, dataFiles: new Map(), dataIndex: {} });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const p of ["/leak.txt", "/up/secret.txt", "/etc/passwd", "/up/web/index.html/../../secret.txt", "/sub", "/data/index.html"]) {
        const r = await get(port, p);
        assert.equal(r.status, 404, `${p} gave ${r.status}: ${r.body.toString().slice(0, 40)}`);
      }
      assert.equal((await get(port, "/alias.txt")).body.toString(), "inside");
      assert.equal((await get(port, "/sub/inside.txt")).body.toString(), "inside");
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

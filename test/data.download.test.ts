// Downloads against a local HTTP server (127.0.0.1 only): a checksum mismatch moves on to the next mirror,
// an interrupted or stalled transfer leaves nothing under the final name, and a rerun then succeeds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, DownloadError, terminalProgress, type ProgressSink } from "../src/data/download.js";
import { locateData } from "../src/data/fashionMnist.js";
import { DataError } from "../src/data/idx.js";

const payload = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
const md5 = createHash("md5").update(payload).digest("hex");
const file = { name: "blob.gz", md5, size: payload.length };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const hits: string[] = [];
const server = createServer((req, res) => {
  hits.push(req.url ?? "");
  const h = routes.get(req.url ?? "");
  if (h) h(req, res);
  else {
    res.statusCode = 404;
    res.end("not found");
  }
});
let base = "";

test.before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(() => {
  server.closeAllConnections();
  server.close();
});

const quiet = { progress: false as const, log: () => {} };
const serve = (body: Uint8Array): Handler => (_req, res) => {
  res.setHeader("content-length", body.length);
  res.end(body);
};
/** Sends the full Content-Length header but only part of the body, then drops the connection. */
const cutOff = (body: Uint8Array, keep: number): Handler => (_req, res) => {
  res.setHeader("content-length", body.length);
  res.write(body.subarray(0, keep), () => setTimeout(() => res.socket?.destroy(), 20));
};

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), "alexnet-dl-"));
}

test("checksum mismatch on the first mirror: the second mirror's file is used", { timeout: 10_000 }, async () => {
  const dir = freshDir();
  const corrupted = payload.slice();
  corrupted[1000] ^= 1;
  routes.set("/bad/blob.gz", serve(corrupted));
  routes.set("/good/blob.gz", serve(payload));
  const lines: string[] = [];
  const mirrors = [`${base}/bad/`, `${base}/good`];
  const path = await downloadFile(file, dir, { mirrors, progress: false, log: (l) => lines.push(l) });
  assert.equal(path, join(dir, "blob.gz"));
  assert.deepEqual(new Uint8Array(readFileSync(path)), payload);
  assert.deepEqual(readdirSync(dir), ["blob.gz"]);
  assert.ok(lines.some((l) => /bad\/blob\.gz: checksum mismatch/.test(l)), lines.join("\n"));
  rmSync(dir, { recursive: true });
});

test("HTTP errors and refused connections move on to the next mirror", { timeout: 10_000 }, async () => {
  const dir = freshDir();
  routes.set("/ok/blob.gz", serve(payload));
  await downloadFile(file, dir, { mirrors: ["http://127.0.0.1:1/", `${base}/missing/`, `${base}/ok/`], ...quiet });
  assert.deepEqual(readdirSync(dir), ["blob.gz"]);
  rmSync(dir, { recursive: true });
});

test("interrupted transfer leaves no file in the cache; the rerun succeeds", { timeout: 10_000 }, async () => {
  const dir = freshDir();
  routes.set("/flaky/blob.gz", cutOff(payload, 70_000));
  await assert.rejects(downloadFile(file, dir, { mirrors: [`${base}/flaky/`], ...quiet }), (err: Error) => {
    assert.ok(err instanceof DownloadError);
    assert.equal(err.attempts.length, 1);
    assert.match(err.message, /flaky\/blob\.gz/);
    return true;
  });
  assert.deepEqual(readdirSync(dir), [], "neither the final file nor a temporary file may remain");
  routes.set("/flaky/blob.gz", serve(payload));
  await downloadFile(file, dir, { mirrors: [`${base}/flaky/`], ...quiet });
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, "blob.gz"))), payload);
  rmSync(dir, { recursive: true });
});

test("a stalled transfer times out; an oversized one is cut short", { timeout: 10_000 }, async () => {
  const dir = freshDir();
  routes.set("/stall/blob.gz", (_req, res) => {
    res.setHeader("content-length", payload.length);
    res.write(payload.subarray(0, 1000)); // then nothing
  });
  const big = new Uint8Array(payload.length + 5000);
  big.set(payload);
  routes.set("/big/blob.gz", serve(big));
  await assert.rejects(
    downloadFile(file, dir, { mirrors: [`${base}/stall/`, `${base}/big/`], stallTimeoutMs: 300, ...quiet }),
    (err: DownloadError) => {
      assert.match(err.attempts[0]!, /no data for 0\.3 s/);
      assert.match(err.attempts[1]!, /more than the expected 200000 bytes/);
      return true;
    },
  );
  assert.deepEqual(readdirSync(dir), []);
  rmSync(dir, { recursive: true });
});

test("progress sink sees the transfer; stale temporary files of dead runs are removed", { timeout: 10_000 }, async () => {
  const dir = freshDir();
  const stale = join(dir, "blob.gz.part-4194305.0"); // above Linux's largest pid: its owner is surely gone
  writeFileSync(stale, "half");
  routes.set("/p/blob.gz", serve(payload));
  const events: string[] = [];
  let last = 0;
  const sink: ProgressSink = {
    start: (name, _url, total) => events.push(`start ${name} ${total}`),
    update: (n) => (last = n),
    end: (ok) => events.push(`end ${ok}`),
  };
  await downloadFile(file, dir, { mirrors: [`${base}/p/`], progress: sink, log: () => {} });
  assert.deepEqual(events, [`start blob.gz ${payload.length}`, "end true"]);
  assert.equal(last, payload.length);
  assert.equal(existsSync(stale), false);
  rmSync(dir, { recursive: true });
});

test("locateData with no reachable mirror: the error says what to do", { timeout: 10_000 }, async () => {
  const home = freshDir();
  await assert.rejects(
    locateData({ env: { HOME: home }, debianDir: join(home, "none"), mirrors: ["http://127.0.0.1:1/"], ...quiet }),
    (err: Error) => {
      assert.ok(err instanceof DataError);
      assert.match(err.message, /could not download train-images-idx3-ubyte\.gz/);
      assert.match(err.message, /t10k-labels-idx1-ubyte\.gz/);
      assert.match(err.message, /sudo apt install dataset-fashion-mnist/);
      return true;
    },
  );
  assert.deepEqual(readdirSync(join(home, ".cache/alexnet-ts/fashion-mnist")), []);
  rmSync(home, { recursive: true });
});

test("terminal progress bar redraws one line and ends it", () => {
  let text = "";
  const stream = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  const bar = terminalProgress(stream);
  bar.start("blob.gz", "http://x/blob.gz", 2_000_000);
  bar.update(1_000_000);
  bar.end(true);
  assert.match(text, /^\rblob\.gz \[\.{24}\] {3}0% 0\.0\/2\.0 MB/);
  assert.match(text, /\rblob\.gz \[#{12}\.{12}\] {2}50% 1\.0\/2\.0 MB/);
  assert.ok(text.endsWith("\n"));
  assert.equal(text.split("\n").length, 2, "one line, redrawn in place");
});

// Reliability, bad inputs: every parser of outside data gets thousands of seeded random, truncated and
// bit-flipped inputs through its public entry, each class time-bounded: IDX (raw and gzip, bytes and files),
// safetensors, checkpoint training state (state.json re-sealed so that the parser, not the checksum, must
// catch it), PNG/JPEG, and config.json through `train --resume`. Allowed outcomes: a correct result or the
// parser's own error type (DataError, CheckpointError, ImageError, a one-line CLI error). The byte fuzzers
// run in a worker thread with a watchdog, so a hang fails the test (naming seed and input) instead of
// blocking the suite. Headers that claim huge sizes must fail fast without allocating what they claim.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { DataError, encodeIdx, parseIdxImages, parseIdxLabels } from "../src/data/idx.js";
import { readIdxImages, readIdxLabels, readMaybeGzip } from "../src/data/idxFile.js";
import { decodeImage, ImageError } from "../src/data/decode/index.js";
import { decodeSafetensors, encodeSafetensors } from "../src/checkpoint/safetensors.js";
import { CheckpointError } from "../src/checkpoint/errors.js";
import { readCheckpoint, writeCheckpoint } from "../src/checkpoint/checkpoint.js";
import { restoreTraining, snapshot } from "../src/train/snapshot.js";
import { initialTrainState, type TrainState } from "../src/train/trainer.js";
import { Linear, ReLU, Sequential } from "../src/nn/index.js";
import { SGD } from "../src/optim/sgd.js";
import { mutate, prng } from "./reliabilityHelpers.js";

type Fuzzer = "idx" | "safetensors" | "state" | "image";
interface FuzzResult {
  tried: number;
  /** Inputs that parsed (the rest were rejected with the right error). */
  accepted: number;
  problems: string[];
}
const BUDGET_MS: Record<Fuzzer, number> = { idx: 6000, safetensors: 4000, state: 8000, image: 8000 };
const MAX_INPUTS: Record<Fuzzer, number> = { idx: 4000, safetensors: 3000, state: 1500, image: 4000 };
const SEED = 8;

/** Runs `one(i)` until the input or time budget is spent; anything thrown that is not `expected` is a problem. */
function loop(kind: Fuzzer, expected: (e: unknown) => boolean, one: (i: number, rng: ReturnType<typeof prng>) => void): FuzzResult {
  const rng = prng(SEED * 1000 + kind.length);
  const started = Date.now();
  const out: FuzzResult = { tried: 0, accepted: 0, problems: [] };
  for (let i = 0; i < MAX_INPUTS[kind] && Date.now() - started < BUDGET_MS[kind]; i++) {
    if (i % 50 === 0) parentPort?.postMessage({ progress: i });
    const t0 = Date.now();
    try {
      one(i, rng);
      out.accepted++;
    } catch (e) {
      if (!expected(e)) out.problems.push(`input ${i}: ${(e as Error)?.name}: ${(e as Error)?.message ?? String(e)}`.slice(0, 300));
    }
    if (Date.now() - t0 > 1000) out.problems.push(`input ${i} took ${Date.now() - t0} ms`);
    out.tried++;
  }
  return out;
}

// ---- the fuzzers (run inside the worker) ------------------------------------------------------------

function fuzzIdx(scratch: string): FuzzResult {
  const r0 = prng(1);
  const images = encodeIdx([7, 5, 4], Uint8Array.from({ length: 140 }, () => r0.int(256)));
  const labels = encodeIdx([7], Uint8Array.from({ length: 7 }, () => r0.int(10)));
  const gz = [gzipSync(images), gzipSync(labels)];
  const file = join(scratch, "idx-input");
  return loop("idx", (e) => e instanceof DataError, (i, rng) => {
    const isImages = rng.next() < 0.6;
    const viaFile = i % 4 === 0;
    const gzip = viaFile && rng.next() < 0.5;
    const source = gzip ? gz[isImages ? 0 : 1]! : isImages ? images : labels;
    const bytes = mutate(source, rng);
    if (viaFile) writeFileSync(file, bytes);
    if (isImages) {
      const r = viaFile ? readIdxImages(file) : parseIdxImages(bytes, "fuzz");
      assert.equal(r.images.length, r.count * r.rows * r.cols, "images length disagrees with the header");
    } else {
      const l = viaFile ? readIdxLabels(file) : parseIdxLabels(bytes, "fuzz");
      assert.ok(l.every((v) => v < 10), "label out of range accepted");
    }
  });
}

function fuzzSafetensors(): FuzzResult {
  const valid = encodeSafetensors([
    { name: "0.weight", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: "0.bias", shape: [2], data: Float32Array.from([0.5, -0.5]) },
  ], { format: "pt" });
  return loop("safetensors", (e) => e instanceof CheckpointError, (_i, rng) => {
    const { tensors } = decodeSafetensors(mutate(valid, rng), "fuzz.safetensors");
    for (const [name, t] of tensors) assert.equal(t.data.length, t.shape.reduce((a, b) => a * b, 1), `${name}: data length disagrees with shape`);
  });
}

const sha256 = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex");

/** Rewrites state.json and re-seals the manifest, as a buggy or foreign writer would: the checksums then
 * pass and only the state's own validation stands between the bytes and training. */
function writeSealedState(dir: string, text: string): void {
  writeFileSync(join(dir, "state.json"), text);
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { files: Record<string, { bytes: number; sha256: string }> } & Record<string, unknown>;
  m.files["state.json"] = { bytes: Buffer.byteLength(text), sha256: sha256(text) };
  delete m.sha256;
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify({ ...m, sha256: sha256(JSON.stringify(m)) })}\n`);
}

/** The fields a resumed run relies on, checked strictly: what restoreTraining returns must be usable. */
function assertUsableState(s: TrainState): void {
  const int = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  const fin = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v);
  assert.ok(int(s.epoch) && int(s.batch) && int(s.step), "epoch/batch/step");
  assert.ok(s.metric.length === 3 && s.metric.every(fin), "metric");
  assert.ok(fin(s.timerSum) && s.timerSum >= 0, "timerSum");
  assert.ok(s.rng.length === 6 && s.rng.every(fin), "rng");
  assert.ok(s.lastTestAcc === null || fin(s.lastTestAcc), "lastTestAcc");
  for (const p of s.points as unknown[]) {
    assert.ok(typeof p === "object" && p !== null && !Array.isArray(p), "a point is not an object");
    const q = p as Record<string, unknown>;
    assert.ok(fin(q.x), "a point has no finite x");
    for (const k of ["trainLoss", "trainAcc", "testAcc"]) assert.ok(q[k] === undefined || fin(q[k]), `a point's ${k}`);
  }
}

const PICKS: unknown[] = [null, "x", "", -1, 1.5, 2 ** 53 + 2, [], {}, true, [1, 2], { x: 1 }, "__INF__", 0, 7];

/** A random structural change of a JSON value: delete or replace one node somewhere in it. */
function mutateJson(value: unknown, rng: ReturnType<typeof prng>): string {
  const copy = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  const nodes: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push([v, i]);
        walk(x);
      });
    } else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        nodes.push([v as Record<string, unknown>, k]);
        walk(x);
      }
    }
  };
  walk(copy);
  const n = 1 + rng.int(3);
  for (let j = 0; j < n && nodes.length; j++) {
    const [parent, key] = rng.pick(nodes);
    if (rng.next() < 0.2 && !Array.isArray(parent)) delete parent[key as string];
    else (parent as Record<string | number, unknown>)[key] = rng.pick(PICKS);
  }
  // JSON cannot write Infinity, but a file can say 1e400, which JSON.parse reads as Infinity.
  return `${JSON.stringify(copy).replaceAll('"__INF__"', "1e400")}\n`;
}

async function fuzzState(scratch: string): Promise<FuzzResult> {
  const net = new Sequential(new Linear(4, 3), new ReLU(), new Linear(3, 2));
  const optimizer = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
  const state: TrainState = { ...initialTrainState(), epoch: 1, batch: 2, step: 8, metric: [3.5, 4, 6], timerSum: 1.25, lastTestAcc: 0.5,
    points: [{ x: 0.5, trainLoss: 2.1, trainAcc: 0.2 }, { x: 1, testAcc: 0.5 }] };
  const dir = writeCheckpoint(join(scratch, "state-run"), 8, await snapshot(net, optimizer, state));
  const validState = readFileSync(join(dir, "state.json"), "utf8");
  const parsed = JSON.parse(validState) as unknown;
  const expected = (e: unknown): boolean =>
    e instanceof CheckpointError || (e instanceof Error && e.constructor === Error && /checkpoint|state/i.test(e.message));
  return loop("state", expected, (i, rng) => {
    if (i % 10 === 0) {
      // Raw damage with the manifest left alone: the checksum must catch every change.
      const bytes = mutate(new TextEncoder().encode(validState), rng);
      writeFileSync(join(dir, "state.json"), bytes);
      try {
        readCheckpoint(dir);
        assert.equal(Buffer.from(bytes).toString(), validState, "a changed state.json passed its checksum");
      } finally {
        writeFileSync(join(dir, "state.json"), validState);
      }
      return;
    }
    writeSealedState(dir, rng.next() < 0.8 ? mutateJson(parsed, rng) : new TextDecoder().decode(mutate(new TextEncoder().encode(validState), rng)));
    const ckpt = readCheckpoint(dir);
    assertUsableState(restoreTraining(net, optimizer, ckpt.data));
  });
}

function fuzzImages(): FuzzResult {
  const fixtures = new URL("../../test/fixtures/images/", import.meta.url);
  const files = readdirSync(fixtures).filter((f) => /\.(png|jpg)$/.test(f)).sort();
  const inputs = files.map((f) => new Uint8Array(readFileSync(new URL(f, fixtures)))).filter((b) => b.length < 4096);
  return loop("image", (e) => e instanceof ImageError, (_i, rng) => {
    const img = decodeImage(mutate(rng.pick(inputs), rng), "fuzz-image");
    assert.equal(img.gray.length, img.width * img.height, "pixel count disagrees with the size");
  });
}

if (!isMainThread) {
  const { kind, scratch } = workerData as { kind: Fuzzer; scratch: string };
  const run: Record<Fuzzer, () => FuzzResult | Promise<FuzzResult>> = {
    idx: () => fuzzIdx(scratch), safetensors: fuzzSafetensors, state: () => fuzzState(scratch), image: fuzzImages,
  };
  parentPort!.postMessage({ done: await run[kind]() });
} else {
  await mainThreadTests();
}

/** Runs one fuzzer in a worker; a worker that stops reporting progress is a hang, and is terminated. */
function inWorker(kind: Fuzzer, scratch: string): Promise<FuzzResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { kind, scratch } });
    let last = -1;
    let watchdog: NodeJS.Timeout;
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`${kind} fuzzer hung after input ${last} (seed ${SEED}): no progress for 15 s`));
      }, 15_000);
    };
    arm();
    worker.on("message", (m: { progress?: number; done?: FuzzResult }) => {
      if (m.progress !== undefined) {
        last = m.progress;
        arm();
      } else if (m.done) {
        clearTimeout(watchdog);
        resolve(m.done);
      }
    });
    worker.on("error", (e) => {
      clearTimeout(watchdog);
      reject(e);
    });
  });
}

async function mainThreadTests(): Promise<void> {
  const { after, describe, it } = await import("node:test");
  const { record, alexnet, assertCleanFailure, Child } = await import("./reliabilityHelpers.js");
  const scratch = mkdtempSync(join(tmpdir(), "alexnet-rel-fuzz-"));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  describe("reliability: fuzzed inputs to every parser of outside data", () => {
    for (const [kind, what] of [["idx", "IDX (raw and gzip, bytes and files): DataError"], ["safetensors", "safetensors: CheckpointError"],
      ["state", "checkpoint training state: CheckpointError or a clear Error, never garbage loaded"], ["image", "PNG/JPEG: ImageError"]] as const) {
      it(what, async (t) => {
        const r = await inWorker(kind, scratch);
        const line = `${kind}: ${r.tried} inputs (${r.accepted} parsed as valid)`;
        t.diagnostic(line);
        record(`fuzz-${kind}`, { inputs: r.tried, notes: [line] });
        assert.deepEqual(r.problems.slice(0, 10), [], `${r.problems.length} problems`);
        assert.ok(r.tried >= 500, `only ${r.tried} inputs in the time budget`);
      });
    }

    it("headers claiming huge sizes fail fast without allocating what they claim", () => {
      const before = process.memoryUsage().arrayBuffers;
      const t0 = Date.now();
      const claims: [string, () => unknown, (e: unknown) => boolean][] = [];
      // IDX: 2^31 images of 28x28 in a 100-byte file, and four dims of 2^32-1.
      const idx = new Uint8Array(100);
      new DataView(idx.buffer).setUint32(0, 0x803);
      new DataView(idx.buffer).setUint32(4, 2 ** 31);
      new DataView(idx.buffer).setUint32(8, 28);
      new DataView(idx.buffer).setUint32(12, 28);
      claims.push(["IDX 2^31 images", () => parseIdxImages(idx, "huge"), (e) => e instanceof DataError && /truncated/.test((e as Error).message)]);
      const idx4 = new Uint8Array(100).fill(0xff);
      idx4.set([0, 0, 8, 4]);
      claims.push(["IDX 4 dims of 2^32-1", () => parseIdxLabels(idx4, "huge"), (e) => e instanceof DataError]);
      // gzip that inflates past the bound: stopped at the bound, not inflated to the end.
      const bomb = join(scratch, "bomb.gz");
      writeFileSync(bomb, gzipSync(new Uint8Array(8 << 20)));
      claims.push(["gzip bomb", () => readMaybeGzip(bomb, { maxBytes: 1 << 20 }), (e) => e instanceof DataError && /decompresses to more than/.test((e as Error).message)]);
      // safetensors: a 2^60-byte header length; a tensor whose shape claims 2^62 elements in 8 bytes.
      const st = new Uint8Array(64);
      new DataView(st.buffer).setBigUint64(0, 2n ** 60n, true);
      claims.push(["safetensors 2^60 header", () => decodeSafetensors(st, "huge"), (e) => e instanceof CheckpointError]);
      const header = new TextEncoder().encode(JSON.stringify({ w: { dtype: "F32", shape: [2 ** 31, 2 ** 31], data_offsets: [0, 8] } }));
      const st2 = new Uint8Array(8 + header.length + 8);
      new DataView(st2.buffer).setBigUint64(0, BigInt(header.length), true);
      st2.set(header, 8);
      claims.push(["safetensors 2^62-element shape", () => decodeSafetensors(st2, "huge"), (e) => e instanceof CheckpointError]);
      // PNG and JPEG: 65535 x 65535 in the header (IHDR with a correct CRC; SOF0).
      const png = readFileSync(new URL("../../test/fixtures/images/gray8.png", import.meta.url));
      const big = new Uint8Array(png);
      new DataView(big.buffer).setUint32(16, 65535);
      new DataView(big.buffer).setUint32(20, 65535);
      new DataView(big.buffer).setUint32(29, crc32(big.subarray(12, 29)));
      claims.push(["PNG 65535x65535", () => decodeImage(big, "huge.png"), (e) => e instanceof ImageError && /65535/.test((e as Error).message)]);
      const jpg = new Uint8Array([0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0, 0xff, 0xd9]);
      claims.push(["JPEG 65535x65535", () => decodeImage(jpg, "huge.jpg"), (e) => e instanceof ImageError]);
      for (const [name, fn, ok] of claims) {
        const t1 = Date.now();
        assert.throws(fn, (e) => ok(e) || assert.fail(`${name}: ${String(e)}`));
        assert.ok(Date.now() - t1 < 500, `${name} took ${Date.now() - t1} ms`);
      }
      const grew = process.memoryUsage().arrayBuffers - before;
      assert.ok(grew < 64 << 20, `array buffers grew by ${grew} bytes`);
      record("fuzz-huge", { inputs: claims.length, notes: [`${claims.length} huge-header claims rejected in ${Date.now() - t0} ms`] });
    });

    it("a damaged config.json makes `train --resume` say one line and exit 1 or 2", { timeout: 120_000 }, async (t) => {
      const valid = {
        settings: { variant: "28", epochs: 1, lr: 0.02, batchSize: 64, momentum: 0.9, weightDecay: 0, seed: 0, widthScale: 0.125, trainLimit: 64, testLimit: 64 },
        backend: "cpu (reference)", versions: { node: process.versions.node, alexnetTs: "0.1.0" }, data: {}, started: new Date(0).toISOString(),
      };
      const rng = prng(SEED);
      let tried = 0;
      let started = 0;
      const t0 = Date.now();
      for (let i = 0; i < 40 && Date.now() - t0 < 40_000; i++) {
        const dir = join(scratch, `config-${i}`);
        mkdirSync(dir, { recursive: true });
        const text = i % 4 === 3 ? new TextDecoder().decode(mutate(new TextEncoder().encode(JSON.stringify(valid)), rng)) : mutateJson(valid, rng);
        writeFileSync(join(dir, "config.json"), text);
        // A config that is still valid starts training: seeing its first line is enough.
        const child = new Child(["train", "--resume", dir, "--plain", "--backend", "reference"]);
        const training = await child.waitFor(() => child.stdout.includes("training AlexNet"), 5);
        await child.kill("SIGKILL");
        const end = await child.exited;
        tried++;
        if (training) {
          started++;
          continue;
        }
        assertCleanFailure({ code: end.code, signal: end.signal, stdout: child.stdout, stderr: child.stderr }, `config ${JSON.stringify(text).slice(0, 200)}`);
        assert.ok(child.stderr.trim().split("\n").length <= 2, `more than one line: ${child.stderr}`);
      }
      // And the obvious ones: no config.json, and an empty file.
      for (const body of [null, ""]) {
        const dir = join(scratch, `config-${body === null ? "none" : "empty"}`);
        mkdirSync(dir, { recursive: true });
        if (body !== null) writeFileSync(join(dir, "config.json"), body);
        const r = alexnet(["train", "--resume", dir]);
        assertCleanFailure(r, "config");
        assert.match(r.stderr, body === null ? /is not a run directory \(no config\.json\)/ : /config\.json is not a valid config/);
        tried++;
      }
      t.diagnostic(`${tried} configs, ${started} still valid (training started), the rest one-line errors`);
      record("fuzz-config", { inputs: tried, notes: [`config.json: ${tried} inputs, ${started} valid`] });
    });
  });
}

/** PNG's CRC-32 (to keep a forged IHDR consistent, so the size check itself is what rejects it). */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

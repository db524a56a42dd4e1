// The GEMM tuner (src/backend/webgpu/tuner.ts): with a fake timer it picks what the timer says is fastest,
// stores it, and reuses it without timing again (in the process and from the cache); a variant that fails
// is skipped with a note; a corrupt cache file is ignored with a warning; --no-tune never times. Also the
// real timer on SwiftShader for one variant, and a shader that does not compile failing alone.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "../src/backend/backend.js";
import type { WebGpuBackend } from "../src/backend/webgpu/index.js";
import { type GemmDims, type GemmOptions, type GemmVariant, applicableVariants, defaultVariant, variantName } from "../src/backend/webgpu/kernels/gemm.js";
import { matmulSpec } from "../src/backend/webgpu/kernels/linear.js";
import { FileTuneCache, tuneCachePath } from "../src/backend/webgpu/node.js";
import { GpuVariantTimer, MemoryTuneCache, type TuneJob, Tuner, type VariantTimer } from "../src/backend/webgpu/tuner.js";
import { expectSame, openTestGpu, pair, randomArray, ref } from "./webgpuHelpers.js";

/** Says each variant takes `seconds[name]` (default 1 s) and counts the calls; throws for `broken`. */
class FakeTimer implements VariantTimer {
  calls = 0;
  constructor(private readonly seconds: Record<string, number>, private readonly broken = new Set<string>()) {}
  async time(_job: TuneJob, v: GemmVariant): Promise<number> {
    this.calls++;
    if (this.broken.has(variantName(v))) throw new Error("does not compile: fake error");
    return this.seconds[variantName(v)] ?? 1;
  }
}

const OPT: GemmOptions = { minSplitK: 16, maxPartialBytes: 2 ** 26, maxSharedBytes: 32768 };
const SPEC = matmulSpec({ transA: false, transB: true, bias: false, relu: false });
const D: GemmDims = { M: 67, N: 70, K: 37 };
const BYTES = [4 * 67 * 37, 4 * 70 * 37, 4 * 67 * 70];

describe("Tuner with a fake timer (no device)", () => {
  it("picks the fastest, stores it, and reuses it without timing again", async () => {
    const cache = new MemoryTuneCache();
    const timer = new FakeTimer({ "128x64+prefetch": 0.5, "64x64": 0.7 });
    const tuner = new Tuner("on", "fake/adapter", cache, timer, () => OPT);
    await tuner.load();
    const fallback = defaultVariant(D, OPT);
    assert.equal(tuner.select(SPEC, D, BYTES, fallback), fallback, "first use: the default, shape queued");
    assert.equal(tuner.hasPending, true);
    await tuner.tunePending();
    assert.equal(timer.calls, applicableVariants(D, OPT).length, "every applicable variant timed once");
    const entries = Object.entries(cache.entries);
    assert.equal(entries.length, 1);
    assert.match(entries[0]![0], /^fake\/adapter\|v\d+\|matmul_0100 M67 N70 K37$/);
    assert.equal(entries[0]![1], "128x64+prefetch");
    assert.equal(variantName(tuner.select(SPEC, D, BYTES, fallback)), "128x64+prefetch");
    assert.equal(tuner.hasPending, false);
    assert.equal(timer.calls, applicableVariants(D, OPT).length, "not timed again");
    assert.match(tuner.summary(), /GEMMs tuned \(1 timed, 0 cached\)/);

    // a new process (a new tuner on the same cache) finds the choice and never times
    const timer2 = new FakeTimer({});
    const again = new Tuner("on", "fake/adapter", cache, timer2, () => OPT);
    await again.load();
    assert.equal(variantName(again.select(SPEC, D, BYTES, fallback)), "128x64+prefetch");
    assert.equal(again.hasPending, false);
    await again.tunePending();
    assert.equal(timer2.calls, 0);
    assert.match(again.summary(), /0 timed, 1 cached/);

    // another adapter does not share the choice
    const other = new Tuner("on", "other/adapter", cache, timer2, () => OPT);
    await other.load();
    assert.equal(other.select(SPEC, D, BYTES, fallback), fallback);
    assert.equal(other.hasPending, true);
  });

  it("skips a variant that fails with a one-line note, and picks among the rest", async () => {
    const notes: string[] = [];
    const timer = new FakeTimer({ "128x128": 0.1, "64x64+splitK": 0.2 }, new Set(["128x128"]));
    const tuner = new Tuner("on", "a", new MemoryTuneCache(), timer, () => OPT, (l) => notes.push(l));
    tuner.select(SPEC, D, BYTES, defaultVariant(D, OPT));
    await tuner.tunePending();
    assert.deepEqual(notes, [`alexnet: GEMM variant 128x128 skipped for ${tuner.tuned()[0]!.shape}: does not compile: fake error`]);
    assert.equal(tuner.tuned()[0]!.choice, "64x64+splitK");
    assert.equal(tuner.tuned()[0]!.seconds!["128x128"], null);
  });

  it("mode off (--no-tune) never queues nor times", async () => {
    const timer = new FakeTimer({});
    const tuner = new Tuner("off", "a", new MemoryTuneCache(), timer, () => OPT);
    await tuner.load();
    const fallback = defaultVariant(D, OPT);
    assert.equal(tuner.select(SPEC, D, BYTES, fallback), fallback);
    assert.equal(tuner.hasPending, false);
    await tuner.tunePending();
    assert.equal(timer.calls, 0);
    assert.equal(tuner.summary(), ", GEMMs untuned (--no-tune)");
  });
});

describe("the tuning cache file", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "alexnet-tune-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("lives under XDG_CACHE_HOME", () => {
    assert.equal(tuneCachePath({ XDG_CACHE_HOME: "/x" }), "/x/alexnet-ts/webgpu-tuning.json");
    assert.equal(tuneCachePath({ HOME: "/h" }), "/h/.cache/alexnet-ts/webgpu-tuning.json");
  });

  it("a corrupt file is ignored with a warning and rewritten at the next save", async () => {
    const path = join(dir, "webgpu-tuning.json");
    writeFileSync(path, "{ not json");
    const warnings: string[] = [];
    const timer = new FakeTimer({ "64x64+prefetch": 0.1 });
    const tuner = new Tuner("on", "a", new FileTuneCache(path), timer, () => OPT, (l) => warnings.push(l));
    await tuner.load();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^alexnet: ignoring the corrupt GPU tuning cache .*webgpu-tuning\.json \(.*\); it will be rewritten$/);
    tuner.select(SPEC, D, BYTES, defaultVariant(D, OPT));
    await tuner.tunePending();
    const saved = JSON.parse(readFileSync(path, "utf8")) as { entries: Record<string, string> };
    assert.deepEqual(Object.values(saved.entries), ["64x64+prefetch"]);
    // and a fresh tuner reads it back without warnings or timing
    const timer2 = new FakeTimer({});
    const again = new Tuner("on", "a", new FileTuneCache(path), timer2, () => OPT, (l) => warnings.push(l));
    await again.load();
    assert.equal(variantName(again.select(SPEC, D, BYTES, defaultVariant(D, OPT))), "64x64+prefetch");
    assert.equal(warnings.length, 1);
    assert.equal(timer2.calls, 0);
  });
});

describe("the tuner inside the webgpu backend (SwiftShader)", () => {
  let gpu: WebGpuBackend;
  const timer = new FakeTimer({ "64x64+prefetch": 0.1 });
  const cache = new MemoryTuneCache();
  before(async () => {
    gpu = await openTestGpu({ tune: "on", tuneTimer: timer, tuneCache: cache, minSplitK: 16 });
  });
  after(() => gpu.destroy());
  const free = (...l: Storage[]): void => l.forEach((s) => s.backend.dispose(s));

  it("tunes at the first read, then runs the choice with the same results", async () => {
    const used: string[] = [];
    const select = gpu.gemmOptions.select!;
    gpu.gemmOptions.select = (...args) => {
      const v = select(...args);
      used.push(variantName(v));
      return v;
    };
    for (let round = 0; round < 2; round++) {
      const x = pair(gpu, randomArray(70 * 37, 1), [70, 37]);
      const w = pair(gpu, randomArray(67 * 37, 2), [67, 37]);
      const yg = gpu.linear(x.g, w.g, null);
      await expectSame(gpu, yg, ref.linear(x.r, w.r, null), `round ${round}`); // the read tunes
      free(x.g, w.g, yg);
    }
    assert.deepEqual(used, [variantName(defaultVariant(D, gpu.gemmOptions)), "64x64+prefetch"]);
    const calls = timer.calls;
    assert.ok(calls > 0);
    await gpu.sync();
    assert.equal(timer.calls, calls, "never timed again");
    assert.equal(Object.values(cache.entries)[0], "64x64+prefetch");
    assert.match(gpu.describe(), /SwiftShader.*, Vulkan, GEMMs tuned \(1 timed, 0 cached\)\)$/);
  });

  it("--no-tune (tune: off) runs the default and never times", async () => {
    const t = new FakeTimer({});
    const off = await openTestGpu({ tune: "off", tuneTimer: t, tuneCache: new MemoryTuneCache() });
    try {
      assert.equal(off.gemmOptions.select, undefined);
      const x = off.fromArray(randomArray(70 * 37, 1), [70, 37], "float32");
      const w = off.fromArray(randomArray(67 * 37, 2), [67, 37], "float32");
      const y = off.linear(x, w, null);
      await off.read(y);
      await off.sync();
      assert.equal(t.calls, 0);
      assert.match(off.describe(), /GEMMs untuned \(--no-tune\)\)$/);
      free(x, w, y);
    } finally {
      off.destroy();
    }
  });

  it("the real timer times a variant on the device; a shader that does not compile fails alone", async () => {
    const real = new GpuVariantTimer(gpu.ctx, gpu.pool, () => gpu.gemmOptions, 1, 3);
    const job: TuneJob = { shape: "t", spec: SPEC, d: D, bytes: BYTES };
    await real.begin(job);
    try {
      const s = await real.time(job, { tile: { rm: 4, rn: 4 }, prefetch: false, splitK: false });
      assert.ok(s > 0 && s < 10, `${s} s`);
    } finally {
      real.end();
    }
    await assert.rejects(gpu.ctx.compile("fn main( {"), /^Error: does not compile: /);
    const x = gpu.fromArray(Float32Array.of(-1, 2), [2], "float32");
    const y = gpu.relu(x);
    assert.deepEqual(await gpu.read(y), Float32Array.of(0, 2), "the device still works");
    free(x, y);
  });
});

// The run-time GEMM tuner (cuDNN's benchmark mode for the webgpu backend): the first use of a GEMM shape
// runs the default variant and queues the shape; at the next read-back or sync, when the queue is idle,
// every applicable variant (kernels/gemm.ts) is timed on scratch copies of the shape's bindings and the
// fastest is kept, in memory and in a cache keyed by adapter, variant-set version and shape (a JSON file
// on Node, IndexedDB in the page: TuneCache is injected). Later uses, in this process or the next, run
// the choice without timing. Variants differ only in summation order, and tests compare every one with
// the reference backend. Browser-safe.
import type { BufferView, GpuContext } from "./device.js";
import {
  type GemmDims, type GemmOptions, type GemmSpec, type GemmVariant, VARIANT_SET_VERSION, applicableVariants, encodeGemm, parseVariant,
  variantName, variantShaders,
} from "./kernels/gemm.js";
import type { BufferPool } from "./pool.js";

/** Where tuned choices persist: cache key -> variant name. load() never throws (a corrupt store is
 * reported through `warn` and read as empty); save() gets every entry this process knows. */
export interface TuneCache {
  /** What to call the store in notes ("~/.cache/alexnet-ts/webgpu-tuning.json", "IndexedDB"). */
  readonly where: string;
  load(warn: (line: string) => void): Promise<Record<string, string>>;
  save(entries: Record<string, string>): Promise<void>;
}

/** A cache that lives as long as the process (tests; a page without IndexedDB). */
export class MemoryTuneCache implements TuneCache {
  readonly where = "memory";
  entries: Record<string, string> = {};
  async load(): Promise<Record<string, string>> {
    return { ...this.entries };
  }
  async save(entries: Record<string, string>): Promise<void> {
    this.entries = { ...entries };
  }
}

/** One GEMM shape waiting to be timed: its spec, dims and binding sizes (scratch copies are made). */
export interface TuneJob {
  shape: string;
  spec: GemmSpec;
  d: GemmDims;
  bytes: number[];
}

/** Times one variant of a job: median seconds per run; throws (one line) where the variant fails. */
export interface VariantTimer {
  /** Called once per job before its variants (allocate scratch); throws where that is impossible. */
  begin?(job: TuneJob): Promise<void>;
  time(job: TuneJob, v: GemmVariant): Promise<number>;
  end?(job: TuneJob): void;
}

/** "on": time new shapes; "off": the default variant, never timing (--no-tune); "auto": on except on a
 * CPU emulation (SwiftShader), whose timings say nothing about a GPU. */
export type TuneMode = "on" | "off" | "auto";

/** A tuned shape as `alexnet tune` prints it. */
export interface TunedShape {
  shape: string;
  choice: string;
  /** How the choice was made now: timed in this process, or found in the cache. */
  source: "timed" | "cache";
  /** Median seconds per variant where timed; null for a variant that failed (see notes). */
  seconds?: Record<string, number | null>;
}

/** The key of a shape: the spec's name and every shape field (what bakeShape puts into the code). */
export function shapeKey(spec: GemmSpec, d: GemmDims): string {
  const f = (k: keyof GemmDims): string => `${d[k] ?? 0}`;
  const conv = d.c ? ` n${f("nb")} c${f("c")} ${f("h")}x${f("w")} o${f("o")} ${f("oh")}x${f("ow")} k${f("kh")}x${f("kw")} s${f("sh")}x${f("sw")} p${f("ph")}x${f("pw")}` : "";
  return `${spec.name} M${d.M} N${d.N} K${d.K}${conv}`;
}

/** The cache key of a shape's choice: adapter, variant-set version, shape. */
export function tuneCacheKey(adapterKey: string, shape: string): string {
  return `${adapterKey}|v${VARIANT_SET_VERSION}|${shape}`;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export class Tuner {
  private entries: Record<string, string> = {};
  private readonly pending = new Map<string, TuneJob>();
  private readonly used = new Map<string, TunedShape>();
  private readonly defaults = new Set<string>();
  private running: Promise<void> | null = null;
  /** One line per variant skipped (compile failure, out of memory) and per cache problem. */
  readonly notes: string[] = [];
  /** Variants timed so far (tests: a cached shape is never timed again). */
  timings = 0;

  constructor(
    readonly mode: "on" | "off",
    private readonly adapterKey: string,
    private readonly cache: TuneCache | null,
    private readonly timer: VariantTimer,
    private readonly opt: () => GemmOptions,
    private readonly warn: (line: string) => void = () => {},
  ) {}

  /** Reads the cache (once, when the backend opens). */
  async load(): Promise<void> {
    if (this.mode === "off" || !this.cache) return;
    this.entries = await this.cache.load((line) => this.note(line));
  }

  private note(line: string): void {
    this.notes.push(line);
    this.warn(line);
  }

  private cacheKey(shape: string): string {
    return tuneCacheKey(this.adapterKey, shape);
  }

  /** GemmOptions.select: the cached or tuned variant, else the default (queuing the shape for timing). */
  select(spec: GemmSpec, d: GemmDims, bytes: number[], fallback: GemmVariant): GemmVariant {
    if (this.mode === "off") return fallback;
    const shape = shapeKey(spec, d);
    const name = this.entries[this.cacheKey(shape)];
    const v = name === undefined ? null : parseVariant(name);
    if (v && applicableVariants(d, this.opt()).some((a) => variantName(a) === name)) {
      if (!this.used.has(shape)) this.used.set(shape, { shape, choice: name!, source: "cache" });
      return v;
    }
    if (!this.pending.has(shape) && !this.defaults.has(shape)) this.pending.set(shape, { shape, spec, d: { ...d }, bytes });
    return fallback;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /** Times every queued shape (one tuning at a time; concurrent callers wait for it), then saves. */
  tunePending(): Promise<void> {
    this.running ??= this.runPending().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runPending(): Promise<void> {
    while (this.pending.size > 0) {
      const job = this.pending.values().next().value!;
      this.pending.delete(job.shape);
      await this.tune(job);
    }
    if (this.cache) {
      try {
        await this.cache.save(this.entries);
      } catch (e) {
        this.note(`alexnet: tuned GPU kernel choices not saved to ${this.cache.where}: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  }

  private async tune(job: TuneJob): Promise<void> {
    const variants = applicableVariants(job.d, this.opt());
    const seconds: Record<string, number | null> = {};
    try {
      await this.timer.begin?.(job);
    } catch (e) {
      this.note(`alexnet: GEMM ${job.shape} not tuned (default kernel kept): ${(e as Error).message.split("\n")[0]}`);
      this.defaults.add(job.shape);
      return;
    }
    try {
      for (const v of variants) {
        const name = variantName(v);
        try {
          this.timings++;
          seconds[name] = await this.timer.time(job, v);
        } catch (e) {
          seconds[name] = null;
          this.note(`alexnet: GEMM variant ${name} skipped for ${job.shape}: ${(e as Error).message.split("\n")[0]}`);
        }
      }
    } finally {
      this.timer.end?.(job);
    }
    let best: string | null = null;
    for (const [name, s] of Object.entries(seconds)) if (s !== null && (best === null || s < seconds[best]!)) best = name;
    if (best === null) {
      this.defaults.add(job.shape);
      return;
    }
    this.entries[this.cacheKey(job.shape)] = best;
    this.used.set(job.shape, { shape: job.shape, choice: best, source: "timed", seconds });
  }

  /** The shapes run with a tuned choice so far (timed now or cached), in first-use order. */
  tuned(): TunedShape[] {
    return [...this.used.values()];
  }

  /** For the report line: ", GEMMs tuned (3 timed, 21 cached)" or ", GEMMs untuned (--no-tune)". */
  summary(): string {
    if (this.mode === "off") return ", GEMMs untuned (--no-tune)";
    const t = this.tuned();
    const timed = t.filter((s) => s.source === "timed").length;
    const untuned = this.pending.size + this.defaults.size;
    return `, GEMMs tuned (${timed} timed, ${t.length - timed} cached${untuned ? `, ${untuned} default` : ""})`;
  }
}

/** Times variants on the device: scratch buffers the size of the shape's bindings (zeros: the values do
 * not change the time), each variant compiled first (a compile failure skips it), `warmup` untimed runs,
 * then the median of `reps`. */
export class GpuVariantTimer implements VariantTimer {
  private scratch: GPUBuffer[] = [];

  constructor(private readonly ctx: GpuContext, private readonly pool: BufferPool, private readonly opt: () => GemmOptions,
    private readonly warmup = 2, private readonly reps = 7) {}

  async begin(job: TuneJob): Promise<void> {
    const device = this.ctx.device;
    device.pushErrorScope("out-of-memory");
    this.scratch = job.bytes.map((b) => device.createBuffer({ size: Math.max(16, Math.ceil(b / 4) * 4), usage: GPUBufferUsage.STORAGE }));
    const oom = await device.popErrorScope();
    if (oom) {
      this.end();
      throw new Error(`out of GPU memory for scratch copies (${job.bytes.reduce((a, b) => a + b, 0)} bytes)`);
    }
  }

  async time(job: TuneJob, v: GemmVariant): Promise<number> {
    for (const code of variantShaders(job.spec, job.d, v, this.opt())) await this.ctx.compile(code);
    const views: BufferView[] = this.scratch.map((buffer) => ({ buffer, offset: 0, size: buffer.size, shift: 0 }));
    const [a, b, ...outs] = views;
    const runs = await this.ctx.timeRuns(() => encodeGemm(this.ctx, this.pool, job.spec, job.d, a!, b!, outs, v, this.opt()), this.warmup + this.reps);
    return median(runs.slice(this.warmup));
  }

  end(): void {
    for (const b of this.scratch) b.destroy();
    this.scratch = [];
  }
}

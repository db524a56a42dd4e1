/// <reference types="@webgpu/types" preserve="true" />
// The WebGPU device layer: opens a device with the adapter's own limits, caches compute pipelines, and
// batches every dispatch of a step into one compute pass of one command encoder that is submitted only
// when a value is read back, when sync() is asked for, or every DISPATCHES_PER_SUBMIT dispatches. Op
// parameters go into a CPU-side uniform arena that is written to one GPU uniform buffer right before its
// submit. Device loss and errors surface as a GpuError with one line. Browser-safe: nothing from Node.

import { UNIFORM_SLOT } from "./params.js";

export { Params, grid1d } from "./params.js";

/** One-line failure of the GPU (device lost, out of memory, validation); the run stops with it. */
export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GpuError";
  }
}

/** The limits the kernels plan around (the adapter's, or lower ones forced by tests). */
export interface GpuLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minStorageBufferOffsetAlignment: number;
}

/** What a report says about the adapter. */
export interface AdapterSummary {
  description: string;
  /** "Vulkan", "Metal", "D3D12" where known, else "". */
  api: string;
  /** SwiftShader, llvmpipe, WARP or an adapter that says isFallbackAdapter: a CPU emulation. */
  software: boolean;
  hasShaderF16: boolean;
  hasTimestamps: boolean;
  /** Vendor, architecture, device and description: what tuned kernel choices are cached under. */
  key: string;
}

/** A storage-buffer binding: a byte range of a buffer plus the element shift the shader adds to its
 * indices, because binding offsets must be multiples of minStorageBufferOffsetAlignment. */
export interface BufferView {
  buffer: GPUBuffer;
  offset: number;
  size: number;
  /** Elements (4 bytes) between `offset` and the first element the kernel means. */
  shift: number;
}

// A uniform slot is 256 bytes (minUniformBufferOffsetAlignment is at most 256 everywhere); 512 slots
// are 128 KiB of parameters, so a whole AlexNet training step fits in one submit.
const DISPATCHES_PER_SUBMIT = 512;

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|warp/i;

export function summarizeAdapter(adapter: GPUAdapter, apiHint = ""): AdapterSummary {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; backendType?: string };
  const parts = [info.description, info.device, info.architecture, info.vendor].filter((s) => !!s);
  const description = info.description || parts.join(" ") || "unknown adapter";
  const text = parts.join(" ");
  const fallback = info.isFallbackAdapter === true || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const api = typeof info.backendType === "string" && info.backendType !== "" ? info.backendType : apiHint;
  return {
    description,
    api,
    software: fallback || SOFTWARE_ADAPTER.test(text),
    hasShaderF16: adapter.features.has("shader-f16"),
    hasTimestamps: adapter.features.has("timestamp-query"),
    key: [info.vendor, info.architecture, info.device, info.description].map((x) => x || "?").join("/"),
  };
}

export class GpuContext {
  readonly limits: GpuLimits;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly uniformArena = new ArrayBuffer(UNIFORM_SLOT * DISPATCHES_PER_SUBMIT);
  private readonly uniformBuffer: GPUBuffer;
  private failure: string | null = null;
  private lostReason: string | null = null;
  /** Submits since the device opened (tests check that a step needs few). */
  submits = 0;
  /** The kind of op being encoded ("conv", "pool", ...): opSeconds' key for the dispatches that follow. */
  kind = "other";
  // Profiling (opSeconds): one compute pass per run of same-kind dispatches, timed with timestamp queries.
  private querySet: GPUQuerySet | null = null;
  private passKind: string | null = null;
  private passKinds: string[] = [];
  private readonly seconds: Record<string, number> = {};
  private pendingTimings: Promise<void>[] = [];
  // timeRuns: the timestamp writes of the pass being timed
  private forcedTimestamps: GPUComputePassTimestampWrites | null = null;

  constructor(readonly device: GPUDevice, readonly adapter: AdapterSummary, limits: GpuLimits) {
    this.limits = limits;
    this.uniformBuffer = device.createBuffer({
      size: this.uniformArena.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    void device.lost.then((info) => {
      if (info.reason !== "destroyed") this.lostReason = `GPU device lost (${info.reason || "unknown"}): ${info.message}`;
      else this.lostReason = "GPU device was destroyed";
    });
    device.addEventListener("uncapturederror", (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.fail(`${e.constructor?.name ?? "GPU error"}: ${e.message.split("\n")[0]}`);
    });
  }

  /** Records the first failure; every later op and read throws it. */
  fail(line: string): void {
    if (this.failure === null) this.failure = line;
  }

  /** Simulates a lost device (tests of the trainer's error path). */
  simulateLoss(reason = "simulated"): void {
    this.lostReason = `GPU device lost (${reason})`;
  }

  /** Throws the pending failure, if any, as one line. */
  check(): void {
    if (this.lostReason !== null) throw new GpuError(this.lostReason);
    if (this.failure !== null) throw new GpuError(this.failure);
  }

  /** A buffer created inside error scopes, so that out-of-memory and validation errors are reported with
   * what was being allocated rather than as an uncaptured error later. */
  createBuffer(size: number, usage: number, what: string): GPUBuffer {
    this.check();
    if (size > this.limits.maxBufferSize) {
      throw new GpuError(`${what}: ${size} bytes exceeds the adapter's maxBufferSize of ${this.limits.maxBufferSize} bytes`);
    }
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    const buffer = this.device.createBuffer({ size, usage });
    const report = (e: GPUError | null): void => {
      if (e) this.fail(`${what}: ${e.message.split("\n")[0]} (${size} bytes)`);
    };
    void this.device.popErrorScope().then(report, () => {});
    void this.device.popErrorScope().then((e) => report(e ? ({ message: `out of GPU memory: ${e.message}` } as GPUError) : null), () => {});
    return buffer;
  }

  /** The compute pipeline for `code` (entry point "main"), compiled once per process and device. */
  pipeline(code: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code });
      p = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
      this.pipelines.set(code, p);
    }
    return p;
  }

  /** Compiles `code` ahead of its first dispatch and rejects with one line where it does not compile
   * (the tuner skips such a variant; a failure inside pipeline() would fail the whole device). */
  async compile(code: string): Promise<void> {
    if (this.pipelines.has(code)) return;
    const line = (e: unknown): string => `does not compile: ${(e as Error | null)?.message?.split("\n")[0] ?? String(e)}`;
    this.device.pushErrorScope("validation");
    this.device.pushErrorScope("internal");
    let pending: Promise<GPUComputePipeline | Error>;
    try {
      const module = this.device.createShaderModule({ code });
      pending = this.device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint: "main" } }).catch((e: Error) => e);
    } catch (e) {
      pending = Promise.resolve(e as Error);
    }
    const errors = [await this.device.popErrorScope(), await this.device.popErrorScope()].filter((e) => e !== null);
    const p = await pending;
    if (errors.length > 0) throw new Error(line(errors[0]));
    if (p instanceof Error) throw new Error(line(p));
    this.pipelines.set(code, p);
  }

  /** Seconds per run of `runs` repetitions of the dispatches `encode` makes, on an otherwise idle queue:
   * GPU time from timestamp queries where the device has them (one compute pass per run), else wall time
   * from submit to onSubmittedWorkDone (one submit per run, so it includes the submit's overhead). */
  async timeRuns(encode: () => void, runs: number): Promise<number[]> {
    await this.sync();
    const out: number[] = [];
    if (!this.canProfile) {
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        encode();
        this.flush();
        await this.device.queue.onSubmittedWorkDone();
        out.push((performance.now() - t0) / 1000);
      }
      this.check();
      return out;
    }
    const querySet = this.device.createQuerySet({ type: "timestamp", count: 2 * runs });
    const bytes = 16 * runs;
    const resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      for (let i = 0; i < runs; i++) {
        this.endPass();
        this.forcedTimestamps = { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
        encode(); // synchronous: nothing else can encode into this pass
        this.endPass();
        this.forcedTimestamps = null;
      }
      const encoder = this.commandEncoder();
      encoder.resolveQuerySet(querySet, 0, 2 * runs, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
      this.flush();
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(staging.getMappedRange());
      for (let i = 0; i < runs; i++) out.push(t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) / 1e9 : 0);
      staging.unmap();
    } finally {
      this.forcedTimestamps = null;
      querySet.destroy();
      resolved.destroy();
      staging.destroy();
    }
    this.check();
    return out;
  }

  /** Encodes one dispatch. `params` are the 4-byte fields of the shader's uniform struct, in order (at
   * most 64); `views` bind to bindings 1, 2, ... in order. Work runs when the batch is submitted. */
  dispatch(code: string, params: ArrayBuffer, views: readonly BufferView[], groups: readonly [number, number, number]): void {
    this.check();
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups[0] > max || groups[1] > max || groups[2] > max) {
      throw new GpuError(`dispatch of [${groups.join(", ")}] workgroups exceeds the limit of ${max} per dimension`);
    }
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    if (params.byteLength > UNIFORM_SLOT) throw new Error(`kernel parameters of ${params.byteLength} bytes exceed one slot`);
    const pipeline = this.pipeline(code);
    if (this.dispatches >= DISPATCHES_PER_SUBMIT) this.flush();
    const slot = this.dispatches++ * UNIFORM_SLOT;
    new Uint8Array(this.uniformArena, slot, params.byteLength).set(new Uint8Array(params));
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer, offset: slot, size: UNIFORM_SLOT } }];
    views.forEach((v, i) => entries.push({ binding: i + 1, resource: { buffer: v.buffer, offset: v.offset, size: v.size } }));
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
  }

  /** Encodes a buffer-to-buffer copy into the current batch. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.check();
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
  }

  /** Writes host data into a buffer. queue.writeBuffer runs before the batch still being encoded, so that
   * batch is submitted first: a pooled buffer may still be read by it. */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.check();
    if (this.encoder) this.flush();
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Submits the batch encoded so far (uniforms first, then the commands). */
  flush(): void {
    this.endPass();
    if (!this.encoder) return;
    if (this.dispatches > 0) this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformArena, 0, this.dispatches * UNIFORM_SLOT);
    const timing = this.querySet && this.passKinds.length > 0 ? this.resolveTimings(this.encoder) : null;
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.encoder = null;
    this.dispatches = 0;
    if (timing) this.pendingTimings.push(timing());
  }

  /** Encodes the copy of this batch's timestamps to the host; the returned function, called after the
   * submit, maps them and adds each pass's duration to its kind. */
  private resolveTimings(encoder: GPUCommandEncoder): () => Promise<void> {
    const kinds = this.passKinds;
    this.passKinds = [];
    const bytes = 16 * kinds.length;
    const resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet!, 0, 2 * kinds.length, resolved, 0);
    encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    return async () => {
      try {
        await staging.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(staging.getMappedRange());
        kinds.forEach((k, i) => {
          const ns = t[2 * i + 1]! > t[2 * i]! ? Number(t[2 * i + 1]! - t[2 * i]!) : 0;
          this.seconds[k] = (this.seconds[k] ?? 0) + ns / 1e9;
        });
      } catch {
        // a lost device loses its timings too; the op that needs the device reports the failure
      } finally {
        staging.destroy();
        resolved.destroy();
      }
    };
  }

  /** Resolves when everything submitted so far has run (and its timings are in); throws the pending
   * failure as one line. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    const timings = this.pendingTimings;
    this.pendingTimings = [];
    await Promise.all(timings);
    this.check();
  }

  /** Whether opSeconds can time kernels: the adapter has timestamp queries. */
  get canProfile(): boolean {
    return this.adapter.hasTimestamps && this.device.features.has("timestamp-query");
  }

  /** Starts timing dispatches by kind (GPU time from timestamp queries); returns false where the
   * adapter has none. Costs a compute pass per run of same-kind ops, so it is off until asked for. */
  startProfiling(): boolean {
    if (!this.canProfile) return false;
    if (!this.querySet) {
      this.flush();
      this.querySet = this.device.createQuerySet({ type: "timestamp", count: 2 * DISPATCHES_PER_SUBMIT });
    }
    return true;
  }

  /** GPU seconds per kind since profiling started, as far as sync() has collected them. */
  profiledSeconds(): Record<string, number> {
    return { ...this.seconds };
  }

  /** Copies `size` bytes at `offset` of `buffer` to the host. */
  async readBytes(buffer: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const padded = Math.max(4, Math.ceil(size / 4) * 4);
    const staging = this.createBuffer(padded, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "read-back buffer");
    try {
      this.copy(buffer, offset, staging, 0, padded);
      this.flush();
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (e) {
        this.check();
        throw new GpuError(`reading a tensor back failed: ${(e as Error).message.split("\n")[0]}`);
      }
      this.check();
      return staging.getMappedRange().slice(0, size);
    } finally {
      staging.destroy();
    }
  }

  destroy(): void {
    this.flush();
    this.uniformBuffer.destroy();
    this.device.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (this.pass && this.querySet && this.passKind !== this.kind) this.endPass();
    if (!this.pass) {
      if (this.forcedTimestamps) {
        this.passKind = this.kind;
        this.pass = this.commandEncoder().beginComputePass({ timestampWrites: this.forcedTimestamps });
      } else if (this.querySet) {
        const i = this.passKinds.length;
        this.passKinds.push(this.kind);
        this.passKind = this.kind;
        this.pass = this.commandEncoder().beginComputePass({
          timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
        });
      } else {
        this.pass = this.commandEncoder().beginComputePass();
      }
    }
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
      this.passKind = null;
    }
  }
}

/** Options for opening a device; the overrides let tests force small limits (the split-along-batch path). */
export interface OpenOptions {
  powerPreference?: GPUPowerPreference;
  /** Plan as if bindings could hold at most this many bytes (lower than the adapter's). */
  maxBindingBytes?: number;
  /** The graphics API to name in reports when the adapter does not say (Dawn on Linux: "Vulkan"). */
  apiHint?: string;
  /** Ask for at most this much workgroup memory (tests: WebGPU's default 16384, where the 128x128
   * tile's 16,512 bytes do not fit and the GEMMs fall back to smaller tiles). */
  maxWorkgroupStorageBytes?: number;
}

/** Opens a device on `gpu` with the adapter's own maxima for the limits the kernels use (the defaults,
 * 128 MiB per binding, are too small for AlexNet at 224), or returns one line saying why not. */
export async function openGpu(gpu: GPU, opts: OpenOptions = {}): Promise<GpuContext | { error: string }> {
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
  } catch (e) {
    return { error: `no WebGPU adapter: ${(e as Error).message.split("\n")[0]}` };
  }
  if (!adapter) return { error: "no WebGPU adapter" };
  const a = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    // above WebGPU's default 16384 where the adapter allows: the 128x128 GEMM tile needs 16,512 bytes
    maxComputeWorkgroupStorageSize: Math.min(a.maxComputeWorkgroupStorageSize, opts.maxWorkgroupStorageBytes ?? Infinity),
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
  };
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
  if (adapter.features.has("shader-f16")) requiredFeatures.push("shader-f16");
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    return { error: `the WebGPU adapter refused a device: ${(e as Error).message.split("\n")[0]}` };
  }
  const d = device.limits;
  const binding = Math.min(d.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity);
  const limits: GpuLimits = {
    maxStorageBufferBindingSize: Math.floor(binding / 256) * 256,
    maxBufferSize: d.maxBufferSize,
    maxComputeWorkgroupStorageSize: d.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: d.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupsPerDimension: d.maxComputeWorkgroupsPerDimension,
    minStorageBufferOffsetAlignment: d.minStorageBufferOffsetAlignment,
  };
  return new GpuContext(device, summarizeAdapter(adapter, opts.apiHint ?? ""), limits);
}

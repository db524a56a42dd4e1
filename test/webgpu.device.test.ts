// --device auto|cpu|gpu: the pure rule (src/backend/device.ts) over made-up machines, and on this
// machine's only adapter, SwiftShader: auto picks the CPU, gpu warns that it is an emulation and runs.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type DeviceOffer, DeviceError, resolveDevice } from "../src/backend/device.js";
import { probeNodeGpu } from "../src/backend/webgpu/node.js";
import "./webgpuHelpers.js"; // points Dawn at SwiftShader

const H200 = { description: "NVIDIA H200", software: false };
const SWIFTSHADER = { description: "SwiftShader driver 5.0.0", software: true };
const NO_GPU = { error: "no WebGPU adapter" };
const NO_NATIVE = { error: "addon not built" };

describe("resolveDevice", () => {
  const offer = (gpu: DeviceOffer["gpu"], native: DeviceOffer["native"] = true): DeviceOffer => ({ gpu, native });

  it("auto takes a hardware GPU, else native, else reference", () => {
    assert.deepEqual(resolveDevice("auto", offer(H200)), { backend: "webgpu", warnings: [] });
    assert.deepEqual(resolveDevice("auto", offer(NO_GPU)), { backend: "native", warnings: [] });
    const ref = resolveDevice("auto", offer(NO_GPU, NO_NATIVE));
    assert.equal(ref.backend, "reference");
    assert.match(ref.warnings[0]!, /native backend unavailable.*addon not built/);
  });

  it("auto never takes a software adapter", () => {
    assert.equal(resolveDevice("auto", offer(SWIFTSHADER)).backend, "native");
    assert.equal(resolveDevice("auto", offer(SWIFTSHADER, NO_NATIVE)).backend, "reference");
  });

  it("gpu takes a software adapter with one warning, and fails without an adapter", () => {
    const c = resolveDevice("gpu", offer(SWIFTSHADER));
    assert.equal(c.backend, "webgpu");
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0]!, /SwiftShader.*CPU emulation/);
    assert.deepEqual(resolveDevice("gpu", offer(H200)).warnings, []);
    assert.throws(() => resolveDevice("gpu", offer(NO_GPU)), (e: Error) => e instanceof DeviceError && /^--device gpu: no WebGPU adapter$/.test(e.message));
  });

  it("cpu never looks at the GPU", () => {
    assert.equal(resolveDevice("cpu", offer(H200)).backend, "native");
  });
});

describe("--device on this machine (SwiftShader only)", () => {
  it("auto picks the CPU; gpu warns and runs", async () => {
    const { offer, backend } = await probeNodeGpu();
    assert.ok(backend, `no adapter: ${"error" in offer ? offer.error : ""}`);
    try {
      assert.deepEqual(offer, { description: backend.ctx.adapter.description, software: true });
      assert.notEqual(resolveDevice("auto", { gpu: offer, native: true }).backend, "webgpu");
      const choice = resolveDevice("gpu", { gpu: offer, native: true });
      assert.equal(choice.backend, "webgpu");
      assert.match(choice.warnings[0]!, /CPU emulation/);
      const x = backend.fromArray(Float32Array.of(-1, 2), [2], "float32");
      const y = backend.relu(x);
      assert.deepEqual(await backend.read(y), Float32Array.of(0, 2));
      backend.dispose(x);
      backend.dispose(y);
    } finally {
      backend.destroy();
    }
  });
});

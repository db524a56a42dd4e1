// Shared test helpers: the backends every op test runs on, fixture loading, and closeness assertions.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Backend, DType } from "../src/backend/backend.js";
import { getBackend } from "../src/backend/registry.js";
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from "../src/nn/index.js";
import { tensor, type Tensor } from "../src/tensor/tensor.js";

export interface TestBackend {
  backend: Backend;
  /** dtypes this backend is tested in; float64 where it computes in it, for tight comparisons. */
  dtypes: DType[];
}

/** Loads the native backend when its module and addon are there. When native is expected (CI or
 * ALEXNET_EXPECT_NATIVE=1) and absent, this throws, so the suite cannot pass silently without it. */
async function loadNative(): Promise<Backend | null> {
  let reason: string;
  try {
    const mod = (await import(new URL("../src/backend/native/load.js", import.meta.url).href)) as {
      loadNativeBackend(): { backend: Backend } | { error: string };
    };
    const r = mod.loadNativeBackend();
    if ("backend" in r) return r.backend;
    reason = r.error;
  } catch (e) {
    reason = `native backend module missing: ${(e as Error).message}`;
  }
  if (process.env.CI || process.env.ALEXNET_EXPECT_NATIVE === "1") {
    throw new Error(`the native backend is expected (CI or ALEXNET_EXPECT_NATIVE=1) but unavailable: ${reason}`);
  }
  console.log(`# native backend not tested: ${reason}`);
  return null;
}

const native = await loadNative();

export const TEST_BACKENDS: TestBackend[] = [
  { backend: getBackend("reference"), dtypes: ["float64", "float32"] },
  ...(native ? [{ backend: native, dtypes: ["float32"] as DType[] }] : []),
];

export const nativeBackend: Backend | null = native;

/** Tolerance (relative to the largest magnitude in the expected values) for comparing with float64 truth. */
export function tolerance(dtype: DType): number {
  return dtype === "float64" ? 1e-10 : 2e-5;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let scale = 1e-12;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(
    worst <= rtol * scale,
    `${what}: max error ${worst.toExponential(3)} at ${at} (got ${actual[at]}, want ${expected[at]}) exceeds ${rtol} x ${scale.toExponential(3)}`,
  );
}

export interface FixtureArray {
  shape: number[];
  data: number[];
}

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), "utf8")) as T;
}

export function fromFixture(a: FixtureArray, backend: Backend, dtype: DType, requiresGrad = false): Tensor {
  return tensor(a.data, { shape: a.shape, dtype, backend, requiresGrad });
}

/** Deterministic uniform floats in [-1, 1) (mulberry32), so a failure reproduces. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** test/fixtures/train_step.json: PyTorch's three SGD steps of smallConvNet() on fixed batches. */
export interface TrainFixture {
  sgd: { lr: number; momentum: number; weightDecay: number };
  initial: Record<string, FixtureArray>;
  final: Record<string, FixtureArray>;
  batches: { x: FixtureArray; labels: number[] }[];
  losses: number[];
}

/** The small conv net in AlexNet's pattern that train_step.json was made with. */
export function smallConvNet(): Sequential {
  return new Sequential(
    new Conv2d(1, 4, { kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d(3, { stride: 2 }),
    new Conv2d(4, 6, { kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Linear(24, 8), new ReLU(), new Linear(8, 3),
  );
}

// Shared by the native.*.test.ts files, which check the native backend against the reference backend:
// loading the addon (without it the tests are skipped with the reason, except in CI or with
// ALEXNET_EXPECT_NATIVE=1, where that is a failure), random data and conv cases, closeness and bit-identity
// assertions, and Pair, which makes the same values on both backends and compares results.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Conv2dParams, type DType, type Storage, numel } from "../src/backend/backend.js";
import type { NativeBackend } from "../src/backend/native/index.js";
import { loadNativeBackend } from "../src/backend/native/load.js";
import { ReferenceBackend } from "../src/backend/reference/index.js";
import { assertClose } from "./helpers.js";

const loaded = loadNativeBackend();
const expectNative = Boolean(process.env.CI) || process.env.ALEXNET_EXPECT_NATIVE === "1";

/** A describe() block run on the native backend, or, without the addon, a skipped test that says why (a
 * failing one where native is expected, so CI cannot pass without it). */
export function describeNative(name: string, body: (nb: NativeBackend, rb: ReferenceBackend) => void): void {
  if ("error" in loaded) {
    if (expectNative) {
      test("native backend loads (expected in CI / ALEXNET_EXPECT_NATIVE=1)", () => assert.fail(loaded.error));
    } else {
      test(`native backend tests skipped: ${loaded.error}`, { skip: loaded.error }, () => {});
    }
    return;
  }
  describe(name, () => body(loaded.backend, new ReferenceBackend()));
}

export function randArray(r: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale;
  return a;
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(((r() + 1) / 2) * (hi - lo + 1));
}

/** fp32 against the float64 reference: norm-relative error <= rtol, and every element within rtol of the
 * largest magnitude (catches a few wrong elements a norm would hide). */
export function assertNormAndElementsClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  assert.ok(den === 0 ? num === 0 : rel <= rtol, `${what}: norm-relative error ${rel.toExponential(3)} > ${rtol}`);
  assertClose(actual, expected, rtol, what);
}

export function assertSameBits(actual: Float32Array, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Object.is(actual[i], expected[i]), `${what}: element ${i} is ${actual[i]}, want ${expected[i]}`);
  }
}

/** What conv2dBackward and linearBackward return. */
interface LayerGradients {
  dx: Storage | null;
  dw: Storage;
  db: Storage | null;
}

/** The same values on the native backend (fp32) and the reference backend (fp64 truth, or fp32). */
export class Pair {
  constructor(
    readonly nb: NativeBackend,
    readonly rb: ReferenceBackend,
    readonly refDtype: DType = "float64",
  ) {}
  readonly made: Storage[] = [];
  make(data: Float32Array, shape: readonly number[]): [Storage, Storage] {
    const n = this.nb.fromArray(data, shape, "float32");
    const r = this.rb.fromArray(data, shape, this.refDtype);
    this.made.push(n, r);
    return [n, r];
  }
  track<T extends Storage | null>(...s: T[]): void {
    for (const x of s) if (x) this.made.push(x);
  }
  check(n: Storage, r: Storage, what: string, rtol = 1e-4): void {
    this.track(n, r);
    assert.deepEqual(n.shape, r.shape, `${what}: shape`);
    assertNormAndElementsClose(this.nb.readSync(n), this.rb.readSync(r), what, rtol);
  }
  /** dx only where asked for, db only with a bias; null otherwise. */
  checkGradients(n: LayerGradients, r: LayerGradients, has: { needDx: boolean; bias: boolean }, tag: string): void {
    if (has.needDx) this.check(n.dx!, r.dx!, `${tag} dx`);
    else assert.equal(n.dx, null);
    this.check(n.dw, r.dw, `${tag} dw`);
    if (has.bias) this.check(n.db!, r.db!, `${tag} db`);
    else assert.equal(n.db, null);
  }
  /** A 3x3 conv of random x (`xShape`) with `outChannels` random filters, on both backends. With 16 or more
   * output channels the native output is in a blocked layout: the input the blocked-layout tests need. */
  blockedConv(r: () => number, xShape: readonly number[], outChannels: number, p: Conv2dParams) {
    const [xn, xr] = this.make(randArray(r, numel(xShape)), xShape);
    const [wn, wr] = this.make(randArray(r, outChannels * xShape[1]! * 9), [outChannels, xShape[1]!, 3, 3]);
    const yn = this.nb.conv2d(xn, wn, null, p);
    const yr = this.rb.conv2d(xr, wr, null, p);
    this.track(yn, yr);
    return { xn, xr, wn, yn, yr };
  }
  disposeAll(): void {
    for (const s of this.made) s.backend.dispose(s);
    this.made.length = 0;
  }
}

export const SAME_3X3: Conv2dParams = { stride: [1, 1], padding: [1, 1] };

export interface ConvCase {
  n: number; c: number; h: number; w: number; o: number; kh: number; kw: number;
  p: Conv2dParams; bias: boolean; needDx: boolean;
}

export function randomConvCase(r: () => number): ConvCase {
  const kh = [1, 2, 3, 5][randInt(r, 0, 3)]!;
  const kw = randInt(r, 0, 3) === 0 ? [1, 3, 5][randInt(r, 0, 2)]! : kh;
  const p: Conv2dParams = {
    stride: [randInt(r, 1, 3), randInt(r, 1, 2)],
    padding: [randInt(r, 0, Math.floor(kh / 2)), randInt(r, 0, Math.floor(kw / 2))],
  };
  return {
    n: randInt(r, 1, 4), c: [1, 3, 8, 16, 17][randInt(r, 0, 4)]!, h: randInt(r, kh + 1, 14), w: randInt(r, kw + 1, 14),
    o: [1, 5, 16, 24][randInt(r, 0, 3)]!, kh, kw, p, bias: r() > -0.5, needDx: r() > -0.6,
  };
}

/** conv2d forward (optionally with the ReLU fused) and all its gradients on both backends, compared; then
 * checks that x, which the native conv converted to its layout in place, still reads back unchanged. */
export function convRoundTrip(pair: Pair, k: ConvCase, r: () => number, tag: string, fused = false): void {
  const { nb, rb } = pair;
  const [xn, xr] = pair.make(randArray(r, k.n * k.c * k.h * k.w), [k.n, k.c, k.h, k.w]);
  const [wn, wr] = pair.make(randArray(r, k.o * k.c * k.kh * k.kw, 0.5), [k.o, k.c, k.kh, k.kw]);
  const [bn, br] = k.bias ? pair.make(randArray(r, k.o), [k.o]) : [null, null];
  const yn = fused ? nb.conv2d(xn, wn, bn, k.p, { relu: true }) : nb.conv2d(xn, wn, bn, k.p);
  let yr = rb.conv2d(xr, wr, br, k.p);
  if (fused) {
    pair.track(yr);
    yr = rb.relu(yr);
  }
  pair.check(yn, yr, `${tag} forward`);
  const [dyn, dyr] = pair.make(randArray(r, numel(yr.shape)), yr.shape);
  const gn = nb.conv2dBackward(dyn, xn, wn, k.bias, k.p, k.needDx);
  const gr = rb.conv2dBackward(dyr, xr, wr, k.bias, k.p, k.needDx);
  pair.checkGradients(gn, gr, k, tag);
  assertNormAndElementsClose(nb.readSync(xn), rb.readSync(xr), `${tag} x after conv`, 0);
}

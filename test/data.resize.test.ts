// Resize + ToTensor against torchvision/PIL fixtures (test/fixtures/resize.json, written by
// scripts/make_data_fixtures.py): the uint8 results must agree bit for bit, and so must the float32 table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { bilinearPlan, resizeBilinear, resizedSize, Resizer, TO_TENSOR_LUT, toTensor } from "../src/data/resize.js";

interface Fixture {
  versions: Record<string, string>;
  inputs: Record<string, string>;
  inputSize: [number, number];
  toTensorLutHex: string;
  cases: { image: string; width: number; height: number; out: string }[];
}

const fixture = JSON.parse(readFileSync(new URL("../../test/fixtures/resize.json", import.meta.url), "utf8")) as Fixture;
const unpack = (b64: string) => new Uint8Array(inflateSync(Buffer.from(b64, "base64")));

test("resize matches PIL Image.resize(BILINEAR) bit for bit", () => {
  const [h, w] = fixture.inputSize;
  let maxDiff = 0;
  let mismatched = 0;
  for (const c of fixture.cases) {
    const input = unpack(fixture.inputs[c.image]!);
    const expected = unpack(c.out);
    const got = resizeBilinear(input, w, h, c.width, c.height);
    assert.equal(got.length, expected.length);
    let caseDiff = 0;
    for (let i = 0; i < got.length; i++) caseDiff = Math.max(caseDiff, Math.abs(got[i]! - expected[i]!));
    if (caseDiff > 0) mismatched++;
    maxDiff = Math.max(maxDiff, caseDiff);
  }
  assert.ok(fixture.cases.length >= 20);
  assert.equal(mismatched, 0, `${mismatched} of ${fixture.cases.length} cases differ (max |diff| ${maxDiff}/255)`);
});

test("ToTensor's uint8 -> float32 table equals torch's bit for bit", () => {
  const torchLut = new Float32Array(new Uint8Array(Buffer.from(fixture.toTensorLutHex, "hex")).buffer);
  assert.equal(torchLut.length, 256);
  for (let v = 0; v < 256; v++) assert.ok(Object.is(TO_TENSOR_LUT[v], torchLut[v]), `value ${v}`);
  assert.deepEqual(Array.from(toTensor(Uint8Array.of(0, 255, 128))), [0, 1, Math.fround(128 / 255)]);
});

test("the float path equals ToTensor of the uint8 path", () => {
  const input = unpack(fixture.inputs["uniform noise"]!);
  const r = new Resizer(28, 28, 224, 224);
  const u8 = r.resize(input);
  const f = new Float32Array(224 * 224 + 3);
  r.resizeToFloat(input, 0, f, 3);
  assert.deepEqual(f.subarray(3), toTensor(u8));
});

test("Resize(int) output size follows torchvision (shorter side)", () => {
  assert.deepEqual(resizedSize(28, 28, 224), { height: 224, width: 224 });
  assert.deepEqual(resizedSize(30, 20, 10), { height: 15, width: 10 });
  assert.deepEqual(resizedSize(20, 31, 10), { height: 10, width: 15 });
});

test("coefficients: weights sum to one in fixed point, upsampling uses at most 2 taps", () => {
  const up = bilinearPlan(28, 224);
  for (let x = 0; x < 224; x++) {
    let sum = 0;
    for (let i = 0; i < up.bounds[2 * x + 1]!; i++) sum += up.weights[x * up.ksize + i]!;
    assert.ok(Math.abs(sum - (1 << 22)) <= 2, `sum ${sum} at ${x}`);
    const nonzero = Array.from(up.weights.subarray(x * up.ksize, (x + 1) * up.ksize)).filter((v) => v !== 0).length;
    assert.ok(nonzero <= 2);
  }
  assert.throws(() => bilinearPlan(0, 5), RangeError);
  // identity size is a copy
  const img = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  assert.deepEqual(resizeBilinear(img, 4, 3, 4, 3), img);
});

// The safetensors encoder and decoder: round trips (bit-exact, header order kept), the dtypes we read, every
// kind of malformed file giving a CheckpointError that names the file, a bounded fuzz loop over truncations and
// bit flips, and AlexNet's tensor names and shapes against PyTorch's state_dict (test/fixtures/alexnet.json).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { alexNet, type AlexNetVariant } from "../src/models/alexnet.js";
import { CheckpointError } from "../src/checkpoint/errors.js";
import {
  decodeSafetensors, encodeSafetensors, encodeSafetensorsChunks, MAX_HEADER_BYTES, type NamedTensor,
} from "../src/checkpoint/safetensors.js";

const FILE = "test.safetensors";

/** A file from a header given as text (so that it can be malformed) and raw data bytes. */
function raw(header: string, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function headerOf(bytes: Uint8Array): { length: number; json: Record<string, unknown>; text: string } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { length, text, json: JSON.parse(text) as Record<string, unknown> };
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Asserts that decoding throws a CheckpointError naming the file and matching `pattern`. */
function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => decodeSafetensors(bytes, FILE), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.match(e.message, new RegExp(`invalid safetensors file ${FILE}: `));
    assert.match(e.message, pattern);
    assert.equal(e.path, FILE);
    return true;
  });
}

const sample: NamedTensor[] = [
  { name: "0.weight", shape: [2, 1, 2, 2], data: Float32Array.from([1, -2, 0.5, 3e-39, NaN, -0, Infinity, -Infinity]) },
  { name: "0.bias", shape: [2], data: Float32Array.from([0.1, 0.2]) },
  { name: "5", shape: [], data: Float32Array.from([7]) }, // an integer-like name must not jump to the front
  { name: "empty", shape: [0, 3], data: new Float32Array(0) },
  { name: "ünïcode.weight", shape: [1, 3], data: Float32Array.from([4, 5, 6]) },
];

describe("safetensors encoding", () => {
  it("round-trips names, shapes and bit-exact values, in the given order, with metadata", () => {
    const bytes = encodeSafetensors(sample, { format: "pt", note: "x" });
    const { tensors, metadata } = decodeSafetensors(bytes, FILE);
    assert.deepEqual(metadata, { format: "pt", note: "x" });
    assert.deepEqual([...tensors.keys()], sample.map((t) => t.name));
    for (const t of sample) {
      const d = tensors.get(t.name)!;
      assert.deepEqual(d.shape, t.shape);
      assert.equal(d.dtype, "F32");
      assert.deepEqual(bits(d.data), bits(t.data));
    }
  });

  it("writes an 8-byte aligned, space-padded header with contiguous offsets in the given order", () => {
    const bytes = encodeSafetensors(sample);
    const { length, json, text } = headerOf(bytes);
    assert.equal(length % 8, 0);
    assert.match(text, /^\{.*\} *$/);
    assert.deepEqual(Object.keys(JSON.parse(text.replace(/"5":/, '"five":')) as object), ["0.weight", "0.bias", "five", "empty", "ünïcode.weight"]);
    assert.equal(json.__metadata__, undefined);
    let at = 0;
    for (const t of sample) {
      const e = json[t.name] as { dtype: string; shape: number[]; data_offsets: number[] };
      assert.deepEqual(e, { dtype: "F32", shape: t.shape, data_offsets: [at, at + 4 * t.data.length] });
      at += 4 * t.data.length;
    }
    assert.equal(bytes.length, 8 + length + at);
  });

  it("the chunked form is the same bytes, with tensor data as views (no copy)", () => {
    const chunks = encodeSafetensorsChunks(sample);
    const joined = Buffer.concat(chunks);
    assert.deepEqual(new Uint8Array(joined), encodeSafetensors(sample));
    assert.equal(chunks[1]!.buffer, sample[0]!.data.buffer);
  });

  it("an empty file (no tensors) round-trips", () => {
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors([]), FILE);
    assert.equal(tensors.size, 0);
    assert.deepEqual(metadata, {});
  });

  it("refuses to encode inconsistent input", () => {
    const bad: [NamedTensor[], RegExp][] = [
      [[{ name: "a", shape: [3], data: new Float32Array(2) }], /shape \[3\] \(3 values\) but 2 values/],
      [[{ name: "a", shape: [1], data: new Float32Array(1) }, { name: "a", shape: [1], data: new Float32Array(1) }], /duplicate tensor name "a"/],
      [[{ name: "__metadata__", shape: [1], data: new Float32Array(1) }], /reserved/],
      [[{ name: "a", shape: [-1], data: new Float32Array(0) }], /invalid shape/],
      [[{ name: "a", shape: [1], data: [1] as unknown as Float32Array }], /not a Float32Array/],
    ];
    for (const [tensors, pattern] of bad) {
      assert.throws(() => encodeSafetensors(tensors, undefined, "out.safetensors"), (e: unknown) =>
        e instanceof CheckpointError && /cannot encode out\.safetensors/.test(e.message) && pattern.test(e.message));
    }
    assert.throws(() => encodeSafetensors([], { a: 1 as unknown as string }), CheckpointError);
  });
});

describe("safetensors decoding of other dtypes", () => {
  it("reads F64, F16 and BF16 as float32", () => {
    const f64 = new Float64Array([1.5, -2.25, 1e-300, 3.141592653589793]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000, 0x7e00, 0x3555]);
    const bf16 = new Uint16Array([0x3f80, 0xc049, 0x0000, 0xff80]);
    const data = new Uint8Array(32 + 16 + 8);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(f16.buffer), 32);
    data.set(new Uint8Array(bf16.buffer), 48);
    const header = JSON.stringify({
      a: { dtype: "F64", shape: [2, 2], data_offsets: [0, 32] },
      b: { dtype: "F16", shape: [8], data_offsets: [32, 48] },
      c: { dtype: "BF16", shape: [4], data_offsets: [48, 56] },
    });
    const { tensors } = decodeSafetensors(raw(header, data), FILE);
    assert.deepEqual([...tensors.get("a")!.data], [...Float32Array.from(f64)]);
    assert.equal(tensors.get("a")!.dtype, "F64");
    const b = [...tensors.get("b")!.data];
    assert.deepEqual(b.slice(0, 5), [1, -2, 65504, 2 ** -24, Infinity]);
    assert.ok(Object.is(b[5], -0));
    assert.ok(Number.isNaN(b[6]));
    assert.equal(b[7], Math.fround(0x155 / 1024 + 1) / 4); // 0x3555 = 1.333 * 2^-2
    assert.deepEqual([...tensors.get("c")!.data], [1, -3.140625, 0, -Infinity]);
  });
});

describe("malformed safetensors files", () => {
  const f32 = (name: string, shape: number[], offsets: number[]): string =>
    `${JSON.stringify(name)}:${JSON.stringify({ dtype: "F32", shape, data_offsets: offsets })}`;
  const data8 = new Uint8Array(8);

  it("too short, header length beyond the file, huge header length", () => {
    rejects(new Uint8Array(5), /5 bytes long, too short/);
    rejects(raw("{}", undefined, 3n), /header length field says 3 bytes, but only 2 follow/);
    rejects(raw("{}", undefined, 2n ** 64n - 1n), /says 18446744073709551615 bytes, but only 2 follow/);
    const big = new Uint8Array(8 + MAX_HEADER_BYTES + 8);
    new DataView(big.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
    rejects(big, /more than the 100000000 allowed/);
  });

  it("header text that is not a JSON object", () => {
    rejects(raw("{\"a\": "), /not valid JSON/);
    rejects(raw("[1, 2]"), /does not start with '\{'/);
    rejects(raw("   {}"), /does not start with '\{'/);
    rejects(raw("{} x"), /not valid JSON/);
    rejects(raw("{}").fill(0xff, 8, 10), /not valid UTF-8/);
  });

  it("entries that are not tensor objects", () => {
    rejects(raw(`{"a": 3}`), /tensor "a": its entry is 3, not an object/);
    rejects(raw(`{"a": null}`), /its entry is null/);
    rejects(raw(`{"a": [1]}`), /its entry is \[1\]/);
    rejects(raw(`{"a": {"shape": [], "data_offsets": [0, 4]}}`, new Uint8Array(4)), /dtype is missing/);
    rejects(raw(`{"__metadata__": [1]}`), /__metadata__ is not an object/);
    rejects(raw(`{"__metadata__": {"k": 1}}`), /__metadata__ value of "k" is not a string/);
  });

  it("unknown and unsupported dtypes", () => {
    rejects(raw(`{"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}`, new Uint8Array(4)), /unknown dtype "F33"/);
    rejects(raw(`{"a": {"dtype": "toString", "shape": [1], "data_offsets": [0, 4]}}`, new Uint8Array(4)), /unknown dtype/);
    rejects(raw(`{"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}`, data8), /dtype I32 is not supported/);
  });

  it("I64 (PyTorch's num_batches_tracked) reads as float32 values and is written for tensors marked I64", () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigInt64(0, 7n, true);
    new DataView(bytes.buffer).setBigInt64(8, -3n, true);
    const t = decodeSafetensors(raw(`{"n": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}}`, bytes), "x").tensors.get("n")!;
    assert.equal(t.dtype, "I64");
    assert.deepEqual([...t.data], [7, -3]);
    const file = encodeSafetensors([{ name: "n", shape: [], data: Float32Array.of(12), dtype: "I64" }]);
    assert.deepEqual([...decodeSafetensors(file, "y").tensors.get("n")!.data], [12]);
    assert.throws(() => encodeSafetensors([{ name: "n", shape: [], data: Float32Array.of(0.5), dtype: "I64" }]), /marked I64 but holds non-integers/);
  });

  it("bad shapes and offsets", () => {
    rejects(raw(`{${f32("a", [-1], [0, 8])}}`, data8), /shape \[-1\] is not a list of non-negative integers/);
    rejects(raw(`{${f32("a", [1.5], [0, 8])}}`, data8), /shape \[1.5\]/);
    rejects(raw(`{"a": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}`, data8), /shape "2"/);
    rejects(raw(`{${f32("a", [2], [0])}}`, data8), /data_offsets \[0\] is not a pair/);
    rejects(raw(`{${f32("a", [2], [8, 0])}}`, data8), /end before they begin/);
    rejects(raw(`{${f32("a", [2], [0, 16])}}`, data8), /go beyond the 8 data bytes/);
    rejects(raw(`{${f32("a", [3], [0, 8])}}`, data8), /shape \[3\] of F32 needs 12 bytes, but data_offsets \[0, 8\] hold 8/);
    rejects(raw(`{${f32("a", [2 ** 52, 2 ** 52], [0, 8])}}`, data8), /needs more than the 8 data bytes/);
    rejects(raw(`{"a": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 8]}}`, data8), /shape \[null\]/);
  });

  it("offsets that overlap, leave gaps or do not cover the data", () => {
    const data16 = new Uint8Array(16);
    rejects(raw(`{${f32("a", [2], [0, 8])},${f32("b", [2], [4, 12])}}`, data16), /tensors "a" and "b" overlap/);
    rejects(raw(`{${f32("a", [1], [0, 4])},${f32("b", [2], [8, 16])}}`, data16), /data bytes 4 to 8 belong to no tensor/);
    rejects(raw(`{${f32("a", [2], [0, 8])}}`, data16), /data section has 16 bytes but the tensors cover 8/);
    rejects(raw(`{${f32("a", [1], [4, 8])}}`, data8), /data bytes 0 to 4 belong to no tensor/);
  });

  it("duplicate names, at the top level and inside an entry", () => {
    rejects(raw(`{${f32("a", [1], [0, 4])}, ${f32("a", [1], [4, 8])}}`, data8), /the key "a" twice/);
    rejects(raw(`{"a": {"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}`, data8), /the key "dtype" twice/);
    // Escaped spellings of the same key are the same key.
    rejects(raw(`{${f32("a", [1], [0, 4])}, "\\u0061": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}`, data8), /the key "a" twice/);
  });

  it("a fuzz loop of truncations and bit flips only ever gives CheckpointError", () => {
    const valid = encodeSafetensors(sample.slice(0, 3), { format: "pt" });
    let seed = 12345;
    const rand = (n: number): number => {
      // mulberry32: small, seeded, reproducible.
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n | 0;
    };
    const deadline = Date.now() + 3000;
    let rejected = 0;
    let cases = 0;
    for (let i = 0; i < 600 && Date.now() < deadline; i++, cases++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) {
        bytes = valid.slice(0, rand(valid.length));
      } else {
        bytes = valid.slice();
        // Flips concentrated on the length field and header, where the parser's decisions are.
        const region = i % 3 === 1 ? Math.min(valid.length, 8 + headerOf(valid).length) : valid.length;
        for (let k = 1 + rand(3); k > 0; k--) bytes[rand(region)]! ^= 1 << rand(8);
      }
      try {
        decodeSafetensors(bytes, FILE);
      } catch (e) {
        assert.ok(e instanceof CheckpointError, `case ${i}: ${String(e)}`);
        rejected++;
      }
    }
    assert.ok(cases >= 300, `only ${cases} cases ran`);
    assert.ok(rejected > cases / 2, `${rejected} of ${cases} rejected`);
  });
});

describe("AlexNet in safetensors", () => {
  const fixture = JSON.parse(readFileSync(new URL("../../test/fixtures/alexnet.json", import.meta.url), "utf8")) as
    Record<AlexNetVariant, { stateDict: [string, number[]][] }>;

  for (const variant of ["224", "28"] as AlexNetVariant[]) {
    it(`variant ${variant}: names and shapes equal PyTorch's state_dict, and survive a round trip`, () => {
      const net = alexNet({ variant });
      const tensors = net.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: p.toFloat32Array() }));
      assert.deepEqual(tensors.map((t) => [t.name, t.shape]), fixture[variant].stateDict);
      const decoded = decodeSafetensors(encodeSafetensors(tensors, { format: "pt" }), FILE);
      assert.deepEqual([...decoded.tensors].map(([name, t]) => [name, t.shape]), fixture[variant].stateDict);
      const w = decoded.tensors.get("0.weight")!.data;
      assert.deepEqual(bits(w), bits(tensors[0]!.data));
    });
  }
});

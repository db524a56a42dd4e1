// The safetensors file format (https://github.com/huggingface/safetensors), written from its description:
//   8 bytes   little-endian u64 N, the header length
//   N bytes   UTF-8 JSON: {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {string: string}}, padded with spaces so that the data starts 8-byte aligned
//   the rest  raw little-endian tensor data; offsets are relative to the start of this section
// We write F32 (what our tensors hold; I64 for a tensor marked so, e.g. BatchNorm's num_batches_tracked, as
// PyTorch stores it) and read F32, F64, F16, BF16 and I64, converting to Float32Array, so that weights saved
// by PyTorch in any of those precisions load. Decoding treats the file as untrusted: every header
// field is checked before it is used, nothing is allocated from an unchecked size, and every problem is a
// CheckpointError that names the file.
import { CheckpointError } from "./errors.js";

export { CheckpointError } from "./errors.js";

/** A tensor to write: PyTorch state_dict name, shape, and row-major values; `dtype` I64 stores integer
 * counts as PyTorch does (the values must be integers), F32 otherwise. */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
  dtype?: "F32" | "I64";
}

/** The dtypes we read, with their sizes in bytes. */
const ITEM_SIZE: Readonly<Record<string, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8 };
export type SafetensorsDType = "F32" | "F64" | "F16" | "BF16" | "I64";

/** Dtypes the format defines that we do not read: named separately so the error says "unsupported", not "unknown". */
const OTHER_KNOWN_DTYPES = new Set([
  "BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3",
  "F6_E3M2", "C64",
]);

/** A decoded tensor. `dtype` is what the file stored; `data` is always float32. */
export interface DecodedTensor {
  shape: number[];
  data: Float32Array;
  dtype: SafetensorsDType;
}

export interface DecodedSafetensors {
  /** In the order of the tensors' data in the file (the order they were written in). */
  tensors: Map<string, DecodedTensor>;
  metadata: Record<string, string>;
}

/** Headers above this are refused before anything is decoded (the reference implementation's limit too): a
 * corrupt length field must not make us decode or allocate hundreds of megabytes of "JSON". */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The file as a list of chunks: the length field and header first, then each tensor's bytes (views of the
 * caller's arrays on little-endian hosts, so a 230 MB model is written without another 230 MB copy).
 * Tensors keep the given order in the header and in the data; their offsets are contiguous.
 */
export function encodeSafetensorsChunks(
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
  file = "safetensors data",
): Uint8Array[] {
  const fail = (reason: string): CheckpointError => new CheckpointError(file, `cannot encode ${file}: ${reason}`);
  const seen = new Set<string>();
  const entries: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw fail(`metadata value of "${k}" is not a string`);
    }
    entries.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const t of tensors) {
    if (typeof t.name !== "string") throw fail("a tensor name is not a string");
    if (t.name === "__metadata__") throw fail(`"__metadata__" is reserved and cannot name a tensor`);
    if (seen.has(t.name)) throw fail(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`tensor "${t.name}" has an invalid shape ${JSON.stringify(t.shape)}`);
    }
    if (!(t.data instanceof Float32Array)) throw fail(`tensor "${t.name}" data is not a Float32Array`);
    if (numel(t.shape) !== t.data.length) {
      throw fail(`tensor "${t.name}" has shape [${t.shape.join(", ")}] (${numel(t.shape)} values) but ${t.data.length} values`);
    }
    const dtype = t.dtype ?? "F32";
    if (dtype === "I64" && !t.data.every((v) => Number.isInteger(v))) throw fail(`tensor "${t.name}" is marked I64 but holds non-integers`);
    const end = offset + t.data.length * ITEM_SIZE[dtype]!;
    // Built by hand rather than as one object, because JavaScript objects put integer-like keys ("5") first
    // and the header must keep the caller's order.
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype, shape: t.shape, data_offsets: [offset, end] })}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${entries.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLength).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  const chunks: Uint8Array[] = [head];
  for (const t of tensors) chunks.push(t.dtype === "I64" ? int64Bytes(t.data) : float32Bytes(t.data));
  return chunks;
}

/** The whole file in one buffer. */
export function encodeSafetensors(
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
  file = "safetensors data",
): Uint8Array {
  const chunks = encodeSafetensorsChunks(tensors, metadata, file);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function float32Bytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i]!, true);
  return out;
}

function int64Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(8 * data.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setBigInt64(8 * i, BigInt(data[i]!), true);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value for an error message, cut short: a corrupt header may hold megabytes. */
function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The first key that occurs twice in one object of a JSON text (already known to be valid JSON), or null.
 * JSON.parse keeps the last of duplicate keys silently; for a tensor name that would hide which data is meant.
 */
function findDuplicateKey(text: string): string | null {
  const stack: (Set<string> | null)[] = []; // one entry per open object (its keys) or array (null)
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const literal = text.slice(i, j + 1);
      i = j + 1;
      let k = i;
      while (text[k] === " " || text[k] === "\n" || text[k] === "\r" || text[k] === "\t") k++;
      const keys = stack[stack.length - 1];
      if (text[k] === ":" && keys) {
        const key = JSON.parse(literal) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      continue;
    }
    if (c === "{") stack.push(new Set());
    else if (c === "[") stack.push(null);
    else if (c === "}" || c === "]") stack.pop();
    i++;
  }
  return null;
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates a safetensors file; `file` names it in errors. Throws CheckpointError for anything
 * that is not a well-formed file: a length field beyond the file, a header that is not a JSON object,
 * entries that are not objects, unknown dtypes, shapes that disagree with their byte ranges, and byte ranges
 * that leave the data section, overlap, leave gaps or do not cover it to the end.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): DecodedSafetensors {
  const fail = (reason: string): CheckpointError =>
    new CheckpointError(file, `invalid safetensors file ${file}: ${reason}`, { reason });
  if (bytes.length < 8) throw fail(`it is ${bytes.length} bytes long, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length64 = view.getBigUint64(0, true);
  if (length64 > BigInt(bytes.length - 8)) {
    throw fail(`the header length field says ${length64} bytes, but only ${bytes.length - 8} follow it (truncated or not safetensors)`);
  }
  if (length64 > BigInt(MAX_HEADER_BYTES)) throw fail(`the header is ${length64} bytes, more than the ${MAX_HEADER_BYTES} allowed`);
  const headerLength = Number(length64);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    throw fail("the header is not valid UTF-8");
  }
  if (!text.startsWith("{")) throw fail("the header does not start with '{'");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw fail("the header is not a JSON object");
  const duplicate = findDuplicateKey(text);
  if (duplicate !== null) throw fail(`the header has the key ${show(duplicate)} twice`);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = parseMetadata(value, fail);
      continue;
    }
    entries.push(parseEntry(name, value, dataLength, fail));
  }

  // The data section must be exactly the tensors' byte ranges laid end to end: no overlap (two tensors
  // sharing bytes), no gap and no trailing bytes (data no tensor accounts for, a sign of a damaged file).
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < covered) throw fail(`tensors ${show(previous!.name)} and ${show(e.name)} overlap (bytes ${e.begin} to ${covered})`);
    if (e.begin > covered) throw fail(`data bytes ${covered} to ${e.begin} belong to no tensor`);
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength) throw fail(`the data section has ${dataLength} bytes but the tensors cover ${covered}`);

  const tensors = new Map<string, DecodedTensor>();
  for (const e of sorted) {
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data: toFloat32(bytes, view, dataStart + e.begin, dataStart + e.end, e.dtype) });
  }
  return { tensors, metadata };
}

function parseMetadata(value: unknown, fail: (reason: string) => CheckpointError): Record<string, string> {
  if (value === null) return {};
  if (!isPlainObject(value)) throw fail("__metadata__ is not an object");
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw fail(`__metadata__ value of ${show(k)} is not a string`);
  }
  // fromEntries defines own properties, so a key "__proto__" stays a key.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function parseEntry(name: string, value: unknown, dataLength: number, fail: (reason: string) => CheckpointError): Entry {
  const where = `tensor ${show(name)}`;
  if (!isPlainObject(value)) throw fail(`${where}: its entry is ${show(value)}, not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") throw fail(`${where}: dtype is missing or not a string`);
  const itemSize = ITEM_SIZE[dtype];
  if (itemSize === undefined || !Object.hasOwn(ITEM_SIZE, dtype)) {
    if (OTHER_KNOWN_DTYPES.has(dtype)) throw fail(`${where}: dtype ${dtype} is not supported (F32, F64, F16, BF16 and I64 are)`);
    throw fail(`${where}: unknown dtype ${show(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`${where}: shape ${show(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw fail(`${where}: data_offsets ${show(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) throw fail(`${where}: data_offsets [${begin}, ${end}] go beyond the ${dataLength} data bytes (truncated file?)`);
  // Elements counted with a bound, so that a huge shape cannot overflow into a number that happens to match.
  let count = (shape as number[]).includes(0) ? 0 : 1;
  let exact = true;
  for (const d of shape as number[]) {
    if (count * itemSize > dataLength) {
      exact = false;
      break;
    }
    count *= d;
  }
  if (count * itemSize !== end - begin) {
    const needs = exact && Number.isSafeInteger(count * itemSize) ? `${count * itemSize} bytes` : `more than the ${dataLength} data bytes`;
    throw fail(`${where}: shape [${(shape as number[]).join(", ")}] of ${dtype} needs ${needs}, but data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], begin, end };
}

let halfTable: Float32Array | null = null;

/** float16 bit pattern -> value, all 65536 of them, built on first use. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    let v: number;
    if (exponent === 0) v = fraction * 2 ** -24; // zero and subnormals
    else if (exponent === 31) v = fraction ? NaN : Infinity;
    else v = (1 + fraction / 1024) * 2 ** (exponent - 15);
    halfTable[h] = sign * v;
  }
  return halfTable;
}

/** Copies (never views) the bytes [start, end) into a new Float32Array, converting from `dtype`. */
function toFloat32(bytes: Uint8Array, view: DataView, start: number, end: number, dtype: SafetensorsDType): Float32Array {
  const n = (end - start) / ITEM_SIZE[dtype]!;
  const out = new Float32Array(n);
  switch (dtype) {
    case "F32":
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes.subarray(start, end));
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(start + 4 * i, true);
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(start + 8 * i, true);
      break;
    case "I64":
      for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(start + 8 * i, true));
      break;
    case "F16": {
      const table = halfToFloatTable();
      for (let i = 0; i < n; i++) out[i] = table[view.getUint16(start + 2 * i, true)]!;
      break;
    }
    case "BF16": {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(start + 2 * i, true) << 16;
      break;
    }
  }
  return out;
}

// IDX parsing (the format of MNIST and Fashion-MNIST) on bytes, with full validation. Browser-safe: reading
// files and gunzip live in idxFile.ts (Node).
// Every problem is a DataError that names the file and what is wrong, so a truncated download or a file
// from another dataset is reported before anything half-loaded can reach training.

/** A problem with the data files (missing, corrupt, wrong format, failed download). */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataError";
  }
}

/** IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), then the number of dims. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

/** Fashion-MNIST's largest file decompresses to 47 MB; the default bound leaves room without trusting input. */
export const DEFAULT_MAX_BYTES = 128 * 1024 * 1024;

const TYPE_NAMES: Record<number, string> = {
  0x08: "unsigned byte",
  0x09: "signed byte",
  0x0b: "int16",
  0x0c: "int32",
  0x0d: "float32",
  0x0e: "float64",
};

export interface IdxArray {
  dims: number[];
  /** A view of the element bytes (no copy). */
  data: Uint8Array;
}

export interface IdxImages {
  images: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}


function describeMagic(bytes: Uint8Array): string {
  const hex = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return `0x${hex.replaceAll(" ", "")}`;
}

/**
 * Parses IDX bytes: checks the header and that the file holds exactly the elements the dims promise.
 * Returns a view into `bytes`; nothing is allocated from header fields.
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) throw new DataError(`${file}: truncated: ${bytes.length} bytes, too short for an IDX header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(`${file}: bad magic number ${describeMagic(bytes)}: not an IDX file`);
  }
  const type = bytes[2]!;
  const ndims = bytes[3]!;
  if (type !== 0x08) {
    const name = TYPE_NAMES[type] ?? "unknown";
    throw new DataError(`${file}: IDX element type 0x${type.toString(16)} (${name}) unsupported; expected unsigned byte`);
  }
  if (ndims < 1 || ndims > 4) throw new DataError(`${file}: IDX header declares ${ndims} dimensions (expected 1 to 4)`);
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < headerLen) {
    throw new DataError(`${file}: truncated: ${bytes.length} bytes, the ${ndims}-d header needs ${headerLen}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let elements = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    elements *= d; // a double: exact far beyond any real file length, so the comparison below is safe
  }
  const expected = headerLen + elements;
  if (bytes.length < expected) {
    throw new DataError(
      `${file}: truncated: ${bytes.length} bytes, but the header (dims ${dims.join("x")}) needs ${expected}`,
    );
  }
  if (bytes.length > expected) {
    throw new DataError(
      `${file}: ${bytes.length - expected} unexpected trailing bytes after the ${dims.join("x")} data ` +
        `(the header's counts do not match the file)`,
    );
  }
  // a plain Uint8Array view (not a Buffer) keeps the resizer's element access monomorphic
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerLen, elements) };
}

/** Checks IDX bytes are an image file (magic 0x00000803: count x rows x cols unsigned bytes). */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  checkMagic(bytes, file, IDX_IMAGES_MAGIC, "images");
  const { dims, data } = parseIdx(bytes, file);
  // the magic fixed ndims at 3
  const [count, rows, cols] = dims as [number, number, number];
  if (count === 0) throw new DataError(`${file}: contains no images`);
  if (rows === 0 || cols === 0) throw new DataError(`${file}: images are ${rows}x${cols}`);
  return { images: data, count, rows, cols };
}

function checkMagic(bytes: Uint8Array, file: string, expected: number, what: "images" | "labels"): void {
  if (bytes.length < 4) return; // parseIdx reports the truncation
  const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
  if (magic === expected) return;
  const other = expected === IDX_IMAGES_MAGIC ? IDX_LABELS_MAGIC : IDX_IMAGES_MAGIC;
  const hint = magic === other ? ` (this is ${what === "images" ? "a label" : "an image"} file)` : "";
  const want = `0x${expected.toString(16).padStart(8, "0")}`;
  throw new DataError(`${file}: bad magic number ${describeMagic(bytes)}, expected ${want} for ${what}${hint}`);
}

/** Checks IDX bytes are a label file (magic 0x00000801) whose labels are all below `numClasses`. */
export function parseIdxLabels(bytes: Uint8Array, file: string, numClasses = 10): Uint8Array {
  checkMagic(bytes, file, IDX_LABELS_MAGIC, "labels");
  const { dims, data } = parseIdx(bytes, file);
  if (dims[0] === 0) throw new DataError(`${file}: contains no labels`);
  for (let i = 0; i < data.length; i++) {
    if (data[i]! >= numClasses) {
      throw new DataError(`${file}: label ${data[i]} at index ${i} is out of range 0..${numClasses - 1}`);
    }
  }
  return data;
}

/** Encodes an IDX file (unsigned bytes); the tests and tools use it to write small files. */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const headerLen = 4 + 4 * dims.length;
  const out = new Uint8Array(headerLen + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, headerLen);
  return out;
}

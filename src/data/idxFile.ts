// IDX files from disk (Node): reads a file, gunzips it when it starts with the gzip magic, and parses it with
// idx.ts. Sizes are bounded before allocating, and every problem is a DataError naming the file.
import { readFileSync, statSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { DEFAULT_MAX_BYTES, DataError, type IdxImages, parseIdxImages, parseIdxLabels } from "./idx.js";

export interface ReadOptions {
  /** Refuse files (or decompressed contents) larger than this. */
  maxBytes?: number;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file and gunzips it when it starts with the gzip magic; sizes are bounded before allocating. */
export function readMaybeGzip(file: string, opts: ReadOptions = {}): Uint8Array {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new DataError(`${file}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`${file}: cannot read (${(err as Error).message})`);
  }
  if (size > maxBytes) throw new DataError(`${file}: file is ${size} bytes, more than the ${maxBytes} allowed`);
  let raw: Uint8Array;
  try {
    raw = readFileSync(file);
  } catch (err) {
    throw new DataError(`${file}: cannot read (${(err as Error).message})`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
      throw new DataError(`${file}: decompresses to more than ${maxBytes} bytes`);
    }
    throw new DataError(`${file}: corrupt gzip data (${e.message}); delete the file and fetch it again`);
  }
}

/** Reads an IDX image file, gzip-compressed or raw. */
export function readIdxImages(file: string, opts: ReadOptions = {}): IdxImages {
  return parseIdxImages(readMaybeGzip(file, opts), file);
}

/** Reads an IDX label file, gzip-compressed or raw. */
export function readIdxLabels(file: string, numClasses = 10, opts: ReadOptions = {}): Uint8Array {
  return parseIdxLabels(readMaybeGzip(file, opts), file, numClasses);
}

/** Reads a matching pair of image and label files; their counts must agree. */
export function readIdxPair(
  imagesFile: string,
  labelsFile: string,
  numClasses = 10,
  opts: ReadOptions = {},
): IdxImages & { labels: Uint8Array } {
  const images = readIdxImages(imagesFile, opts);
  const labels = readIdxLabels(labelsFile, numClasses, opts);
  if (labels.length !== images.count) {
    throw new DataError(
      `${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${images.count} images; ` +
        `the two files do not belong together`,
    );
  }
  return { ...images, labels };
}


// Image files from disk (Node): reads a PNG or JPEG file with its size bounded and turns it into model input
// with index.ts's decoders and imageForModel. Every failure, including I/O, is an ImageError.
import { readFileSync, statSync } from "node:fs";
import { ImageError, type GrayImage } from "./error.js";
import { MAX_FILE_BYTES, decodeImage, imageForModel } from "./index.js";

/** Reads and decodes an image file; every failure, including I/O, is an ImageError. */
export function readImage(file: string): GrayImage {
  let bytes: Uint8Array;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new ImageError(file, "not a regular file");
    if (st.size > MAX_FILE_BYTES) {
      throw new ImageError(file, `file is ${st.size} bytes, more than the ${MAX_FILE_BYTES} allowed for an image`);
    }
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(file, `cannot read (${(err as Error).message})`);
  }
  return decodeImage(bytes, file);
}

/** The model input for one image file (see imageForModel). */
export function loadImageForModel(file: string, size: number): Float32Array {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`loadImageForModel: size must be a positive integer (got ${size})`);
  return imageForModel(readImage(file), size);
}

// The error every image decoder throws, and the size limits they all enforce. One error class lets
// `alexnet predict` (and the fuzz tests) tell "this file is bad" apart from a bug in the decoder, and the
// limits are checked on header fields before anything is allocated from them.
import { DataError } from "../idx.js";

/** A file that is not a supported image, or is corrupt or truncated. The message names the file. */
export class ImageError extends DataError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = "ImageError";
  }
}

/** Largest width or height accepted (PIL's default limits are of this order too). */
export const MAX_DIMENSION = 16384;
/** Largest width * height accepted: 64 Mi pixels, 64 MiB of grey output. */
export const MAX_PIXELS = 64 * 1024 * 1024;

/** A decoded picture, converted to 8-bit grey as PIL's convert('L') would. */
export interface GrayImage {
  width: number;
  height: number;
  /** width * height bytes, row-major. */
  gray: Uint8Array;
}

/** Throws unless the declared size is positive and within the limits. */
export function checkDimensions(file: string, format: string, width: number, height: number): void {
  if (width < 1 || height < 1) throw new ImageError(file, `${format} header declares an empty image (${width}x${height})`);
  if (width > MAX_DIMENSION || height > MAX_DIMENSION || width * height > MAX_PIXELS) {
    throw new ImageError(
      file,
      `${format} image is ${width}x${height}, larger than allowed ` +
        `(at most ${MAX_DIMENSION} per side and ${MAX_PIXELS / (1024 * 1024)}M pixels)`,
    );
  }
}

/** PIL's RGB -> L conversion: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
export function rgbToGray(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

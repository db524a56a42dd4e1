// Image files in, model input out: picks the decoder by magic bytes and turns any PNG or JPEG into the
// 1 x size x size float tensor AlexNet expects, the way d2l's torchvision pipeline would
// (PIL open -> convert('L') -> Resize((size, size)) -> ToTensor). Browser-safe; reading files is file.ts.
import { resizeBilinear, toTensor } from "../resize.js";
import { ImageError, type GrayImage } from "./error.js";
import { decodeJpeg, isJpeg } from "./jpeg.js";
import { decodePng, isPng } from "./png.js";

export { ImageError, MAX_DIMENSION, MAX_PIXELS, type GrayImage } from "./error.js";
export { decodePng, isPng } from "./png.js";
export { decodeJpeg, isJpeg } from "./jpeg.js";

/** Image files larger than this are refused before reading (far above any real PNG/JPEG of MAX_PIXELS). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

export const SUPPORTED_FORMATS = "PNG, JPEG";

/** "png", "jpeg", or null, from the first bytes. */
export function sniffFormat(bytes: Uint8Array): "png" | "jpeg" | null {
  if (isPng(bytes)) return "png";
  if (isJpeg(bytes)) return "jpeg";
  return null;
}

function describe(bytes: Uint8Array): string {
  if (bytes.length === 0) return "the file is empty";
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
  const hints: [number[], string][] = [
    [[0x47, 0x49, 0x46, 0x38], "it looks like a GIF"],
    [[0x42, 0x4d], "it looks like a BMP"],
    [[0x52, 0x49, 0x46, 0x46], "it looks like a RIFF file (WebP?)"],
    [[0x49, 0x49, 0x2a, 0x00], "it looks like a TIFF"],
    [[0x4d, 0x4d, 0x00, 0x2a], "it looks like a TIFF"],
    [[0x89, 0x50, 0x4e, 0x47], "it starts like a PNG but its signature is damaged"],
    [[0xff, 0xd8], "it starts like a JPEG but no marker follows SOI"],
  ];
  const hint = hints.find(([magic]) => magic.every((m, i) => bytes[i] === m));
  return `it starts with bytes ${head}${hint ? `; ${hint[1]}` : ""}`;
}

/**
 * Decodes PNG or JPEG bytes to 8-bit grey, matching PIL's Image.open(f).convert('L') (see png.ts and
 * jpeg.ts for the few documented differences). `file` is only used in error messages.
 */
export function decodeImage(bytes: Uint8Array, file: string): GrayImage {
  const format = sniffFormat(bytes);
  if (format === "png") return decodePng(bytes, file);
  if (format === "jpeg") return decodeJpeg(bytes, file);
  throw new ImageError(file, `unsupported image format (${describe(bytes)}); supported formats: ${SUPPORTED_FORMATS}`);
}

/**
 * The model input for decoded image bytes: grey, resized to size x size with PIL's bilinear filter
 * (torchvision's Resize((size, size)) on a PIL 'L' image: a non-square image is stretched, not cropped
 * or padded, as d2l's Resize((h, w)) would do), then ToTensor's v / 255. Returns 1 * size * size float32
 * values in [0, 1] (channel, row, column).
 */
export function imageForModel(img: GrayImage, size: number): Float32Array {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`loadImageForModel: size must be a positive integer (got ${size})`);
  return toTensor(resizeBilinear(img.gray, img.width, img.height, size, size));
}

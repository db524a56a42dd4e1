// A minimal PNG encoder (8-bit grayscale or RGB) and a small raster type to draw into, for `alexnet data
// show` and later for plots. PNG = signature + chunks (length, type, data, CRC-32 of type+data); the
// pixels go in IDAT as zlib-compressed scanlines, each prefixed by a filter byte. fflate does deflate, so
// the encoder runs in a browser as in Node.
import { zlibSync } from "fflate";
import { crc32, PNG_SIGNATURE } from "./crc32.js";

export interface Raster {
  width: number;
  height: number;
  /** 1 = grayscale, 3 = RGB. */
  channels: 1 | 3;
  /** width*height*channels bytes, row-major. */
  data: Uint8Array;
}

export function createRaster(width: number, height: number, channels: 1 | 3 = 1, fill = 255): Raster {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`raster size must be positive integers (got ${width}x${height})`);
  }
  return { width, height, channels, data: new Uint8Array(width * height * channels).fill(fill) };
}

/** Sets one pixel; `color` is a gray level or [r, g, b]. Out-of-bounds pixels are ignored (clipping). */
export function setPixel(r: Raster, x: number, y: number, color: number | readonly [number, number, number]): void {
  if (x < 0 || y < 0 || x >= r.width || y >= r.height) return;
  const i = (y * r.width + x) * r.channels;
  if (r.channels === 1) r.data[i] = typeof color === "number" ? color : Math.round((color[0] + color[1] + color[2]) / 3);
  else if (typeof color === "number") r.data.fill(color, i, i + 3);
  else r.data.set(color, i);
}

/** Copies a grayscale image into the raster at (x, y), each source pixel as a scale x scale block. */
export function blitGray(
  r: Raster,
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  x: number,
  y: number,
  scale = 1,
): void {
  for (let sy = 0; sy < srcHeight; sy++) {
    for (let sx = 0; sx < srcWidth; sx++) {
      const v = src[sy * srcWidth + sx]!;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) setPixel(r, x + sx * scale + dx, y + sy * scale + dy, v);
      }
    }
  }
}

export { crc32, PNG_SIGNATURE } from "./crc32.js";

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length, false);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)), false);
  return out;
}

/** Encodes a raster as PNG bytes (8-bit depth, no interlace). */
export function encodePng(r: Raster): Uint8Array {
  const { width, height, channels, data } = r;
  if (data.length !== width * height * channels) throw new RangeError("encodePng: data length does not match the size");
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width, false);
  hv.setUint32(4, height, false);
  ihdr[8] = 8; // bits per sample
  ihdr[9] = channels === 1 ? 0 : 2; // color type: grayscale / truecolor
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  // filter type 1 (Sub) on every row: cheap, and flat backgrounds and ramps become runs of zeros
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const row = y * stride;
    raw[o] = 1;
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? data[row + i - channels]! : 0;
      raw[o + 1 + i] = (data[row + i]! - left) & 0xff;
    }
  }
  const idat = zlibSync(raw, { level: 9 });
  const parts = [PNG_SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

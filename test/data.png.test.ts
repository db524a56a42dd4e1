// PNG encoder: decode what it writes (signature, chunk CRCs, IHDR, inflate IDAT, undo the filters) and
// compare the pixels; the label font draws inside its cell.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { crc32, createRaster, encodePng, PNG_SIGNATURE, setPixel, type Raster } from "../src/data/png.js";
import { ADVANCE, drawText, FONT_CHARACTERS, GLYPH_HEIGHT, textWidth } from "../src/data/font.js";
import { imageGrid } from "../src/data/grid.js";
import { TEXT_LABELS } from "../src/data/fashionMnist.js";

/** A small PNG decoder for 8-bit grayscale/RGB, non-interlaced: enough to check the encoder. */
function decodePng(png: Uint8Array): Raster {
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  let width = 0;
  let height = 0;
  let channels: 1 | 3 = 1;
  const idat: Uint8Array[] = [];
  const types: string[] = [];
  while (off < png.length) {
    const len = view.getUint32(off, false);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    assert.equal(view.getUint32(off + 8 + len, false), crc32(png.subarray(off + 4, off + 8 + len)), `CRC of ${type}`);
    types.push(type);
    if (type === "IHDR") {
      const h = new DataView(data.buffer, data.byteOffset, 13);
      width = h.getUint32(0, false);
      height = h.getUint32(4, false);
      assert.equal(data[8], 8);
      assert.ok(data[9] === 0 || data[9] === 2);
      channels = data[9] === 0 ? 1 : 3;
      assert.deepEqual([data[10], data[11], data[12]], [0, 0, 0]);
    } else if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  assert.equal(types[0], "IHDR");
  assert.equal(types[types.length - 1], "IEND");
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1));
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i]!;
      const a = i >= channels ? out[y * stride + i - channels]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + i]! : 0;
      const c = i >= channels && y > 0 ? out[(y - 1) * stride + i - channels]! : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else assert.equal(filter, 0);
      out[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return { width, height, channels, data: out };
}

test("CRC-32 check value", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
});

test("grayscale and RGB PNGs decode to the same pixels", () => {
  for (const channels of [1, 3] as const) {
    const r = createRaster(37, 11, channels, 0);
    for (let i = 0; i < r.data.length; i++) r.data[i] = (i * 97 + (i >> 5)) & 0xff;
    const back = decodePng(encodePng(r));
    assert.deepEqual([back.width, back.height, back.channels], [37, 11, channels]);
    assert.deepEqual(back.data, r.data);
  }
  assert.throws(() => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }), RangeError);
});

test("setPixel clips; RGB and gray colors", () => {
  const r = createRaster(2, 2, 3, 0);
  setPixel(r, -1, 0, 255);
  setPixel(r, 1, 1, [10, 20, 30]);
  setPixel(r, 0, 0, 7);
  assert.deepEqual(Array.from(r.data), [7, 7, 7, 0, 0, 0, 0, 0, 0, 10, 20, 30]);
});

test("font: every glyph draws within its cell; labels fit", () => {
  for (const ch of FONT_CHARACTERS) {
    const r = createRaster(ADVANCE + 2, GLYPH_HEIGHT + 2, 1, 255);
    drawText(r, ch, 1, 1, 0);
    const ink = r.data.filter((v) => v === 0).length;
    assert.equal(ink > 0, ch !== " ", `glyph '${ch}'`);
    for (let y = 0; y < r.height; y++) for (const x of [0, r.width - 1]) assert.equal(r.data[y * r.width + x], 255);
  }
  assert.equal(textWidth("ankle boot"), 59);
  const r = createRaster(textWidth("Ankle Boot?!", 2), GLYPH_HEIGHT * 2, 1, 255);
  drawText(r, "Ankle Boot?!", 0, 0, 0, 2); // uppercase and unknown characters still draw
  assert.ok(r.data.some((v) => v === 0));
});

test("image grid: images and titles land where expected", () => {
  const images = new Uint8Array(3 * 4 * 4);
  images.fill(200, 16, 32); // second image bright
  const grid = imageGrid(images, 3, 4, 4, TEXT_LABELS.slice(0, 3), { columns: 2, scale: 2, padding: 4 });
  const back = decodePng(encodePng(grid));
  assert.deepEqual(back.data, grid.data);
  assert.ok(grid.data.some((v) => v === 200));
  assert.ok(grid.data.some((v) => v === 0));
});

// PNG and JPEG decoders (src/data/decode): every fixture in test/fixtures/images must decode to the grey
// pixels PIL's convert('L') gives (expected.json, written by scripts/make_image_fixtures.py), and every
// kind of broken input must end in an ImageError: never another exception, never a hang. A small seeded
// fuzz loop mutates a few fixtures (raw bytes, and with CRCs or the deflate stream redone so mutations
// reach the decoders behind the checksums) and checks exactly that.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, inflateSync } from "node:zlib";
import { crc32, PNG_SIGNATURE } from "../src/data/png.js";
import { Xoshiro128 } from "../src/data/prng.js";
import { resizeBilinear, toTensor } from "../src/data/resize.js";
import {
  decodeImage,
  decodeJpeg,
  decodePng,
  ImageError,
  MAX_DIMENSION,
  sniffFormat,
} from "../src/data/decode/index.js";
import { loadImageForModel } from "../src/data/decode/file.js";

const DIR = new URL("../../test/fixtures/images/", import.meta.url);

interface Expected {
  width: number;
  height: number;
  pil_mode: string;
  gray: string;
  deviation?: string;
}

const { images: EXPECTED } = JSON.parse(readFileSync(new URL("expected.json", DIR), "utf8")) as {
  images: Record<string, Expected>;
};

/** Largest |ours - PIL| allowed per pixel. The decoders reproduce libjpeg's integer arithmetic, so 0. */
const PNG_TOLERANCE = 0;
const JPEG_TOLERANCE = 0;

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, DIR)));
}

function throwsImageError(fn: () => unknown, pattern?: RegExp, what = ""): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ImageError)) assert.fail(`${what}: expected an ImageError, got ${(e as Error)?.stack ?? String(e)}`);
    if (pattern) assert.match(e.message, pattern, what);
    return;
  }
  assert.fail(`${what}: expected an ImageError, but decoding succeeded`);
}

test("every fixture decodes to PIL's convert('L') pixels", (t) => {
  const names = Object.keys(EXPECTED).sort();
  assert.ok(names.length >= 60, "fixtures missing: run /usr/bin/python3 scripts/make_image_fixtures.py");
  const report: string[] = [];
  for (const name of names) {
    const e = EXPECTED[name]!;
    const img = decodeImage(fixture(name), name);
    assert.equal(img.width, e.width, `${name} width`);
    assert.equal(img.height, e.height, `${name} height`);
    const want = Buffer.from(e.gray, "base64");
    assert.equal(img.gray.length, want.length, `${name} pixel count`);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(img.gray[i]! - want[i]!));
    const tol = name.endsWith(".png") ? PNG_TOLERANCE : JPEG_TOLERANCE;
    assert.ok(maxDiff <= tol, `${name}: max |diff| vs PIL ${maxDiff} > ${tol}`);
    if (name.endsWith(".jpg")) report.push(`${name}=${maxDiff}`);
  }
  t.diagnostic(`JPEG max |diff| vs PIL: ${report.join(" ")}`);
});

test("16-bit grey is the one documented deviation from PIL", () => {
  for (const [name, e] of Object.entries(EXPECTED)) assert.equal(e.deviation !== undefined, e.pil_mode === "I", name);
});

test("formats are sniffed by magic bytes; anything else names the supported formats", () => {
  assert.equal(sniffFormat(fixture("gray8.png")), "png");
  assert.equal(sniffFormat(fixture("gray_q95.jpg")), "jpeg");
  assert.equal(sniffFormat(new TextEncoder().encode("GIF89a...")), null);
  throwsImageError(() => decodeImage(new Uint8Array(0), "empty.png"), /empty\.png: .*empty.*PNG, JPEG/, "empty");
  throwsImageError(() => decodeImage(new TextEncoder().encode("GIF89a\x01\x00"), "x.gif"), /GIF.*supported formats: PNG, JPEG/, "gif");
  throwsImageError(() => decodeImage(new TextEncoder().encode("hello world"), "a.txt"), /unsupported image format/, "text");
  throwsImageError(() => decodeImage(Uint8Array.of(0xff, 0xd8), "short.jpg"), /unsupported/, "bare SOI");
  // the format decoders check their own magic too
  throwsImageError(() => decodePng(fixture("gray_q95.jpg"), "x"), /not a PNG/, "png magic");
  throwsImageError(() => decodeJpeg(fixture("gray8.png"), "x"), /not a JPEG/, "jpeg magic");
});

// ---------------------------------------------------------------------------------------------- PNG

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function ihdr(width: number, height: number, depth = 8, colorType = 0, interlace = 0, length = 13): Uint8Array {
  const d = new Uint8Array(13);
  const v = new DataView(d.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  d.set([depth, colorType, 0, 0, interlace], 8);
  return chunk("IHDR", d.subarray(0, length));
}

/** A PNG from chunks; `raw` (filtered scanlines) becomes one IDAT. */
function png(header: Uint8Array, raw: Uint8Array | null, ...extra: Uint8Array[]): Uint8Array {
  const idat = raw ? [chunk("IDAT", deflateSync(raw))] : [];
  return concat([PNG_SIGNATURE, header, ...extra, ...idat, chunk("IEND", new Uint8Array(0))]);
}

/** 3x2 grey, filter byte 0 on each row. */
const TINY_RAW = Uint8Array.of(0, 10, 20, 30, 0, 40, 50, 60);

test("PNG: a hand-built image decodes, unknown ancillary chunks are skipped", () => {
  const img = decodePng(png(ihdr(3, 2), TINY_RAW, chunk("abCd", Uint8Array.of(1, 2))), "t.png");
  assert.deepEqual([img.width, img.height, [...img.gray]], [3, 2, [10, 20, 30, 40, 50, 60]]);
});

test("PNG: bad headers and chunk structure are ImageErrors that say what is wrong", () => {
  const z = deflateSync(TINY_RAW);
  const text = chunk("tEXt", Uint8Array.of(65, 0, 66));
  const end = chunk("IEND", new Uint8Array(0));
  const cases: [string, Uint8Array, RegExp][] = [
    ["bit depth 3", png(ihdr(3, 2, 3, 0), TINY_RAW), /bit depth 3 is invalid for colour type 0/],
    ["16-bit palette", png(ihdr(3, 2, 16, 3), TINY_RAW), /bit depth 16 is invalid/],
    ["colour type 5", png(ihdr(3, 2, 8, 5), TINY_RAW), /colour type 5 is invalid/],
    ["interlace 2", png(ihdr(3, 2, 8, 0, 2), TINY_RAW), /interlace method 2/],
    ["IHDR length", png(ihdr(3, 2, 8, 0, 0, 12), TINY_RAW), /IHDR chunk is 12 bytes/],
    ["zero width", png(ihdr(0, 2), TINY_RAW), /empty image \(0x2\)/],
    ["too wide", png(ihdr(MAX_DIMENSION + 1, 1), TINY_RAW), /16385x1, larger than allowed/],
    ["too many pixels", png(ihdr(16384, 16384), TINY_RAW), /larger than allowed/],
    ["tiny data, big image", png(ihdr(8000, 8000), TINY_RAW), /truncated: \d+ compressed bytes cannot hold a 8000x8000/],
    ["no IHDR first", concat([PNG_SIGNATURE, chunk("IDAT", z)]), /does not start with an IHDR/],
    ["no IDAT", png(ihdr(3, 2), null), /no image data/],
    ["palette without PLTE", png(ihdr(3, 2, 8, 3), TINY_RAW), /no PLTE/],
    ["bad PLTE length", png(ihdr(3, 2, 8, 3), TINY_RAW, chunk("PLTE", new Uint8Array(4))), /PLTE chunk is 4 bytes/],
    ["unknown critical chunk", png(ihdr(3, 2), TINY_RAW, chunk("ABCD", new Uint8Array(1))), /unknown critical chunk ABCD/],
    ["bad chunk type", png(ihdr(3, 2), TINY_RAW, chunk("ab1d", new Uint8Array(1))), /invalid type "ab\\x31d"/],
    ["filter type 5", png(ihdr(3, 2), Uint8Array.of(5, 1, 2, 3, 0, 4, 5, 6)), /scanline 0 has an invalid filter type 5/],
    ["short data", png(ihdr(3, 2), TINY_RAW.subarray(0, 6)), /truncated: 6 of 8 bytes/],
    ["too much data", png(ihdr(3, 2), new Uint8Array(9)), /more than the 8 bytes/],
    ["zlib garbage", concat([PNG_SIGNATURE, ihdr(3, 2), chunk("IDAT", Uint8Array.of(1, 2, 3, 4, 5)), end]), /corrupt \(zlib/],
    ["no IEND", concat([PNG_SIGNATURE, ihdr(3, 2), chunk("IDAT", z)]), /truncated: it ends at byte \d+ before the IEND/],
    ["IDAT split by another chunk", concat([PNG_SIGNATURE, ihdr(3, 2), chunk("IDAT", z.subarray(0, 5)), text, chunk("IDAT", z.subarray(5)), end]), /not consecutive/],
  ];
  for (const [what, bytes, re] of cases) throwsImageError(() => decodePng(bytes, "bad.png"), new RegExp(`^bad\\.png: .*${re.source}`), what);
  const bad = png(ihdr(3, 2), TINY_RAW);
  bad[20] ^= 1; // inside IHDR's data: the CRC no longer matches
  throwsImageError(() => decodePng(bad, "crc.png"), /chunk IHDR at byte 8 has a bad CRC/, "crc");
  throwsImageError(() => decodePng(fixture("gray8.png").subarray(0, 5), "s.png"), /truncated \(shorter than its signature\)/, "sig");
});

test("PNG: every truncation and every single-bit flip is an ImageError", () => {
  for (const name of ["pal2_interlaced.png", "rgb16_trns.png"]) {
    const bytes = fixture(name);
    for (let n = 0; n < bytes.length; n++) throwsImageError(() => decodePng(bytes.subarray(0, n), name), undefined, `${name} cut at ${n}`);
  }
  // every byte is covered by the signature, a chunk length (which then misframes the CRC) or a CRC
  const bytes = fixture("rgb8_1x1_interlaced.png");
  for (let i = 0; i < bytes.length * 8; i++) {
    const b = new Uint8Array(bytes);
    b[i >> 3] ^= 1 << (i & 7);
    throwsImageError(() => decodePng(b, "flip.png"), undefined, `bit ${i}`);
  }
});

// --------------------------------------------------------------------------------------------- JPEG

/** Offset of the first marker `code` (its 0xFF) in a JPEG's header segments. */
function markerAt(bytes: Uint8Array, code: number): number {
  for (let p = 2; p + 3 < bytes.length; ) {
    if (bytes[p + 1] === code) return p;
    p += 2 + ((bytes[p + 2]! << 8) | bytes[p + 3]!);
  }
  throw new Error(`marker ${code.toString(16)} not found`);
}

function patched(name: string, edit: (b: Uint8Array, sof: number) => void): Uint8Array {
  const b = new Uint8Array(fixture(name));
  edit(b, markerAt(b, 0xc0));
  return b;
}

test("JPEG: unsupported and invalid headers are ImageErrors that say what is wrong", () => {
  const name = "rgb420_q50_37x23.jpg";
  const setSize = (w: number, h: number) => (b: Uint8Array, sof: number) => {
    b.set([h >> 8, h & 255, w >> 8, w & 255], sof + 5);
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ["12-bit", patched(name, (b, s) => (b[s + 4] = 12)), /12-bit samples is not supported/],
    ["arithmetic", patched(name, (b, s) => (b[s + 1] = 0xc9)), /arithmetic-coded \(SOF9\) JPEG is not supported/],
    ["lossless", patched(name, (b, s) => (b[s + 1] = 0xc3)), /lossless \(SOF3\)/],
    ["DNL height", patched(name, setSize(37, 0)), /DNL/],
    ["huge", patched(name, setSize(20000, 23)), /20000x23, larger than allowed/],
    ["implausible size", patched(name, setSize(16000, 4000)), /truncated or corrupt: \d+ bytes cannot hold a 16000x4000/],
    ["CMYK", patched(name, (b, s) => (b[s + 9] = 4)), /CMYK\/YCCK JPEG \(4 components\) is not supported/],
    ["bad sampling", patched(name, (b, s) => (b[s + 11] = 0x50)), /invalid sampling factors 5x0/],
    ["fractional sampling", patched(name, (b, s) => (b[s + 14] = 0x31)), /not integral ratios/],
    ["no EOI", fixture(name).subarray(0, fixture(name).length - 2), /truncated: it ends without an EOI marker/],
    ["second SOI", patched(name, (b, s) => b.set([0xff, 0xd8], s)), /second SOI/],
    ["no frame", concat([Uint8Array.of(0xff, 0xd8), Uint8Array.of(0xff, 0xd9)]), /no image data/],
    ["unknown marker", concat([Uint8Array.of(0xff, 0xd8, 0xff, 0x02, 0, 2)]), /unknown marker 0xFF02/],
    ["bad Huffman table", concat([Uint8Array.of(0xff, 0xd8, 0xff, 0xc4, 0, 22, 0x00, 3, ...new Array(15).fill(0), 1, 2, 3)]), /more codes than its lengths allow/],
    ["SOS before SOF", concat([Uint8Array.of(0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0)]), /scan \(SOS\) comes before the frame header/],
  ];
  for (const [what, bytes, re] of cases) throwsImageError(() => decodeJpeg(bytes, "bad.jpg"), new RegExp(`^bad\\.jpg: .*${re.source}`), what);
  // garbage after SOI, with and without marker-like bytes
  const rng = new Xoshiro128(7);
  for (let i = 0; i < 20; i++) {
    const g = new Uint8Array(2 + 50 * (i + 1));
    g.set([0xff, 0xd8]);
    for (let k = 2; k < g.length; k++) g[k] = i % 2 === 0 ? rng.nextU32() & 0xff : [0xff, 0x00, 0xd0, 0xc0, 0x12][rng.nextU32() % 5]!;
    throwsImageError(() => decodeJpeg(g, "garbage.jpg"), undefined, `garbage ${i}`);
  }
});

test("JPEG: every truncation is an ImageError", () => {
  for (const name of ["rgb420_3x5.jpg", "custom_progressive_restart.jpg", "gray_progressive.jpg"]) {
    const bytes = fixture(name);
    for (let n = 0; n < bytes.length; n++) throwsImageError(() => decodeJpeg(bytes.subarray(0, n), name), undefined, `${name} cut at ${n}`);
  }
});

test("JPEG: a truncated scan is reported as such, and a wrong restart marker too", () => {
  const bytes = fixture("custom_gray_restart1.jpg");
  const sos = markerAt(bytes, 0xda);
  // cut the entropy data short but keep an EOI: the scan must not be silently padded with zeros
  const cut = concat([bytes.subarray(0, sos + 40), Uint8Array.of(0xff, 0xd9)]);
  throwsImageError(() => decodeJpeg(cut, "cut.jpg"), /truncated or corrupt/, "cut scan");
  const rst = new Uint8Array(bytes);
  const first = rst.findIndex((v, i) => i > sos && v === 0xff && rst[i + 1] === 0xd0);
  rst[first + 1] = 0xd3;
  throwsImageError(() => decodeJpeg(rst, "rst.jpg"), /expected restart marker RST0, found marker 0xD3/, "wrong RST");
});

// --------------------------------------------------------------------------------------------- fuzz

function randInt(rng: Xoshiro128, n: number): number {
  return rng.nextU32() % n;
}

/** A random structural or byte-level mutation of `src` (a fresh copy). */
function mutate(src: Uint8Array, rng: Xoshiro128): Uint8Array {
  const b = new Uint8Array(src);
  const n = b.length;
  switch (randInt(rng, 6)) {
    case 0:
      for (let k = 1 + randInt(rng, 4); k > 0; k--) b[randInt(rng, n)] ^= 1 << randInt(rng, 8);
      return b;
    case 1:
      for (let k = 1 + randInt(rng, 8); k > 0; k--) b[randInt(rng, n)] = rng.nextU32() & 0xff;
      return b;
    case 2:
      return b.subarray(0, randInt(rng, n));
    case 3:
      for (let k = 1 + randInt(rng, 3); k > 0; k--) b[randInt(rng, n)] = [0x00, 0xff, 0x7f, 0x80][randInt(rng, 4)]!;
      return b;
    case 4: {
      const from = randInt(rng, n);
      const slice = b.slice(from, from + 1 + randInt(rng, 64));
      const at = randInt(rng, n);
      return concat([b.subarray(0, at), slice, b.subarray(at)]);
    }
    default: {
      const at = randInt(rng, n);
      return concat([b.subarray(0, at), b.subarray(Math.min(n, at + 1 + randInt(rng, 64)))]);
    }
  }
}

/** Recomputes the CRC of every chunk that still fits, so mutations get past the checksums. */
function fixCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let o = 8; o + 12 <= b.length; ) {
    const len = v.getUint32(o);
    if (len > b.length - o - 12) break;
    v.setUint32(o + 8 + len, crc32(b.subarray(o + 4, o + 8 + len)));
    o += 12 + len;
  }
  return b;
}

/** Mutates the decompressed scanlines (or the header fields) and rebuilds a well-formed file. */
function mutateInside(src: Uint8Array, rng: Xoshiro128): Uint8Array {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const chunks: [string, Uint8Array][] = [];
  const idat: Uint8Array[] = [];
  for (let o = 8; o < src.length; ) {
    const len = v.getUint32(o);
    const type = String.fromCharCode(...src.subarray(o + 4, o + 8));
    const data = src.subarray(o + 8, o + 8 + len);
    if (type === "IDAT") idat.push(data);
    else if (type !== "IEND") chunks.push([type, new Uint8Array(data)]);
    o += 12 + len;
  }
  let raw: Uint8Array = new Uint8Array(inflateSync(concat(idat)));
  if (randInt(rng, 4) === 0) {
    const h = chunks[0]![1];
    h[randInt(rng, 13)] = [0, 1, 2, 3, 4, 6, 8, 16, 255][randInt(rng, 9)]!;
  } else {
    raw = mutate(raw, rng);
  }
  return concat([PNG_SIGNATURE, ...chunks.map(([t, d]) => chunk(t, d)), chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array(0))]);
}

test("fuzz: mutated PNGs and JPEGs only ever throw ImageError", { timeout: 120_000 }, (t) => {
  const targets: [string, (b: Uint8Array, r: Xoshiro128) => Uint8Array][] = [
    ["rgb420_q50_37x23.jpg", mutate],
    ["rgb420_progressive.jpg", mutate],
    ["custom_progressive_restart.jpg", mutate],
    ["gray_q50_37x23.jpg", mutate],
    ["pal4.png", (b, r) => fixCrcs(mutate(b, r))],
    ["rgba16_interlaced.png", (b, r) => mutateInside(b, r)],
    ["gray2_interlaced.png", (b, r) => (randInt(r, 2) ? mutateInside(b, r) : mutate(b, r))],
  ];
  const budgetMs = 3000 / targets.length;
  let slowest = 0;
  const summary: string[] = [];
  for (const [name, mut] of targets) {
    const src = fixture(name);
    const rng = new Xoshiro128(20240611, name.length);
    const start = performance.now();
    let runs = 0;
    let ok = 0;
    for (; runs < 500 && performance.now() - start < budgetMs; runs++) {
      const bytes = mut(src, rng);
      const t0 = performance.now();
      try {
        const img = decodeImage(bytes, name);
        assert.equal(img.gray.length, img.width * img.height);
        ok++;
      } catch (e) {
        if (!(e instanceof ImageError)) {
          const hex = Buffer.from(bytes).toString("base64");
          assert.fail(`${name} mutation ${runs} threw ${(e as Error)?.stack ?? String(e)}\ninput (base64): ${hex}`);
        }
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    assert.ok(runs >= 20, `${name}: only ${runs} mutations ran in ${budgetMs} ms`);
    summary.push(`${name}: ${runs} runs, ${ok} decoded`);
  }
  t.diagnostic(`${summary.join("; ")}; slowest decode ${slowest.toFixed(1)} ms`);
  assert.ok(slowest < 2000, `a mutated file took ${slowest} ms to decode`);
});

// ------------------------------------------------------------------------------------ model input

test("loadImageForModel: grey, stretched to size x size with PIL bilinear, then ToTensor", () => {
  const dir = mkdtempSync(join(tmpdir(), "alexnet-img-"));
  try {
    const name = "rgb420_q75_128x96.jpg";
    const file = join(dir, name);
    writeFileSync(file, fixture(name));
    const x = loadImageForModel(file, 32);
    assert.equal(x.length, 32 * 32);
    const e = EXPECTED[name]!;
    const want = toTensor(resizeBilinear(new Uint8Array(Buffer.from(e.gray, "base64")), e.width, e.height, 32, 32));
    assert.deepEqual(x, want);
    assert.ok(x.every((v) => v >= 0 && v <= 1));
    throwsImageError(() => loadImageForModel(join(dir, "missing.png"), 32), /missing\.png: cannot read/, "missing");
    throwsImageError(() => loadImageForModel(dir, 32), /not a regular file/, "directory");
    writeFileSync(join(dir, "bad.png"), Uint8Array.of(1, 2, 3));
    throwsImageError(() => loadImageForModel(join(dir, "bad.png"), 32), /bad\.png: unsupported image format/, "bad");
    assert.throws(() => loadImageForModel(file, 0), RangeError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

#!/usr/bin/python3
"""Generates test/fixtures/images/: small PNG and JPEG files plus expected.json, PIL's grey pixels for each.

`alexnet predict` decodes PNG and JPEG itself (src/data/decode/) and must see the same grey pixels that
d2l's pipeline would: PIL's Image.open(f).convert('L'). Every expected value here comes from PIL decoding
the file, whoever wrote it:
  - PNGs are written by the small encoder below, because PIL cannot write every colour type / bit depth
    combination or Adam7 interlacing; it cycles through all five filter types row by row.
  - Most JPEGs are written by PIL (libjpeg-turbo): grayscale, 4:4:4, 4:2:2, 4:2:0, progressive, optimised
    Huffman tables, odd sizes, quality 50 and 95. PIL 9.4 cannot write restart markers, other sampling
    factors, non-interleaved or RGB-coded scans, so a minimal JPEG encoder below writes those (the decoder
    in PIL still produces the expected values).
One documented deviation: PIL opens a 16-bit grayscale PNG as mode 'I' and convert('L') clips the values
to 0..255 (almost every pixel becomes white); our decoder keeps the high byte, as PIL itself does for every
other 16-bit PNG type, so the expected values of that fixture are the high bytes (marked "deviation").
PIL quirks the decoder does reproduce: palette indices beyond PLTE read as grey = index (PIL's palette
starts as a grey ramp), tRNS and alpha are ignored by convert('L'), EXIF orientation is not applied.

Run with Debian's python (python3-pil, python3-numpy): /usr/bin/python3 scripts/make_image_fixtures.py
The output is deterministic (fixed seeds, fixed zlib level).
"""
import base64
import io
import json
import math
import os
import struct
import warnings
import zlib

import numpy as np
import PIL
from PIL import features
from PIL import Image

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "images")
RNG = np.random.default_rng(20240611)


# ----------------------------------------------------------------------------------------------- images

def scene(w: int, h: int, seed: int) -> np.ndarray:
    """An RGB test picture with smooth gradients, hard edges and some noise (uint8, h x w x 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * xx / max(w - 1, 1)
    g = 255 * yy / max(h - 1, 1)
    b = 128 + 100 * np.sin(xx / 3.0 + yy / 5.0)
    img = np.stack([r, g, b], axis=-1)
    # a saturated disc and a dark bar: sharp chroma edges exercise upsampling and clamping
    disc = (xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2 < (min(w, h) * 0.3) ** 2
    img[disc] = [250, 20, 30]
    img[(xx > w * 0.15) & (xx < w * 0.3)] = [10, 10, 60]
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ PNG writer

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_samples(samples: np.ndarray, depth: int) -> bytes:
    """One scanline's samples (1-D) as bytes: big-endian 16-bit, bytes, or MSB-first packed bits."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(samples) + per - 1) // per)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - depth * (i % per + 1))
    return bytes(out)


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_image(rows: list, bpp: int, first_filter: int) -> bytes:
    """Filters scanlines, using filter type (first_filter + row) % 5 so all five types occur."""
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for y, row in enumerate(rows):
        ft = (first_filter + y) % 5
        line = bytearray(len(row))
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
            line[i] = (x - pred) & 0xFF
        out.append(ft)
        out += line
        prev = row
    return bytes(out)


def encode_png(samples: np.ndarray, color_type: int, depth: int, interlace: bool = False,
               palette: bytes = None, trns: bytes = None, idat_parts: int = 1) -> bytes:
    """samples: h x w x channels array of sample values (palette indices for colour type 3)."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for p, (x0, y0, dx, dy) in enumerate(passes):
        sub = samples[y0::dy, x0::dx, :]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue  # an empty pass has no scanlines at all, not even filter bytes
        rows = [pack_samples(sub[y].reshape(-1), depth) for y in range(sub.shape[0])]
        raw += filter_image(rows, bpp, p)
    comp = zlib.compress(bytes(raw), 9)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    out += chunk(b"tEXt", b"Comment\x00alexnet-ts fixture")  # an ancillary chunk to skip
    if palette is not None:
        out += chunk(b"PLTE", palette)
    if trns is not None:
        out += chunk(b"tRNS", trns)
    step = (len(comp) + idat_parts - 1) // idat_parts
    for i in range(0, len(comp), step):
        out += chunk(b"IDAT", comp[i:i + step])
    return out + chunk(b"IEND", b"")


def png_samples(w: int, h: int, color_type: int, depth: int, seed: int) -> np.ndarray:
    maxv = (1 << depth) - 1
    rgb = scene(w, h, seed).astype(np.float64) / 255.0
    rng = np.random.default_rng(seed + 1)
    if color_type in (0, 4):
        grey = rgb.mean(axis=-1, keepdims=True)
        chans = [grey]
    elif color_type == 3:
        chans = [rgb[..., :1]]
    else:
        chans = [rgb]
    if color_type in (4, 6):
        chans.append(rng.random((h, w, 1)))
    s = np.concatenate(chans, axis=-1)
    if depth == 16:
        # use the low byte too, so a decoder that mixed up byte order would fail
        v = np.rint(s * maxv).astype(np.int64) ^ rng.integers(0, 256, size=s.shape)
        return np.clip(v, 0, maxv)
    return np.clip(np.rint(s * maxv), 0, maxv).astype(np.int64)


def png_cases():
    cases = []
    combos = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4), (3, 8),
              (4, 8), (4, 16), (6, 8), (6, 16)]
    names = {0: "gray", 2: "rgb", 3: "pal", 4: "graya", 6: "rgba"}
    for i, (ct, depth) in enumerate(combos):
        for interlace in (False, True):
            # odd sizes: sub-byte rows end mid-byte and the Adam7 passes are all different shapes
            w, h = (23, 17) if not interlace else (13, 11)
            s = png_samples(w, h, ct, depth, 100 + i)
            palette = trns = None
            if ct == 3:
                n = min(1 << depth, 200)
                pal = RNG.integers(0, 256, size=(n, 3), dtype=np.uint8)
                palette = pal.tobytes()
                s = np.clip(s * 0 + RNG.integers(0, n, size=s.shape), 0, n - 1)
                trns = bytes(RNG.integers(0, 256, size=min(n, 5), dtype=np.uint8))  # partial tRNS is legal
            name = f"{names[ct]}{depth}{'_interlaced' if interlace else ''}.png"
            cases.append((name, encode_png(s, ct, depth, interlace, palette, trns, idat_parts=1 + i % 3), {}))
    # transparency keys on grey and truecolour (PIL ignores them in convert('L'))
    s = png_samples(9, 7, 0, 8, 7)
    cases.append(("gray8_trns.png", encode_png(s, 0, 8, trns=struct.pack(">H", int(s[0, 0, 0]))), {}))
    s = png_samples(9, 7, 2, 16, 8)
    cases.append(("rgb16_trns.png", encode_png(s, 2, 16, trns=struct.pack(">HHH", 1, 2, 3)), {}))
    # indices beyond a short PLTE: PIL's palette starts as a grey ramp, so they read as grey = index
    s = RNG.integers(0, 256, size=(7, 11, 1))
    cases.append(("pal8_short_palette.png", encode_png(s, 3, 8, palette=bytes(range(30, 30 + 3 * 40))), {}))
    # tiny: 1x1 interlaced has six empty passes
    cases.append(("rgb8_1x1_interlaced.png", encode_png(np.array([[[200, 30, 90]]]), 2, 8, True), {}))
    cases.append(("gray1_1x9.png", encode_png(png_samples(1, 9, 0, 1, 9), 0, 1), {}))
    return cases


# ----------------------------------------------------------------------------------------- JPEG writer

def zigzag_order() -> list:
    order = []
    for s in range(15):
        rng = range(max(0, s - 7), min(s, 7) + 1)
        diag = [(i, s - i) for i in rng]  # (row, col)
        order += diag if s % 2 else diag[::-1]
    return [r * 8 + c for r, c in order]


ZIGZAG = zigzag_order()
DCT = np.array([[(math.sqrt(0.125) if u == 0 else 0.5) * math.cos((2 * x + 1) * u * math.pi / 16)
                 for x in range(8)] for u in range(8)])
QUANT = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
                  56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104,
                  113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, code: int, length: int):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((code >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc = self.n = 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1-bits


def magnitude(v: int):
    s = 0 if v == 0 else int(abs(v)).bit_length()
    return s, (v if v >= 0 else v + (1 << s) - 1)


# Huffman tables with one code length each: valid, simple, and different from the tables PIL writes.
DC_SYMS = list(range(12))
AC_SYMS = [0x00, 0xF0] + [(r << 4) | s for r in range(16) for s in range(1, 11)]


def dht(cls: int, ident: int, syms: list, length: int) -> bytes:
    bits = [0] * 16
    bits[length - 1] = len(syms)
    return b"\xff\xc4" + struct.pack(">HB", 2 + 1 + 16 + len(syms), (cls << 4) | ident) + bytes(bits) + bytes(syms)


def codes(syms: list) -> dict:
    return {s: i for i, s in enumerate(syms)}


DC_CODES, AC_CODES = codes(DC_SYMS), codes(AC_SYMS)


def encode_jpeg(planes_rgb: np.ndarray, factors: list, *, restart: int = 0, interleaved: bool = True,
                progressive: bool = False, ids=(1, 2, 3), adobe=None, jfif: bool = False,
                colour: str = "ycc", quality_scale: float = 1.0) -> bytes:
    """A baseline (or spectral-selection-only progressive) JPEG of an RGB (h x w x 3) or grey (h x w) image."""
    img = planes_rgb.astype(np.float64)
    if img.ndim == 2:
        comps = [img]
    elif colour == "ycc":
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        comps = [0.299 * r + 0.587 * g + 0.114 * b,
                 -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
                 0.5 * r - 0.418688 * g - 0.081312 * b + 128]
    else:
        comps = [img[..., 0], img[..., 1], img[..., 2]]
    h, w = comps[0].shape
    hmax = max(f[0] for f in factors)
    vmax = max(f[1] for f in factors)
    mx, my = math.ceil(w / (8 * hmax)), math.ceil(h / (8 * vmax))
    q = np.clip(np.rint(QUANT * quality_scale), 1, 255)
    coefs = []  # per component: (blocks_y, blocks_x, 64) zigzag-ordered quantised coefficients
    for c, (hf, vf) in zip(comps, factors):
        ph, pw = my * 8 * vmax, mx * 8 * hmax
        padded = np.pad(c, ((0, ph - h), (0, pw - w)), mode="edge")
        sy, sx = vmax // vf, hmax // hf
        down = padded.reshape(ph // sy, sy, pw // sx, sx).mean(axis=(1, 3))
        by, bx = down.shape[0] // 8, down.shape[1] // 8
        blocks = down.reshape(by, 8, bx, 8).transpose(0, 2, 1, 3) - 128
        f = np.einsum("ux,abxy,vy->abuv", DCT, blocks, DCT)
        quant = np.rint(f / q).astype(np.int64).reshape(by, bx, 64)[:, :, ZIGZAG]
        coefs.append(quant)
    out = bytearray(b"\xff\xd8")
    if jfif:
        out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if adobe is not None:
        out += b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + struct.pack(">HHHB", 100, 0, 0, adobe)
    out += b"\xff\xdb" + struct.pack(">HB", 67, 0) + bytes(int(v) for v in q.reshape(64)[ZIGZAG])
    sof = b"\xff\xc2" if progressive else b"\xff\xc0"
    out += sof + struct.pack(">HBHHB", 8 + 3 * len(comps), 8, h, w, len(comps))
    for i, (hf, vf) in enumerate(factors):
        out += struct.pack(">BBB", ids[i], (hf << 4) | vf, 0)
    out += dht(0, 0, DC_SYMS, 4) + dht(1, 0, AC_SYMS, 8)
    if restart:
        out += b"\xff\xdd" + struct.pack(">HH", 4, restart)

    def block_order(ci_list):
        """Yields per MCU the list of (component, block y, block x)."""
        if len(ci_list) > 1:
            for y in range(my):
                for x in range(mx):
                    yield [(ci, y * factors[ci][1] + v, x * factors[ci][0] + u)
                           for ci in ci_list for v in range(factors[ci][1]) for u in range(factors[ci][0])]
        else:
            ci = ci_list[0]
            hf, vf = factors[ci]
            cw, ch = math.ceil(w * hf / hmax), math.ceil(h * vf / vmax)
            for y in range(math.ceil(ch / 8)):
                for x in range(math.ceil(cw / 8)):
                    yield [(ci, y, x)]

    def scan(ci_list, ss, se):
        out.extend(b"\xff\xda" + struct.pack(">HB", 6 + 2 * len(ci_list), len(ci_list)))
        for ci in ci_list:
            out.extend(struct.pack(">BB", ids[ci], 0))
        out.extend(struct.pack(">BBB", ss, se, 0))
        bw = BitWriter()
        pred = [0] * len(comps)
        rst = 0
        for m, mcu in enumerate(block_order(ci_list)):
            if restart and m and m % restart == 0:
                bw.flush()
                bw.out += bytes([0xFF, 0xD0 + rst])
                rst = (rst + 1) % 8
                pred = [0] * len(comps)
            for ci, by, bx in mcu:
                zz = coefs[ci][by, bx]
                if ss == 0:
                    diff = int(zz[0]) - pred[ci]
                    pred[ci] = int(zz[0])
                    s, bits = magnitude(diff)
                    bw.put(DC_CODES[s], 4)
                    bw.put(bits, s)
                if se == 0:
                    continue
                run = 0
                last = max([k for k in range(max(ss, 1), se + 1) if zz[k] != 0], default=0)
                for k in range(max(ss, 1), last + 1):
                    if zz[k] == 0:
                        run += 1
                        continue
                    while run > 15:
                        bw.put(AC_CODES[0xF0], 8)
                        run -= 16
                    s, bits = magnitude(int(zz[k]))
                    bw.put(AC_CODES[(run << 4) | s], 8)
                    bw.put(bits, s)
                    run = 0
                if last < se:
                    bw.put(AC_CODES[0x00], 8)  # EOB (in a progressive scan: an EOB run of one block)
        bw.flush()
        out.extend(bw.out)

    all_c = list(range(len(comps)))
    if progressive:
        scan(all_c if interleaved else [0], 0, 0)
        if not interleaved:
            for ci in all_c[1:]:
                scan([ci], 0, 0)
        for ci in all_c:
            scan([ci], 1, 5)
            scan([ci], 6, 63)
    elif interleaved:
        scan(all_c, 0, 63)
    else:
        for ci in all_c:
            scan([ci], 0, 63)
    return bytes(out + b"\xff\xd9")


def pil_jpeg(img: np.ndarray, **kw) -> bytes:
    b = io.BytesIO()
    Image.fromarray(img).save(b, "JPEG", **kw)
    return b.getvalue()


def replace_app0_with_adobe(data: bytes, transform: int) -> bytes:
    assert data[2:4] == b"\xff\xe0"
    n = struct.unpack(">H", data[4:6])[0]
    adobe = b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + struct.pack(">HHHB", 100, 0, 0, transform)
    return data[:2] + adobe + data[4 + n:]


def jpeg_cases():
    c = []
    rgb = scene(64, 48, 1)
    odd = scene(37, 23, 2)
    grey = np.asarray(Image.fromarray(scene(40, 32, 3)).convert("L"))
    grey_odd = np.asarray(Image.fromarray(odd).convert("L"))
    c.append(("gray_q95.jpg", pil_jpeg(grey, quality=95)))
    c.append(("gray_q50_37x23.jpg", pil_jpeg(grey_odd, quality=50)))
    c.append(("gray_progressive.jpg", pil_jpeg(grey, quality=80, progressive=True)))
    c.append(("gray_q100.jpg", pil_jpeg(grey_odd, quality=100)))  # quantisers of 1: the largest coefficients
    for sub, name in ((0, "444"), (1, "422"), (2, "420")):
        c.append((f"rgb{name}_q95.jpg", pil_jpeg(rgb, quality=95, subsampling=sub)))
        c.append((f"rgb{name}_q50_37x23.jpg", pil_jpeg(odd, quality=50, subsampling=sub)))
    c.append(("rgb420_progressive.jpg", pil_jpeg(rgb, quality=75, subsampling=2, progressive=True)))
    c.append(("rgb444_progressive_37x23.jpg", pil_jpeg(odd, quality=90, subsampling=0, progressive=True)))
    big = scene(128, 96, 8)
    c.append(("rgb420_q75_128x96.jpg", pil_jpeg(big, quality=75)))
    c.append(("rgb420_progressive_q75_128x96.jpg", pil_jpeg(big, quality=75, progressive=True, optimize=True)))
    c.append(("rgb444_q100.jpg", pil_jpeg(odd, quality=100, subsampling=0)))
    c.append(("rgb420_q5.jpg", pil_jpeg(odd, quality=5, subsampling=2)))  # coarse: ringing beyond 0..255
    c.append(("rgb422_optimized.jpg", pil_jpeg(odd, quality=70, subsampling=1, optimize=True)))
    # chroma only 2 samples wide: libjpeg switches from fancy (triangle) to plain replication
    c.append(("rgb420_3x5.jpg", pil_jpeg(scene(3, 5, 4), quality=90, subsampling=2)))
    c.append(("rgb420_1x1.jpg", pil_jpeg(scene(1, 1, 5), quality=90, subsampling=2)))
    c.append(("rgb420_17x9.jpg", pil_jpeg(scene(17, 9, 6), quality=85, subsampling=2)))
    c.append(("adobe_ycc.jpg", replace_app0_with_adobe(pil_jpeg(odd, quality=90, subsampling=2), 1)))
    small = scene(29, 19, 7)
    c.append(("custom_420_restart2.jpg", encode_jpeg(small, [(2, 2), (1, 1), (1, 1)], restart=2)))
    c.append(("custom_gray_restart1.jpg", encode_jpeg(grey_odd, [(1, 1)], restart=1)))
    c.append(("custom_gray_factors22.jpg", encode_jpeg(grey_odd, [(2, 2)], restart=3)))
    c.append(("custom_440.jpg", encode_jpeg(small, [(1, 2), (1, 1), (1, 1)])))
    c.append(("custom_411.jpg", encode_jpeg(small, [(4, 1), (1, 1), (1, 1)])))
    c.append(("custom_chroma_larger.jpg", encode_jpeg(small, [(1, 1), (2, 2), (2, 2)])))
    c.append(("custom_noninterleaved_422.jpg", encode_jpeg(small, [(2, 1), (1, 1), (1, 1)], interleaved=False)))
    c.append(("custom_progressive_restart.jpg",
              encode_jpeg(small, [(2, 2), (1, 1), (1, 1)], progressive=True, restart=3)))
    c.append(("custom_progressive_noninterleaved.jpg",
              encode_jpeg(small, [(1, 1), (1, 1), (1, 1)], progressive=True, interleaved=False, restart=5)))
    c.append(("custom_adobe_rgb.jpg", encode_jpeg(small, [(1, 1)] * 3, adobe=0, colour="rgb")))
    c.append(("custom_rgb_ids.jpg", encode_jpeg(small, [(1, 1)] * 3, ids=(82, 71, 66), colour="rgb")))
    c.append(("custom_jfif_over_adobe.jpg", encode_jpeg(small, [(2, 1), (1, 1), (1, 1)], jfif=True, adobe=0)))
    c.append(("custom_coarse_q.jpg", encode_jpeg(small, [(2, 2), (1, 1), (1, 1)], quality_scale=4.0)))
    return [(n, d, {}) for n, d in c]


# ------------------------------------------------------------------------------------------------- main

def main() -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith((".png", ".jpg")):
            os.remove(os.path.join(OUT_DIR, f))
    expected = {}
    for name, data, extra in png_cases() + jpeg_cases():
        with open(os.path.join(OUT_DIR, name), "wb") as f:
            f.write(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Palette images with Transparency expressed in bytes ..."
            im = Image.open(io.BytesIO(data))
            mode = im.mode
            grey = np.asarray(im.convert("L"), dtype=np.uint8)
        entry = {"width": int(grey.shape[1]), "height": int(grey.shape[0]), "pil_mode": mode, **extra}
        if mode == "I":
            # 16-bit grey: see the module docstring; our decoder keeps the high byte
            raw = np.asarray(im, dtype=np.int64)
            entry["deviation"] = "PIL clips 16-bit grey to 0..255; expected holds the high byte"
            grey = (raw >> 8).astype(np.uint8)
        entry["gray"] = base64.b64encode(grey.tobytes()).decode()
        expected[name] = entry
    meta = {"generator": "scripts/make_image_fixtures.py", "pil": PIL.__version__,
            "libjpeg_turbo": features.version("libjpeg_turbo"), "zlib": zlib.ZLIB_VERSION}
    with open(os.path.join(OUT_DIR, "expected.json"), "w") as f:
        json.dump({"meta": meta, "images": expected}, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, n)) for n in os.listdir(OUT_DIR))
    print(f"wrote {len(expected)} images to {OUT_DIR} ({total} bytes in all)")


if __name__ == "__main__":
    main()

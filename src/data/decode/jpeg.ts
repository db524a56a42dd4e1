// JPEG decoder (ITU-T T.81, JFIF) for `alexnet predict`, producing the grey pixels PIL's
// Image.open(f).convert('L') gives: baseline and extended sequential (SOF0/SOF1) and progressive (SOF2)
// Huffman-coded files with 8-bit samples, grayscale or 3 components (YCbCr, or RGB when an Adobe APP14
// marker or the component ids say so) with any integral sampling factors, restart intervals, and
// non-interleaved scans. The arithmetic follows libjpeg's defaults (islow IDCT, fancy upsampling, its
// colour tables), so the output matches PIL exactly on the test fixtures.
// Refused with a clear error: arithmetic coding, lossless and hierarchical modes, 12-bit samples, CMYK/YCCK
// and 2-component files, DNL-defined heights, non-integral sampling ratios (e.g. 3x1 with 2x1). EXIF orientation is ignored, as PIL's Image.open does.
//
// The input is untrusted: sizes are bounded before allocation (and must be plausible for the file's
// length), and every loop advances through the input or is bounded by the declared size, so corrupt or
// truncated data ends in an ImageError, never a hang.
import { checkDimensions, ImageError, type GrayImage } from "./error.js";
import {
  BitReader,
  buildHuffmanTable,
  decodeAcFirst,
  decodeAcRefine,
  decodeBlockBaseline,
  decodeDcFirst,
  decodeDcRefine,
  findMarker,
  ZIGZAG,
  type EobState,
  type HuffmanTable,
} from "./jpegHuffman.js";
import { idctBlock, IdctScratch } from "./jpegIdct.js";
import { rgbToGrayPlanes, upsample, yccToGray, type Plane } from "./jpegColor.js";

/**
 * Far more scans than real encoders write (libjpeg's progressive script has 10, mozjpeg's up to about 20).
 * Each scan can visit every block, so this bounds the work a small crafted progressive file can cause.
 */
const MAX_SCANS = 100;

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Dequantisation table (natural order), latched when the component's first scan starts, as libjpeg does. */
  quant: Int32Array | null;
  /** Block grid allocated (padded to whole MCUs when the frame has several components). */
  bw: number;
  bh: number;
  /** Real size in samples, and the blocks a non-interleaved scan covers. */
  cw: number;
  ch: number;
  nbx: number;
  nby: number;
  coefs: Int16Array;
  /** Per block: one past its highest non-zero zigzag index from AC scans (see decodeAcFirst). */
  nz: Uint8Array;
  pred: number;
  dcDone: boolean;
  scanned: boolean;
}

interface Frame {
  progressive: boolean;
  width: number;
  height: number;
  hmax: number;
  vmax: number;
  mcusX: number;
  mcusY: number;
  comps: Component[];
}

interface State {
  file: string;
  frame: Frame | null;
  quant: (Int32Array | null)[];
  dc: (HuffmanTable | null)[];
  ac: (HuffmanTable | null)[];
  restartInterval: number;
  jfif: boolean;
  adobeTransform: number;
  scans: number;
}

const SOF_NAMES: Record<number, string> = {
  0xc3: "lossless (SOF3)",
  0xc5: "hierarchical (SOF5)",
  0xc6: "hierarchical progressive (SOF6)",
  0xc7: "hierarchical lossless (SOF7)",
  0xc9: "arithmetic-coded (SOF9)",
  0xca: "arithmetic-coded progressive (SOF10)",
  0xcb: "arithmetic-coded lossless (SOF11)",
  0xcd: "arithmetic-coded hierarchical (SOF13)",
  0xce: "arithmetic-coded hierarchical progressive (SOF14)",
  0xcf: "arithmetic-coded hierarchical lossless (SOF15)",
};

/** True when the bytes start with a JPEG SOI marker followed by another marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function hex(marker: number): string {
  return `0xFF${marker.toString(16).toUpperCase().padStart(2, "0")}`;
}

function parseQuant(st: State, d: Uint8Array): void {
  for (let o = 0; o < d.length; ) {
    const pq = d[o]! >> 4;
    const tq = d[o]! & 15;
    if (pq > 1 || tq > 3) throw new ImageError(st.file, `JPEG DQT segment is corrupt (precision ${pq}, table ${tq})`);
    const n = pq === 0 ? 64 : 128;
    if (o + 1 + n > d.length) throw new ImageError(st.file, "JPEG DQT segment is shorter than its tables");
    const table = new Int32Array(64);
    for (let k = 0; k < 64; k++) table[ZIGZAG[k]!] = pq === 0 ? d[o + 1 + k]! : u16(d, o + 1 + 2 * k);
    st.quant[tq] = table;
    o += 1 + n;
  }
}

function parseHuffman(st: State, d: Uint8Array): void {
  for (let o = 0; o < d.length; ) {
    const tc = d[o]! >> 4;
    const th = d[o]! & 15;
    if (tc > 1 || th > 3) throw new ImageError(st.file, `JPEG DHT segment is corrupt (class ${tc}, table ${th})`);
    if (o + 17 > d.length) throw new ImageError(st.file, "JPEG DHT segment is shorter than its tables");
    const counts = d.subarray(o + 1, o + 17);
    let total = 0;
    for (let i = 0; i < 16; i++) total += counts[i]!;
    if (total > 256 || o + 17 + total > d.length) throw new ImageError(st.file, "JPEG DHT segment is corrupt (bad code counts)");
    const table = buildHuffmanTable(counts, d.subarray(o + 17, o + 17 + total), st.file);
    (tc === 0 ? st.dc : st.ac)[th] = table;
    o += 17 + total;
  }
}

function parseFrame(st: State, marker: number, d: Uint8Array, fileLength: number): void {
  const file = st.file;
  if (st.frame) throw new ImageError(file, "JPEG file has a second frame header (SOF)");
  if (d.length < 6) throw new ImageError(file, "JPEG SOF segment is too short");
  const precision = d[0]!;
  const height = u16(d, 1);
  const width = u16(d, 3);
  const n = d[5]!;
  if (precision !== 8) throw new ImageError(file, `JPEG with ${precision}-bit samples is not supported (only 8-bit)`);
  if (height === 0) throw new ImageError(file, "JPEG whose height is set by a DNL marker is not supported");
  checkDimensions(file, "JPEG", width, height);
  if (n === 4) throw new ImageError(file, "CMYK/YCCK JPEG (4 components) is not supported; convert it to RGB or grayscale");
  if (n !== 1 && n !== 3) throw new ImageError(file, `JPEG with ${n} components is not supported (only grayscale and 3-component colour)`);
  if (d.length < 6 + 3 * n) throw new ImageError(file, "JPEG SOF segment is shorter than its component list");
  const comps: Component[] = [];
  for (let i = 0; i < n; i++) {
    const o = 6 + 3 * i;
    const id = d[o]!;
    const h = d[o + 1]! >> 4;
    const v = d[o + 1]! & 15;
    const tq = d[o + 2]!;
    if (h < 1 || h > 4 || v < 1 || v > 4 || tq > 3) {
      throw new ImageError(file, `JPEG component ${id} has invalid sampling factors ${h}x${v} or table ${tq}`);
    }
    if (comps.some((c) => c.id === id)) throw new ImageError(file, `JPEG frame lists component ${id} twice`);
    // a single component is always coded one block per MCU, whatever factors it declares
    comps.push({
      id,
      h: n === 1 ? 1 : h,
      v: n === 1 ? 1 : v,
      tq,
      quant: null,
      // sizes are set below, once all sampling factors are known
      bw: 0,
      bh: 0,
      cw: 0,
      ch: 0,
      nbx: 0,
      nby: 0,
      coefs: new Int16Array(0),
      nz: new Uint8Array(0),
      pred: 0,
      dcDone: false,
      scanned: false,
    });
  }
  const hmax = Math.max(...comps.map((c) => c.h));
  const vmax = Math.max(...comps.map((c) => c.v));
  for (const c of comps) {
    if (hmax % c.h !== 0 || vmax % c.v !== 0) {
      throw new ImageError(file, `JPEG sampling factors ${comps.map((k) => `${k.h}x${k.v}`).join(", ")} are not integral ratios (not supported)`);
    }
  }
  const mcusX = Math.ceil(width / (8 * hmax));
  const mcusY = Math.ceil(height / (8 * vmax));
  let coded = 0;
  for (const c of comps) {
    c.cw = Math.ceil((width * c.h) / hmax);
    c.ch = Math.ceil((height * c.v) / vmax);
    c.nbx = Math.ceil(c.cw / 8);
    c.nby = Math.ceil(c.ch / 8);
    c.bw = n === 1 ? c.nbx : mcusX * c.h;
    c.bh = n === 1 ? c.nby : mcusY * c.v;
    coded += c.nbx * c.nby;
  }
  // a complete file codes every block of every component at least once, with at least one bit (a DC
  // Huffman code), so a file with fewer bits cannot hold the image: refusing it before allocating keeps
  // memory proportional to the input's length
  if (coded > 8 * fileLength) {
    throw new ImageError(file, `JPEG file is truncated or corrupt: ${fileLength} bytes cannot hold a ${width}x${height} image`);
  }
  for (const c of comps) {
    c.coefs = new Int16Array(c.bw * c.bh * 64);
    c.nz = new Uint8Array(c.bw * c.bh);
  }
  st.frame = { progressive: marker === 0xc2, width, height, hmax, vmax, mcusX, mcusY, comps };
}

interface Scan {
  comps: Component[];
  dc: (HuffmanTable | null)[];
  ac: (HuffmanTable | null)[];
  ss: number;
  se: number;
  ah: number;
  al: number;
}

function parseScanHeader(st: State, d: Uint8Array): Scan {
  const file = st.file;
  const f = st.frame;
  if (!f) throw new ImageError(file, "JPEG scan (SOS) comes before the frame header (SOF)");
  if (++st.scans > MAX_SCANS) throw new ImageError(file, `JPEG file has more than ${MAX_SCANS} scans (corrupt or hostile)`);
  const ns = d[0] ?? 0;
  if (ns < 1 || ns > 4 || d.length < 1 + 2 * ns + 3) throw new ImageError(file, "JPEG SOS segment is corrupt");
  const comps: Component[] = [];
  const dc: (HuffmanTable | null)[] = [];
  const ac: (HuffmanTable | null)[] = [];
  for (let i = 0; i < ns; i++) {
    const id = d[1 + 2 * i]!;
    const c = f.comps.find((k) => k.id === id);
    if (!c || comps.includes(c)) throw new ImageError(file, `JPEG scan refers to ${c ? "a repeated" : "an unknown"} component ${id}`);
    const td = d[2 + 2 * i]! >> 4;
    const ta = d[2 + 2 * i]! & 15;
    comps.push(c);
    dc.push(td < 4 ? st.dc[td] ?? null : null);
    ac.push(ta < 4 ? st.ac[ta] ?? null : null);
  }
  const o = 1 + 2 * ns;
  let ss = d[o]!;
  let se = d[o + 1]!;
  let ah = d[o + 2]! >> 4;
  let al = d[o + 2]! & 15;
  if (ns > 1 && comps.reduce((s, c) => s + c.h * c.v, 0) > 10) throw new ImageError(file, "JPEG scan has more than 10 blocks per MCU");
  if (!f.progressive) {
    // libjpeg only warns about other values in a sequential scan and decodes the full block
    ss = 0;
    se = 63;
    ah = al = 0;
  } else {
    const dcScan = ss === 0;
    const bad = dcScan ? se !== 0 : se < ss || se > 63 || ns !== 1;
    if (bad || (ah !== 0 && ah !== al + 1) || al > 13) {
      throw new ImageError(file, `JPEG progressive scan has invalid parameters (Ss=${ss}, Se=${se}, Ah=${ah}, Al=${al}, ${ns} components)`);
    }
    if (!dcScan && !comps[0]!.dcDone) throw new ImageError(file, `JPEG AC scan of component ${comps[0]!.id} comes before its DC scan`);
  }
  comps.forEach((c, i) => {
    const needDc = ss === 0 && ah === 0;
    const needAc = se > 0;
    if ((needDc && !dc[i]) || (needAc && !ac[i])) {
      throw new ImageError(file, `JPEG scan uses an undefined Huffman table for component ${c.id}`);
    }
    if (!c.quant) {
      const q = st.quant[c.tq];
      if (!q) throw new ImageError(file, `JPEG component ${c.id} uses undefined quantization table ${c.tq}`);
      c.quant = q.slice();
    }
  });
  return { comps, dc, ac, ss, se, ah, al };
}

/** Decodes one scan's entropy-coded data starting at `pos`; returns where the data ends. */
function decodeScan(st: State, scan: Scan, bytes: Uint8Array, pos: number): number {
  const f = st.frame!;
  const { comps, ss, se, ah, al } = scan;
  const r = new BitReader(bytes, pos, st.file);
  const eob: EobState = { eobrun: 0 };
  const single = comps.length === 1;
  const c0 = comps[0]!;
  const total = single ? c0.nbx * c0.nby : f.mcusX * f.mcusY;
  const ri = st.restartInterval;
  for (const c of comps) c.pred = 0;

  const block = (ci: number, c: Component, o: number): void => {
    if (!f.progressive) decodeBlockBaseline(r, scan.dc[ci]!, scan.ac[ci]!, c.coefs, o, c);
    else if (ss === 0) {
      if (ah === 0) decodeDcFirst(r, scan.dc[ci]!, c.coefs, o, c, al);
      else decodeDcRefine(r, c.coefs, o, al);
    } else if (ah === 0) decodeAcFirst(r, scan.ac[ci]!, c.coefs, o, ss, se, al, eob, c.nz);
    else decodeAcRefine(r, scan.ac[ci]!, c.coefs, o, ss, se, al, eob, c.nz);
  };

  let rst = 0;
  for (let m = 0; m < total; m++) {
    if (ri > 0 && m > 0 && m % ri === 0) {
      r.restart(rst);
      rst = (rst + 1) & 7;
      for (const c of comps) c.pred = 0;
      eob.eobrun = 0;
    }
    if (single) {
      if (eob.eobrun > 0 && f.progressive && ss > 0 && ah === 0) {
        // blocks inside an end-of-band run of a first AC scan are left as they are: skip the whole run
        // at once (up to the next restart), so a long run costs no more than its few bits
        const stop = ri > 0 ? Math.min(total, (Math.floor(m / ri) + 1) * ri) : total;
        const skip = Math.min(eob.eobrun, stop - m);
        eob.eobrun -= skip;
        m += skip - 1;
        continue;
      }
      const by = Math.floor(m / c0.nbx);
      const b = by * c0.bw + m - by * c0.nbx;
      if (eob.eobrun > 0 && ah > 0 && ss > 0 && c0.nz[b]! <= ss) {
        eob.eobrun--; // a refinement run over a block with nothing to refine in this band reads no bits
        continue;
      }
      block(0, c0, b * 64);
    } else {
      const my = Math.floor(m / f.mcusX);
      const mx = m - my * f.mcusX;
      for (let ci = 0; ci < comps.length; ci++) {
        const c = comps[ci]!;
        for (let v = 0; v < c.v; v++) {
          for (let h = 0; h < c.h; h++) block(ci, c, ((my * c.v + v) * c.bw + mx * c.h + h) * 64);
        }
      }
    }
    if (r.overrun()) {
      throw new ImageError(st.file, `JPEG file is truncated or corrupt: scan ${st.scans} ends after ${m} of ${total} MCUs`);
    }
  }
  for (const c of comps) {
    c.scanned = true;
    if (ss === 0) c.dcDone = true;
  }
  return r.pos;
}

/** After EOI: inverse DCT, upsampling and colour conversion to grey. */
function finish(st: State): GrayImage {
  const f = st.frame;
  if (!f || st.scans === 0) throw new ImageError(st.file, "JPEG file has no image data (no frame or scan before EOI)");
  const missing = f.comps.find((c) => !c.scanned);
  if (missing) throw new ImageError(st.file, `JPEG file has no scan for component ${missing.id}`);
  const { width, height } = f;
  const scratch = new IdctScratch();
  const planes = f.comps.map((c): Plane => {
    const stride = c.bw * 8;
    const data = new Uint8Array(stride * c.bh * 8);
    for (let by = 0; by < c.bh; by++) {
      for (let bx = 0; bx < c.bw; bx++) {
        idctBlock(c.coefs, (by * c.bw + bx) * 64, c.quant!, data, by * 8 * stride + bx * 8, stride, scratch);
      }
    }
    return { data, stride, width: c.cw, height: c.ch };
  });
  const full = planes.map((p, i) => upsample(p, f.hmax / f.comps[i]!.h, f.vmax / f.comps[i]!.v, width, height));
  if (full.length === 1) return { width, height, gray: full[0]! };
  const [a, b, c] = full as [Uint8Array, Uint8Array, Uint8Array];
  return { width, height, gray: isRgb(st, f) ? rgbToGrayPlanes(a, b, c) : yccToGray(a, b, c) };
}

/** libjpeg's choice for 3 components: JFIF means YCbCr, else Adobe's transform flag, else the ids. */
function isRgb(st: State, f: Frame): boolean {
  if (st.jfif) return false;
  if (st.adobeTransform >= 0) return st.adobeTransform === 0;
  const [a, b, c] = f.comps.map((k) => k.id);
  return a === 0x52 && b === 0x47 && c === 0x42; // 'R', 'G', 'B'
}

function startsWith(d: Uint8Array, text: string): boolean {
  if (d.length < text.length) return false;
  for (let i = 0; i < text.length; i++) if (d[i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Decodes a JPEG file to PIL-equivalent grey pixels; throws ImageError for anything invalid or unsupported. */
export function decodeJpeg(bytes: Uint8Array, file: string): GrayImage {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ImageError(file, "not a JPEG file (no SOI marker)");
  const st: State = {
    file,
    frame: null,
    quant: [null, null, null, null],
    dc: [null, null, null, null],
    ac: [null, null, null, null],
    restartInterval: 0,
    jfif: false,
    adobeTransform: -1,
    scans: 0,
  };
  let pos = 2;
  for (;;) {
    // stray bytes between segments are skipped, as libjpeg and PIL do
    const p = findMarker(bytes, pos);
    if (p < 0) {
      const what = st.scans > 0 ? "without an EOI marker" : st.frame ? "before any scan" : "before the frame header";
      throw new ImageError(file, `JPEG file is truncated: it ends ${what}`);
    }
    const marker = bytes[p + 1]!;
    pos = p + 2;
    if (marker === 0xd9) return finish(st);
    if (marker === 0xd8) throw new ImageError(file, "JPEG file has a second SOI marker (corrupt file)");
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // stray RSTn / TEM: no payload
    if (pos + 2 > bytes.length) throw new ImageError(file, `JPEG file is truncated inside marker ${hex(marker)}`);
    const length = u16(bytes, pos);
    if (length < 2) throw new ImageError(file, `JPEG marker ${hex(marker)} has an invalid length ${length}`);
    if (pos + length > bytes.length) {
      const left = bytes.length - pos;
      throw new ImageError(file, `JPEG file is truncated: segment ${hex(marker)} at byte ${p} needs ${length} bytes, ${left} remain`);
    }
    const d = bytes.subarray(pos + 2, pos + length);
    pos += length;
    switch (marker) {
      case 0xc0:
      case 0xc1:
      case 0xc2:
        parseFrame(st, marker, d, bytes.length);
        break;
      case 0xc4:
        parseHuffman(st, d);
        break;
      case 0xdb:
        parseQuant(st, d);
        break;
      case 0xdd:
        if (d.length < 2) throw new ImageError(file, "JPEG DRI segment is too short");
        st.restartInterval = u16(d, 0);
        break;
      case 0xda:
        pos = decodeScan(st, parseScanHeader(st, d), bytes, pos);
        break;
      case 0xe0:
        if (startsWith(d, "JFIF\0")) st.jfif = true;
        break;
      case 0xee:
        if (startsWith(d, "Adobe") && d.length >= 12) st.adobeTransform = d[11]!;
        break;
      case 0xdc:
        throw new ImageError(file, "JPEG DNL marker is not supported");
      case 0xc8:
      case 0xde:
      case 0xdf:
        throw new ImageError(file, `JPEG marker ${hex(marker)} (hierarchical or reserved) is not supported`);
      default:
        if (SOF_NAMES[marker]) {
          throw new ImageError(file, `${SOF_NAMES[marker]} JPEG is not supported (only baseline and progressive Huffman)`);
        }
        // APPn, COM, JPGn and DAC carry nothing the pixels depend on
        if (!((marker >= 0xe0 && marker <= 0xfe) || marker === 0xcc)) {
          throw new ImageError(file, `JPEG file has an unknown marker ${hex(marker)} (corrupt file)`);
        }
    }
  }
}

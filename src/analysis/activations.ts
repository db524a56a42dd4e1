// Feature maps of one layer (d2l 6.6's exercise: LeNet's activations for sweaters and coats): find a layer by
// the numbering `summary` and `analyze` print (a Sequential's top-level index, which is also its state_dict
// name) or by a dotted module path (`3.1.conv1`), capture its output in one real forward, and draw the maps
// as a labelled PNG grid: a block per image (its labels and the input it was fed on the left), a tile per
// channel. Browser-safe (no Node imports).
import type { Backend } from "../backend/backend.js";
import { drawText, GLYPH_HEIGHT, textWidth } from "../data/font.js";
import { blitGray, createRaster, setPixel, type Raster } from "../data/png.js";
import type { Module } from "../nn/module.js";
import { noGrad } from "../tensor/autograd.js";
import { keep, tidy } from "../tensor/scope.js";
import { tensor, type Tensor } from "../tensor/tensor.js";

/** A layer found by its path: `name` is its state_dict prefix ("1", "3.1.conv1"). */
export interface LayerRef {
  name: string;
  module: Module;
}

/** The layers `--layer` takes at the top level, as `summary` and `analyze` number them. */
export function topLevelLayers(net: Module): LayerRef[] {
  return net.namedChildren().map(([name, module]) => ({ name, module }));
}

/** The module at a dotted path. Each part is a child's name (a Sequential's "0", "1", ...; a field's
 * "conv1"), or else a number counting the children in registration order (a model that is not a
 * Sequential has named children, which summary lists in that order). */
export function resolveLayer(net: Module, path: string): LayerRef {
  let m = net;
  const names: string[] = [];
  for (const part of path.split(".")) {
    const children = m.namedChildren();
    const byName = children.find(([n]) => n === part);
    const byIndex = /^\d+$/.test(part) ? children[Number(part)] : undefined;
    const hit = byName ?? byIndex;
    if (!hit) {
      const where = names.length ? `layer ${names.join(".")} (${m.constructor.name})` : "the model";
      const list = children.map(([n, c], i) => (n === String(i) ? `${n} ${c.constructor.name}` : `${i} (${n}) ${c.constructor.name}`));
      throw new Error(`no layer '${part}' in ${where}; ${list.length ? `its layers: ${list.join(", ")}` : "it has no layers inside"}`);
    }
    names.push(hit[0]);
    m = hit[1];
  }
  return { name: names.join("."), module: m };
}

export interface Captured {
  /** The layer's output for every image, row-major, and its shape ([N, C, H, W] or [N, F]). */
  values: Float32Array;
  shape: number[];
  /** The network's output (class scores), [N, classes]. */
  logits: Float32Array;
  classes: number;
}

/** One forward of `images` (shape [N, C, H, W]) in evaluation mode, keeping a copy of `layer`'s output at
 * its first call. Fusion of a layer with the ReLU after it is turned off, so a Conv2d's output is before
 * its ReLU and a ReLU's after it, as in PyTorch's forward hooks. */
export async function captureActivations(net: Module, layer: Module, images: Float32Array, shape: readonly number[], backend: Backend): Promise<Captured> {
  const wasTraining = net.training;
  const patched = net.modules();
  let captured: Tensor | null = null;
  net.eval();
  const own = (m: Module): Record<string, unknown> => m as unknown as Record<string, unknown>;
  for (const m of patched) own(m).forwardRelu = undefined;
  const forward = layer.forward;
  own(layer).forward = (x: Tensor): Tensor => {
    const y = forward.call(layer, x);
    // A copy (a later layer may reuse the storage of its input), kept out of every scope: this function
    // disposes it.
    captured ??= keep(y.detach());
    return y;
  };
  let out: Tensor;
  try {
    out = tidy(() => noGrad(() => net.call(tensor(images, { shape, backend }))));
  } catch (e) {
    (captured as Tensor | null)?.dispose();
    throw e;
  } finally {
    for (const m of patched) delete own(m).forwardRelu;
    delete own(layer).forward;
    net.train(wasTraining);
  }
  const got = captured as Tensor | null;
  try {
    if (!got) throw new Error("the layer was not called by the model's forward");
    const values = Float32Array.from(await got.data());
    const logits = Float32Array.from(await out.data());
    return { values, shape: [...got.shape], logits, classes: out.shape[out.shape.length - 1] ?? 1 };
  } finally {
    got?.dispose();
    out.dispose();
  }
}

export type Normalize = "tile" | "layer";

/** Maps `values` to grey levels 0..255 over [lo, hi]; a constant range (hi = lo) is black. */
export function toGray(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(values.length);
  if (!(hi > lo)) return out;
  const k = 255 / (hi - lo);
  for (let i = 0; i < values.length; i++) out[i] = Math.round((values[i]! - lo) * k);
  return out;
}

function range(values: ArrayLike<number>, from = 0, to = values.length): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = from; i < to; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Layout of the picture (pixels); exported so that tests and callers can find a tile. */
export const PAD = 6;
export const GAP = 4;
/** A line of text. */
export const LINE = GLYPH_HEIGHT + 2;
/** The input image's side on the left of each block (28x28 doubled; larger inputs sampled down to it). */
export const THUMB = 56;
/** A 1-D output (a Linear layer's) is a strip this high, its cells at most MAX_STRIP wide in all. */
export const STRIP_HEIGHT = 24;
export const MAX_STRIP = 1024;
/** Grey of the 1-pixel frame drawn around each tile and strip, just outside it (white maps stay visible). */
export const FRAME = 160;

export interface GridInput {
  /** From captureActivations. */
  values: Float32Array;
  shape: readonly number[];
  /** The inputs fed to the network, [N, 1, S, S] values in [0, 1] (shown as a thumbnail per image). */
  inputs: Float32Array;
  inputSize: number;
  /** Text lines on the left of each image's block (e.g. ["true coat", "pred pullover"]). */
  labels: readonly (readonly string[])[];
  /** The line at the top. */
  title: string;
}

export interface GridOptions {
  /** "tile": each channel of each image to its own min..max; "layer": one min..max over the whole output. */
  normalize?: Normalize;
  /** Tiles per line (default 16). */
  columns?: number;
  /** Pixel size of a feature-map pixel (default: tiles of about 56 px). */
  scale?: number;
}

/** Where one tile of the grid lies (test access). */
export interface TilePlace {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The default pixel size of a map pixel: maps of about THUMB pixels (28x28: 2; AlexNet's 54x54: 1). */
export function defaultScale(height: number, width: number): number {
  return Math.max(1, Math.round(THUMB / Math.max(height, width)));
}

/** The grid: per image a block with its labels and thumbnail, then its channels' tiles (channel number
 * above each, where it fits), wrapped after `columns`; a 1-D output is one strip of cells per image. */
export function activationGrid(g: GridInput, opts: GridOptions = {}): { raster: Raster; tiles: TilePlace[][] } {
  const n = g.shape[0]!;
  const maps = g.shape.length === 4;
  const [channels, h, w] = maps ? [g.shape[1]!, g.shape[2]!, g.shape[3]!] : [1, 1, g.values.length / n];
  const perImage = channels * h * w;
  // A strip: each feature a cell `cellW` wide, wrapped after MAX_STRIP pixels.
  const stripCells = maps ? 0 : Math.min(w, MAX_STRIP);
  const cellW = maps ? 0 : Math.max(1, Math.min(16, Math.floor(MAX_STRIP / stripCells)));
  const scale = opts.scale ?? (maps ? defaultScale(h, w) : 1);
  const columns = maps ? Math.max(1, Math.min(opts.columns ?? 16, channels)) : 1;
  const tileW = maps ? w * scale : stripCells * cellW;
  const tileH = maps ? h * scale : STRIP_HEIGHT;
  const numbered = maps && textWidth(String(channels - 1)) <= tileW;
  const cellH = (numbered ? LINE : 0) + tileH + GAP;
  const lines = maps ? Math.ceil(channels / columns) : Math.ceil(w / stripCells);
  const labelW = Math.max(THUMB, ...g.labels.flatMap((l) => l.map((t) => textWidth(t)))) + PAD;
  const labelH = Math.max(1, ...g.labels.map((l) => l.length)) * LINE + THUMB;
  const blockW = labelW + columns * (tileW + GAP) - GAP;
  const blockH = Math.max(labelH, lines * cellH - GAP);
  const width = 2 * PAD + Math.max(textWidth(g.title), blockW);
  const height = PAD + LINE + PAD + n * (blockH + PAD);
  const raster = createRaster(width, height, 1, 255);
  drawText(raster, g.title, PAD, PAD, 0);
  const layerRange = opts.normalize === "layer" ? range(g.values) : null;
  const tiles: TilePlace[][] = [];
  for (let i = 0; i < n; i++) {
    const y0 = PAD + LINE + PAD + i * (blockH + PAD);
    const lab = g.labels[i] ?? [];
    lab.forEach((t, k) => drawText(raster, t, PAD, y0 + k * LINE, 0));
    blitGray(raster, thumbnail(g.inputs, i, g.inputSize), THUMB, THUMB, PAD, y0 + lab.length * LINE, 1);
    const x0 = PAD + labelW;
    const mine: TilePlace[] = [];
    if (maps) {
      for (let c = 0; c < channels; c++) {
        const from = i * perImage + c * h * w;
        const map = g.values.subarray(from, from + h * w);
        const [lo, hi] = layerRange ?? range(map);
        const tx = x0 + (c % columns) * (tileW + GAP);
        const ty = y0 + Math.floor(c / columns) * cellH;
        if (numbered) drawText(raster, String(c), tx, ty, 0);
        const place = { x: tx, y: ty + (numbered ? LINE : 0), width: tileW, height: tileH };
        blitGray(raster, toGray(map, lo, hi), w, h, place.x, place.y, scale);
        frame(raster, place);
        mine.push(place);
      }
    } else {
      const row = g.values.subarray(i * perImage, (i + 1) * perImage);
      const [lo, hi] = layerRange ?? range(row);
      const gray = toGray(row, lo, hi);
      for (let line = 0; line < lines; line++) {
        const cells = gray.subarray(line * stripCells, (line + 1) * stripCells);
        const place = { x: x0, y: y0 + line * cellH, width: cells.length * cellW, height: tileH };
        for (let f = 0; f < cells.length; f++) {
          for (let dy = 0; dy < tileH; dy++) raster.data.fill(cells[f]!, (place.y + dy) * width + x0 + f * cellW, (place.y + dy) * width + x0 + (f + 1) * cellW);
        }
        frame(raster, place);
        mine.push(place);
      }
    }
    tiles.push(mine);
  }
  return { raster, tiles };
}

/** A 1-pixel rectangle just outside `p`. */
function frame(r: Raster, p: TilePlace): void {
  for (let x = p.x - 1; x <= p.x + p.width; x++) {
    setPixel(r, x, p.y - 1, FRAME);
    setPixel(r, x, p.y + p.height, FRAME);
  }
  for (let y = p.y; y < p.y + p.height; y++) {
    setPixel(r, p.x - 1, y, FRAME);
    setPixel(r, p.x + p.width, y, FRAME);
  }
}

/** Image i of `inputs` ([N, 1, S, S], values in [0, 1]) as THUMB x THUMB grey pixels, nearest sample. */
function thumbnail(inputs: Float32Array, i: number, size: number): Uint8Array {
  const out = new Uint8Array(THUMB * THUMB);
  const base = i * size * size;
  for (let y = 0; y < THUMB; y++) {
    const sy = Math.floor((y * size) / THUMB);
    for (let x = 0; x < THUMB; x++) {
      const v = inputs[base + sy * size + Math.floor((x * size) / THUMB)] ?? 0;
      out[y * THUMB + x] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return out;
}

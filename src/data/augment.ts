// Training-time preprocessing (d2l 7.1 exercise 5, "how about preprocessing?"): torchvision's
// RandomCrop(size, padding) with zero fill and RandomHorizontalFlip(0.5) on the uint8 source image, before
// the resize, and Normalize(mean, std) after ToTensor. Each example's crop offset and flip are a pure
// function of (seed, epoch, example index), so the worker thread, the in-thread path and a run resumed
// mid-epoch all draw the same ones (not PyTorch's stream: another generator).
import { Rng } from "../tensor/random.js";

export interface AugmentOptions {
  flip: boolean;
  crop: boolean;
  /** Zero padding on each side before the random crop (torchvision's `padding`). */
  padding: number;
  seed: number;
}

export interface NormalizeOptions {
  mean: number;
  std: number;
}

/** Fashion-MNIST's training-set pixel mean and standard deviation (of ToTensor's [0, 1] values). */
export const FASHION_MNIST_STATS: NormalizeOptions = { mean: 0.2860, std: 0.3530 };

export interface AugmentDraw {
  flip: boolean;
  /** Top-left corner of the crop in the padded image, each in [0, 2 * padding]. */
  top: number;
  left: number;
}

/** The draw for one example of one epoch: the crop corner first, then the flip. */
export function augmentDraw(options: AugmentOptions, epoch: number, index: number): AugmentDraw {
  // A stream of its own per example; the high word keeps it apart from the shuffle's (seed, epoch) stream.
  const rng = new Rng((options.seed >>> 0) + (epoch + 1) * 2 ** 32, index);
  const span = 2 * options.padding + 1;
  const top = options.crop ? rng.below(span) : options.padding;
  const left = options.crop ? rng.below(span) : options.padding;
  const flip = options.flip ? rng.below(2) === 1 : false;
  return { flip, top, left };
}

/** Writes the cropped and flipped `rows x cols` image into `out` (src is one image at `offset`):
 * out[y][x] = padded[y + top][x' + left] with x' = cols - 1 - x when flipped, padded = src framed by
 * `padding` zeros. */
export function augmentImage(src: Uint8Array, offset: number, rows: number, cols: number, padding: number, draw: AugmentDraw, out: Uint8Array): void {
  for (let y = 0; y < rows; y++) {
    const sy = y + draw.top - padding;
    for (let x = 0; x < cols; x++) {
      const sx = (draw.flip ? cols - 1 - x : x) + draw.left - padding;
      out[y * cols + x] = sy >= 0 && sy < rows && sx >= 0 && sx < cols ? src[offset + sy * cols + sx]! : 0;
    }
  }
}

/** (x - mean) / std in place over out[from, to). */
export function normalizeRange(out: Float32Array, from: number, to: number, n: NormalizeOptions): void {
  const scale = 1 / n.std;
  for (let i = from; i < to; i++) out[i] = (out[i]! - n.mean) * scale;
}

/** `flip,crop` as train's --augment takes it (either or both, any order). */
export function parseAugment(spec: string): { flip: boolean; crop: boolean } {
  const words = spec.split(",").map((w) => w.trim()).filter((w) => w !== "");
  const bad = words.find((w) => w !== "flip" && w !== "crop");
  if (bad !== undefined || words.length === 0) throw new Error(`--augment takes flip, crop or flip,crop (got '${spec}')`);
  return { flip: words.includes("flip"), crop: words.includes("crop") };
}

/** `MEAN,STD` as --normalize-stats takes it. */
export function parseNormalizeStats(spec: string): NormalizeOptions {
  const parts = spec.split(",").map((p) => Number(p.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[1]! > 0)) {
    throw new Error(`--normalize-stats takes MEAN,STD with STD > 0 (got '${spec}')`);
  }
  return { mean: parts[0]!, std: parts[1]! };
}

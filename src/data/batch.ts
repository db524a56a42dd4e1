// Assembling one batch: gather the chosen uint8 images, crop and flip them if asked (augment.ts), resize
// them if asked, convert to float32 NCHW, normalize if asked. Shared by the in-thread loader path and the
// worker thread, so both produce identical batches.
import { type AugmentOptions, type NormalizeOptions, augmentDraw, augmentImage, normalizeRange } from "./augment.js";
import { Resizer, toTensor } from "./resize.js";

/** The loader's view of a dataset: uint8 images (count x rows x cols) and class labels. */
export interface ImageDataset {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

export interface Batch {
  /** B*1*H*W float32 in [0, 1], NCHW. */
  images: Float32Array;
  labels: Int32Array;
  shape: [number, 1, number, number];
  /** Dataset index of each example in the batch. */
  indices: Int32Array;
}

/** What is done to each image besides the resize: training's random crop and flip, and normalization. */
export interface Preprocess {
  augment?: AugmentOptions;
  normalize?: NormalizeOptions;
}

/** Builds batches of a fixed output size; holds the resizer's tables and scratch buffers. */
export class BatchAssembler {
  private readonly resizer: Resizer | null;
  private readonly scratch: Uint8Array;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly outHeight: number,
    readonly outWidth: number,
    readonly preprocess: Preprocess = {},
  ) {
    this.resizer = outHeight !== rows || outWidth !== cols ? new Resizer(cols, rows, outWidth, outHeight) : null;
    this.scratch = new Uint8Array(preprocess.augment ? rows * cols : 0);
  }

  /** `epoch` picks the augmentation's draws (ignored without augmentation). */
  assemble(images: Uint8Array, labels: Uint8Array, indices: Int32Array, epoch = 0): Batch {
    const b = indices.length;
    const inPixels = this.rows * this.cols;
    const outPixels = this.outHeight * this.outWidth;
    const out = new Float32Array(b * outPixels);
    const outLabels = new Int32Array(b);
    for (let i = 0; i < b; i++) {
      const idx = indices[i]!;
      const src = idx * inPixels;
      if (idx < 0 || src + inPixels > images.length || idx >= labels.length) {
        throw new RangeError(`batch: example index ${idx} out of range`);
      }
      let pixels = images;
      let at = src;
      const augment = this.preprocess.augment;
      if (augment) {
        augmentImage(images, src, this.rows, this.cols, augment.padding, augmentDraw(augment, epoch, idx), this.scratch);
        [pixels, at] = [this.scratch, 0];
      }
      if (this.resizer) this.resizer.resizeToFloat(pixels, at, out, i * outPixels);
      else toTensor(pixels.subarray(at, at + inPixels), out, i * outPixels);
      if (this.preprocess.normalize) normalizeRange(out, i * outPixels, (i + 1) * outPixels, this.preprocess.normalize);
      outLabels[i] = labels[idx]!;
    }
    return { images: out, labels: outLabels, shape: [b, 1, this.outHeight, this.outWidth], indices };
  }
}

// Assembling one batch: gather the chosen uint8 images, resize them if asked, convert to float32 NCHW.
// Shared by the in-thread loader path and the worker thread, so both produce identical batches.
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

/** Builds batches of a fixed output size; holds the resizer's tables and scratch buffers. */
export class BatchAssembler {
  private readonly resizer: Resizer | null;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly outHeight: number,
    readonly outWidth: number,
  ) {
    this.resizer = outHeight !== rows || outWidth !== cols ? new Resizer(cols, rows, outWidth, outHeight) : null;
  }

  assemble(images: Uint8Array, labels: Uint8Array, indices: Int32Array): Batch {
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
      if (this.resizer) this.resizer.resizeToFloat(images, src, out, i * outPixels);
      else toTensor(images.subarray(src, src + inPixels), out, i * outPixels);
      outLabels[i] = labels[idx]!;
    }
    return { images: out, labels: outLabels, shape: [b, 1, this.outHeight, this.outWidth], indices };
  }
}

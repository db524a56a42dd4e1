// A grid of grayscale images with a title above each, like d2l's show_images; titles may have several
// lines ("true\npredicted"), as in d2l's predict_ch3.
import { drawText, GLYPH_HEIGHT, textWidth } from "./font.js";
import { blitGray, createRaster, type Raster } from "./png.js";

export interface GridOptions {
  /** Images per row (default: all in one row, at most 9 as in d2l's 2 x 9 figure). */
  columns?: number;
  /** Each image pixel becomes scale x scale pixels (default 3). */
  scale?: number;
  /** Space around each cell, in pixels (default 6). */
  padding?: number;
}

/** Draws `count` images of rows x cols uint8 pixels (consecutive in `images`) with their titles. */
export function imageGrid(
  images: Uint8Array,
  count: number,
  rows: number,
  cols: number,
  titles: readonly string[],
  opts: GridOptions = {},
): Raster {
  const scale = opts.scale ?? 3;
  const pad = opts.padding ?? 6;
  const columns = Math.max(1, Math.min(opts.columns ?? Math.min(count, 9), count));
  const gridRows = Math.ceil(count / columns);
  const titleLines = Math.max(1, ...titles.map((t) => t.split("\n").length));
  const lineHeight = GLYPH_HEIGHT + 2;
  const titleHeight = titleLines * lineHeight;
  const widest = Math.max(0, ...titles.flatMap((t) => t.split("\n").map((l) => textWidth(l))));
  const cellW = Math.max(cols * scale, widest) + pad;
  const cellH = titleHeight + rows * scale + pad;
  const raster = createRaster(columns * cellW + pad, gridRows * cellH + pad, 1, 255);
  for (let i = 0; i < count; i++) {
    const x0 = pad + (i % columns) * cellW;
    const y0 = pad + Math.floor(i / columns) * cellH;
    const lines = (titles[i] ?? "").split("\n");
    lines.forEach((line, k) => {
      const tx = x0 + Math.floor((cellW - pad - textWidth(line)) / 2);
      drawText(raster, line, tx, y0 + k * lineHeight, 0);
    });
    const ix = x0 + Math.floor((cellW - pad - cols * scale) / 2);
    blitGray(raster, images.subarray(i * rows * cols, (i + 1) * rows * cols), cols, rows, ix, y0 + titleHeight, scale);
  }
  return raster;
}

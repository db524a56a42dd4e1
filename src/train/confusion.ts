// Evaluation beyond one number: the confusion matrix (rows = true class, columns = predicted), per-class
// accuracy, as a text table and as a PNG heatmap with d2l's labels.
import type { Backend } from "../backend/backend.js";
import type { DataLoader } from "../data/loader.js";
import { drawText, GLYPH_HEIGHT, textWidth } from "../data/font.js";
import { createRaster, encodePng, setPixel } from "../data/png.js";
import type { Sequential } from "../nn/sequential.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { argmaxRows } from "./trainer.js";

export interface Confusion {
  /** counts[t][p]: examples of true class t predicted as p. */
  counts: number[][];
  accuracy: number;
  perClass: number[];
  total: number;
}

export async function confusionMatrix(net: Sequential, loader: DataLoader, backend: Backend, classes: number): Promise<Confusion> {
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  net.eval();
  for await (const batch of loader.iterate(0)) {
    const logits = tidy(() => noGrad(() => net.call(tensor(batch.images, { shape: batch.shape, backend }))));
    const predicted = argmaxRows(await logits.data(), batch.labels.length, classes);
    logits.dispose();
    batch.labels.forEach((t, i) => counts[t]![predicted[i]!]!++);
  }
  const total = counts.flat().reduce((a, b) => a + b, 0);
  const correct = counts.reduce((s, row, i) => s + row[i]!, 0);
  const perClass = counts.map((row, i) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n ? row[i]! / n : NaN;
  });
  return { counts, accuracy: total ? correct / total : NaN, perClass, total };
}

export function confusionTable(c: Confusion, labels: readonly string[]): string[] {
  const w = Math.max(...labels.map((l) => l.length), 5);
  const cell = Math.max(5, String(Math.max(...c.counts.flat())).length + 1);
  const head = `${"true \\ predicted".padEnd(w)} ${labels.map((_, j) => String(j).padStart(cell)).join("")}   accuracy`;
  const rows = c.counts.map((row, i) =>
    `${`${i} ${labels[i]}`.padEnd(w + 2).slice(0, w + 2)}${row.map((v) => String(v).padStart(cell)).join("").slice(2)}   ${(c.perClass[i]! * 100).toFixed(1)}%`);
  return [head, ...rows];
}

/** A heatmap PNG: darker blue for more examples, counts written in each cell, labels on both axes. */
export function confusionPng(c: Confusion, labels: readonly string[]): Uint8Array {
  const k = c.counts.length;
  const cellSize = 44;
  const left = Math.max(...labels.map((l) => textWidth(l))) + 16;
  const top = 40;
  const size = left + k * cellSize + 12;
  const r = createRaster(size, top + k * cellSize + 60, 3, 255);
  const max = Math.max(1, ...c.counts.flat());
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) {
      const v = c.counts[t]![p]!;
      const a = v / max;
      const color: [number, number, number] = [Math.round(255 - 215 * a), Math.round(255 - 155 * a), Math.round(255 - 60 * a)];
      const x0 = left + p * cellSize;
      const y0 = top + t * cellSize;
      for (let y = 1; y < cellSize; y++) for (let x = 1; x < cellSize; x++) setPixel(r, x0 + x, y0 + y, color);
      const text = String(v);
      drawText(r, text, x0 + Math.floor((cellSize - textWidth(text)) / 2), y0 + Math.floor((cellSize - GLYPH_HEIGHT) / 2), a > 0.5 ? 255 : 0);
    }
    drawText(r, labels[t]!, left - 8 - textWidth(labels[t]!), top + t * cellSize + Math.floor((cellSize - GLYPH_HEIGHT) / 2), 0);
    const idx = String(t);
    drawText(r, idx, left + t * cellSize + Math.floor((cellSize - textWidth(idx)) / 2), top - 14, 0);
  }
  drawText(r, "predicted class", left, 6, 0);
  drawText(r, `rows: true class. accuracy ${(c.accuracy * 100).toFixed(2)}% of ${c.total}`, 8, top + k * cellSize + 20, 0);
  return encodePng(r);
}

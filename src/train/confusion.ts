// Evaluation beyond one number: the confusion matrix (rows = true class, columns = predicted), per-class
// accuracy, as a text table and as a PNG heatmap with d2l's labels.
import type { Backend } from "../backend/backend.js";
import type { DataLoader } from "../data/loader.js";
import { drawText, GLYPH_HEIGHT, textWidth } from "../data/font.js";
import { createRaster, encodePng, setPixel } from "../data/png.js";
import type { Module } from "../nn/module.js";
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

export async function confusionMatrix(net: Module, loader: DataLoader, backend: Backend, classes: number): Promise<Confusion> {
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

/** The matrix as text: rows "i label", columns by class number, per-class accuracy last; every line is
 * as wide as the header, so the columns line up. */
export function confusionTable(c: Confusion, labels: readonly string[]): string[] {
  const corner = "true \\ predicted";
  const names = c.counts.map((_, i) => `${i} ${labels[i] ?? ""}`);
  const first = Math.max(corner.length, ...names.map((n) => n.length));
  const cell = Math.max(5, String(Math.max(0, ...c.counts.flat())).length + 2);
  const acc = "accuracy";
  const head = `${corner.padEnd(first)}${c.counts.map((_, j) => String(j).padStart(cell)).join("")}  ${acc}`;
  const rows = c.counts.map((row, i) => {
    const a = Number.isFinite(c.perClass[i]!) ? `${(c.perClass[i]! * 100).toFixed(1)}%` : "-";
    return `${names[i]!.padEnd(first)}${row.map((v) => String(v).padStart(cell)).join("")}  ${a.padStart(acc.length)}`;
  });
  return [head, ...rows];
}

/** A label split at spaces into at most two lines (for column headers). */
function twoLines(label: string): string[] {
  const words = label.split(" ");
  if (words.length < 2) return [label];
  let best: string[] = [label];
  let bestWidth = Infinity;
  for (let k = 1; k < words.length; k++) {
    const lines = [words.slice(0, k).join(" "), words.slice(k).join(" ")];
    const w = Math.max(...lines.map((l) => textWidth(l)));
    if (w < bestWidth) [best, bestWidth] = [lines, w];
  }
  return best;
}

/** A heatmap PNG: darker blue for more examples, counts written in each cell, class names on both axes
 * (rows: true class, columns: predicted class), margins on every side. */
export function confusionPng(c: Confusion, labels: readonly string[]): Uint8Array {
  const k = c.counts.length;
  const heads = Array.from({ length: k }, (_, j) => twoLines(labels[j] ?? String(j)));
  const headLines = Math.max(1, ...heads.map((h) => h.length));
  const lineH = GLYPH_HEIGHT + 3;
  const cellSize = Math.max(44, ...heads.flat().map((l) => textWidth(l) + 8));
  const left = Math.max(textWidth("true class"), ...labels.map((l) => textWidth(l))) + 16;
  const top = 24 + headLines * lineH + 6;
  const right = 24;
  const width = left + k * cellSize + right;
  const r = createRaster(width, top + k * cellSize + 44, 3, 255);
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
  }
  heads.forEach((lines, j) => {
    const y0 = top - 6 - lines.length * lineH;
    lines.forEach((line, n) => drawText(r, line, left + j * cellSize + Math.floor((cellSize - textWidth(line)) / 2), y0 + n * lineH, 0));
  });
  drawText(r, "predicted class", left + Math.floor((k * cellSize - textWidth("predicted class")) / 2), 6, 0);
  drawText(r, "true class", left - 8 - textWidth("true class"), 6, 0);
  drawText(r, `accuracy ${(c.accuracy * 100).toFixed(2)}% of ${c.total}`, left, top + k * cellSize + 18, 0);
  return encodePng(r);
}

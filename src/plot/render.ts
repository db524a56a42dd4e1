// The two painters behind charts: SVG markup (crisp, for browsers and papers) and an RGB raster encoded as
// PNG (for viewers without SVG). Plus writing both atomically, so a user can keep the file open while a
// run rewrites it.
import { renameSync, writeFileSync } from "node:fs";
import { createRaster, encodePng, setPixel, type Raster } from "../data/png.js";
import { drawText, GLYPH_HEIGHT, textWidth } from "../data/font.js";
import { chartSize, drawChart, type ChartSpec, type Painter, type Rgb, type Series } from "./chart.js";

const hex = (c: Rgb): string => `#${c.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;
const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const DASHES: Record<NonNullable<Series["dash"]>, number[]> = { solid: [], dashed: [7, 4], dashdot: [7, 3, 2, 3] };

export function renderSvg(spec: ChartSpec): string {
  const { width, height } = chartSize(spec);
  const parts: string[] = [];
  const painter: Painter = {
    line(x1, y1, x2, y2, color, w, dash) {
      const d = DASHES[dash ?? "solid"];
      parts.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${hex(color)}" stroke-width="${w}"${d.length ? ` stroke-dasharray="${d.join(" ")}"` : ""}/>`);
    },
    rect(x, y, w, h, color) {
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" fill="${hex(color)}"/>`);
    },
    begin(role, name) {
      parts.push(`<g class="${role}"${name === undefined ? "" : ` data-name="${esc(name)}"`}>`);
    },
    end() {
      parts.push("</g>");
    },
    text(x, y, text, color, anchor) {
      parts.push(`<text x="${x.toFixed(1)}" y="${(y + 4).toFixed(1)}" fill="${hex(color)}" text-anchor="${anchor}">${esc(text)}</text>`);
    },
  };
  drawChart(spec, painter);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

/** The chart drawn 2x (for legibility of the bitmap font) into an RGB raster. */
export function renderRaster(spec: ChartSpec, scale = 2): Raster {
  const { width, height } = chartSize(spec);
  const r = createRaster(width * scale, height * scale, 3, 255);
  const painter: Painter = {
    line(x1, y1, x2, y2, color, w, dash) {
      const pattern = DASHES[dash ?? "solid"].map((v) => v * scale);
      const period = pattern.reduce((a, b) => a + b, 0);
      const len = Math.hypot(x2 - x1, y2 - y1) * scale;
      const steps = Math.max(1, Math.ceil(len * 2));
      const half = Math.max(0, (w * scale) / 2 - 0.5);
      for (let i = 0; i <= steps; i++) {
        const along = (i / steps) * len;
        if (period > 0 && !inDash(along % period, pattern)) continue;
        const cx = (x1 + ((x2 - x1) * i) / steps) * scale;
        const cy = (y1 + ((y2 - y1) * i) / steps) * scale;
        for (let dy = -half; dy <= half; dy++) {
          for (let dx = -half; dx <= half; dx++) setPixel(r, Math.round(cx + dx), Math.round(cy + dy), color);
        }
      }
    },
    rect(x, y, w, h, color) {
      for (let py = Math.round(y * scale); py < Math.round((y + h) * scale); py++) {
        for (let px = Math.round(x * scale); px < Math.round((x + w) * scale); px++) setPixel(r, px, py, color);
      }
    },
    text(x, y, text, color, anchor) {
      const tw = textWidth(text, scale);
      const left = anchor === "start" ? x * scale : anchor === "middle" ? x * scale - tw / 2 : x * scale - tw;
      drawText(r, text, Math.round(left), Math.round((y - GLYPH_HEIGHT / 2) * scale), color, scale);
    },
  };
  drawChart(spec, painter);
  return r;
}

function inDash(pos: number, pattern: number[]): boolean {
  let acc = 0;
  for (let i = 0; i < pattern.length; i++) {
    acc += pattern[i]!;
    if (pos < acc) return i % 2 === 0;
  }
  return true;
}

export function renderPng(spec: ChartSpec): Uint8Array {
  return encodePng(renderRaster(spec));
}

/** Writes `data` to `path` through a temporary file and a rename, so readers never see a partial file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Writes the chart as SVG or PNG, chosen by the file's extension. */
export function writeChart(path: string, spec: ChartSpec): void {
  if (path.endsWith(".svg")) writeFileAtomic(path, renderSvg(spec));
  else if (path.endsWith(".png")) writeFileAtomic(path, renderPng(spec));
  else throw new Error(`plot file must end in .svg or .png: ${path}`);
}

// Charts on the page as inline SVG, drawn by the same layout as the run directory's training.svg
// (src/plot/chart.ts) through a DOM painter: d2l's three training curves and the per-layer bars.
import { drawChart, type ChartSpec, type Painter, type Rgb } from "../../src/plot/chart.js";
import type { MetricPoint } from "../../src/train/trainer.js";
import { trainingChart } from "../../src/plot/trainingChart.js";
import type { LayerRow } from "./protocol.js";

const SVG = "http://www.w3.org/2000/svg";
const DASHES = { solid: "", dashed: "7 4", dashdot: "7 3 2 3" };
const css = (c: Rgb): string => `rgb(${c.join(",")})`;

export function renderChart(spec: ChartSpec, into: Element): void {
  const width = spec.width ?? 480;
  const height = spec.height ?? 320;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("font-family", "sans-serif");
  svg.setAttribute("font-size", "11");
  svg.setAttribute("role", "img");
  if (spec.title) svg.setAttribute("aria-label", spec.title);
  const add = (tag: string, attrs: Record<string, string | number>, text?: string): void => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, typeof v === "number" ? v.toFixed(1) : v);
    if (text !== undefined) el.textContent = text;
    svg.appendChild(el);
  };
  const painter: Painter = {
    line(x1, y1, x2, y2, color, w, dash) {
      const attrs: Record<string, string | number> = { x1, y1, x2, y2, stroke: css(color), "stroke-width": String(w) };
      if (dash && DASHES[dash]) attrs["stroke-dasharray"] = DASHES[dash];
      add("line", attrs);
    },
    rect(x, y, w, h, color) {
      add("rect", { x, y, width: w, height: h, fill: css(color) });
    },
    text(x, y, text, color, anchor) {
      add("text", { x, y: y + 4, fill: css(color), "text-anchor": anchor }, text);
    },
  };
  drawChart(spec, painter);
  into.replaceChildren(svg);
}

/** d2l's Animator for the live page: the run directory's chart, wider, its axis from 0. */
export function liveTrainingChart(points: readonly MetricPoint[], epochs: number): ChartSpec {
  return trainingChart(points, epochs, { width: 460, xFrom: 0 });
}

/** Each layer's share of the parameters and of the multiply-accumulates. */
export function analysisChart(layers: readonly LayerRow[]): ChartSpec {
  const share = (values: number[]): [number, number][] => {
    const total = values.reduce((a, b) => a + b, 0) || 1;
    return values.map((v, i) => [i, (100 * v) / total]);
  };
  return {
    kind: "bar",
    title: "per layer: share of parameters and of compute (MACs)",
    xLabel: "layer",
    yLabel: "% of total",
    width: 820,
    height: 280,
    categories: layers.map((l) => l.name),
    series: [
      { name: "parameters %", color: [31, 119, 180], points: share(layers.map((l) => l.params)) },
      { name: "MACs %", color: [214, 39, 40], points: share(layers.map((l) => l.macs)) },
    ],
  };
}

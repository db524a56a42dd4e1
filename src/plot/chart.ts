// Small charts for run directories and reports: line charts (d2l's training curves) and grouped bar charts
// (per-layer analysis). One layout drawn through a Painter, so the SVG and the PNG show the same picture.

export type Rgb = readonly [number, number, number];

export interface Series {
  name: string;
  color: Rgb;
  /** (x, y) points for lines; for bars, x is the category index. */
  points: readonly (readonly [number, number])[];
  /** Line pattern, as matplotlib's '-', '--', '-.'. */
  dash?: "solid" | "dashed" | "dashdot";
}

export interface ChartSpec {
  kind: "line" | "bar";
  title?: string;
  xLabel: string;
  yLabel?: string;
  width?: number;
  height?: number;
  series: readonly Series[];
  /** Fixed x range for line charts (d2l: [1, num_epochs]); default from the data. */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Bar charts: one label per category. */
  categories?: readonly string[];
}

/** What a chart needs from a drawing surface; implemented for SVG text and for an RGB raster. */
export interface Painter {
  line(x1: number, y1: number, x2: number, y2: number, color: Rgb, width: number, dash?: Series["dash"]): void;
  rect(x: number, y: number, w: number, h: number, color: Rgb): void;
  /** anchor: where (x, y) sits relative to the text; y is the text's vertical middle. */
  text(x: number, y: number, text: string, color: Rgb, anchor: "start" | "middle" | "end"): void;
}

const AXIS: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];

/** Rounded tick values covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  // From the last tick at or below lo to the first at or above hi, so the axis closes on round numbers.
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

export function chartSize(spec: ChartSpec): { width: number; height: number } {
  return { width: spec.width ?? 480, height: spec.height ?? 320 };
}

/** Lays out and draws the chart: frame, grid, ticks, series, legend, labels. */
export function drawChart(spec: ChartSpec, p: Painter): void {
  const { width, height } = chartSize(spec);
  const m = { left: 58, right: 16, top: spec.title ? 30 : 14, bottom: 44 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = spec.series.flatMap((s) => s.points);
  const finite = all.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const isBar = spec.kind === "bar";
  const categories = spec.categories ?? [];
  const [x0, x1] = isBar ? [-0.5, Math.max(categories.length, 1) - 0.5] : spec.xRange ?? extent(finite.map(([x]) => x));
  let [y0, y1] = spec.yRange ?? extent(finite.map(([, y]) => y));
  if (isBar) y0 = Math.min(0, y0);
  if (y1 === y0) y1 = y0 + 1;
  const yTicks = niceTicks(y0, y1);
  if (!spec.yRange) {
    y0 = Math.min(y0, yTicks[0]!);
    y1 = Math.max(y1, yTicks[yTicks.length - 1]!);
  }
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number): number => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH;

  p.rect(0, 0, width, height, [255, 255, 255]);
  for (const t of yTicks) {
    if (t < y0 || t > y1) continue;
    p.line(m.left, sy(t), m.left + plotW, sy(t), GRID, 1);
    p.text(m.left - 6, sy(t), formatTick(t), AXIS, "end");
  }
  if (isBar) {
    const every = Math.max(1, Math.ceil(categories.length / Math.max(1, Math.floor(plotW / 22))));
    categories.forEach((label, i) => {
      if (i % every === 0) p.text(sx(i), m.top + plotH + 12, label, AXIS, "middle");
    });
    const groupW = (plotW / Math.max(categories.length, 1)) * 0.8;
    const barW = groupW / Math.max(spec.series.length, 1);
    spec.series.forEach((s, k) => {
      for (const [x, y] of s.points) {
        if (!Number.isFinite(y)) continue;
        const left = sx(x) - groupW / 2 + k * barW;
        const top = Math.min(sy(y), sy(0));
        p.rect(left, top, Math.max(1, barW - 1), Math.abs(sy(y) - sy(0)), s.color);
      }
    });
  } else {
    for (const t of niceTicks(x0, x1, 6)) {
      if (t < x0 || t > x1) continue;
      p.line(sx(t), m.top, sx(t), m.top + plotH, GRID, 1);
      p.text(sx(t), m.top + plotH + 12, formatTick(t), AXIS, "middle");
    }
    for (const s of spec.series) {
      let prev: readonly [number, number] | null = null;
      for (const pt of s.points) {
        if (!Number.isFinite(pt[1])) {
          prev = null;
          continue;
        }
        if (prev) p.line(sx(prev[0]), sy(prev[1]), sx(pt[0]), sy(pt[1]), s.color, 2, s.dash);
        else if (s.points.length === 1) p.rect(sx(pt[0]) - 2, sy(pt[1]) - 2, 4, 4, s.color);
        prev = pt;
      }
    }
  }
  // Frame, labels, title, legend (top right, as matplotlib's best spot for rising curves varies).
  p.line(m.left, m.top, m.left, m.top + plotH, AXIS, 1);
  p.line(m.left, m.top + plotH, m.left + plotW, m.top + plotH, AXIS, 1);
  p.line(m.left, m.top, m.left + plotW, m.top, AXIS, 1);
  p.line(m.left + plotW, m.top, m.left + plotW, m.top + plotH, AXIS, 1);
  p.text(m.left + plotW / 2, height - 12, spec.xLabel, AXIS, "middle");
  if (spec.yLabel) p.text(4, m.top - 8 + (spec.title ? 0 : 4), spec.yLabel, AXIS, "start");
  if (spec.title) p.text(width / 2, 14, spec.title, AXIS, "middle");
  const legendW = 24 + 7 * Math.max(...spec.series.map((s) => s.name.length), 0);
  const lx = m.left + plotW - legendW - 6;
  spec.series.forEach((s, i) => {
    const ly = m.top + 12 + i * 16;
    p.rect(lx - 4, ly - 8, legendW + 8, 16, [255, 255, 255]);
    if (isBar) p.rect(lx, ly - 4, 14, 8, s.color);
    else p.line(lx, ly, lx + 18, ly, s.color, 2, s.dash);
    p.text(lx + 22, ly, s.name, AXIS, "start");
  });
}

function extent(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo === hi ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

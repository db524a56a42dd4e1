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
  /** Line charts: text beside a point drawn as a marker (one no line joins), by point index; placed where it
   * covers no other label or marker. */
  labels?: readonly (string | undefined)[];
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
  /** Line charts: logarithmic axes, ticked at powers of ten (a roofline); values <= 0 are not drawn.
   * xRange/yRange stay in data units. */
  logX?: boolean;
  logY?: boolean;
}

/** What a chart needs from a drawing surface; implemented for SVG text and for an RGB raster. */
export interface Painter {
  line(x1: number, y1: number, x2: number, y2: number, color: Rgb, width: number, dash?: Series["dash"]): void;
  rect(x: number, y: number, w: number, h: number, color: Rgb): void;
  /** anchor: where (x, y) sits relative to the text; y is the text's vertical middle. */
  text(x: number, y: number, text: string, color: Rgb, anchor: "start" | "middle" | "end"): void;
  /** Optional grouping (the SVG wraps what follows in <g class="...">, up to end()): "series" (with its
   * name), "legend". Drawing is the same without it. */
  begin?(role: "series" | "legend", name?: string): void;
  end?(): void;
}

/** A box in chart pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Approximate width of one character of chart text (11 px sans-serif; the bitmap font is narrower). */
export const CHAR_WIDTH = 6.5;
/** Side of the square marker drawn on a point that no line joins (one epoch's test accuracy). */
const MARKER = 8;

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

interface Layout {
  m: { left: number; right: number; top: number; bottom: number };
  plotW: number;
  plotH: number;
  sx: (x: number) => number;
  sy: (y: number) => number;
}

/** Integer ticks (powers of ten on a log axis, where [lo, hi] are log10 values) covering [lo, hi]; every
 * other one past 8 decades; niceTicks within less than one decade. */
function decadeTicks(lo: number, hi: number): number[] {
  if (!(hi - lo >= 1)) return niceTicks(lo, hi);
  const step = hi - lo > 8 ? 2 : 1;
  const ticks: number[] = [];
  for (let k = Math.floor(lo + 1e-9); k <= Math.ceil(hi - 1e-9); k += step) ticks.push(k);
  return ticks;
}

/** The spec with log10 of the values on its logarithmic axes (non-positive values become NaN: not drawn). */
function toLogSpace(spec: ChartSpec, logX: boolean, logY: boolean): ChartSpec {
  const lg = (v: number): number => (v > 0 ? Math.log10(v) : NaN);
  const range = (r: [number, number] | undefined, log: boolean): [number, number] | undefined => (r && log ? [lg(r[0]), lg(r[1])] : r);
  return {
    ...spec,
    xRange: range(spec.xRange, logX),
    yRange: range(spec.yRange, logY),
    series: spec.series.map((s) => ({ ...s, points: s.points.map(([x, y]) => [logX ? lg(x) : x, logY ? lg(y) : y] as const) })),
  };
}

/** Lays out and draws the chart: frame, grid, ticks, series, legend, labels. The legend goes inside the
 * plot where it covers no line, point or bar, else outside it on the right. */
export function drawChart(spec: ChartSpec, p: Painter): void {
  const logX = spec.kind === "line" && spec.logX === true;
  const logY = spec.kind === "line" && spec.logY === true;
  if (logX || logY) spec = toLogSpace(spec, logX, logY);
  const tickText = (v: number, log: boolean): string => formatTick(log ? 10 ** v : v);
  const { width, height } = chartSize(spec);
  const all = spec.series.flatMap((s) => s.points);
  const finite = all.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const isBar = spec.kind === "bar";
  const categories = spec.categories ?? [];
  const [x0, x1] = isBar ? [-0.5, Math.max(categories.length, 1) - 0.5] : spec.xRange ?? extent(finite.map(([x]) => x));
  let [y0, y1] = spec.yRange ?? extent(finite.map(([, y]) => y));
  if (isBar) y0 = Math.min(0, y0);
  if (y1 === y0) y1 = y0 + 1;
  const yTicks = logY ? decadeTicks(y0, y1) : niceTicks(y0, y1);
  if (!spec.yRange) {
    y0 = Math.min(y0, yTicks[0]!);
    y1 = Math.max(y1, yTicks[yTicks.length - 1]!);
  }
  const legend = legendSize(spec.series);
  // Category labels wider than their slot are staggered over as many rows as they need (up to 3).
  const labelRows = (plotW: number): number => {
    if (!isBar || categories.length === 0) return 1;
    const slot = plotW / categories.length;
    const widest = Math.max(...categories.map((c) => c.length * CHAR_WIDTH)) + 4;
    return Math.min(3, Math.max(1, Math.ceil(widest / slot)));
  };
  const layoutWith = (right: number): Layout => {
    const top = spec.title ? 30 : 14;
    const left = 58;
    const plotW = width - left - right;
    const bottom = 44 + (labelRows(plotW) - 1) * 13;
    const plotH = height - top - bottom;
    const m = { left, right, top, bottom };
    return {
      m, plotW, plotH,
      sx: (x: number): number => m.left + ((x - x0) / (x1 - x0 || 1)) * plotW,
      sy: (y: number): number => m.top + plotH - ((y - y0) / (y1 - y0)) * plotH,
    };
  };
  let L = layoutWith(16);
  let legendBox = legend && placeLegend(legend, L, obstacles(spec, L));
  if (legend && !legendBox) {
    L = layoutWith(legend.w + 24);
    legendBox = { x: L.m.left + L.plotW + 12, y: L.m.top, w: legend.w, h: legend.h };
  }
  const { m, plotW, plotH, sx, sy } = L;

  p.rect(0, 0, width, height, [255, 255, 255]);
  for (const t of yTicks) {
    if (t < y0 || t > y1) continue;
    p.line(m.left, sy(t), m.left + plotW, sy(t), GRID, 1);
    p.text(m.left - 6, sy(t), tickText(t, logY), AXIS, "end");
  }
  if (isBar) {
    const rows = labelRows(plotW);
    categories.forEach((label, i) => p.text(sx(i), m.top + plotH + 12 + (i % rows) * 13, label, AXIS, "middle"));
    for (const [k, s] of spec.series.entries()) {
      p.begin?.("series", s.name);
      for (const b of barBoxes(spec, L, k)) p.rect(b.x, b.y, b.w, b.h, s.color);
      p.end?.();
    }
  } else {
    for (const t of logX ? decadeTicks(x0, x1) : niceTicks(x0, x1, 6)) {
      if (t < x0 || t > x1) continue;
      p.line(sx(t), m.top, sx(t), m.top + plotH, GRID, 1);
      p.text(sx(t), m.top + plotH + 12, tickText(t, logX), AXIS, "middle");
    }
    for (const s of spec.series) {
      p.begin?.("series", s.name);
      for (const [a, b] of segments(s)) p.line(sx(a[0]), sy(a[1]), sx(b[0]), sy(b[1]), s.color, 2, s.dash);
      for (const pt of isolated(s)) {
        p.rect(sx(pt[0]) - MARKER / 2 - 1, sy(pt[1]) - MARKER / 2 - 1, MARKER + 2, MARKER + 2, [255, 255, 255]);
        p.rect(sx(pt[0]) - MARKER / 2, sy(pt[1]) - MARKER / 2, MARKER, MARKER, s.color);
      }
      p.end?.();
    }
    // Point labels last, over every marker: below right of the point, else above right, below left, above
    // left, else below right lowered a line at a time until no other label or marker is covered.
    const markers = spec.series.flatMap((s) => isolated(s).map((pt) => ({ x: sx(pt[0]) - MARKER / 2, y: sy(pt[1]) - MARKER / 2, w: MARKER, h: MARKER })));
    const taken: Box[] = [];
    for (const s of spec.series) {
      s.labels?.forEach((label, i) => {
        const pt = s.points[i];
        if (!label || !pt || !isolated(s).includes(pt)) return;
        const w = label.length * CHAR_WIDTH;
        const [x, y] = [sx(pt[0]), sy(pt[1])];
        const free = (b: Box): boolean => !taken.some((t) => boxesOverlap(t, b)) && !markers.some((m) => boxesOverlap(m, b));
        const spots = [[x + MARKER / 2 + 2, y + 3], [x + MARKER / 2 + 2, y - 15], [x - MARKER / 2 - 2 - w, y + 3], [x - MARKER / 2 - 2 - w, y - 15]];
        let box = spots.map(([bx, by]) => ({ x: bx!, y: by!, w, h: 12 })).find(free);
        if (!box) {
          box = { x: spots[0]![0]!, y: spots[0]![1]!, w, h: 12 };
          while (!free(box) && box.y < m.top + plotH) box.y += 12;
        }
        taken.push(box);
        p.text(box.x, box.y + 6, label, AXIS, "start");
      });
    }
  }
  // Frame, labels, title, legend.
  p.line(m.left, m.top, m.left, m.top + plotH, AXIS, 1);
  p.line(m.left, m.top + plotH, m.left + plotW, m.top + plotH, AXIS, 1);
  p.line(m.left, m.top, m.left + plotW, m.top, AXIS, 1);
  p.line(m.left + plotW, m.top, m.left + plotW, m.top + plotH, AXIS, 1);
  p.text(m.left + plotW / 2, height - 12, spec.xLabel, AXIS, "middle");
  if (spec.yLabel) p.text(4, m.top - 8 + (spec.title ? 0 : 4), spec.yLabel, AXIS, "start");
  if (spec.title) p.text(width / 2, 14, spec.title, AXIS, "middle");
  if (legendBox) {
    p.begin?.("legend");
    const { x, y, w, h } = legendBox;
    p.rect(x, y, w, h, [200, 200, 200]);
    p.rect(x + 1, y + 1, w - 2, h - 2, [255, 255, 255]);
    spec.series.forEach((s, i) => {
      const ly = y + 10 + i * 16;
      const lx = x + 6;
      if (isBar) p.rect(lx, ly - 4, 14, 8, s.color);
      else p.line(lx, ly, lx + 18, ly, s.color, 2, s.dash);
      p.text(lx + 22, ly, s.name, AXIS, "start");
    });
    p.end?.();
  }
}

function legendSize(series: readonly Series[]): { w: number; h: number } | null {
  if (series.length === 0) return null;
  return { w: 34 + CHAR_WIDTH * Math.max(...series.map((s) => s.name.length)), h: 4 + 16 * series.length };
}

/** Consecutive finite points of a line series, joined. */
function segments(s: Series): [readonly [number, number], readonly [number, number]][] {
  const out: [readonly [number, number], readonly [number, number]][] = [];
  for (let i = 1; i < s.points.length; i++) {
    const a = s.points[i - 1]!;
    const b = s.points[i]!;
    if ([a[0], a[1], b[0], b[1]].every(Number.isFinite)) out.push([a, b]);
  }
  return out;
}

/** Finite points of a line series that no segment joins: drawn as markers. */
function isolated(s: Series): (readonly [number, number])[] {
  const ok = (i: number): boolean => i >= 0 && i < s.points.length && Number.isFinite(s.points[i]![0]) && Number.isFinite(s.points[i]![1]);
  return s.points.filter((_, i) => ok(i) && !ok(i - 1) && !ok(i + 1));
}

function barBoxes(spec: ChartSpec, L: Layout, k: number): Box[] {
  const n = Math.max(spec.categories?.length ?? 0, 1);
  const groupW = (L.plotW / n) * 0.8;
  const barW = groupW / Math.max(spec.series.length, 1);
  const out: Box[] = [];
  for (const [x, y] of spec.series[k]!.points) {
    if (!Number.isFinite(y)) continue;
    const top = Math.min(L.sy(y), L.sy(0));
    out.push({ x: L.sx(x) - groupW / 2 + k * barW, y: top, w: Math.max(1, barW - 1), h: Math.abs(L.sy(y) - L.sy(0)) });
  }
  return out;
}

/** What the legend must not cover, in chart pixels: line segments, markers, bars. */
function obstacles(spec: ChartSpec, L: Layout): { segments: [number, number, number, number][]; boxes: Box[] } {
  const segs: [number, number, number, number][] = [];
  const boxes: Box[] = [];
  spec.series.forEach((s, k) => {
    if (spec.kind === "bar") {
      boxes.push(...barBoxes(spec, L, k));
      return;
    }
    for (const [a, b] of segments(s)) segs.push([L.sx(a[0]), L.sy(a[1]), L.sx(b[0]), L.sy(b[1])]);
    for (const pt of isolated(s)) boxes.push({ x: L.sx(pt[0]) - MARKER / 2 - 1, y: L.sy(pt[1]) - MARKER / 2 - 1, w: MARKER + 2, h: MARKER + 2 });
  });
  return { segments: segs, boxes };
}

/** The first of the usual legend spots inside the plot that covers nothing, or null. */
function placeLegend(size: { w: number; h: number }, L: Layout, obs: ReturnType<typeof obstacles>): Box | null {
  const pad = 6;
  const { left, top } = L.m;
  const xs = { right: left + L.plotW - size.w - pad, left: left + pad, center: left + (L.plotW - size.w) / 2 };
  const ys = { top: top + pad, bottom: top + L.plotH - size.h - pad, middle: top + (L.plotH - size.h) / 2 };
  const spots: [keyof typeof xs, keyof typeof ys][] = [
    ["right", "top"], ["left", "top"], ["right", "bottom"], ["left", "bottom"], ["right", "middle"], ["left", "middle"], ["center", "top"], ["center", "bottom"],
  ];
  for (const [h, v] of spots) {
    const box = { x: xs[h], y: ys[v], w: size.w, h: size.h };
    if (box.x < left || box.y < top) continue;
    // 3 px of clearance: a line is 2 px wide.
    const grown = { x: box.x - 3, y: box.y - 3, w: box.w + 6, h: box.h + 6 };
    if (obs.boxes.some((b) => boxesOverlap(b, grown))) continue;
    if (obs.segments.some(([ax, ay, bx, by]) => segmentHitsBox(ax, ay, bx, by, grown))) continue;
    return box;
  }
  return null;
}

export function boxesOverlap(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Whether the segment (ax, ay)-(bx, by) touches the box (Liang-Barsky clipping). */
export function segmentHitsBox(ax: number, ay: number, bx: number, by: number, box: Box): boolean {
  const dx = bx - ax;
  const dy = by - ay;
  let t0 = 0;
  let t1 = 1;
  const edges: [number, number][] = [[-dx, ax - box.x], [dx, box.x + box.w - ax], [-dy, ay - box.y], [dy, box.y + box.h - ay]];
  for (const [p, q] of edges) {
    if (p === 0) {
      if (q < 0) return false;
      continue;
    }
    const r = q / p;
    if (p < 0) t0 = Math.max(t0, r);
    else t1 = Math.min(t1, r);
    if (t0 > t1) return false;
  }
  return true;
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

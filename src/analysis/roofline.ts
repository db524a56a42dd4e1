// The roofline model per layer (Williams, Waterman and Patterson, 2009): a layer that does F FLOPs and must
// move B bytes takes at least max(F / peak, B / bandwidth); it is bandwidth-bound when its arithmetic
// intensity F / B lies below the machine's balance point peak / bandwidth, else compute-bound. From analyze's
// FLOPs and bytes (forward + backward, one training step at the batch size) and the machine's measured
// figures; with a profile, the measured time beside the bound. Also d2l 7.1's exercise 4c in one sentence,
// and the log-log roofline chart. Browser-safe: no Node imports.
import type { ChartSpec, Rgb, Series } from "../plot/chart.js";
import { layerNames, type LayerStats, type NetworkStats } from "./analyze.js";
import type { LayerTiming } from "./profile.js";

/** The two figures of a machine's roofline. */
export interface Roof {
  /** Memory bandwidth, bytes/s. */
  bandwidth: number;
  /** Peak compute, FLOP/s. */
  peakFlops: number;
}

export type Bound = "compute" | "bandwidth";

export interface RooflineRow {
  index: number;
  /** FLOPs of one training step's forward and backward of the layer, at the batch size. */
  flops: number;
  /** Bytes its forward and backward must move, at the batch size. */
  bytes: number;
  /** FLOPs per byte; null for a layer that moves nothing (Flatten: a view). */
  intensity: number | null;
  /** Null without machine figures, or for a layer that moves nothing. */
  bound: Bound | null;
  /** max(flops / peak, bytes / bandwidth) in milliseconds; null without machine figures. */
  lowerBoundMs: number | null;
  /** Measured forward + backward milliseconds (with a profile). */
  measuredMs: number | null;
  /** flops / measured time (with a profile). */
  achievedFlops: number | null;
}

/** Peak FLOP/s over bandwidth: the intensity (FLOP/byte) where the two roofs meet. */
export const balance = (roof: Roof): number => roof.peakFlops / roof.bandwidth;

/** The attainable FLOP/s at an intensity: min(peak, intensity x bandwidth). */
export const attainable = (roof: Roof, intensity: number): number => Math.min(roof.peakFlops, intensity * roof.bandwidth);

export function roofline(stats: NetworkStats, roof: Roof | null, timings: LayerTiming[] | null = null): RooflineRow[] {
  return stats.layers.map((l, i) => {
    const flops = (l.flops + l.backwardFlops) * stats.batchSize;
    const bytes = l.bytesForward + l.bytesBackward;
    const intensity = bytes > 0 ? flops / bytes : null;
    const t = timings?.[i];
    const measuredMs = t ? t.forwardMs + t.backwardMs : null;
    return {
      index: l.index,
      flops,
      bytes,
      intensity,
      bound: roof && intensity !== null ? (intensity < balance(roof) ? "bandwidth" : "compute") : null,
      lowerBoundMs: roof ? 1000 * Math.max(flops / roof.peakFlops, bytes / roof.bandwidth) : null,
      measuredMs,
      achievedFlops: measuredMs ? flops / (measuredMs / 1000) : null,
    };
  });
}

/** Intensity of a layer at another batch size: parameter traffic stays, the rest scales with the batch. */
export function intensityAtBatch(layer: LayerStats, statsBatch: number, batch: number): number | null {
  const bytes = layer.bytesForward + layer.bytesBackward;
  if (bytes === 0) return null;
  const scaled = layer.paramTrafficBytes + ((bytes - layer.paramTrafficBytes) / statsBatch) * batch;
  return ((layer.flops + layer.backwardFlops) * batch) / scaled;
}

/** About three significant digits: 1122, 51.3, 0.50, 0.062. */
export const fmt = (x: number): string => (x === 0 ? "0" : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));
const range = (xs: number[]): string => {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return fmt(lo) === fmt(hi) ? fmt(lo) : `${fmt(lo)}-${fmt(hi)}`;
};
const MiB = (b: number): string => (b / 2 ** 20).toFixed(1);
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;

/** "ReLU x7, MaxPool2d x3" for the given rows, in network order of first appearance. */
function kinds(stats: NetworkStats, rows: RooflineRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(stats.layers[r.index]!.type, (counts.get(stats.layers[r.index]!.type) ?? 0) + 1);
  return [...counts].map(([type, n]) => (n > 1 ? `${type} x${n}` : type)).join(", ");
}

/** The layer that moves the most bytes in a training step, and its share (d2l 7.1 exercise 4c's "dominant part"). */
export function mostTraffic(stats: NetworkStats): { layer: LayerStats; bytes: number; share: number; total: number } {
  const bytes = (l: LayerStats): number => l.bytesForward + l.bytesBackward;
  const layer = stats.layers.reduce((best, l) => (bytes(l) > bytes(best) ? l : best));
  const total = stats.totals.bytesForward + stats.totals.bytesBackward;
  return { layer, bytes: bytes(layer), share: total > 0 ? bytes(layer) / total : 0, total };
}

/**
 * The answer to exercise 4c in one sentence: which layers the machine's memory bandwidth limits and how much
 * of the step they need at least (and take, when profiled); where the weighted layers stand, and at batch 1.
 */
export function bandwidthAnswer(stats: NetworkStats, rows: RooflineRow[], roof: Roof, where: string): string {
  const b = stats.batchSize;
  const moving = rows.filter((r) => r.bound !== null);
  const bw = moving.filter((r) => r.bound === "bandwidth");
  const cb = moving.filter((r) => r.bound === "compute");
  const GB = (roof.bandwidth / 1e9).toFixed(1);
  const GF = fmt(roof.peakFlops / 1e9);
  const I = (rs: RooflineRow[]): string => `${range(rs.map((r) => r.intensity!))} FLOP/B`;
  let s = `Memory bandwidth: at ${where}'s ${GB} GB/s and ${GF} GFLOP/s (balance ${fmt(balance(roof))} FLOP/B), ` +
    `${bw.length} of ${moving.length} layers are bandwidth-bound`;
  s += bw.length > 0 ? ` (${kinds(stats, bw)}: ${I(bw)})` : "";
  s += cb.length > 0 ? ` and ${cb.length} compute-bound (${kinds(stats, cb)}: ${I(cb)} at batch ${b})` : "";
  // Weighted layers read their parameters once per step whatever the batch: at batch 1 they can fall below the balance.
  const weighted = stats.layers.filter((l) => l.paramTrafficBytes > 0 && rows[l.index]!.bound === "compute");
  if (b > 1 && weighted.length > 0) {
    const at1 = weighted.map((l) => ({ l, i: intensityAtBatch(l, b, 1)! }));
    const below = at1.filter((x) => x.i < balance(roof));
    if (below.length > 0) {
      s += `, though at batch 1 ${kinds(stats, below.map((x) => rows[x.l.index]!))} (${range(below.map((x) => x.i))} FLOP/B) ` +
        "would be bandwidth-bound too, reading all their weights for one example";
    }
  }
  const lb = (rs: RooflineRow[]): number => rs.reduce((n, r) => n + r.lowerBoundMs!, 0);
  const total = lb(moving);
  s += `; the bandwidth-bound layers need at least ${fmt(lb(bw))} ms of the step's ${fmt(total)} ms lower bound (${pct(total > 0 ? lb(bw) / total : 0)})`;
  const measured = rows.filter((r) => r.measuredMs !== null);
  if (measured.length > 0) {
    const all = measured.reduce((n, r) => n + r.measuredMs!, 0);
    const inBw = bw.reduce((n, r) => n + (r.measuredMs ?? 0), 0);
    s += ` and measured take ${fmt(inBw)} ms of ${fmt(all)} ms (${pct(all > 0 ? inBw / all : 0)})`;
  }
  const most = mostTraffic(stats);
  s += `, and the most traffic is layer ${most.layer.index} ${most.layer.type}'s ${MiB(most.bytes)} MiB of ${MiB(most.total)} MiB per step.`;
  return s;
}

const KIND_COLORS: Record<string, Rgb> = {
  Conv2d: [31, 119, 180], Linear: [214, 39, 40], MaxPool2d: [44, 160, 44], ReLU: [148, 103, 189], Dropout: [140, 86, 75],
};
const OTHER: Rgb = [127, 127, 127];

/** Log-log roofline: the bandwidth roof up to the balance point, the compute roof after it, and each layer
 * as a point at (intensity, measured FLOP/s) when profiled, else at the attainable FLOP/s (on the roof). */
export function rooflineChart(stats: NetworkStats, rows: RooflineRow[], roof: Roof, title: string): ChartSpec {
  const names = layerNames(stats);
  const placed = rows.filter((r) => r.intensity !== null && r.intensity > 0);
  const y = (r: RooflineRow): number => (r.achievedFlops ?? attainable(roof, r.intensity!)) / 1e9;
  const xs = [...placed.map((r) => r.intensity!), balance(roof)];
  const ys = [...placed.map(y), roof.peakFlops / 1e9];
  const decade = (v: number, up: boolean): number => 10 ** (up ? Math.ceil(Math.log10(v)) : Math.floor(Math.log10(v)));
  const x0 = decade(Math.min(...xs) / 2, false);
  const x1 = decade(Math.max(...xs) * 2, true);
  const y0 = decade(Math.min(...ys, (x0 * roof.bandwidth) / 1e9) / 2, false);
  const y1 = decade(Math.max(...ys) * 2, true);
  const series: Series[] = [
    { name: `memory roof ${(roof.bandwidth / 1e9).toFixed(1)} GB/s`, color: [90, 90, 90], dash: "dashed", points: [[x0, (x0 * roof.bandwidth) / 1e9], [balance(roof), roof.peakFlops / 1e9]] },
    { name: `compute roof ${fmt(roof.peakFlops / 1e9)} GFLOP/s`, color: [20, 20, 20], points: [[balance(roof), roof.peakFlops / 1e9], [x1, roof.peakFlops / 1e9]] },
  ];
  // Points that nearly coincide (the ReLUs all sit at 0.1 FLOP/B) share one label, by kind: "relu1..relu7,
  // drop1,drop2"; the label goes on the cluster's first point.
  const near = (a: RooflineRow, b: RooflineRow): boolean =>
    Math.abs(Math.log10(a.intensity! / b.intensity!)) < 0.12 && Math.abs(Math.log10(y(a) / y(b))) < 0.12;
  const clusters: RooflineRow[][] = [];
  for (const r of [...placed].sort((p, q) => p.intensity! - q.intensity!)) {
    const last = clusters[clusters.length - 1];
    if (last && near(last[last.length - 1]!, r)) last.push(r);
    else clusters.push([r]);
  }
  for (const c of clusters) c.sort((p, q) => p.index - q.index);
  const labelOf = new Map<RooflineRow, string>();
  for (const c of clusters) {
    const parts = [...new Set(c.map((r) => stats.layers[r.index]!.type))].map((type) => {
      const ns = c.filter((r) => stats.layers[r.index]!.type === type).map((r) => names[r.index]!);
      return ns.length <= 2 ? ns.join(",") : `${ns[0]}..${ns[ns.length - 1]}`;
    });
    labelOf.set(c[0]!, parts.join(", "));
  }
  // One series per kind of layer, its points apart (NaN between them) so that each is drawn as a marker.
  for (const type of [...new Set(placed.map((r) => stats.layers[r.index]!.type))]) {
    const points: [number, number][] = [];
    const labels: (string | undefined)[] = [];
    for (const r of placed.filter((q) => stats.layers[q.index]!.type === type)) {
      if (points.length > 0) {
        points.push([NaN, NaN]);
        labels.push(undefined);
      }
      points.push([r.intensity!, y(r)]);
      labels.push(labelOf.get(r));
    }
    series.push({ name: type, color: KIND_COLORS[type] ?? OTHER, points, labels });
  }
  return {
    kind: "line", logX: true, logY: true, title, width: 720, height: 440,
    xLabel: "arithmetic intensity, FLOP per byte moved (forward + backward)", yLabel: "GFLOP/s",
    xRange: [x0, x1], yRange: [y0, y1], series,
  };
}

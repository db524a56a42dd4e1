// The analysis as pictures: per-layer shares of parameters, forward FLOPs and (when profiled) measured time;
// and the roofline (roofline.ts), written as SVG and PNG beside the first.
import type { ChartSpec, Series } from "../plot/chart.js";
import { writeChart } from "../plot/render.js";
import { layerNames, type NetworkStats } from "./analyze.js";
import { type Roof, rooflineChart, type RooflineRow } from "./roofline.js";

export { layerNames };
import type { LayerTiming } from "./profile.js";

export function analysisChart(stats: NetworkStats, timings: LayerTiming[] | null): ChartSpec {
  const share = (values: number[]): [number, number][] => {
    const total = values.reduce((a, b) => a + b, 0) || 1;
    return values.map((v, i) => [i, (100 * v) / total]);
  };
  const series: Series[] = [
    { name: "parameters %", color: [31, 119, 180], points: share(stats.layers.map((l) => l.params)) },
    { name: "forward flops %", color: [214, 39, 40], points: share(stats.layers.map((l) => l.flops)) },
  ];
  if (timings) series.push({ name: "measured time %", color: [44, 160, 44], points: share(timings.map((t) => t.forwardMs + t.backwardMs)) });
  return {
    kind: "bar",
    title: `alexnet per layer: parameters, forward flops${timings ? " and measured time" : ""} (batch ${stats.batchSize})`,
    xLabel: "layer",
    yLabel: "% of total",
    width: 720,
    height: 340,
    categories: layerNames(stats),
    series,
  };
}

export function writeAnalysisPlot(path: string, stats: NetworkStats, timings: LayerTiming[] | null): void {
  writeChart(path, analysisChart(stats, timings));
}

/** Where the roofline goes for `--plot FILE.svg|png`: FILE-roofline.svg and FILE-roofline.png. */
export function rooflinePaths(plot: string): [string, string] {
  const stem = plot.replace(/\.(svg|png)$/, "");
  return [`${stem}-roofline.svg`, `${stem}-roofline.png`];
}

export function writeRooflinePlots(plot: string, stats: NetworkStats, rows: RooflineRow[], roof: Roof, title: string): [string, string] {
  const spec = rooflineChart(stats, rows, roof, title);
  const paths = rooflinePaths(plot);
  for (const path of paths) writeChart(path, spec);
  return paths;
}

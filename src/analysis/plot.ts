// The analysis as a picture: per-layer shares of parameters, forward FLOPs and (when profiled) measured time.
import type { ChartSpec, Series } from "../plot/chart.js";
import { writeChart } from "../plot/render.js";
import { layerNames, type NetworkStats } from "./analyze.js";

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

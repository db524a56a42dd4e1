// d2l's training plot (its Animator: train loss, train acc, test acc per epoch) as a chart spec, drawn by
// the run directory's SVG/PNG files and by the web page alike (browser-safe).
import type { ChartSpec } from "./chart.js";
import type { MetricPoint } from "../train/trainer.js";

/** d2l's Animator as a chart: three series against the epoch, x from 1 (or from the first point, when it
 * is earlier) to the number of epochs; a live page starts the axis at 0 so the curve grows into it. */
export function trainingChart(points: readonly MetricPoint[], epochs: number, options: { width?: number; xFrom?: number } = {}): ChartSpec {
  const pick = (key: "trainLoss" | "trainAcc" | "testAcc"): [number, number][] =>
    points.filter((p) => p[key] !== undefined).map((p) => [p.x, p[key]!]);
  return {
    kind: "line",
    xLabel: "epoch",
    width: options.width ?? 420,
    height: 300,
    xRange: [options.xFrom ?? Math.min(1, ...points.map((p) => p.x)), Math.max(epochs, 1)],
    series: [
      { name: "train loss", color: [31, 119, 180], points: pick("trainLoss"), dash: "solid" },
      { name: "train acc", color: [191, 0, 191], points: pick("trainAcc"), dash: "dashed" },
      { name: "test acc", color: [0, 128, 0], points: pick("testAcc"), dash: "dashdot" },
    ],
  };
}

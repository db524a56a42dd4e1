// The Model panel's description of a network: d2l's shape table and the per-layer analysis, computed on
// the shape-only (meta) backend, so that d2l's full networks are described in milliseconds (initialising
// their weights takes seconds on the CPU, and the panel needs none of them). Runs on the page's main thread.
// The shape table is `alexnet summary --model NAME`'s (at the input d2l prints it for); the analysis is
// `alexnet analyze`'s (at the input the model trains on).
import { analyzeNetwork, answers, nn } from "../../src/core.js";
import { layerNames } from "../../src/analysis/analyze.js";
import { alexNetInputShape } from "../../src/models/alexnet.js";
import { zooModel } from "../../src/models/registry.js";
import { summaryLines } from "../../src/models/summary.js";
import { buildOnMeta } from "../../src/models/trace.js";
import { buildModel, modelInputSize, type WebModelChoice } from "../../src/web/model.js";
import type { Description } from "./protocol.js";

/** The input (C, H, W) `alexnet summary` prints a model's table for: AlexNet's variant's, else the zoo's. */
function summaryInput(c: WebModelChoice): [number, number, number] {
  return c.model === "alexnet" ? alexNetInputShape({ variant: c.variant }) as [number, number, number] : zooModel(c.model).summaryInput;
}

export function describe(r: WebModelChoice & { batchSize: number }): Description {
  const tableInput = summaryInput(r);
  const size = modelInputSize(r);
  const input = [1, size, size];
  // Built for each input: AlexNet's first Linear depends on it (the others ignore imageSize).
  const forTable = buildOnMeta(() => buildModel(r, tableInput[1]));
  let shapeLines: string[];
  try {
    shapeLines = summaryLines(forTable, tableInput);
  } finally {
    forTable.dispose();
  }
  const built = buildOnMeta(() => buildModel(r, size));
  // The analysis's rows are the top-level layers of a Sequential; another Module is one row (as analyze).
  const net = built instanceof nn.Sequential ? built : new nn.Sequential(built);
  try {
    const stats = analyzeNetwork(net, [r.batchSize, ...input]);
    const names = layerNames(stats);
    const a = answers(stats);
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    const int = (n: number): string => n.toLocaleString("en-US");
    return {
      shapeLines,
      shapeInput: [1, ...tableInput],
      analysisInput: [r.batchSize, ...input],
      batchSize: r.batchSize,
      layers: stats.layers.map((l, i) => ({
        index: l.index, name: names[i]!, layer: l.layer, outputShape: l.outputShape, params: l.params, paramBytes: l.paramBytes,
        outputBytes: l.outputBytes, activationBytes: l.activationBytes, macs: l.macs,
      })),
      totals: { params: stats.totals.params, paramBytes: stats.totals.paramBytes, outputBytes: stats.totals.outputBytes, activationBytes: stats.totals.activationBytes, macs: stats.totals.macs },
      mostParams: `layer ${a.mostParams.index} ${a.mostParams.layer} (${names[a.mostParams.index]}): ${int(a.mostParams.params)} parameters, ${pct(a.mostParamsShare)} of ${int(stats.totals.params)}`,
      mostCompute: `layer ${a.mostCompute.index} ${a.mostCompute.layer} (${names[a.mostCompute.index]}): ${int(a.mostCompute.macs)} MACs per example, ${pct(a.mostComputeShare)} of ${int(stats.totals.macs)}`,
    };
  } finally {
    net.dispose();
  }
}

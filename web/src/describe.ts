// The Model panel's description of a network: d2l's shape table and the per-layer analysis, computed on
// the shape-only (meta) backend, so that d2l's full network is described in milliseconds (initialising its
// weights takes seconds on the CPU, and the panel needs none of them). Runs on the page's main thread.
import { alexNet, alexNetInputShape, analyzeNetwork, answers, type nn } from "../../src/core.js";
import { layerNames } from "../../src/analysis/analyze.js";
import { getBackend, setBackend } from "../../src/backend/registry.js";
import { MetaBackend } from "../../src/backend/meta.js";
import type { AlexNetVariant } from "../../src/models/alexnet.js";
import type { Description } from "./protocol.js";

const meta = new MetaBackend();

export function describe(r: { variant: AlexNetVariant; widthScale: number; batchSize: number }): Description {
  const previous = getBackend();
  setBackend(meta);
  let net: nn.Sequential;
  try {
    net = alexNet({ variant: r.variant, widthScale: r.widthScale });
  } finally {
    setBackend(previous);
  }
  try {
    const input = alexNetInputShape({ variant: r.variant });
    // d2l's shape table from the shapes each layer computes: the same lines as `alexnet summary`'s forward
    // pass, without a forward pass (seconds on the CPU for the 224 network).
    const layers = [...net];
    const shapeLines = net.layerShapes([1, ...input]).map((shape, i) => `${layers[i]!.constructor.name} output shape:\t [${shape.join(", ")}]`);
    const stats = analyzeNetwork(net, [r.batchSize, ...input]);
    const names = layerNames(stats);
    const a = answers(stats);
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    const int = (n: number): string => n.toLocaleString("en-US");
    return {
      shapeLines,
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


// d2l's layer-by-layer shape table: run a 1xCxHxW tensor through each layer and print
// `<Layer> output shape:\t [1, 96, 54, 54]` per layer (d2l prints torch.Size([...]); we print the list).
// Browser-safe: `alexnet summary` and the page print the same lines.
import { randn } from "../tensor/creation.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import type { Module } from "../nn/module.js";
import { Sequential } from "../nn/sequential.js";
import { traceCalls } from "./trace.js";

/** The lines of d2l's table, computed by a real forward pass in evaluation mode (no graph kept). */
export function shapeTable(net: Sequential, input: readonly number[]): string[] {
  const lines: string[] = [];
  tidy(() =>
    noGrad(() => {
      const x = randn(input, { backend: net.parameters()[0]?.backend });
      net.forwardEach(x, (layer, _i, out) => {
        lines.push(`${layerTypeName(layer)} output shape:\t [${out.shape.join(", ")}]`);
      });
    }),
  );
  return lines;
}

/** The class name d2l prints (`layer.__class__.__name__`). */
export function layerTypeName(layer: object): string {
  return layer.constructor.name;
}

/** d2l's table lines for `input` (C, H, W) from shapes alone: one per top-level layer of a Sequential; for
 * another Module, its direct children's outputs in the order its forward called them, then the network's
 * own output. */
export function summaryLines(net: Module, input: readonly number[]): string[] {
  const shape = [1, ...input];
  const line = (m: Module, out: readonly number[]): string => `${layerTypeName(m)} output shape:\t [${out.join(", ")}]`;
  if (net instanceof Sequential) {
    const shapes = net.layerShapes(shape);
    return [...net].map((layer, i) => line(layer, shapes[i]!));
  }
  const children = new Set(net.children());
  const lines: string[] = [];
  for (const [m, calls] of traceCalls(net, shape)) {
    if (children.has(m)) for (const c of calls) lines.push(line(m, c.output));
  }
  lines.push(line(net, net.outputShape(shape)));
  return lines;
}

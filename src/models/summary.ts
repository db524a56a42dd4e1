// d2l's layer-by-layer shape table: run a 1xCxHxW tensor through each layer and print
// `<Layer> output shape:\t [1, 96, 54, 54]` per layer (d2l prints torch.Size([...]); we print the list).
import { randn } from "../tensor/creation.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import type { Sequential } from "../nn/sequential.js";

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

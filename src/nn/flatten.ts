// nn.Flatten: (N, C, H, W) -> (N, C*H*W) (start_dim=1, end_dim=-1).
import type { OpName } from "../backend/backend.js";
import { ShapeError } from "../backend/shapes.js";
import { flatten } from "../tensor/ops.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }

  override outputShape(input: readonly number[]): number[] {
    if (input.length < 2) throw new ShapeError(`expected at least 2 dimensions, got [${input.join(", ")}]`);
    return [input[0]!, input.slice(1).reduce((a, b) => a * b, 1)];
  }

  override ops(): OpName[] {
    return ["reshape"];
  }

  override toString(): string {
    return "Flatten(start_dim=1, end_dim=-1)";
  }
}

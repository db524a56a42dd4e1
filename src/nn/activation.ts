// nn.ReLU.
import type { OpName } from "../backend/backend.js";
import { relu } from "../tensor/functional.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }

  outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  override ops(): OpName[] {
    return ["relu", "reluBackward"];
  }

  override toString(): string {
    return "ReLU()";
  }
}

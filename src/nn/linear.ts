// nn.Linear: weight (out, in), bias (out), y = x W^T + b, PyTorch's default initialisation.
import type { OpName } from "../backend/backend.js";
import { linearShape } from "../backend/shapes.js";
import { linear, linearRelu } from "../tensor/functional.js";
import { zeros } from "../tensor/creation.js";
import type { Tensor } from "../tensor/tensor.js";
import { defaultBound, fillUniform_ } from "./init.js";
import { Module, type Parameter } from "./module.js";

export class Linear extends Module {

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean } = {}) {
    super();
    for (const [name, v] of [["in_features", inFeatures], ["out_features", outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Linear: ${name} must be a positive integer, got ${v}`);
    }
    const wShape = [outFeatures, inFeatures];
    fillUniform_(this.registerParameter("weight", zeros(wShape)), defaultBound(wShape));
    if (options.bias ?? true) {
      fillUniform_(this.registerParameter("bias", zeros([outFeatures])), defaultBound(wShape));
    }
  }

  get weight(): Parameter {
    return this.getParameter("weight")!;
  }

  get bias(): Parameter | null {
    return this.getParameter("bias");
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  /** relu(forward(x)) in one pass where the backend fuses it (nn.Sequential uses it for Linear, ReLU). */
  forwardRelu(x: Tensor): Tensor {
    return linearRelu(x, this.weight, this.bias);
  }

  override outputShape(input: readonly number[]): number[] {
    return linearShape(input, this.weight.shape);
  }

  override ops(): OpName[] {
    return ["linear", "linearBackward", "reluBackward"];
  }

  override toString(): string {
    return `Linear(in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? "True" : "False"})`;
  }
}

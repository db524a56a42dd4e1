// nn.ReLU, nn.Sigmoid, nn.Tanh and nn.Identity: element-wise layers that keep their input's shape.
import type { OpName } from "../backend/backend.js";
import { relu, sigmoid, tanh } from "../tensor/ops.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

/** A layer whose output has its input's shape. */
abstract class ShapeKeeping extends Module {
  override outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  override toString(): string {
    return `${this.constructor.name}()`;
  }
}

export class ReLU extends ShapeKeeping {
  forward(x: Tensor): Tensor {
    return relu(x);
  }

  override ops(): OpName[] {
    return ["relu", "reluBackward"];
  }
}

export class Sigmoid extends ShapeKeeping {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }

  override ops(): OpName[] {
    return ["sigmoid", "sigmoidBackward"];
  }
}

export class Tanh extends ShapeKeeping {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }

  override ops(): OpName[] {
    return ["tanh", "tanhBackward"];
  }
}

/** nn.Identity: returns its input (a placeholder where a block has no layer, e.g. a ResNet shortcut). */
export class Identity extends ShapeKeeping {
  forward(x: Tensor): Tensor {
    return x;
  }

  override ops(): OpName[] {
    return [];
  }
}

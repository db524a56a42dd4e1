// nn.Dropout: inverted dropout in training mode, identity in evaluation mode.
import type { OpName } from "../backend/backend.js";
import { dropout } from "../tensor/functional.js";
import { defaultRng, type Rng } from "../tensor/random.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

export class Dropout extends Module {
  // p is writable, as in PyTorch (train's --dropout sets it on a built model).
  constructor(public p = 0.5, readonly rng: Rng = defaultRng) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }

  override outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  override ops(): OpName[] {
    return ["dropout", "dropoutBackward", "copy"];
  }

  override toString(): string {
    return `Dropout(p=${this.p}, inplace=False)`;
  }
}

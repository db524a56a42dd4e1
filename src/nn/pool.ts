// nn.MaxPool2d: stride defaults to the kernel size and padding to 0, as in PyTorch.
import type { OpName, Pool2dParams } from "../backend/backend.js";
import { maxPool2dShape } from "../backend/shapes.js";
import { maxPool2d } from "../tensor/functional.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

export interface MaxPool2dConfig {
  stride?: number;
  padding?: number;
}

export class MaxPool2d extends Module {
  readonly stride: number;
  readonly padding: number;

  constructor(readonly kernelSize: number, config: MaxPool2dConfig = {}) {
    super();
    this.stride = config.stride ?? kernelSize;
    this.padding = config.padding ?? 0;
    if (!Number.isInteger(kernelSize) || kernelSize < 1) throw new Error(`MaxPool2d: kernel_size must be a positive integer, got ${kernelSize}`);
    if (!Number.isInteger(this.stride) || this.stride < 1) throw new Error(`MaxPool2d: stride must be a positive integer, got ${this.stride}`);
    if (!Number.isInteger(this.padding) || this.padding < 0 || this.padding * 2 > kernelSize) {
      throw new Error(`MaxPool2d: padding must be between 0 and half the kernel size, got ${this.padding}`);
    }
  }

  private params(): Pool2dParams {
    return { kernel: [this.kernelSize, this.kernelSize], stride: [this.stride, this.stride], padding: [this.padding, this.padding] };
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  outputShape(input: readonly number[]): number[] {
    return maxPool2dShape(input, this.params());
  }

  override ops(): OpName[] {
    return ["maxPool2d", "maxPool2dBackward"];
  }

  override toString(): string {
    return `MaxPool2d(kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.padding}, dilation=1, ceil_mode=False)`;
  }
}

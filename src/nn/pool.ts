// nn.MaxPool2d, nn.AvgPool2d and nn.AdaptiveAvgPool2d: stride defaults to the kernel size and padding to 0,
// as in PyTorch; average pooling counts padded zeros (count_include_pad=True), ceil_mode is False.
import type { OpName, Pool2dParams } from "../backend/backend.js";
import { adaptiveAvgPool2dShape, avgPool2dShape, maxPool2dShape } from "../backend/shapes.js";
import { adaptiveAvgPool2d, avgPool2d, maxPool2d } from "../tensor/functional.js";
import type { Tensor } from "../tensor/tensor.js";
import { Module } from "./module.js";

export interface MaxPool2dConfig {
  stride?: number;
  padding?: number;
}

export type AvgPool2dConfig = MaxPool2dConfig;

/** The window parameters both pooling layers share, checked as PyTorch checks them. */
abstract class WindowPool extends Module {
  readonly stride: number;
  readonly padding: number;

  constructor(readonly kernelSize: number, config: MaxPool2dConfig) {
    super();
    const layer = this.constructor.name;
    this.stride = config.stride ?? kernelSize;
    this.padding = config.padding ?? 0;
    if (!Number.isInteger(kernelSize) || kernelSize < 1) throw new Error(`${layer}: kernel_size must be a positive integer, got ${kernelSize}`);
    if (!Number.isInteger(this.stride) || this.stride < 1) throw new Error(`${layer}: stride must be a positive integer, got ${this.stride}`);
    if (!Number.isInteger(this.padding) || this.padding < 0 || this.padding * 2 > kernelSize) {
      throw new Error(`${layer}: padding must be between 0 and half the kernel size, got ${this.padding}`);
    }
  }

  protected params(): Pool2dParams {
    return { kernel: [this.kernelSize, this.kernelSize], stride: [this.stride, this.stride], padding: [this.padding, this.padding] };
  }
}

export class MaxPool2d extends WindowPool {
  constructor(kernelSize: number, config: MaxPool2dConfig = {}) {
    super(kernelSize, config);
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  override outputShape(input: readonly number[]): number[] {
    return maxPool2dShape(input, this.params());
  }

  override ops(): OpName[] {
    return ["maxPool2d", "maxPool2dBackward"];
  }

  override toString(): string {
    return `MaxPool2d(kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.padding}, dilation=1, ceil_mode=False)`;
  }
}

export class AvgPool2d extends WindowPool {
  constructor(kernelSize: number, config: AvgPool2dConfig = {}) {
    super(kernelSize, config);
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  override outputShape(input: readonly number[]): number[] {
    return avgPool2dShape(input, this.params());
  }

  override ops(): OpName[] {
    return ["avgPool2d", "avgPool2dBackward"];
  }

  override toString(): string {
    return `AvgPool2d(kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.padding})`;
  }
}

export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: [number, number];
  private readonly given: number | [number, number];

  constructor(outputSize: number | [number, number]) {
    super();
    this.given = outputSize;
    this.outputSize = typeof outputSize === "number" ? [outputSize, outputSize] : [outputSize[0], outputSize[1]];
    if (!this.outputSize.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new Error(`AdaptiveAvgPool2d: output_size must be positive integers, got ${outputSize}`);
    }
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override outputShape(input: readonly number[]): number[] {
    return adaptiveAvgPool2dShape(input, this.outputSize);
  }

  override ops(): OpName[] {
    return ["avgPool2d", "avgPool2dBackward", "adaptiveAvgPool2d", "adaptiveAvgPool2dBackward"];
  }

  override toString(): string {
    const [h, w] = this.outputSize;
    return `AdaptiveAvgPool2d(output_size=${typeof this.given === "number" ? h : `(${h}, ${w})`})`;
  }
}

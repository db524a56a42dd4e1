// nn.Conv2d: weight (out, in, kh, kw) and bias (out), PyTorch's default initialisation.
import type { OpName } from "../backend/backend.js";
import { conv2dShape } from "../backend/shapes.js";
import { conv2d, conv2dRelu } from "../tensor/functional.js";
import { zeros } from "../tensor/creation.js";
import type { Tensor } from "../tensor/tensor.js";
import { defaultBound, fillUniform_ } from "./init.js";
import { Module, type Parameter } from "./module.js";

export interface Conv2dConfig {
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
  bias?: boolean;
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === "number" ? [v, v] : v);

export class Conv2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];

  constructor(readonly inChannels: number, readonly outChannels: number, config: Conv2dConfig) {
    super();
    this.kernelSize = pair(config.kernelSize);
    this.stride = pair(config.stride ?? 1);
    this.padding = pair(config.padding ?? 0);
    for (const [name, v] of [["in_channels", inChannels], ["out_channels", outChannels], ["kernel_size", this.kernelSize[0]],
      ["kernel_size", this.kernelSize[1]], ["stride", this.stride[0]], ["stride", this.stride[1]]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Conv2d: ${name} must be a positive integer, got ${v}`);
    }
    if (this.padding.some((v) => !Number.isInteger(v) || v < 0)) throw new Error(`Conv2d: padding must be >= 0, got ${this.padding}`);
    const wShape = [outChannels, inChannels, ...this.kernelSize];
    fillUniform_(this.registerParameter("weight", zeros(wShape)), defaultBound(wShape));
    if (config.bias ?? true) {
      fillUniform_(this.registerParameter("bias", zeros([outChannels])), defaultBound(wShape));
    }
  }

  get weight(): Parameter {
    return this.getParameter("weight")!;
  }

  get bias(): Parameter | null {
    return this.getParameter("bias");
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  /** relu(forward(x)) in one pass where the backend fuses it (nn.Sequential uses it for Conv2d, ReLU). */
  forwardRelu(x: Tensor): Tensor {
    return conv2dRelu(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  override outputShape(input: readonly number[]): number[] {
    return conv2dShape(input, this.weight.shape, { stride: this.stride, padding: this.padding });
  }

  override ops(): OpName[] {
    return ["conv2d", "conv2dBackward", "reluBackward"];
  }

  override toString(): string {
    const t = (p: [number, number]): string => `(${p[0]}, ${p[1]})`;
    const pad = this.padding[0] || this.padding[1] ? `, padding=${t(this.padding)}` : "";
    const bias = this.bias ? "" : ", bias=False";
    return `Conv2d(${this.inChannels}, ${this.outChannels}, kernel_size=${t(this.kernelSize)}, stride=${t(this.stride)}${pad}${bias})`;
  }
}

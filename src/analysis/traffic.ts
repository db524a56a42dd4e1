// The bytes a layer's forward and backward passes must move between memory and the processor: the minimal
// compulsory traffic, each tensor read or written once per pass (no re-reads for tiling, no cache reuse
// across layers, no layout conversions), which is what the roofline model divides the FLOPs by.
//
// Definition (I = input values, O = output values at the batch size, W = weights, Bb = bias values,
// P = W + Bb = the layer's parameters; every value 4 bytes in fp32):
//   Conv2d, Linear   forward  reads x (I), W and bias (P), writes y (O)                     -> I + P + O
//                    backward reads dy (O) and x (I, for dW), writes dW and db (P); when the input needs a
//                             gradient (not the network's first layer) also reads W and writes dx (W + I)
//   ReLU, Sigmoid,   forward  reads x, writes y                                              -> I + O
//   Tanh             backward reads dy and y, writes dx                                      -> 2 O + I
//   MaxPool2d        forward  reads x, writes y and the argmax of each window (one int32 per output)
//                                                                                          -> I + 2 O
//                    backward reads dy and the argmax, writes dx                             -> 2 O + I
//   AvgPool2d,       forward  reads x, writes y                                              -> I + O
//   AdaptiveAvgPool  backward reads dy, writes dx                                            -> O + I
//   Dropout          forward  reads x, writes y; backward reads dy, writes dx (the mask is regenerated from
//                    the seed by the counter-based hash every backend uses, so it is never stored)
//   BatchNorm        forward  reads x, weight and bias, reads and writes the running statistics, writes y
//                                                                                          -> I + P + 2 buffers + O
//                    backward reads dy, x and the weight, writes dx, dweight and dbias       -> O + I + W + P + I
//   Flatten,Identity a view of its input, or the input itself: nothing moves
//   anything else    as a weighted layer when it has parameters, else as average pooling (Dropout).
// The first layer of a network computes no dx (its input needs no gradient). Intensity is then the layer's
// FLOPs (forward + backward, from analyze.ts) over these bytes. Browser-safe: no Node imports.
import { Conv2d } from "../nn/conv.js";
import { Linear } from "../nn/linear.js";
import { MaxPool2d } from "../nn/pool.js";
import { Identity, ReLU, Sigmoid, Tanh } from "../nn/activation.js";
import { Flatten } from "../nn/flatten.js";
import type { Module } from "../nn/module.js";

/** Bytes per pass of one call of a layer, at the batch size. */
export interface Traffic {
  forward: number;
  backward: number;
  /** The part of forward + backward that is parameters (read, and their gradients written): it does not
   * grow with the batch, so intensity at another batch b is flops·b / (params + (rest / B)·b). */
  params: number;
}

/** Bytes of an index (pooling's argmax) in the backends' workspaces. */
export const INDEX_BYTES = 4;

/**
 * The traffic of `layer` on an input of `inputs` values and an output of `outputs` values (at the batch
 * size), `bpv` bytes per value; `needDx`: whether the backward computes the input's gradient.
 */
export function layerTraffic(layer: Module, inputs: number, outputs: number, needDx: boolean, bpv = 4): Traffic {
  const own = (xs: { numel: number }[]): number => xs.reduce((n, t) => n + t.numel, 0);
  const params = own(layer.parameters());
  const I = inputs * bpv;
  const O = outputs * bpv;
  const dx = needDx ? I : 0;
  if (layer instanceof Flatten || layer instanceof Identity) return { forward: 0, backward: 0, params: 0 };
  if (layer instanceof ReLU || layer instanceof Sigmoid || layer instanceof Tanh) {
    return { forward: I + O, backward: 2 * O + dx, params: 0 };
  }
  if (layer instanceof MaxPool2d) {
    const idx = outputs * INDEX_BYTES;
    return { forward: I + O + idx, backward: O + idx + dx, params: 0 };
  }
  if (params === 0) return { forward: I + O, backward: O + dx, params: 0 };
  const P = params * bpv;
  const bias = layer instanceof Conv2d || layer instanceof Linear ? (layer.bias?.numel ?? 0) : 0;
  if (layer.constructor.name.startsWith("BatchNorm")) {
    const stats = own(layer.buffers()) * bpv;
    const W = (params / 2) * bpv; // the scale; dx needs it, as a weighted layer's dx needs W
    return { forward: I + P + 2 * stats + O, backward: O + I + P + (needDx ? W + I : 0), params: 2 * P + 2 * stats + (needDx ? W : 0) };
  }
  // Conv2d, Linear and any other layer with parameters.
  const W = (params - bias) * bpv;
  return { forward: I + P + O, backward: O + I + P + (needDx ? W + I : 0), params: 2 * P + (needDx ? W : 0) };
}

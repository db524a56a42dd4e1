// What an exported model says about itself (the labels and the preprocessing a deployment must repeat), shared
// by `alexnet export` and the web page's "Download ONNX", and the page's export of its AlexNet (run in its
// worker, on whatever backend the model is). Browser-safe.
import { TEXT_LABELS } from "../data/labels.js";
import type { AlexNetVariant } from "../models/alexnet.js";
import type { Module } from "../nn/module.js";
import { exportOnnxAsync, type OnnxExportOptions } from "./onnx.js";

export interface DeployedModel {
  /** The model's name (a zoo name, "alexnet-28" for AlexNet's 28x28 variant). */
  name: string;
  /** One input image: (C, H, W). */
  input: readonly [number, number, number];
  /** The side images are resized to before ToTensor (null: they are used at their own 28x28). */
  resize: number | null;
  classes: number;
}

/** Fashion-MNIST's labels for 10 classes, else `class i`. */
export function classLabels(classes: number): readonly string[] {
  return classes === TEXT_LABELS.length ? TEXT_LABELS : Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** The metadata options of exportOnnx for a model trained as `alexnet train` trains: grey images, PIL's
 * bilinear resize when there is one, torchvision's ToTensor (x / 255), no mean/std normalization. */
export function deployOptions(m: DeployedModel): OnnxExportOptions {
  const [channels, height, width] = m.input;
  return {
    modelName: m.name,
    labels: classLabels(m.classes),
    preprocessing: {
      layout: "NCHW", channels, height, width,
      resize: m.resize, resize_filter: m.resize === null ? null : "bilinear (PIL, antialiased)",
      scale: "1/255 (torchvision ToTensor)", mean: Array(channels).fill(0), std: Array(channels).fill(1),
    },
  };
}

/** A trained AlexNet (the web page's model, on any backend: its values are read asynchronously) as an ONNX
 * model with a dynamic batch, named and described as `alexnet export` does it. */
export async function alexNetToOnnx(net: Module, variant: AlexNetVariant): Promise<{ bytes: Uint8Array; name: string }> {
  const size = variant === "224" ? 224 : 28;
  const first = net.parameters()[0]!;
  const channels = first.shape[1]!;
  const classes = net.outputShape([1, channels, size, size])[1]!;
  const name = variant === "224" ? "alexnet" : "alexnet-28";
  const options = deployOptions({ name, input: [channels, size, size], resize: variant === "224" ? 224 : null, classes });
  return { bytes: await exportOnnxAsync(net, [1, channels, size, size], options), name };
}

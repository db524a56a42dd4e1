// The model zoo: d2l's CNNs by name, each with its builder (d2l's exact definition, PyTorch's state_dict
// names), its d2l section, and its recipe (input size, resize, batch size, lr, epochs as d2l trains it on
// Fashion-MNIST, with train_ch6's Xavier-uniform init, `initWeights` in alexnet.ts). Commands look models up
// here and know nothing of their insides. Browser-safe.
import type { Module } from "../nn/index.js";
import { alexNet } from "./alexnet.js";
import { denseNet } from "./densenet.js";
import { googLeNet } from "./googlenet.js";
import { leNet, leNetBn } from "./lenet.js";
import { nin } from "./nin.js";
import { resNet18 } from "./resnet.js";
import { vgg11, vgg11Small } from "./vgg.js";
import type { Recipe, ZooOptions } from "./options.js";

export type { Recipe, ZooOptions } from "./options.js";

export interface ZooModel {
  name: string;
  /** The name people call it (d2l's heading): "LeNet", "ResNet-18". */
  title: string;
  /** d2l's section and title, e.g. "6.6 LeNet". */
  section: string;
  build(options?: ZooOptions): Module;
  recipe: Recipe;
  /** The input d2l prints the shape table for (C, H, W). */
  summaryInput: [number, number, number];
}

const TITLES: Record<string, string> = { "vgg11-small": "VGG-11 (small)", "lenet-bn": "BN-LeNet" };

const model = (name: string, section: string, build: (o?: ZooOptions) => Module, recipe: Recipe, summarySize: number): ZooModel => ({
  name, title: TITLES[name] ?? section.replace(/^[\d.]+ /, ""),
  section, build, recipe, summaryInput: [1, summarySize, summarySize],
});

/** The input (C, H, W) a recipe trains on: Fashion-MNIST's 28x28, or resized. */
export function recipeInput(recipe: Recipe, inChannels = 1): [number, number, number] {
  const size = recipe.resize ?? 28;
  return [inChannels, size, size];
}

export const ZOO: readonly ZooModel[] = [
  model("lenet", "6.6 LeNet", leNet, { resize: null, batchSize: 256, lr: 0.9, epochs: 10 }, 28),
  model("alexnet", "7.1 AlexNet", (o) => alexNet({ ...o, variant: "224" }), { resize: 224, batchSize: 128, lr: 0.01, epochs: 10 }, 224),
  model("vgg11", "7.2 VGG-11", vgg11, { resize: 224, batchSize: 128, lr: 0.05, epochs: 10 }, 224),
  model("vgg11-small", "7.2 VGG-11 (channels / 4)", vgg11Small, { resize: 224, batchSize: 128, lr: 0.05, epochs: 10 }, 224),
  model("nin", "7.3 NiN", nin, { resize: 224, batchSize: 128, lr: 0.1, epochs: 10 }, 224),
  model("googlenet", "7.4 GoogLeNet", googLeNet, { resize: 96, batchSize: 128, lr: 0.1, epochs: 10 }, 96),
  model("lenet-bn", "7.5 LeNet with batch normalization", leNetBn, { resize: null, batchSize: 256, lr: 1.0, epochs: 10 }, 28),
  model("resnet18", "7.6 ResNet-18", resNet18, { resize: 96, batchSize: 256, lr: 0.05, epochs: 10 }, 224),
  model("densenet", "7.7 DenseNet", denseNet, { resize: 96, batchSize: 256, lr: 0.1, epochs: 10 }, 96),
];

/** The model called `name`; an unknown name lists the valid ones. */
export function zooModel(name: string): ZooModel {
  const m = ZOO.find((z) => z.name === name);
  if (!m) throw new Error(`unknown model '${name}' (models: ${ZOO.map((z) => z.name).join(", ")}, or a file ./net.mjs)`);
  return m;
}

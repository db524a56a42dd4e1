// Loading a trained AlexNet for evaluation and prediction: from a run directory (its newest complete
// checkpoint), a checkpoint directory, or a model.safetensors file. The variant comes from the weights
// (an 11x11 first kernel is variant 224, 5x5 is variant 28), so no flag can contradict the file.
import type { Backend } from "../backend/backend.js";
import type { AlexNetVariant } from "../models/alexnet.js";
import { alexNetFromWeights } from "../models/fromWeights.js";
import type { Sequential } from "../nn/sequential.js";
import { readModelWeights } from "../checkpoint/checkpoint.js";

export interface LoadedModel {
  net: Sequential;
  variant: AlexNetVariant;
  classes: number;
  /** The file the weights came from. */
  source: string;
}

export async function loadModel(path: string, backend: Backend, log: (msg: string) => void = () => {}): Promise<LoadedModel> {
  const weights = new Map(readModelWeights(path, log).map((t) => [t.name, t]));
  const { net, variant, classes } = await alexNetFromWeights(weights, path, backend);
  return { net, variant, classes, source: path };
}

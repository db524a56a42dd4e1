// Loading a trained AlexNet for evaluation and prediction: from a run directory (its newest complete
// checkpoint), a checkpoint directory, or a model.safetensors file. The variant comes from the weights
// (an 11x11 first kernel is variant 224, 5x5 is variant 28), so no flag can contradict the file.
import type { Backend } from "../backend/backend.js";
import { alexNet, type AlexNetVariant } from "../models/alexnet.js";
import type { Sequential } from "../nn/sequential.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { readModelWeights } from "./checkpoint.js";

export interface LoadedModel {
  net: Sequential;
  variant: AlexNetVariant;
  classes: number;
  /** The file the weights came from. */
  source: string;
}

export async function loadModel(path: string, backend: Backend, log: (msg: string) => void = () => {}): Promise<LoadedModel> {
  const weights = new Map(readModelWeights(path, log).map((t) => [t.name, t]));
  const source = path;
  const first = weights.get("0.weight");
  const last = weights.get("20.weight");
  if (!first || first.shape.length !== 4 || !last || last.shape.length !== 2) {
    throw new Error(`${source} does not hold AlexNet weights (needs '0.weight' (96, C, k, k) and '20.weight' (classes, 4096))`);
  }
  const kernel = first.shape[2];
  if (kernel !== 11 && kernel !== 5) throw new Error(`${source}: first kernel ${kernel}x${kernel} is neither variant 224 (11x11) nor 28 (5x5)`);
  const variant: AlexNetVariant = kernel === 11 ? "224" : "28";
  const classes = last.shape[0]!;
  // A network trained with --width-scale has first-layer width 96 x scale.
  const net = await alexNet({ variant, inChannels: first.shape[1]!, classes, widthScale: first.shape[0]! / 96 }).to(backend);
  tidy(() => net.loadStateDict(new Map([...weights].map(([name, t]) => [name, tensor(t.data, { shape: t.shape, backend })]))));
  net.eval();
  return { net, variant, classes, source };
}

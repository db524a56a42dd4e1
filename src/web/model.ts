// The page's model work that must match the command line exactly, in one browser-safe module that the page's
// worker and the Node tests both import: a training run set up in `alexnet train`'s order (seed, build,
// Xavier init, SGD, trainer state), weights to and from safetensors as `alexnet train` and `alexnet eval`
// read them (PyTorch state_dict names, variant and width from the shapes), and top-k probabilities.
import type { Backend } from "../backend/backend.js";
import type { ImageDataset } from "../data/batch.js";
import { alexNet, initWeights, type AlexNetVariant } from "../models/alexnet.js";
import { alexNetFromWeights, type AlexNetFromWeights } from "../models/fromWeights.js";
import { probabilities as probabilitiesOf } from "../models/probabilities.js";
import type { Sequential } from "../nn/sequential.js";
import { SGD } from "../optim/sgd.js";
import { manualSeed } from "../tensor/random.js";
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "../checkpoint/safetensors.js";
import { type BatchSource, initialTrainState, type TrainState } from "../train/trainer.js";
import { ArrayLoader } from "./arrayLoader.js";

/** The settings of a page run; the same names and meaning as `alexnet train`'s flags. */
export interface WebTrainSettings {
  variant: AlexNetVariant;
  widthScale: number;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  /** First N training / test examples (null: all). */
  trainLimit: number | null;
  testLimit: number | null;
}

export const inputSize = (variant: AlexNetVariant): number => (variant === "224" ? 224 : 28);

/** One line naming the first bad setting, or null. */
export function checkSettings(s: WebTrainSettings): string | null {
  const positiveInt = (v: number): boolean => Number.isSafeInteger(v) && v >= 1;
  if (s.variant !== "224" && s.variant !== "28") return `variant must be 224 or 28 (got ${s.variant})`;
  if (!(s.widthScale > 0 && s.widthScale <= 1)) return `width scale must be in (0, 1] (got ${s.widthScale})`;
  if (!positiveInt(s.epochs)) return `epochs must be a whole number of at least 1 (got ${s.epochs})`;
  if (!(s.lr > 0 && Number.isFinite(s.lr))) return `learning rate must be a positive number (got ${s.lr})`;
  if (!positiveInt(s.batchSize)) return `batch size must be a whole number of at least 1 (got ${s.batchSize})`;
  if (!(Number.isSafeInteger(s.seed) && s.seed >= 0)) return `seed must be a whole number of at least 0 (got ${s.seed})`;
  if (s.trainLimit !== null && !positiveInt(s.trainLimit)) return `train examples must be a whole number of at least 1 (got ${s.trainLimit})`;
  if (s.testLimit !== null && !positiveInt(s.testLimit)) return `test examples must be a whole number of at least 1 (got ${s.testLimit})`;
  return null;
}

export interface TrainingRun {
  net: Sequential;
  optimizer: SGD;
  state: TrainState;
  trainLoader: BatchSource;
  testLoader: BatchSource;
}

/** Shuffled training batches and in-order test batches, as `alexnet train` builds them. */
export function webLoaders(train: ImageDataset, test: ImageDataset, s: WebTrainSettings): { trainLoader: ArrayLoader; testLoader: ArrayLoader } {
  const size = inputSize(s.variant);
  return {
    trainLoader: new ArrayLoader(train, { batchSize: s.batchSize, shuffle: true, seed: s.seed, size, limit: s.trainLimit ?? undefined }),
    testLoader: new ArrayLoader(test, { batchSize: s.batchSize, shuffle: false, size, limit: s.testLimit ?? undefined }),
  };
}

/** Everything trainCh6 needs, created in `alexnet train`'s order so the same seed gives the same weights,
 * dropout masks and batches. */
export async function newTrainingRun(s: WebTrainSettings, backend: Backend, train: ImageDataset, test: ImageDataset): Promise<TrainingRun> {
  const { trainLoader, testLoader } = webLoaders(train, test, s);
  manualSeed(s.seed);
  const net = await alexNet({ variant: s.variant, widthScale: s.widthScale }).to(backend);
  initWeights(net);
  const optimizer = new SGD(net.parameters(), { lr: s.lr, momentum: 0, weightDecay: 0 });
  return { net, optimizer, state: initialTrainState(), trainLoader, testLoader };
}

/** The model's parameters by state_dict name (what `alexnet train` writes as model.safetensors). */
export async function modelTensors(net: Sequential): Promise<NamedTensor[]> {
  return Promise.all(net.namedParameters().map(async ([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(await p.data()) })));
}

export async function saveModel(net: Sequential): Promise<Uint8Array> {
  return encodeSafetensors(await modelTensors(net), { format: "pt" }, "model.safetensors");
}

export type LoadedWebModel = AlexNetFromWeights;

/** An AlexNet from safetensors bytes, as `alexnet eval` loads one (models/fromWeights.ts). */
export async function loadModel(bytes: Uint8Array, file: string, backend: Backend): Promise<LoadedWebModel> {
  return alexNetFromWeights(decodeSafetensors(bytes, file).tensors, file, backend);
}

/** Softmax of each row of the logits for `images` (N, 1, H, W), in evaluation mode. */
export function probabilities(net: Sequential, images: Float32Array, n: number, size: number, backend: Backend): Promise<Float32Array[]> {
  return probabilitiesOf(net, images, [n, 1, size, size], backend);
}

/** Indices of the k largest values, largest first. */
export function topK(p: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k);
}

// The page's model work that must match the command line exactly, in one browser-safe module that the page's
// worker and the Node tests both import: the models the page offers (the zoo's, AlexNet with its variant and
// width), a training run set up in `alexnet train`'s order (seed, build, Xavier init, SGD, trainer state),
// weights to and from safetensors as `alexnet train` and `alexnet eval` read them (PyTorch state_dict names
// with BatchNorm's buffers, and the model record `eval` rebuilds the network from), and top-k probabilities.
import type { Backend } from "../backend/backend.js";
import type { ImageDataset } from "../data/batch.js";
import { TEXT_LABELS } from "../data/labels.js";
import { ALEXNET_VARIANTS, alexNet, initWeights, type AlexNetVariant } from "../models/alexnet.js";
import { alexNetFromWeights } from "../models/fromWeights.js";
import { probabilities as probabilitiesOf } from "../models/probabilities.js";
import { ZOO, zooModel } from "../models/registry.js";
import type { Module } from "../nn/module.js";
import { SGD } from "../optim/sgd.js";
import { manualSeed } from "../tensor/random.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { decodeSafetensors, encodeSafetensors } from "../checkpoint/safetensors.js";
import { type BatchSource, initialTrainState, type TrainState } from "../train/trainer.js";
import { modelTensors } from "../train/snapshot.js";
import { ArrayLoader } from "./arrayLoader.js";

export { modelTensors };

/** Which network: a zoo name; AlexNet's variant and width (the other models ignore them). */
export interface WebModelChoice {
  model: string;
  variant: AlexNetVariant;
  widthScale: number;
}

/** The settings of a page run; the same names and meaning as `alexnet train`'s flags. */
export interface WebTrainSettings extends WebModelChoice {
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  /** First N training / test examples (null: all). */
  trainLimit: number | null;
  testLimit: number | null;
}

/** What `alexnet train` records about its model in model.safetensors (src/cli/modelChoice.ts, SavedModel,
 * under MODEL_METADATA_KEY), so that `alexnet eval` and `predict` rebuild the page's network too. That file
 * reads the disk, so the page keeps its own copy; test/web.zoo.test.ts checks that the two agree. */
export interface WebSavedModel {
  model: string;
  variant?: AlexNetVariant;
  widthScale?: number;
  inChannels: number;
  classes: number;
  /** Height and width of the network's input. */
  size: number;
  /** The side training images were resized to (null: Fashion-MNIST's own 28x28). */
  resize: number | null;
}
export const MODEL_METADATA_KEY = "alexnet-ts.model";

export const inputSize = (variant: AlexNetVariant): number => (variant === "224" ? 224 : 28);

/** The side of the images a model trains on in the page: AlexNet's by its variant, the others' by their
 * recipe (Fashion-MNIST resized as d2l does, or its own 28x28). */
export function modelInputSize(c: WebModelChoice): number {
  return c.model === "alexnet" ? inputSize(c.variant) : zooModel(c.model).recipe.resize ?? 28;
}

/** The network, untrained, on the default backend, for 1-channel 10-class images of `size`. */
export function buildModel(c: WebModelChoice, size = modelInputSize(c)): Module {
  if (c.model === "alexnet") return alexNet({ variant: c.variant, widthScale: c.widthScale });
  return zooModel(c.model).build({ inChannels: 1, classes: TEXT_LABELS.length, imageSize: size });
}

/** The record `alexnet train` writes for the same model (its `{ ...choice.record, inChannels, classes, size,
 * resize }`): AlexNet keeps its variant, and its width when not d2l's. */
export function savedModelOf(c: WebModelChoice, size = modelInputSize(c)): WebSavedModel {
  const alex = c.model === "alexnet" ? { variant: c.variant, ...(c.widthScale !== 1 ? { widthScale: c.widthScale } : {}) } : {};
  return { model: c.model, ...alex, inChannels: 1, classes: TEXT_LABELS.length, size, resize: size === 28 ? null : size };
}

/** One line naming the first bad setting, or null. */
export function checkSettings(s: WebTrainSettings): string | null {
  const positiveInt = (v: number): boolean => Number.isSafeInteger(v) && v >= 1;
  if (!ZOO.some((z) => z.name === s.model)) return `unknown model '${s.model}' (models: ${ZOO.map((z) => z.name).join(", ")})`;
  if (s.model === "alexnet" && s.variant !== "224" && s.variant !== "28") return `variant must be 224 or 28 (got ${s.variant})`;
  if (s.model === "alexnet" && !(s.widthScale > 0 && s.widthScale <= 1)) return `width scale must be in (0, 1] (got ${s.widthScale})`;
  if (!positiveInt(s.epochs)) return `epochs must be a whole number of at least 1 (got ${s.epochs})`;
  if (!(s.lr > 0 && Number.isFinite(s.lr))) return `learning rate must be a positive number (got ${s.lr})`;
  if (!positiveInt(s.batchSize)) return `batch size must be a whole number of at least 1 (got ${s.batchSize})`;
  if (!(Number.isSafeInteger(s.seed) && s.seed >= 0)) return `seed must be a whole number of at least 0 (got ${s.seed})`;
  if (s.trainLimit !== null && !positiveInt(s.trainLimit)) return `train examples must be a whole number of at least 1 (got ${s.trainLimit})`;
  if (s.testLimit !== null && !positiveInt(s.testLimit)) return `test examples must be a whole number of at least 1 (got ${s.testLimit})`;
  return null;
}

export interface TrainingRun {
  net: Module;
  optimizer: SGD;
  state: TrainState;
  trainLoader: BatchSource;
  testLoader: BatchSource;
}

/** Shuffled training batches and in-order test batches, as `alexnet train` builds them. */
export function webLoaders(train: ImageDataset, test: ImageDataset, s: WebTrainSettings): { trainLoader: ArrayLoader; testLoader: ArrayLoader } {
  const size = modelInputSize(s);
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
  const net = await buildModel(s).to(backend);
  initWeights(net);
  const optimizer = new SGD(net.parameters(), { lr: s.lr, momentum: 0, weightDecay: 0 });
  return { net, optimizer, state: initialTrainState(), trainLoader, testLoader };
}

/** model.safetensors bytes; with `saved`, the model record that lets `alexnet eval` rebuild any zoo model
 * (without one, eval recognises an AlexNet by its weights). */
export async function saveModel(net: Module, saved?: WebSavedModel): Promise<Uint8Array> {
  const metadata = { format: "pt", ...(saved ? { [MODEL_METADATA_KEY]: JSON.stringify(saved) } : {}) };
  return encodeSafetensors(await modelTensors(net), metadata, "model.safetensors");
}

export interface LoadedWebModel extends WebModelChoice {
  /** In evaluation mode, on the backend it was loaded to. */
  net: Module;
  /** The side of its input images. */
  size: number;
}

/** The record of a model.safetensors, checked as `alexnet eval` checks it; null when it has none. */
function savedModelIn(metadata: Record<string, string>, file: string): WebSavedModel | null {
  const text = metadata[MODEL_METADATA_KEY];
  if (text === undefined) return null;
  let s: Partial<WebSavedModel>;
  try {
    s = JSON.parse(text) as Partial<WebSavedModel>;
  } catch {
    throw new Error(`${file}: its ${MODEL_METADATA_KEY} metadata is not valid JSON`);
  }
  const positiveInt = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 1;
  if (typeof s !== "object" || s === null || typeof s.model !== "string" || !positiveInt(s.inChannels) || !positiveInt(s.classes) || !positiveInt(s.size)
    || !(s.resize === null || positiveInt(s.resize)) || (s.variant !== undefined && !ALEXNET_VARIANTS.includes(s.variant))
    || (s.widthScale !== undefined && !(typeof s.widthScale === "number" && s.widthScale > 0))) {
    throw new Error(`${file}: its ${MODEL_METADATA_KEY} metadata is malformed (${text.slice(0, 120)})`);
  }
  return s as WebSavedModel;
}

/** A network from safetensors bytes, as `alexnet eval` loads one (src/cli/modelChoice.ts,
 * loadCheckpointModel): rebuilt from the model it records, or, for a file without a record, an AlexNet
 * recognised by its weights (models/fromWeights.ts). The page has Fashion-MNIST only: 1 channel, 10 classes. */
export async function loadModel(bytes: Uint8Array, file: string, backend: Backend): Promise<LoadedWebModel> {
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  const saved = savedModelIn(metadata, file);
  if (!saved) {
    const a = await alexNetFromWeights(tensors, file, backend);
    return { net: a.net, model: "alexnet", variant: a.variant, widthScale: a.widthScale, size: inputSize(a.variant) };
  }
  if (!ZOO.some((z) => z.name === saved.model)) {
    throw new Error(`${file} was trained with --model ${saved.model}; the page builds only the zoo's models (${ZOO.map((z) => z.name).join(", ")})`);
  }
  if (saved.inChannels !== 1 || saved.classes !== TEXT_LABELS.length) {
    throw new Error(`${file} is for ${saved.inChannels}-channel images in ${saved.classes} classes; the page has Fashion-MNIST (1 channel, ${TEXT_LABELS.length} classes)`);
  }
  const choice: WebModelChoice = { model: saved.model, variant: saved.variant ?? "224", widthScale: saved.widthScale ?? 1 };
  const net = await buildModel(choice, saved.size).to(backend);
  try {
    tidy(() => net.loadStateDict(new Map([...tensors].map(([name, t]) => [name, tensor(t.data, { shape: t.shape, backend })]))));
  } catch (e) {
    net.dispose();
    throw new Error(`${file} (${saved.model}): ${(e as Error).message}`);
  }
  net.eval();
  return { net, ...choice, size: saved.size };
}

/** Softmax of each row of the logits for `images` (N, 1, H, W), in evaluation mode. */
export function probabilities(net: Module, images: Float32Array, n: number, size: number, backend: Backend): Promise<Float32Array[]> {
  return probabilitiesOf(net, images, [n, 1, size, size], backend);
}

/** Indices of the k largest values, largest first. */
export function topK(p: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, k);
}

// The data sets `--dataset` names (Fashion-MNIST, d2l's default, and MNIST) and one entry point for loading
// a split of either by name, for train, eval, predict, activations and `data`. A checkpoint records the data
// set it was trained on (`dataset` in its model record), so eval and predict default to it.
import {
  type DatasetSpec,
  type LoadedSplit,
  type LoadOptions,
  type Split,
  describeSourceOf,
  loadSplit,
} from "./dataset.js";
import { DataError } from "./idx.js";
import { FASHION_MNIST } from "./fashionMnist.js";
import { MNIST } from "./mnist.js";

export { FASHION_MNIST, MNIST };

export const DATASETS: readonly DatasetSpec[] = [FASHION_MNIST, MNIST];
export const DATASET_NAMES: readonly string[] = DATASETS.map((d) => d.name);
/** d2l's data set, and what a checkpoint without a record was trained on. */
export const DEFAULT_DATASET = FASHION_MNIST.name;

/** The descriptor of a data set by name; unknown names are a DataError listing the known ones. */
export function datasetSpec(name: string): DatasetSpec {
  const spec = DATASETS.find((d) => d.name === name);
  if (!spec) throw new DataError(`unknown data set '${name}' (data sets: ${DATASET_NAMES.join(", ")})`);
  return spec;
}

/** Loads one split of the named data set (or of a descriptor: tests pass one with their own files' sums). */
export function loadDataset(dataset: string | DatasetSpec, split: Split, opts: LoadOptions = {}): Promise<LoadedSplit> {
  return loadSplit(typeof dataset === "string" ? datasetSpec(dataset) : dataset, split, opts);
}

/** One line saying where a split came from, in the words of its own data set ("$ALEXNET_MNIST_DATA"). */
export function describeDatasetSource(ds: LoadedSplit): string {
  return describeSourceOf(datasetSpec(ds.dataset), ds);
}

/** Class names of a network's `classes` outputs: the data set's labels when they fit, else "class i". */
export function classLabels(dataset: string, classes: number): readonly string[] {
  const labels = datasetSpec(dataset).labels;
  return classes === labels.length ? labels : Array.from({ length: classes }, (_, i) => `class ${i}`);
}

/** The data set a checkpoint's model record names (`dataset`, written by train), if any and known. */
export function recordedDataset(saved: object): string | undefined {
  const name = (saved as { dataset?: unknown }).dataset;
  return typeof name === "string" && DATASET_NAMES.includes(name) ? name : undefined;
}

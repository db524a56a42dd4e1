// `alexnet activations --checkpoint PATH --layer N IMAGE...|--from-test K`: the feature maps one layer of a
// trained network computes for some images, as a PNG grid (d2l 6.6's exercise: LeNet's first and second
// layer for sweaters and coats, `--from-test 4 --classes pullover,coat`). N is the layer number `summary` and
// `analyze` print (a Sequential's top-level index, also its state_dict name), or a dotted module path
// (`4.0.conv1`). One block per image, labelled with its true label (test images) or file name and the
// predicted label; one tile per channel, each scaled to its own min..max (`--normalize layer`: one scale for
// the whole output, to compare channels and images); a 1-D output (a Linear's) is one strip per image.
import { writeFileSync } from "node:fs";
import { basename } from "node:path";
import { activationGrid, captureActivations, resolveLayer, type Normalize } from "../analysis/activations.js";
import { loadSplit } from "../data/dataset.js";
import { classLabels, recordedDataset } from "../data/datasets.js";
import { loadImageForModel } from "../data/decode/file.js";
import { DataLoader } from "../data/loader.js";
import { normalizeRange } from "../data/augment.js";
import { encodePng } from "../data/png.js";
import { argmaxRows } from "../train/trainer.js";
import { type Command, type FlagSpecs, closestMatch, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { CHECKPOINT_DATASET_FLAG, datasetFromFlags } from "./data.js";
import { CHECKPOINT_MODEL_FLAGS, loadCheckpointModel } from "./modelChoice.js";

/** More images than this make a picture too tall to look at. */
const MAX_IMAGES = 64;

const FLAGS: FlagSpecs = {
  checkpoint: { type: "string", help: "run directory, checkpoint directory or model.safetensors" },
  ...CHECKPOINT_MODEL_FLAGS,
  layer: { type: "string", help: "the layer: its number in `alexnet summary`/`analyze` (0 is the first), or a dotted path such as 4.0.conv1" },
  "from-test": { type: "int", min: 1, help: `the first K test images (with --classes: K of each class; at most ${MAX_IMAGES} in all)` },
  classes: { type: "string", help: "with --from-test: only these classes, comma-separated (e.g. pullover,coat)" },
  normalize: { type: "string", choices: ["tile", "layer"], default: "tile", help: "grey scale: each tile its own min..max, or one for the layer" },
  columns: { type: "int", min: 1, default: 16, help: "tiles per line" },
  scale: { type: "int", min: 1, help: "pixels per feature-map pixel (default: tiles of about 56 px)" },
  out: { type: "string", default: "activations.png", help: "PNG file to write" },
  ...CHECKPOINT_DATASET_FLAG,
  "data-dir": { type: "string", help: "directory with the data set's four files" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

/** Test-set indices: the first `k`, or the first `k` of each named class (in the order named). */
export function pickTestImages(labels: Uint8Array, k: number, wanted: readonly number[] | null): number[] {
  if (!wanted) return Array.from({ length: Math.min(k, labels.length) }, (_, i) => i);
  const picked: number[] = [];
  for (const c of wanted) {
    let taken = 0;
    for (let i = 0; i < labels.length && taken < k; i++) {
      if (labels[i] === c) {
        picked.push(i);
        taken++;
      }
    }
  }
  return picked;
}

function parseClasses(raw: string | undefined, names: readonly string[]): number[] | null {
  if (raw === undefined) return null;
  return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const i = names.indexOf(s.toLowerCase());
    if (i >= 0) return i;
    const match = closestMatch(s, names);
    throw new UsageError(`--classes: unknown class '${s}'${match ? `; did you mean ${match}?` : ""} (classes: ${names.join(", ")})`);
  });
}

export const activationsCommand: Command = defineCommand("activations", "--checkpoint PATH --layer N [IMAGE...] [flags]", FLAGS, async ({ flags, positional }) => {
  const path = flags.checkpoint as string | undefined;
  if (!path) throw new UsageError("--checkpoint PATH is required");
  const layerPath = flags.layer as string | undefined;
  if (layerPath === undefined) throw new UsageError("--layer N is required (the numbers `alexnet summary` prints, from 0)");
  const fromTest = flags["from-test"] as number | undefined;
  if (!fromTest && positional.length === 0) throw new UsageError("give image files (PNG or JPEG) or --from-test K");
  if (flags.classes !== undefined && !fromTest) throw new UsageError("--classes goes with --from-test K");
  const backend = await selectBackend(flags);
  const { net, saved, title } = await loadCheckpointModel(path, backend, (m) => console.error(m),
    { model: flags.model as string | undefined, resize: flags.resize as number | undefined });
  try {
    const { classes, size, resize, inChannels } = saved;
    if (inChannels !== 1) throw new Error(`${path}: the model takes ${inChannels}-channel images; activations feeds grey images (1 channel)`);
    let layer;
    try {
      layer = resolveLayer(net, layerPath);
    } catch (e) {
      throw new UsageError(`--layer ${layerPath}: ${(e as Error).message}`);
    }
    const spec = datasetFromFlags(flags, recordedDataset(saved));
    const names = classLabels(spec.name, classes);
    // The images and the first lines of their labels: file names, or true labels of test images.
    const inputs: Float32Array[] = [];
    const heads: string[] = [];
    const truth: (number | null)[] = [];
    for (const file of positional) {
      inputs.push(loadImageForModel(file, size));
      heads.push(basename(file).slice(0, 20));
      truth.push(null);
    }
    if (fromTest) {
      const wanted = parseClasses(flags.classes as string | undefined, spec.labels);
      const test = await loadSplit(spec, "test", { dataDir: flags["data-dir"] as string | undefined });
      const picked = pickTestImages(test.labels, fromTest, wanted).slice(0, MAX_IMAGES);
      // The picked images as a small data set of their own, fed as predict feeds the test set.
      const pixels = test.rows * test.cols;
      const subset = {
        images: new Uint8Array(picked.length * pixels), labels: Uint8Array.from(picked, (i) => test.labels[i]!),
        count: picked.length, rows: test.rows, cols: test.cols,
      };
      picked.forEach((i, k) => subset.images.set(test.images.subarray(i * pixels, (i + 1) * pixels), k * pixels));
      if (picked.length > 0) {
        const loader = new DataLoader(subset, { batchSize: picked.length, shuffle: false, resize: resize ?? undefined, worker: false });
        const batch = loader.batchSync(0, 0);
        picked.forEach((i, k) => {
          inputs.push(batch.images.subarray(k * size * size, (k + 1) * size * size));
          heads.push(`true: ${spec.labels[test.labels[i]!]} (#${i})`);
          truth.push(test.labels[i]!);
        });
        await loader.close();
      }
    }
    if (inputs.length > MAX_IMAGES) throw new UsageError(`at most ${MAX_IMAGES} images (got ${inputs.length})`);
    if (inputs.length === 0) throw new Error(`no test images of ${flags.classes}`);
    const n = inputs.length;
    const batch = new Float32Array(n * size * size);
    inputs.forEach((x, i) => batch.set(x, i * size * size));
    // The network sees what it trained on (train --normalize); the thumbnails stay plain images.
    const fed = saved.normalize ? batch.slice() : batch;
    if (saved.normalize) normalizeRange(fed, 0, fed.length, saved.normalize);
    const got = await captureActivations(net, layer.module, fed, [n, 1, size, size], backend);
    const predicted = Array.from({ length: n }, (_, i) => argmaxRows(got.logits.subarray(i * got.classes, (i + 1) * got.classes), 1, got.classes)[0]!);
    const labels = heads.map((h, i) => [h, `pred: ${names[predicted[i]!]}${truth[i] === null || truth[i] === predicted[i] ? "" : " (wrong)"}`]);
    const normalize = flags.normalize as Normalize;
    const kind = layer.module.constructor.name;
    // (The bitmap font has no brackets.)
    const shape = got.shape.slice(1).join("x");
    const how = normalize === "tile" ? "each tile scaled to its own min..max" : "one scale for the layer";
    const { raster } = activationGrid({
      values: got.values, shape: got.shape, inputs: batch, inputSize: size, labels,
      title: `${title}, layer ${layer.name} ${kind} ${shape}: ${how}`,
    }, { normalize, columns: flags.columns as number, ...(flags.scale !== undefined && { scale: flags.scale as number }) });
    writeFileSync(flags.out as string, encodePng(raster));
    const what = got.shape.length === 4 ? `${got.shape[1]} channels of ${got.shape[2]}x${got.shape[3]}` : `${got.values.length / n} values`;
    console.log(`${flags.out}: layer ${layer.name} (${kind}), ${what}, for ${n} image${n === 1 ? "" : "s"} (${raster.width}x${raster.height} px, ${how})`);
    return 0;
  } finally {
    net.dispose();
  }
});

// `alexnet predict --checkpoint PATH IMAGE...`: top-3 labels with probabilities for PNG/JPEG files of any
// size (grey, resized as in training); `--from-test N` draws N test images with true and predicted labels
// (d2l's predict_ch3), from the test set of the data set the checkpoint was trained on (or `--dataset`).
import { writeFileSync } from "node:fs";
import { loadSplit } from "../data/dataset.js";
import { classLabels, recordedDataset } from "../data/datasets.js";
import { DataLoader } from "../data/loader.js";
import { normalizeRange } from "../data/augment.js";
import { imageGrid } from "../data/grid.js";
import { encodePng, type Raster } from "../data/png.js";
import { loadImageForModel } from "../data/decode/file.js";
import { argmaxRows } from "../train/trainer.js";
import { probabilities } from "../models/probabilities.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { CHECKPOINT_MODEL_FLAGS, loadCheckpointModel } from "./modelChoice.js";
import { CHECKPOINT_DATASET_FLAG, datasetFromFlags } from "./data.js";

const FLAGS: FlagSpecs = {
  checkpoint: { type: "string", help: "run directory, checkpoint directory or model.safetensors" },
  ...CHECKPOINT_MODEL_FLAGS,
  "from-test": { type: "int", min: 1, help: "predict the first N test images and draw them with true/predicted labels" },
  out: { type: "string", default: "predictions.png", help: "PNG file for --from-test" },
  ...CHECKPOINT_DATASET_FLAG,
  "data-dir": { type: "string", help: "directory with the data set's four files" },
  top: { type: "int", min: 1, default: 3, help: "how many labels to print per image" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};


export const predictCommand: Command = defineCommand("predict", "--checkpoint PATH [IMAGE...] [flags]", FLAGS, async ({ flags, positional }) => {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new UsageError("--checkpoint PATH is required");
    const fromTest = flags["from-test"] as number | undefined;
    if (!fromTest && positional.length === 0) throw new UsageError("give image files (PNG or JPEG) or --from-test N");
    const backend = await selectBackend(flags);
    const { net, saved } = await loadCheckpointModel(path, backend, (m) => console.error(m),
      { model: flags.model as string | undefined, resize: flags.resize as number | undefined });
    const { classes, size, resize, inChannels } = saved;
    if (inChannels !== 1) {
      net.dispose();
      throw new Error(`${path}: the model takes ${inChannels}-channel images; predict feeds grey Fashion-MNIST-like images (1 channel)`);
    }
    // Label names (and --from-test's images) of the data set the checkpoint records, unless --dataset names one.
    const spec = datasetFromFlags(flags, recordedDataset(saved));
    const labels = classLabels(spec.name, classes);
    try {
      for (const file of positional) {
        const image = loadImageForModel(file, size);
        if (saved.normalize) normalizeRange(image, 0, image.length, saved.normalize);
        const [p] = await probabilities(net, image, [1, 1, size, size], backend);
        const top = [...p!.keys()].sort((a, b) => p![b]! - p![a]!).slice(0, flags.top as number);
        console.log(`${file}: ${top.map((j) => `${labels[j]} ${(p![j]! * 100).toFixed(1)}%`).join(", ")}`);
      }
      if (fromTest) {
        const test = await loadSplit(spec, "test", { dataDir: flags["data-dir"] as string | undefined });
        const n = Math.min(fromTest, test.count, 1000);
        const loader = new DataLoader(test, { batchSize: n, shuffle: false, limit: n, resize: resize ?? undefined, worker: false, normalize: saved.normalize });
        const batch = loader.batchSync(0, 0);
        const probs = await probabilities(net, batch.images, [...batch.shape], backend);
        const predicted = probs.map((p) => argmaxRows(p, 1, classes)[0]!);
        const titles = Array.from({ length: n }, (_, i) => `${labels[batch.labels[i]!]}\n${labels[predicted[i]!]}`);
        const correct = predicted.reduce((c, p, i) => c + (p === batch.labels[i] ? 1 : 0), 0);
        const wrong = predicted.map((p, i) => p !== batch.labels[i]);
        writeFileSync(flags.out as string, encodePng(markWrong(test.images, n, test.rows, test.cols, titles, wrong)));
        console.log(`${correct}/${n} correct; ${flags.out} shows each image with its true label above the predicted one, wrong predictions in red`);
      }
      return 0;
    } finally {
      net.dispose();
    }
});

const RED: readonly [number, number, number] = [214, 0, 0];

/** d2l's predict_ch3 grid in colour: the titles of wrong predictions ("true" over "predicted") drawn in red.
 * A second grid, laid out identically but holding only those titles (the others blanked to spaces of the
 * same width) over white images, tells which dark pixels to paint red. */
export function markWrong(images: Uint8Array, count: number, rows: number, cols: number, titles: readonly string[], wrong: readonly boolean[]): Raster {
  const grid = imageGrid(images, count, rows, cols, titles);
  const blank = titles.map((t, i) => (wrong[i] ? t : t.replace(/[^\n]/g, " ")));
  const mask = imageGrid(new Uint8Array(images.length).fill(255), count, rows, cols, blank);
  const out: Raster = { width: grid.width, height: grid.height, channels: 3, data: new Uint8Array(grid.width * grid.height * 3) };
  for (let i = 0; i < grid.data.length; i++) {
    out.data.set(mask.data[i]! < 128 ? RED : [grid.data[i]!, grid.data[i]!, grid.data[i]!], i * 3);
  }
  return out;
}

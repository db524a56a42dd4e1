// `alexnet eval --checkpoint PATH`: the checkpoint's model (recorded by `alexnet train --model`), its test accuracy, per-class accuracy and the confusion matrix (a table,
// and a PNG heatmap), on the test set of the data set it was trained on (`--dataset` names another).
import { writeFileSync } from "node:fs";
import { DataLoader } from "../data/loader.js";
import { loadSplit } from "../data/dataset.js";
import { classLabels, recordedDataset } from "../data/datasets.js";
import { confusionMatrix, confusionPng, confusionTable } from "../train/confusion.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";
import { CHECKPOINT_MODEL_FLAGS, loadCheckpointModel } from "./modelChoice.js";
import { CHECKPOINT_DATASET_FLAG, datasetFromFlags } from "./data.js";

const FLAGS: FlagSpecs = {
  checkpoint: { type: "string", help: "run directory, checkpoint directory or model.safetensors" },
  ...CHECKPOINT_MODEL_FLAGS,
  ...CHECKPOINT_DATASET_FLAG,
  "data-dir": { type: "string", help: "directory with the data set's four files" },
  "test-limit": { type: "int", min: 1, help: "use only the first N test examples" },
  "batch-size": { type: "int", min: 1, default: 256, help: "evaluation batch size" },
  out: { type: "string", default: "confusion.png", help: "PNG file for the confusion matrix" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

export const evalCommand: Command = defineCommand("eval", "--checkpoint PATH [flags]", FLAGS, async ({ flags }) => {
    const path = flags.checkpoint as string | undefined;
    if (!path) throw new UsageError("--checkpoint PATH is required");
    const backend = await selectBackend(flags);
    const log = (m: string): void => console.error(m);
    // The checkpoint names its model (any --model it was trained with); AlexNet checkpoints from before that
    // are recognised by their weights.
    const { net, saved, title, source } = await loadCheckpointModel(path, backend, log,
      { model: flags.model as string | undefined, resize: flags.resize as number | undefined });
    const classes = saved.classes;
    // The data set the checkpoint records (train writes it), unless --dataset names one.
    const spec = datasetFromFlags(flags, recordedDataset(saved));
    const test = await loadSplit(spec, "test", { dataDir: flags["data-dir"] as string | undefined, log });
    const loader = new DataLoader(test, {
      batchSize: flags["batch-size"] as number, shuffle: false, resize: saved.resize ?? undefined, normalize: saved.normalize,
      limit: flags["test-limit"] as number | undefined,
    });
    try {
      const c = await confusionMatrix(net, loader, backend, classes);
      const labels = classLabels(spec.name, classes);
      const on = spec.name === "fashion-mnist" ? "" : ` of ${spec.title}`;
      console.log(`${source} (${title.replace(/^AlexNet \(variant (\w+)\)$/, "AlexNet variant $1")}) on ${c.total} test examples${on}, ${backend.describe()}`);
      console.log(`test acc ${c.accuracy.toFixed(3)}\n`);
      for (const line of confusionTable(c, labels)) console.log(line);
      writeFileSync(flags.out as string, confusionPng(c, labels));
      console.log(`\nconfusion matrix written to ${flags.out}`);
      return 0;
    } finally {
      await loader.close();
      net.dispose();
    }
});

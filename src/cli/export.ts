// `alexnet export --checkpoint PATH [--model NAME|FILE] [--out model.onnx] [--opset 17] [--batch dynamic|N]`:
// the trained network as an ONNX model (src/export/onnx.ts) for ONNX Runtime, onnxruntime-web or Netron.
// Without --model the checkpoint is AlexNet's (variant and width from its weights, as eval and predict do);
// --model builds a zoo model (or a user's file) for the weights' channels and classes and loads them
// strictly. Nothing is written unless the whole model exports; the file appears whole (renamed into place).
import { renameSync, unlinkSync, writeFileSync } from "node:fs";
import { deployOptions } from "../export/deploy.js";
import { DEFAULT_OPSET, SUPPORTED_OPSETS, exportOnnx } from "../export/onnx.js";
import { ZOO } from "../models/registry.js";
import type { Module } from "../nn/module.js";
import { packageVersion } from "../packageRoot.js";
import { getBackend } from "../backend/registry.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { readModelWeights } from "../checkpoint/checkpoint.js";
import { loadModel } from "../train/model.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { chooseModel, looksLikeFile, recipeInput } from "./modelChoice.js";

const FLAGS: FlagSpecs = {
  checkpoint: { type: "string", help: "run directory, checkpoint directory or model.safetensors" },
  model: { type: "string", help: `the network the weights are for: ${ZOO.map((z) => z.name).join(", ")}, or a file ./net.mjs (default: AlexNet, variant from the weights)` },
  out: { type: "string", default: "model.onnx", help: "the ONNX file to write" },
  opset: { type: "int", min: 1, default: DEFAULT_OPSET, help: `ONNX opset (${SUPPORTED_OPSETS[0]} to ${SUPPORTED_OPSETS[SUPPORTED_OPSETS.length - 1]})` },
  batch: { type: "string", default: "dynamic", help: "the input's batch size: dynamic, or a fixed N" },
  help: { type: "boolean", help: "show this help" },
};

interface Exportable {
  net: Module;
  name: string;
  /** (C, H, W) of one input image. */
  input: [number, number, number];
  /** The side images are resized to before ToTensor (null: used at their own 28x28). */
  resize: number | null;
  classes: number;
}

function parseBatch(raw: string): "dynamic" | number {
  if (raw === "dynamic") return raw;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--batch must be dynamic or a positive whole number (got '${raw}')`);
  return n;
}

/** The checkpoint's network on the reference backend, in eval mode. */
async function loadNetwork(path: string, model: string | undefined, log: (m: string) => void): Promise<Exportable> {
  const backend = getBackend("reference");
  if (model === undefined || model === "alexnet") {
    let loaded;
    try {
      loaded = await loadModel(path, backend, log);
    } catch (e) {
      const message = (e as Error).message;
      throw new Error(model === undefined && /does not hold AlexNet weights/.test(message) ? `${message}; for another network name it with --model` : message);
    }
    const { net, variant, classes } = loaded;
    const size = variant === "224" ? 224 : 28;
    const channels = net.parameters()[0]!.shape[1]!;
    return { net, name: variant === "224" ? "alexnet" : "alexnet-28", input: [channels, size, size], resize: variant === "224" ? 224 : null, classes };
  }
  const choice = await chooseModel({ model });
  const weights = readModelWeights(path, log);
  const convs = weights.filter((w) => w.shape.length === 4);
  const linears = weights.filter((w) => w.shape.length === 2);
  if (convs.length === 0 || linears.length === 0) throw new Error(`${path} holds no convolution and linear weights for --model ${model}`);
  const inChannels = convs[0]!.shape[1]!;
  const classes = linears[linears.length - 1]!.shape[0]!;
  const net = choice.build({ inChannels, classes });
  const own = net.namedState().map(([name]) => name).filter((name) => !name.endsWith("num_batches_tracked"));
  const inFile = new Set(weights.map((w) => w.name));
  const missing = own.filter((name) => !inFile.has(name));
  if (missing.length > 0) {
    net.dispose();
    const some = (names: string[]): string => names.slice(0, 3).join(", ") + (names.length > 3 ? ", ..." : "");
    const unexpected = [...inFile].filter((name) => !own.includes(name) && !name.endsWith("num_batches_tracked"));
    throw new Error(`${path} is not a ${choice.model} checkpoint: ${missing.length} of the model's ${own.length} weights are missing (${some(missing)})`
      + (unexpected.length ? ` and it has ${unexpected.length} others (${some(unexpected)})` : ""));
  }
  try {
    tidy(() => net.loadStateDict(new Map(weights.map((w) => [w.name, tensor(w.data, { shape: w.shape, backend })]))));
  } catch (e) {
    net.dispose();
    throw new Error(`${path} is not a ${choice.model} checkpoint: ${(e as Error).message}`);
  }
  net.eval();
  const [, h, w] = looksLikeFile(model) ? choice.inputShape : recipeInput(choice.recipe);
  const name = looksLikeFile(model) ? model.replace(/^.*[\\/]/, "").replace(/\.[cm]?js$/, "") : choice.model;
  return { net, name, input: [inChannels, h, w], resize: looksLikeFile(model) ? null : choice.recipe.resize, classes };
}

export const exportCommand: Command = defineCommand("export", "--checkpoint PATH [--model NAME|FILE] [--out model.onnx] [--opset 17] [--batch dynamic|N]", FLAGS, async ({ flags }) => {
  const path = flags.checkpoint as string | undefined;
  if (!path) throw new UsageError("--checkpoint PATH is required");
  const opset = flags.opset as number;
  if (!SUPPORTED_OPSETS.includes(opset)) throw new UsageError(`--opset must be ${SUPPORTED_OPSETS[0]} to ${SUPPORTED_OPSETS[SUPPORTED_OPSETS.length - 1]} (got ${opset})`);
  const batch = parseBatch(flags.batch as string);
  const out = flags.out as string;
  const log = (m: string): void => console.error(m);
  const m = await loadNetwork(path, flags.model as string | undefined, log);
  try {
    const bytes = exportOnnx(m.net, [batch === "dynamic" ? 1 : batch, ...m.input], {
      ...deployOptions(m), opset, batch, producerVersion: packageVersion(),
    });
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, bytes);
      renameSync(tmp, out);
    } catch (e) {
      try { unlinkSync(tmp); } catch { /* not there */ }
      throw new Error(`cannot write ${out}: ${(e as Error).message}`);
    }
    const dims = (b: string | number, rest: readonly number[]): string => `[${[b, ...rest].join(", ")}]`;
    console.log(`wrote ${out} (${(bytes.length / 1e6).toFixed(1)} MB): ${m.name}, opset ${opset}, `
      + `input x ${dims(batch === "dynamic" ? "batch" : batch, m.input)} float32, output logits ${dims(batch === "dynamic" ? "batch" : batch, [m.classes])}`);
    return 0;
  } finally {
    m.net.dispose();
  }
});

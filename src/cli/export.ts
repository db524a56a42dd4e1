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
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { loadCheckpointModel, looksLikeFile } from "./modelChoice.js";

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

/** The checkpoint's network on the reference backend, in eval mode: the model it records (or, for weights
 * saved elsewhere, the one --model names; AlexNet by its weights), as eval and predict load it. */
async function loadNetwork(path: string, model: string | undefined, log: (m: string) => void): Promise<Exportable> {
  const { net, saved } = await loadCheckpointModel(path, getBackend("reference"), log, model === undefined ? {} : { model });
  const file = looksLikeFile(saved.model);
  const name = file ? saved.model.replace(/^.*[\\/]/, "").replace(/\.[cm]?js$/, "")
    : saved.model === "alexnet" && saved.variant === "28" ? "alexnet-28" : saved.model;
  return { net, name, input: [saved.inChannels, saved.size, saved.size], resize: saved.resize, classes: saved.classes };
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

// `--model NAME|FILE` for every command: a model of the zoo (src/models/registry.ts) by name, or a user's
// file whose default export builds an nn.Module (optionally also exporting `recipe` and `inputShape`), so
// d2l's exercises run without a fork. A file that is missing, throws, exports no Module, or whose output
// does not fit the data fails here, before any data is read, with one line naming the file and the reason.
// A run records its model (config.json, and `alexnet-ts.model` in model.safetensors's metadata), so `eval`
// and `predict` rebuild it from the checkpoint alone; AlexNet checkpoints written before that are recognised
// by their weights (src/models/fromWeights.ts).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Backend } from "../backend/backend.js";
import { getBackend, setBackend } from "../backend/registry.js";
import { ALEXNET_VARIANTS, type AlexNetVariant, alexNet } from "../models/alexnet.js";
import { alexNetFromWeights } from "../models/fromWeights.js";
import { type Recipe, type ZooOptions, ZOO, recipeInput, zooModel } from "../models/registry.js";
import { buildOnMeta } from "../models/trace.js";
import { Module } from "../nn/module.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { readModelFile } from "../checkpoint/checkpoint.js";
import type { NamedTensor } from "../checkpoint/safetensors.js";
import type { FlagSpecs, ParsedFlags } from "./args.js";
import { UsageError } from "./args.js";

export { recipeInput };

export const MODEL_FLAGS: FlagSpecs = {
  model: { type: "string", default: "alexnet", help: `${ZOO.map((z) => z.name).join(", ")}, or a file ./net.mjs whose default export returns an nn.Module` },
};

/** How a run names its model in config.json and checkpoints, so eval and predict rebuild it without flags. */
export interface ModelRecord {
  /** A zoo name, or the absolute path of a user's file. */
  model: string;
  /** AlexNet's variant ("224" or "28"); other models have one input size. */
  variant?: AlexNetVariant;
  /** AlexNet's width multiplier (quick experiments); 1 is d2l's. */
  widthScale?: number;
}

export interface ModelChoice extends Required<Pick<ModelRecord, "model">> {
  /** What to call it in a line of output: "LeNet", "AlexNet (variant 28)", "net.mjs". */
  title: string;
  /** d2l's section, or the file. */
  section: string;
  build(options?: ZooOptions): Module;
  recipe: Recipe;
  /** The input (C, H, W) of d2l's shape table for a zoo model (`summary`); a file's `inputShape`, or its
   * recipe's size. */
  inputShape: [number, number, number];
  record: ModelRecord;
}

/** Resolves a model record (from flags or a run's config.json); loads a user's file. */
export async function chooseModel(record: ModelRecord): Promise<ModelChoice> {
  const spec = record.model;
  if (!looksLikeFile(spec)) {
    if (!ZOO.some((z) => z.name === spec)) {
      throw new UsageError(`unknown model '${spec}' (models: ${ZOO.map((z) => z.name).join(", ")}, or a file ./net.mjs)`);
    }
    const z = zooModel(spec);
    if (z.name === "alexnet") return alexNetChoice(record);
    if (record.variant !== undefined && record.variant !== "224") throw new UsageError(`--variant is AlexNet's; ${z.name} has one input size`);
    if (record.widthScale !== undefined && record.widthScale !== 1) throw new UsageError(`--width-scale is AlexNet's; ${z.name} has d2l's widths`);
    return { model: z.name, title: z.title, section: z.section, build: z.build, recipe: z.recipe, inputShape: z.summaryInput, record: { model: z.name } };
  }
  if (record.variant !== undefined) throw new UsageError(`--variant is AlexNet's; --model ${spec} is a file`);
  if (record.widthScale !== undefined && record.widthScale !== 1) throw new UsageError(`--width-scale is AlexNet's; --model ${spec} is a file`);
  return userModel(spec);
}

/** The model the flags name: --model, and AlexNet's --variant and --width-scale where the command has them
 * (`variantDefault`: AlexNet's variant when --variant is not given). */
export function chooseFromFlags(flags: ParsedFlags, variantDefault: AlexNetVariant = "224"): Promise<ModelChoice> {
  const model = (flags.model as string | undefined) ?? "alexnet";
  const variant = flags.variant as AlexNetVariant | undefined;
  const widthScale = flags["width-scale"] as number | undefined;
  const isAlexNet = model === "alexnet";
  return chooseModel({
    model,
    ...(variant !== undefined ? { variant } : isAlexNet ? { variant: variantDefault } : {}),
    ...(widthScale !== undefined ? { widthScale } : {}),
  });
}

/** A name with a path separator or a JavaScript extension is a file. */
export function looksLikeFile(spec: string): boolean {
  return /[\\/]/.test(spec) || /\.(m?js|cjs)$/.test(spec);
}

function alexNetChoice(record: ModelRecord): ModelChoice {
  const variant = record.variant ?? "224";
  if (!ALEXNET_VARIANTS.includes(variant)) throw new UsageError(`unknown AlexNet variant '${variant}' (use 224 or 28)`);
  const widthScale = record.widthScale ?? 1;
  if (!(widthScale > 0)) throw new UsageError(`--width-scale must be positive (got ${widthScale})`);
  const z = zooModel("alexnet");
  const size = variant === "224" ? 224 : 28;
  return {
    model: "alexnet",
    title: `AlexNet (variant ${variant})`,
    section: z.section,
    build: (o) => alexNet({ ...o, variant, widthScale }),
    recipe: variant === "224" ? z.recipe : { ...z.recipe, resize: null },
    inputShape: [1, size, size],
    record: { model: "alexnet", variant, ...(widthScale !== 1 ? { widthScale } : {}) },
  };
}

interface UserModelFile {
  default?: unknown;
  recipe?: Partial<Recipe>;
  inputShape?: unknown;
}

async function userModel(spec: string): Promise<ModelChoice> {
  const path = resolve(spec);
  const fail = (reason: string): Error => new UsageError(`--model ${spec}: ${reason}`);
  if (!existsSync(path)) throw fail("no such file");
  let mod: UserModelFile;
  // A file that imports the package's Node entry makes the native backend the default; the command picks
  // its own backend, so the default is put back.
  const previous = getBackend();
  try {
    mod = (await import(pathToFileURL(path).href)) as UserModelFile;
  } catch (e) {
    throw fail(`loading it failed: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    setBackend(previous);
  }
  const make = mod.default;
  if (typeof make !== "function" && !isModule(make)) {
    throw fail(`its default export must be a function that returns an nn.Module (got ${describe(make)})`);
  }
  const build = (options?: ZooOptions): Module => {
    let net: unknown;
    try {
      net = typeof make === "function" ? (isClass(make) ? new (make as new (o?: ZooOptions) => unknown)(options) : (make as (o?: ZooOptions) => unknown)(options)) : make;
    } catch (e) {
      throw fail(`building the model threw: ${(e as Error).message.split("\n")[0]}`);
    }
    if (!isModule(net)) throw fail(`its default export returned ${describe(net)}, not an nn.Module`);
    return net;
  };
  const given = checkRecipe(mod.recipe, fail);
  const inputShape = mod.inputShape === undefined ? undefined : checkInputShape(mod.inputShape, fail);
  // A file that says its input size and not its resize trains on images resized to that size.
  const impliedResize = inputShape && inputShape[1] !== 28 ? inputShape[1] : null;
  const recipe: Recipe = { resize: impliedResize, batchSize: 256, lr: 0.1, epochs: 10, ...given };
  const file = path.replace(/^.*[\\/]/, "");
  return { model: path, title: file, section: path, build, recipe, inputShape: inputShape ?? recipeInput(recipe), record: { model: path } };
}

function isModule(v: unknown): v is Module {
  if (v instanceof Module) return true;
  return typeof v === "object" && v !== null && typeof (v as Module).forward === "function" && typeof (v as Module).parameters === "function"
    && typeof (v as Module).outputShape === "function";
}

function isClass(f: unknown): boolean {
  return typeof f === "function" && /^class[\s{]/.test(Function.prototype.toString.call(f));
}

function describe(v: unknown): string {
  if (v === undefined) return "no default export";
  if (v === null) return "null";
  if (typeof v === "object") return `an object (${(v as object).constructor?.name ?? "Object"})`;
  return `a ${typeof v}`;
}

function checkRecipe(r: unknown, fail: (reason: string) => Error): Partial<Recipe> {
  if (r === undefined) return {};
  if (typeof r !== "object" || r === null) throw fail("its `recipe` export must be an object { resize, batchSize, lr, epochs }");
  const out: Partial<Recipe> = {};
  for (const [key, value] of Object.entries(r)) {
    if (!["resize", "batchSize", "lr", "epochs"].includes(key)) throw fail(`its recipe has an unknown field '${key}' (resize, batchSize, lr, epochs)`);
    const ok = key === "resize" ? value === null || (Number.isInteger(value) && (value as number) >= 1)
      : key === "lr" ? typeof value === "number" && value > 0 : Number.isInteger(value) && (value as number) >= 1;
    if (!ok) throw fail(`its recipe's ${key} is ${JSON.stringify(value)}`);
    (out as Record<string, unknown>)[key] = value;
  }
  return out;
}

function checkInputShape(v: unknown, fail: (reason: string) => Error): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((d) => Number.isInteger(d) && d >= 1) || v[1] !== v[2]) {
    throw fail(`its inputShape export must be [C, H, W] with H = W (got ${JSON.stringify(v)})`);
  }
  return v as [number, number, number];
}

/** Builds the model for inputs of shape `input` (C, H, W) and checks, by a shape-only trace, that it takes
 * them and gives one score per class; the error names the model and both shapes. */
export function buildChecked(choice: ModelChoice, classes: number, input: readonly [number, number, number] = choice.inputShape): Module {
  let net: Module;
  try {
    net = choice.build({ inChannels: input[0], classes, imageSize: input[1] });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--model ${choice.model}: it cannot be built for input [1, ${input.join(", ")}]: ${(e as Error).message.split("\n")[0]}`);
  }
  let out: number[];
  try {
    out = net.outputShape([1, ...input]);
  } catch (e) {
    net.dispose();
    throw new UsageError(`--model ${choice.model}: it cannot take the data's input [1, ${input.join(", ")}]: ${(e as Error).message.split("\n")[0]}`);
  }
  if (out.length !== 2 || out[1] !== classes) {
    net.dispose();
    throw new UsageError(`--model ${choice.model}: its output for input [1, ${input.join(", ")}] is [${out.join(", ")}]; the data needs [1, ${classes}] (one score per class)`);
  }
  return net;
}

/** buildChecked on the shape-only backend: nothing allocated (summary, models, analyze's checks). */
export function buildMeta(choice: ModelChoice, classes: number, input: readonly [number, number, number] = choice.inputShape): Module {
  return buildOnMeta(() => buildChecked(choice, classes, input));
}

/** The input (C, H, W) a run trains on: the data's channels at the resize (or Fashion-MNIST's 28x28). */
export function trainInput(resize: number | null, inChannels = 1): [number, number, number] {
  const size = resize ?? 28;
  return [inChannels, size, size];
}

// ---- What a checkpoint records about its model --------------------------------------------------------

/** The metadata key of model.safetensors that names the model (a JSON SavedModel). */
export const MODEL_METADATA_KEY = "alexnet-ts.model";

/** Everything needed to rebuild a trained network and feed it: which model, and its input. */
export interface SavedModel extends ModelRecord {
  inChannels: number;
  classes: number;
  /** Height and width of the network's input. */
  size: number;
  /** The side training images were resized to (null: Fashion-MNIST's own 28x28). */
  resize: number | null;
  /** The data set the run trained on (runs from before --dataset: Fashion-MNIST). */
  dataset?: string;
  /** Normalize(mean, std) the run trained with (train --normalize): eval and predict apply it too. */
  normalize?: { mean: number; std: number };
}

/** model.safetensors metadata for a run's checkpoints. */
export function modelMetadata(saved: SavedModel): Record<string, string> {
  return { [MODEL_METADATA_KEY]: JSON.stringify(saved) };
}

function parseSaved(text: string | undefined, source: string): SavedModel | null {
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${source}: its ${MODEL_METADATA_KEY} metadata is not valid JSON`);
  }
  const s = v as Partial<SavedModel>;
  const positiveInt = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 1;
  if (typeof v !== "object" || v === null || typeof s.model !== "string" || !positiveInt(s.inChannels) || !positiveInt(s.classes) || !positiveInt(s.size)
    || !(s.resize === null || positiveInt(s.resize)) || (s.variant !== undefined && !ALEXNET_VARIANTS.includes(s.variant))
    || (s.widthScale !== undefined && !(typeof s.widthScale === "number" && s.widthScale > 0))
    || (s.normalize !== undefined && !(typeof s.normalize === "object" && s.normalize !== null && Number.isFinite(s.normalize.mean) && s.normalize.std > 0))) {
    throw new Error(`${source}: its ${MODEL_METADATA_KEY} metadata is malformed (${text.slice(0, 120)})`);
  }
  return s as SavedModel;
}

export interface LoadedModel {
  /** In evaluation mode, on the backend it was loaded to. */
  net: Module;
  saved: SavedModel;
  /** "LeNet", "AlexNet (variant 224)", "net.mjs". */
  title: string;
  /** The checkpoint path as given. */
  source: string;
}

/** `--model` and `--resize` of eval and predict: what a checkpoint without a record holds (weights saved by
 * PyTorch, say). A checkpoint that records its model needs neither. */
export const CHECKPOINT_MODEL_FLAGS: FlagSpecs = {
  model: { type: "string", help: "for weights without a model record (saved by PyTorch): the model they are for, a zoo name or a file (default: AlexNet, recognised by its weights)" },
  resize: { type: "int", min: 1, help: "with --model: the image size the weights were trained at (default: the model's recipe; 28 is no resize)" },
};

/** The network of a checkpoint (run directory, checkpoint directory or model.safetensors) with its weights:
 * rebuilt from its recorded model, or, for files without a record, the model `given` names (channels and
 * classes from the weights' shapes) or else AlexNet recognised by its weights. */
export async function loadCheckpointModel(path: string, backend: Backend, log: (msg: string) => void = () => {},
  given: { model?: string; resize?: number } = {}): Promise<LoadedModel> {
  const { tensors, metadata } = readModelFile(path, log);
  let saved = parseSaved(metadata[MODEL_METADATA_KEY], path);
  if (saved && given.model !== undefined) {
    const same = looksLikeFile(given.model) ? resolve(given.model) === saved.model : given.model === saved.model;
    if (!same) throw new UsageError(`${path} records its model (${saved.model}); drop --model ${given.model}`);
  }
  if (saved && given.resize !== undefined && given.resize !== (saved.resize ?? 28)) {
    throw new UsageError(`${path} records its input (${saved.resize === null ? "no resize" : `resize ${saved.resize}`}); drop --resize ${given.resize}`);
  }
  if (!saved && given.model !== undefined && given.model !== "alexnet") saved = await savedFromWeights(tensors, path, given.model, given.resize);
  if (!saved) {
    if (given.resize !== undefined) throw new UsageError("--resize goes with --model (AlexNet's input size comes from its weights)");
    let a;
    try {
      a = await alexNetFromWeights(new Map(tensors.map((t) => [t.name, t])), path, backend);
    } catch (e) {
      throw new Error(`${(e as Error).message}; it records no model (saved by another program?): name it with --model`);
    }
    const size = a.variant === "224" ? 224 : 28;
    return {
      net: a.net, source: path, title: `AlexNet (variant ${a.variant})`,
      saved: { model: "alexnet", variant: a.variant, ...(a.widthScale !== 1 ? { widthScale: a.widthScale } : {}), inChannels: a.net.parameters()[0]!.shape[1]!, classes: a.classes, size, resize: a.variant === "224" ? 224 : null },
    };
  }
  let choice: ModelChoice;
  try {
    choice = await chooseModel(saved);
  } catch (e) {
    throw new Error(`${path} was trained with --model ${saved.model}, which cannot be loaded now: ${(e as Error).message}`);
  }
  const net = await buildChecked(choice, saved.classes, [saved.inChannels, saved.size, saved.size]).to(backend);
  try {
    loadWeights(net, tensors, backend, `${path} (${choice.title})`);
  } catch (e) {
    net.dispose();
    throw e;
  }
  net.eval();
  return { net, saved, title: choice.title, source: path };
}

/** What a record-less file holds, from --model and its weights: input channels from the first 4-d weight,
 * classes from the last 2-d one, the input size from --resize or the recipe. */
async function savedFromWeights(tensors: readonly NamedTensor[], path: string, model: string, resize: number | undefined): Promise<SavedModel> {
  const choice = await chooseModel({ model });
  const convs = tensors.filter((t) => t.shape.length === 4);
  const linears = tensors.filter((t) => t.shape.length === 2);
  if (convs.length === 0) throw new Error(`${path} holds no convolution weights for --model ${model}`);
  // The classes: the last Linear's outputs, or, in a network without one (NiN), the last convolution's.
  const classifier = linears.at(-1) ?? convs.at(-1)!;
  const size = resize ?? choice.recipe.resize ?? choice.inputShape[1];
  return { ...choice.record, inChannels: convs[0]!.shape[1]!, classes: classifier.shape[0]!, size, resize: size === 28 ? null : size };
}

/** A strict load of named weights, with a one-line error naming a few missing or unexpected names. */
export function loadWeights(net: Module, tensors: readonly NamedTensor[], backend: Backend, source: string): void {
  const own = net.namedState().map(([name]) => name);
  const optional = (name: string): boolean => name.endsWith("num_batches_tracked");
  const inFile = new Set(tensors.map((t) => t.name));
  const missing = own.filter((n) => !inFile.has(n) && !optional(n));
  const unexpected = [...inFile].filter((n) => !own.includes(n));
  const some = (names: string[]): string => names.slice(0, 3).join(", ") + (names.length > 3 ? `, ... (${names.length})` : "");
  if (missing.length || unexpected.length) {
    throw new Error(`${source}: the weights do not fit the model: ${missing.length ? `missing ${some(missing)}` : ""}${missing.length && unexpected.length ? "; " : ""}${unexpected.length ? `unexpected ${some(unexpected)}` : ""}`);
  }
  try {
    tidy(() => net.loadStateDict(new Map(tensors.map((t) => [t.name, tensor(t.data, { shape: t.shape, backend })]))));
  } catch (e) {
    throw new Error(`${source}: ${(e as Error).message}`);
  }
}

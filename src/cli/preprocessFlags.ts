// train's preprocessing and regularization flags (d2l 7.1 exercise 5): --augment flip,crop with
// --crop-padding, --normalize (Fashion-MNIST's mean and std) or --normalize-stats MEAN,STD, and --dropout P
// for models that have dropout. They are run settings (config.json), so a resumed run draws the same
// augmentation stream; normalization is also recorded in checkpoints, so eval and predict apply it.
import { FASHION_MNIST_STATS, type NormalizeOptions, parseAugment, parseNormalizeStats } from "../data/augment.js";
import { Dropout, type Module } from "../nn/index.js";
import { type FlagSpecs, type ParsedFlags, UsageError } from "./args.js";

export const PREPROCESS_FLAGS: FlagSpecs = {
  augment: { type: "string", help: "random training-set augmentation: flip, crop or flip,crop (torchvision's RandomHorizontalFlip, RandomCrop)" },
  "crop-padding": { type: "int", min: 0, default: 4, help: "zero padding on each side before --augment crop's random crop" },
  normalize: { type: "boolean", help: "normalize images with Fashion-MNIST's mean and std (0.2860, 0.3530), in eval and predict too" },
  "normalize-stats": { type: "string", help: "normalize with this MEAN,STD instead" },
  dropout: { type: "number", min: 0, help: "the probability of every Dropout layer of the model (d2l's AlexNet: 0.5)" },
};

export interface PreprocessSettings {
  augment: { flip: boolean; crop: boolean; padding: number } | null;
  normalize: NormalizeOptions | null;
  dropout: number | null;
}

export function preprocessFromFlags(flags: ParsedFlags): PreprocessSettings {
  const wrap = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const augment = flags.augment === undefined ? null : { ...wrap(() => parseAugment(flags.augment as string)), padding: flags["crop-padding"] as number };
  const stats = flags["normalize-stats"] as string | undefined;
  const normalize = stats !== undefined ? wrap(() => parseNormalizeStats(stats)) : flags.normalize ? FASHION_MNIST_STATS : null;
  const dropout = (flags.dropout as number | undefined) ?? null;
  if (dropout !== null && dropout >= 1) throw new UsageError(`--dropout must be below 1 (got ${dropout})`);
  return { augment, normalize, dropout };
}

/** Runs from before these flags have none; a damaged config.json is one line. */
export function savedPreprocess(settings: Partial<PreprocessSettings>): PreprocessSettings {
  const { augment = null, normalize = null, dropout = null } = settings;
  const bad = (what: string, v: unknown): Error => new Error(`config.json: settings.${what} is not valid (got ${JSON.stringify(v)})`);
  if (augment !== null && !(typeof augment === "object" && typeof augment.flip === "boolean" && typeof augment.crop === "boolean" && Number.isInteger(augment.padding) && augment.padding >= 0)) {
    throw bad("augment", augment);
  }
  if (normalize !== null && !(typeof normalize === "object" && Number.isFinite(normalize.mean) && normalize.std > 0)) throw bad("normalize", normalize);
  if (dropout !== null && !(typeof dropout === "number" && dropout >= 0 && dropout < 1)) throw bad("dropout", dropout);
  return { augment, normalize, dropout };
}

/** Sets every Dropout layer's probability; a model without one cannot take --dropout. */
export function applyDropout(net: Module, p: number, modelName: string): void {
  const layers = [...net.modules()].filter((m): m is Dropout => m instanceof Dropout);
  if (layers.length === 0) throw new UsageError(`--dropout: ${modelName} has no Dropout layer`);
  for (const layer of layers) layer.p = p;
}

/** The one-line description of the preprocessing for train's opening line, or "". */
export function describePreprocess(s: PreprocessSettings): string {
  const parts = [
    s.augment ? `augment ${[s.augment.crop ? `crop (padding ${s.augment.padding})` : "", s.augment.flip ? "flip" : ""].filter(Boolean).join(" + ")}` : "",
    s.normalize ? `normalize (${s.normalize.mean}, ${s.normalize.std})` : "",
    s.dropout !== null ? `dropout ${s.dropout}` : "",
  ].filter(Boolean);
  return parts.length ? `; ${parts.join(", ")}` : "";
}

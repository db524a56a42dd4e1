// The page's model picker and training presets: which of d2l's CNNs (the zoo, src/models/registry.ts) the
// Model panel describes and the Train panel trains, AlexNet's variant and width (shown for AlexNet only),
// and the two presets of each model: d2l's recipe (its lr, batch size and epochs on all the data), and a
// quick run that ends in about a minute or two on the CPU reference backend (a subset, one epoch). The form
// is preset from the device (on the CPU: BN-LeNet's quick run, the default that reaches test accuracy 0.7)
// and from URL parameters (?model=lenet&preset=recipe&variant=28&width=0.125&lr=..., as page.ts lists).
import { ZOO, zooModel } from "../../src/models/registry.js";
import { modelInputSize, type WebModelChoice } from "../../src/web/model.js";
import type { AlexNetVariant } from "../../src/models/alexnet.js";
import type { ModelInfo } from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

export type PresetKind = "quick" | "recipe";

export interface Preset {
  lr: number;
  batchSize: number;
  epochs: number;
  /** First N training / test examples (null: all). */
  trainLimit: number | null;
  testLimit: number | null;
}

/** The model the CPU gets by default: BN-LeNet trains fastest of the zoo (280k MACs per example) and batch
 * normalization lets it learn in one epoch of a subset. */
export const CPU_DEFAULT_MODEL = "lenet-bn";

/** The quick runs, measured on the CPU reference backend (350-450 examples/s for BN-LeNet in Node and in
 * Chromium's worker): a smaller batch than d2l's, for more steps on a subset, and a smaller lr to go with it
 * (d2l's lr 1.0 at batch 32-64 lands anywhere in 0.72-0.79 by the seed). BN-LeNet's ends at test accuracy
 * 0.78-0.81 (seeds 0-4) on all 10,000 test images in about a minute (test/web.zoo.test.ts asserts >= 0.7). */
const QUICK: Record<string, Preset> = {
  "lenet-bn": { lr: 0.3, batchSize: 32, epochs: 1, trainLimit: 20_000, testLimit: 10_000 },
  // LeNet's sigmoids stay near chance for the first tens of thousands of examples whatever the batch (d2l
  // trains it 10 epochs): its quick run shows the page working, not learning (the model note says so).
  lenet: { lr: 0.9, batchSize: 64, epochs: 1, trainLimit: 20_000, testLimit: 10_000 },
  // AlexNet-28 at width 0.125 (the CPU's AlexNet) runs at 10-30 examples/s here: a couple of minutes.
  alexnet: { lr: 0.1, batchSize: 32, epochs: 1, trainLimit: 2_000, testLimit: 500 },
};

/** The preset of `kind` for a model: d2l's recipe, or the quick run (for the models that train on resized
 * images, the recipe's lr and batch on a taste of the data: hours an epoch on the CPU). */
export function presetFor(model: string, kind: PresetKind): Preset {
  const r = zooModel(model).recipe;
  if (kind === "recipe") return { lr: r.lr, batchSize: r.batchSize, epochs: r.epochs, trainLimit: null, testLimit: null };
  return QUICK[model] ?? { lr: r.lr, batchSize: r.batchSize, epochs: 1, trainLimit: 1_000, testLimit: 500 };
}

/** The model picker's options, d2l's order of sections: the LeNets first, as the CPU can train them. */
export function fillModelPicker(): void {
  const order = [...ZOO].sort((a, b) => Number(a.section.split(" ")[0]) - Number(b.section.split(" ")[0]) || a.name.localeCompare(b.name));
  $<HTMLSelectElement>("model").replaceChildren(...order.map((z) => {
    const o = document.createElement("option");
    o.value = z.name;
    o.textContent = `${z.title} (d2l ${z.section.split(" ")[0]})`;
    return o;
  }));
  $<HTMLSelectElement>("model").value = "alexnet";
}

export function modelChoice(): WebModelChoice {
  return {
    model: $<HTMLSelectElement>("model").value,
    variant: $<HTMLSelectElement>("variant").value as AlexNetVariant,
    widthScale: Number($<HTMLSelectElement>("width").value),
  };
}

/** How the page names a model: AlexNet by its variant and width, the others by d2l's title. */
export function modelLabel(m: { model: string; variant: AlexNetVariant | null; widthScale: number }): string {
  if (m.model === "alexnet") return `AlexNet variant ${m.variant}${m.widthScale === 1 ? "" : `, width x${m.widthScale}`}`;
  return zooModel(m.model).title;
}

/** One line on what the picked model trains on here, and what that costs. */
function inputNote(c: WebModelChoice): string {
  const size = modelInputSize(c);
  if (c.model === "lenet") return "Trains on Fashion-MNIST's own 28x28 images. Its sigmoids learn slowly: a quick epoch leaves it near chance; d2l's recipe (10 epochs), or BN-LeNet, learns.";
  if (size === 28) return "Trains on Fashion-MNIST's own 28x28 images.";
  return `Trains on Fashion-MNIST resized to ${size}x${size} in the page, as d2l does: on the CPU reference backend an epoch of all the data takes hours, so the quick preset trains on a taste of it (a GPU is the way to run d2l's recipe).`;
}

/** Shows AlexNet's own controls for AlexNet only, and the note on the picked model's input. */
export function showModelControls(): void {
  const c = modelChoice();
  const alex = c.model === "alexnet";
  $("variant-label").hidden = !alex;
  $("width-label").hidden = !alex;
  $("model-note").textContent = inputNote(c);
}

/** Fills the training fields from the picked model's preset of the picked kind. */
export function applyPreset(): void {
  const p = presetFor(modelChoice().model, $<HTMLSelectElement>("preset").value as PresetKind);
  const set = (id: string, v: number | null): void => void ($<HTMLInputElement>(id).value = v === null ? "" : String(v));
  set("lr", p.lr);
  set("batch-size", p.batchSize);
  set("epochs", p.epochs);
  set("train-limit", p.trainLimit);
  set("test-limit", p.testLimit);
}

/** Shows a loaded model in the picker (no preset is applied: the training fields stay as they are). */
export function pickModel(m: ModelInfo): void {
  $<HTMLSelectElement>("model").value = m.model;
  if (m.variant !== null) $<HTMLSelectElement>("variant").value = m.variant;
  if ([...$<HTMLSelectElement>("width").options].some((o) => Number(o.value) === m.widthScale)) $<HTMLSelectElement>("width").value = String(m.widthScale);
  showModelControls();
}

/** Presets the form: the device's model and preset (on the CPU the quick run of BN-LeNet, and AlexNet, if
 * picked, narrow at 28x28; else d2l's AlexNet and its recipe), then what the URL says, field by field.
 * Returns one line when the URL names a model the zoo does not have (it is left out). */
export function presetForm(cpu: boolean, params: URLSearchParams): string | null {
  const set = (id: string, value: string | null): void => {
    if (value !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = value;
  };
  set("model", cpu ? CPU_DEFAULT_MODEL : "alexnet");
  set("preset", cpu ? "quick" : "recipe");
  if (cpu) {
    set("variant", "28");
    set("width", "0.125");
  }
  const model = params.get("model");
  const known = model === null || ZOO.some((z) => z.name === model);
  if (known) set("model", model);
  const preset = params.get("preset");
  if (preset === "quick" || preset === "recipe") set("preset", preset);
  set("variant", params.get("variant"));
  set("width", params.get("width"));
  applyPreset();
  for (const [param, id] of [["lr", "lr"], ["epochs", "epochs"], ["batch", "batch-size"], ["seed", "seed"], ["train", "train-limit"], ["test", "test-limit"]] as const) {
    set(id, params.get(param));
  }
  showModelControls();
  return known ? null : `?model=${model} is not a model of the zoo (${ZOO.map((z) => z.name).join(", ")})`;
}

// `alexnet models`: the model zoo as a table: each model's name (for --model), d2l's section, parameters,
// multiply-accumulates per example at its training input, and d2l's recipe (input, batch, lr, epochs).
// Counted on the shape-only backend from the networks as built: nothing is allocated.
import { type Recipe, ZOO, recipeInput } from "../models/registry.js";
import { buildOnMeta, countParameters, macsPerExample } from "../models/trace.js";
import { type Command, type FlagSpecs, defineCommand } from "./args.js";

const FLAGS: FlagSpecs = {
  json: { type: "boolean", help: "print one JSON object per model" },
  help: { type: "boolean", help: "show this help" },
};

export interface ModelRow {
  name: string;
  section: string;
  params: number;
  buffers: number;
  /** Conv2d and Linear multiply-accumulates for one example at the training input. */
  macs: number;
  /** The training input (C, H, W). */
  input: [number, number, number];
  recipe: Recipe;
}

export function modelRows(): ModelRow[] {
  return ZOO.map((z) => {
    const input = recipeInput(z.recipe);
    const net = buildOnMeta(() => z.build());
    const { params, buffers } = countParameters(net);
    const macs = macsPerExample(net, input);
    net.dispose();
    return { name: z.name, section: z.section, params, buffers, macs, input, recipe: z.recipe };
  });
}

const millions = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}k`);
const macs = (n: number): string => (n >= 1e9 ? `${(n / 1e9).toFixed(2)}G` : `${(n / 1e6).toFixed(1)}M`);

export const modelsCommand: Command = defineCommand("models", "[flags]", FLAGS, async ({ flags }) => {
  const rows = modelRows();
  if (flags.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return 0;
  }
  const header = ["--model", "d2l section", "params", "MACs/example", "input", "batch", "lr", "epochs"];
  const table = [header, ...rows.map((r) => [
    r.name, r.section, millions(r.params), macs(r.macs),
    r.recipe.resize === null ? "28x28" : `resize ${r.recipe.resize}`, String(r.recipe.batchSize), String(r.recipe.lr), String(r.recipe.epochs),
  ])];
  const widths = header.map((_, j) => Math.max(...table.map((row) => row[j]!.length)));
  const left = new Set([0, 1, 4]);
  for (const row of table) console.log(row.map((c, j) => (left.has(j) ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ").trimEnd());
  console.log("\nMACs/example: Conv2d and Linear multiply-accumulates of one forward pass at the recipe's input. Recipes are d2l's " +
    "(train_ch6: plain SGD, Xavier-uniform Conv2d and Linear weights); `alexnet train --model NAME` uses them, each flag overriding. " +
    "AlexNet's --variant 28 trains on 28x28 without resizing. A model of your own: --model ./net.mjs (see examples/).");
  return 0;
});

// `alexnet data show|info|download`: look at Fashion-MNIST or MNIST (`--dataset`; a PNG grid with d2l's
// labels), see where the files were found and that they check out, or fetch them ahead of a run. Also the
// `--dataset` flag that every command reading the data shares.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { closestMatch, parseArgs, unexpectedArgument, usage, UsageError, type Command, type FlagSpecs, type ParsedFlags } from "./args.js";
import { DataError } from "../data/idx.js";
import {
  type DatasetSpec,
  type Split,
  candidatesOf,
  describeOriginOf,
  describeSourceOf,
  findDataset,
  loadSplit,
  loadSplitOf,
  locateDataset,
  missingHelpOf,
} from "../data/dataset.js";
import { DATASET_NAMES, DEFAULT_DATASET, datasetSpec } from "../data/datasets.js";
import { imageGrid } from "../data/grid.js";
import { encodePng } from "../data/png.js";

/** `--dataset` of train (no default in the spec, so that a resumed run can tell whether it was given). */
export const DATASET_FLAG: FlagSpecs = {
  dataset: { type: "string", choices: DATASET_NAMES, help: `the data set: ${DATASET_NAMES.join(" or ")} (default ${DEFAULT_DATASET})` },
};

/** `--dataset` of eval, predict and activations: by default the one the checkpoint records. */
export const CHECKPOINT_DATASET_FLAG: FlagSpecs = {
  dataset: { type: "string", choices: DATASET_NAMES, help: `the data set (default: the one the checkpoint was trained on, else ${DEFAULT_DATASET})` },
};

/** The data set `--dataset` names, else `fallback` (a checkpoint's record), else Fashion-MNIST. */
export function datasetFromFlags(flags: ParsedFlags, fallback?: string): DatasetSpec {
  return datasetSpec((flags.dataset as string | undefined) ?? fallback ?? DEFAULT_DATASET);
}

const DATA_DIR_FLAG: FlagSpecs = {
  dataset: { type: "string", choices: DATASET_NAMES, default: DEFAULT_DATASET, help: "the data set" },
  "data-dir": { type: "string", help: "use this directory only (missing files are downloaded into it)" },
};

/** A bound on `data show --count`: beyond it the PNG is too large to look at anyway. */
const MAX_SHOW = 1000;

const SHOW_FLAGS: FlagSpecs = {
  split: { type: "string", choices: ["train", "test"], default: "train", help: "which split to show" },
  count: { type: "int", min: 1, default: 18, help: `how many images, the first of the split (at most ${MAX_SHOW})` },
  columns: { type: "int", min: 1, default: 9, help: "images per row" },
  scale: { type: "int", min: 1, default: 3, help: "pixel size of each image pixel" },
  out: { type: "string", help: "PNG file to write (default <dataset>-<split>.png)" },
  ...DATA_DIR_FLAG,
};

const SUBCOMMANDS: Record<string, { synopsis: string; flags: FlagSpecs; help: string }> = {
  show: { synopsis: "show [flags]", flags: SHOW_FLAGS, help: "write a PNG grid of images with their labels" },
  info: { synopsis: "info [flags]", flags: DATA_DIR_FLAG, help: "where the data was found, counts, checksums" },
  download: { synopsis: "download [flags]", flags: DATA_DIR_FLAG, help: "fetch the files now if none are found" },
};

/** Usage of all `data` subcommands. */
export function dataUsage(): string {
  const parts = Object.values(SUBCOMMANDS).map((s) => `${usage("data", s.synopsis, s.flags)}\n  (${s.help})`);
  return parts.join("\n");
}

async function show(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, SHOW_FLAGS);
  if (positional.length > 0) throw unexpectedArgument(positional[0]!, SHOW_FLAGS, "data show");
  const split = flags.split as Split;
  if ((flags.count as number) > MAX_SHOW) throw new UsageError(`--count must be at most ${MAX_SHOW} (got ${flags.count})`);
  const spec = datasetFromFlags(flags);
  const ds = await loadSplit(spec, split, { ...(flags["data-dir"] !== undefined && { dataDir: String(flags["data-dir"]) }) });
  const count = Math.min(flags.count as number, ds.count);
  const pixels = ds.rows * ds.cols;
  const titles = Array.from(ds.labels.subarray(0, count), (l) => spec.labels[l] ?? `class ${l}`);
  const grid = imageGrid(ds.images.subarray(0, count * pixels), count, ds.rows, ds.cols, titles, {
    columns: flags.columns as number,
    scale: flags.scale as number,
  });
  const out = resolve(String(flags.out ?? `${spec.name}-${split}.png`));
  writeFileSync(out, encodePng(grid));
  console.log(`wrote ${out} (${count} ${split} images, ${grid.width}x${grid.height} px) from ${describeSourceOf(spec, ds)}`);
  return 0;
}

function classCounts(labels: Uint8Array, names: readonly string[]): string {
  const counts = new Array<number>(names.length).fill(0);
  for (const l of labels) counts[l]!++;
  return counts.map((n, i) => `${names[i]} ${n}`).join(", ");
}

async function info(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, DATA_DIR_FLAG);
  if (positional.length > 0) throw unexpectedArgument(positional[0]!, DATA_DIR_FLAG, "data info");
  const spec = datasetFromFlags(flags);
  const opts = flags["data-dir"] !== undefined ? { dataDir: String(flags["data-dir"]) } : {};
  const found = findDataset(spec, opts);
  const candidates = candidatesOf(spec, opts);
  if (opts.dataDir === undefined) {
    console.log(`${spec.title} search order:`);
    console.log(`  ${"--data-dir".padEnd(34)} (not given)`);
    if (!candidates.some((c) => c.origin === "ALEXNET_DATA")) console.log(`  ${`$${spec.dataEnv}`.padEnd(34)} (not set)`);
  } else console.log(`${spec.title}: --data-dir names the only place used (missing files are downloaded into it):`);
  for (const c of candidates) {
    const state = c.complete ? "all 4 files" : c.paths.size > 0 ? `${c.paths.size} of 4 files` : "no files";
    const used = found && found.dir === c.dir && found.origin === c.origin ? "  <- used" : "";
    console.log(`  ${describeOriginOf(spec, c.origin).padEnd(34)} ${c.dir}: ${state}${used}`);
  }
  if (!found) {
    const how = spec.name === DEFAULT_DATASET ? "alexnet data download" : `alexnet data download --dataset ${spec.name}`;
    console.log(`\n${missingHelpOf(spec, opts)}\n(\`${how}\` fetches them from the official mirrors.)`);
    return 1;
  }
  for (const split of ["train", "test"] as const) {
    const ds = loadSplitOf(spec, found, split);
    console.log(`${split}: ${ds.count} images ${ds.rows}x${ds.cols}, checksums ok`);
    console.log(`  ${ds.source.imagesFile}\n  ${ds.source.labelsFile}`);
    console.log(`  classes: ${classCounts(ds.labels, spec.labels)}`);
  }
  return 0;
}

async function download(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, DATA_DIR_FLAG);
  if (positional.length > 0) throw unexpectedArgument(positional[0]!, DATA_DIR_FLAG, "data download");
  const spec = datasetFromFlags(flags);
  const loc = await locateDataset(spec, flags["data-dir"] !== undefined ? { dataDir: String(flags["data-dir"]) } : {});
  console.log(`${spec.title} ${loc.downloaded ? "downloaded to" : "already present in"} ${loc.dir} (${describeOriginOf(spec, loc.origin)})`);
  return 0;
}

export const dataCommand: Command = {
  name: "data",
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      (sub === undefined ? console.error : console.log)(dataUsage());
      return sub === undefined ? 2 : 0;
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      const s = SUBCOMMANDS[sub];
      if (s) {
        console.log(usage("data", s.synopsis, s.flags));
        return 0;
      }
    }
    const runners: Record<string, (argv: string[]) => Promise<number>> = { show, info, download };
    const run = Object.hasOwn(runners, sub) ? runners[sub] : undefined;
    if (!run) {
      const names = Object.keys(SUBCOMMANDS);
      const match = closestMatch(sub, names);
      throw new UsageError(`unknown subcommand '${sub}'; ${match ? `did you mean ${match}? ` : ""}subcommands: ${names.join(", ")}`);
    }
    try {
      return await run(rest);
    } catch (err) {
      if (err instanceof DataError) {
        console.error(`alexnet data ${sub}: ${err.message}`);
        return 1;
      }
      // A flag error belongs to the subcommand, whose --help lists its flags.
      if (err instanceof UsageError && err.command === undefined) throw new UsageError(err.message, { command: `data ${sub}` });
      throw err;
    }
  },
};

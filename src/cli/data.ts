// `alexnet data show|info|download`: look at Fashion-MNIST (a PNG grid with d2l's labels), see where the
// files were found and that they check out, or fetch them ahead of a run.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { closestMatch, parseArgs, unexpectedArgument, usage, UsageError, type Command, type FlagSpecs } from "./args.js";
import { DataError } from "../data/idx.js";
import {
  dataCandidates,
  describeOrigin,
  describeSource,
  findData,
  loadFashionMnist,
  loadSplitFrom,
  locateData,
  missingDataHelp,
  TEXT_LABELS,
  textLabels,
  type Split,
} from "../data/fashionMnist.js";
import { imageGrid } from "../data/grid.js";
import { encodePng } from "../data/png.js";

const DATA_DIR_FLAG: FlagSpecs = {
  "data-dir": { type: "string", help: "use this directory only (missing files are downloaded into it)" },
};

/** A bound on `data show --count`: beyond it the PNG is too large to look at anyway. */
const MAX_SHOW = 1000;

const SHOW_FLAGS: FlagSpecs = {
  split: { type: "string", choices: ["train", "test"], default: "train", help: "which split to show" },
  count: { type: "int", min: 1, default: 18, help: `how many images, the first of the split (at most ${MAX_SHOW})` },
  columns: { type: "int", min: 1, default: 9, help: "images per row" },
  scale: { type: "int", min: 1, default: 3, help: "pixel size of each image pixel" },
  out: { type: "string", help: "PNG file to write (default fashion-mnist-<split>.png)" },
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
  const ds = await loadFashionMnist(split, { ...(flags["data-dir"] !== undefined && { dataDir: String(flags["data-dir"]) }) });
  const count = Math.min(flags.count as number, ds.count);
  const pixels = ds.rows * ds.cols;
  const titles = textLabels(ds.labels.subarray(0, count));
  const grid = imageGrid(ds.images.subarray(0, count * pixels), count, ds.rows, ds.cols, titles, {
    columns: flags.columns as number,
    scale: flags.scale as number,
  });
  const out = resolve(String(flags.out ?? `fashion-mnist-${split}.png`));
  writeFileSync(out, encodePng(grid));
  console.log(`wrote ${out} (${count} ${split} images, ${grid.width}x${grid.height} px) from ${describeSource(ds)}`);
  return 0;
}

function classCounts(labels: Uint8Array): string {
  const counts = new Array<number>(TEXT_LABELS.length).fill(0);
  for (const l of labels) counts[l]!++;
  return counts.map((n, i) => `${TEXT_LABELS[i]} ${n}`).join(", ");
}

async function info(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, DATA_DIR_FLAG);
  if (positional.length > 0) throw unexpectedArgument(positional[0]!, DATA_DIR_FLAG, "data info");
  const opts = flags["data-dir"] !== undefined ? { dataDir: String(flags["data-dir"]) } : {};
  const found = findData(opts);
  const candidates = dataCandidates(opts);
  if (opts.dataDir === undefined) {
    console.log("Fashion-MNIST search order:");
    console.log(`  ${"--data-dir".padEnd(34)} (not given)`);
    if (!candidates.some((c) => c.origin === "ALEXNET_DATA")) console.log(`  ${"$ALEXNET_DATA".padEnd(34)} (not set)`);
  } else console.log("Fashion-MNIST: --data-dir names the only place used (missing files are downloaded into it):");
  for (const c of candidates) {
    const state = c.complete ? "all 4 files" : c.paths.size > 0 ? `${c.paths.size} of 4 files` : "no files";
    const used = found && found.dir === c.dir && found.origin === c.origin ? "  <- used" : "";
    console.log(`  ${describeOrigin(c.origin).padEnd(34)} ${c.dir}: ${state}${used}`);
  }
  if (!found) {
    console.log(`\n${missingDataHelp(opts)}\n(\`alexnet data download\` fetches them from the official mirrors.)`);
    return 1;
  }
  for (const split of ["train", "test"] as const) {
    const ds = loadSplitFrom(found, split);
    console.log(`${split}: ${ds.count} images ${ds.rows}x${ds.cols}, checksums ok`);
    console.log(`  ${ds.source.imagesFile}\n  ${ds.source.labelsFile}`);
    console.log(`  classes: ${classCounts(ds.labels)}`);
  }
  return 0;
}

async function download(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, DATA_DIR_FLAG);
  if (positional.length > 0) throw unexpectedArgument(positional[0]!, DATA_DIR_FLAG, "data download");
  const loc = await locateData(flags["data-dir"] !== undefined ? { dataDir: String(flags["data-dir"]) } : {});
  console.log(`${loc.downloaded ? "downloaded to" : "already present in"} ${loc.dir} (${describeOrigin(loc.origin)})`);
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

#!/usr/bin/env node
// The `alexnet` command line: dispatches to one subcommand; usage errors print one line plus the usage and
// exit 2; other errors print their message (no stack trace unless ALEXNET_DEBUG is set) and exit 1.
// `--version`/`-v` prints package.json's version; `-h`/`--help` works on every command, and `help <command>`
// is `<command> --help`.
import { packageVersion } from "../packageRoot.js";
import { type Command, UsageError } from "./args.js";

/** Commands load on demand, so one command's dependencies (native addon, data files) never slow or break another. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

const COMMANDS: CommandEntry[] = [
  { name: "summary", summary: "print each layer's output shape for a 1xCxHxW input (d2l's table)", load: async () => (await import("./summary.js")).summaryCommand },
  { name: "train", summary: "train AlexNet on Fashion-MNIST (d2l's train_ch6), with plots, checkpoints and resume", load: async () => (await import("./train.js")).trainCommand },
  { name: "eval", summary: "test accuracy, per-class accuracy and confusion matrix of a checkpoint", load: async () => (await import("./eval.js")).evalCommand },
  { name: "predict", summary: "top-3 labels of images, or test images with true and predicted labels", load: async () => (await import("./predict.js")).predictCommand },
  { name: "analyze", summary: "per-layer parameters, memory and compute; which layer needs the most", load: async () => (await import("./analyze.js")).analyzeCommand },
  { name: "bench", summary: "training and inference examples/s on random data", load: async () => (await import("./bench.js")).benchCommand },
  { name: "data", summary: "look at the Fashion-MNIST data (data show, data info)", load: async () => (await import("./data.js")).dataCommand },
];

function mainUsage(): string {
  const lines = [
    "usage: alexnet <command> [flags]   (alexnet <command> --help for its flags)",
    "       alexnet --version",
    "",
    "commands:",
  ];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(10)} ${c.summary}`);
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === "help" && argv[1] !== undefined) argv = [argv[1], "--help"];
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v") {
    console.log(packageVersion());
    return 0;
  }
  if (name === undefined) {
    console.error(mainUsage());
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(mainUsage());
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    console.error(`alexnet: unknown command '${name}'\n\n${mainUsage()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`alexnet ${name}: ${e.message} (see alexnet ${name} --help)`);
      return 2;
    }
    const err = e as Error;
    console.error(`alexnet ${name}: ${err.message ?? String(e)}`);
    if (process.env.ALEXNET_DEBUG) console.error(err.stack);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

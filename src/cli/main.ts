#!/usr/bin/env node
// The `alexnet` command line: dispatches to one subcommand; usage errors (an unknown or mistyped command or
// flag, with the likely one named; a stray argument) print one line and exit 2; other errors print their
// message (no stack trace unless ALEXNET_DEBUG is set) and exit 1.
// `--version`/`-v` prints package.json's version; `-h`/`--help` works on every command, and `help <command>`
// is `<command> --help`.
import { packageVersion } from "../packageRoot.js";
import { type Command, closestMatch, UsageError } from "./args.js";

/** Commands load on demand, so one command's dependencies (native addon, data files) never slow or break another. */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

const COMMANDS: CommandEntry[] = [
  { name: "summary", summary: "print each layer's output shape for a 1xCxHxW input (d2l's table)", load: async () => (await import("./summary.js")).summaryCommand },
  { name: "train", summary: "train a model (--model, default AlexNet) on Fashion-MNIST or MNIST (d2l's train_ch6), with plots, checkpoints and resume", load: async () => (await import("./train.js")).trainCommand },
  { name: "eval", summary: "test accuracy, per-class accuracy and confusion matrix of a checkpoint", load: async () => (await import("./eval.js")).evalCommand },
  { name: "predict", summary: "top-3 labels of images, or test images with true and predicted labels", load: async () => (await import("./predict.js")).predictCommand },
  { name: "analyze", summary: "per-layer parameters, memory and compute; which layer needs the most", load: async () => (await import("./analyze.js")).analyzeCommand },
  { name: "bench", summary: "training and inference examples/s on random data", load: async () => (await import("./bench.js")).benchCommand },
  { name: "data", summary: "look at the data, Fashion-MNIST or MNIST (data show, info, download)", load: async () => (await import("./data.js")).dataCommand },
  { name: "serve", summary: "serve the web page: train, inspect and predict in the browser", load: async () => (await import("./serve.js")).serveCommand },
  { name: "launch", summary: "run train or bench --distributed under mpirun, our lines first when a host or rank is lost (several hosts)", load: async () => (await import("./launch.js")).launchCommand },
  { name: "export", summary: "write a checkpoint as an ONNX model (ONNX Runtime, onnxruntime-web, Netron)", load: async () => (await import("./export.js")).exportCommand },
  { name: "activations", summary: "a layer's feature maps for some images as a PNG grid (d2l 6.6: sweaters vs coats)", load: async () => (await import("./activations.js")).activationsCommand },
  { name: "sweep", summary: "train once per batch size: test accuracy, examples/s and peak memory per batch size (d2l 7.1 exercise 3)", load: async () => (await import("./sweep.js")).sweepCommand },
  { name: "compare", summary: "runs side by side: final metrics, examples/s, size and compute, and their curves in one plot", load: async () => (await import("./compare.js")).compareCommand },
  { name: "tune", summary: "time the GPU's GEMM kernel variants for a model's shapes and cache the fastest (--device gpu)", load: async () => (await import("./tune.js")).tuneCommand },
  { name: "models", summary: "list the models --model takes: d2l's CNNs with parameters, MACs and recipe", load: async () => (await import("./models.js")).modelsCommand },
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
    const names = COMMANDS.map((c) => c.name);
    if (name.startsWith("-")) {
      const match = closestMatch(name.replace(/^-+/, ""), ["version", "help"]);
      console.error(`alexnet: unknown flag '${name}'; ${match ? `did you mean --${match}? ` : ""}a command comes first: ${names.join(", ")} (see alexnet --help)`);
      return 2;
    }
    const match = closestMatch(name, names);
    console.error(`alexnet: unknown command '${name}'; ${match ? `did you mean ${match}? ` : ""}commands: ${names.join(", ")} (see alexnet --help)`);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      const command = e.command ?? name;
      console.error(`alexnet ${command}: ${e.message} (see alexnet ${command} --help)`);
      return 2;
    }
    const err = e as Error;
    console.error(`alexnet ${name}: ${err.message ?? String(e)}`);
    if (process.env.ALEXNET_DEBUG) console.error(err.stack);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

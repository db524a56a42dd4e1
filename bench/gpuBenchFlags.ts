// The flags bench/webgpu-ops.ts and bench/webgpu-variants.ts share (AlexNet's variant, batch, repetitions,
// JSON output, a width divisor for quick runs on an emulator), parsed as strictly as the CLI's: an unknown
// flag or a bad value is one line and exit code 2.
import { type FlagSpecs, type ParsedFlags, parseArgs, UsageError } from "../src/cli/args.js";

export const GPU_BENCH_FLAGS: FlagSpecs = {
  variant: { type: "string", choices: ["224", "28"], default: "224", help: "AlexNet's variant" },
  batch: { type: "int", min: 1, default: 128, help: "batch size" },
  reps: { type: "int", min: 1, default: 5, help: "timed repetitions (median)" },
  json: { type: "boolean", default: false, help: "one JSON object" },
  narrow: { type: "number", min: 1, default: 1, help: "channels and features divided by K" },
};

/** The shared flags and `extra`'s; exits with the message on a usage error. */
export function parseGpuBenchFlags(script: string, argv: readonly string[], extra: FlagSpecs = {}): ParsedFlags & { variant: "224" | "28"; batch: number; reps: number; json: boolean; narrow: number } {
  try {
    return parseArgs(argv, { ...GPU_BENCH_FLAGS, ...extra }).flags as ReturnType<typeof parseGpuBenchFlags>;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${script}: ${e.message}`);
    process.exit(2);
  }
}

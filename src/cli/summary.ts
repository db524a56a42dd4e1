// `alexnet summary`: d2l's shape table (`for layer in net: X = layer(X); print(...)`) of any model, from the
// shape-only trace: no memory, no compute (VGG-11 at 224x224 is instant). A model that is not an
// nn.Sequential has no layers to loop over: its lines are its direct children's outputs in the order its
// forward called them (a traced forward), then the network's own output.
import { summaryLines } from "../models/summary.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";
import { BACKEND_FLAGS } from "./backendFlags.js";
import { ALEXNET_VARIANTS } from "../models/alexnet.js";
import { buildMeta, chooseFromFlags, MODEL_FLAGS } from "./modelChoice.js";

const FLAGS: FlagSpecs = {
  ...MODEL_FLAGS,
  variant: { type: "string", choices: ALEXNET_VARIANTS, help: "AlexNet's input size: 224 (default) or 28" },
  input: { type: "string", help: "input as CxHxW (default: the one d2l prints the model's table for, e.g. 1x224x224)" },
  "in-channels": { type: "int", min: 1, help: "input channels (default 1; --input sets them too)" },
  classes: { type: "int", min: 1, default: 10, help: "output classes" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

/** `--input CxHxW` (H = W). */
export function parseInput(raw: string): [number, number, number] {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(raw);
  if (!m || Number(m[2]) !== Number(m[3]) || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new UsageError(`--input must be CxHxW with H = W, e.g. 1x224x224 (got '${raw}')`);
  }
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export const summaryCommand: Command = defineCommand("summary", "[flags]", FLAGS, async ({ flags }) => {
    const choice = await chooseFromFlags(flags);
    const given = flags.input === undefined ? null : parseInput(flags.input as string);
    const channels = (flags["in-channels"] as number | undefined) ?? given?.[0] ?? choice.inputShape[0];
    if (given && flags["in-channels"] !== undefined && given[0] !== channels) throw new UsageError(`--input has ${given[0]} channels and --in-channels says ${channels}`);
    const input: [number, number, number] = [channels, ...(given ?? choice.inputShape).slice(1) as [number, number]];
    const classes = flags.classes as number;
    // Shapes come from the trace, whatever --backend says (kept so that scripts that pass it still work).
    const net = buildMeta(choice, classes, input);
    for (const line of summaryLines(net, input)) console.log(line);
    net.dispose();
    return 0;
});

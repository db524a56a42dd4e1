// `alexnet summary`: d2l's shape table for either variant, computed by a forward pass.
import { alexNet, alexNetInputShape, ALEXNET_VARIANTS, type AlexNetVariant } from "../models/alexnet.js";
import { shapeTable } from "../models/summary.js";
import { type Command, type FlagSpecs, defineCommand } from "./args.js";
import { BACKEND_FLAGS, selectBackend } from "./backendFlags.js";

const FLAGS: FlagSpecs = {
  variant: { type: "string", choices: ALEXNET_VARIANTS, default: "224", help: "input size the network is built for" },
  "in-channels": { type: "int", min: 1, default: 1, help: "input channels" },
  classes: { type: "int", min: 1, default: 10, help: "output classes" },
  ...BACKEND_FLAGS,
  help: { type: "boolean", help: "show this help" },
};

export const summaryCommand: Command = defineCommand("summary", "[flags]", FLAGS, async ({ flags }) => {
    const backend = await selectBackend(flags);
    const options = { variant: flags.variant as AlexNetVariant, inChannels: flags["in-channels"] as number, classes: flags.classes as number };
    const net = await alexNet(options).to(backend);
    for (const line of shapeTable(net, [1, ...alexNetInputShape(options)])) console.log(line);
    net.dispose();
    return 0;
});

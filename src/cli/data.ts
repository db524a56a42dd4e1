// `alexnet data ...`: placeholder until the data pipeline lands.
import type { Command } from "./args.js";

export const dataCommand: Command = {
  name: "data",
  summary: "inspect the Fashion-MNIST data (data show)",
  async run(): Promise<number> {
    console.error("alexnet data: not implemented yet");
    return 1;
  },
};

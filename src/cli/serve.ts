// `alexnet serve [--port 8080] [--host 127.0.0.1] [--data-dir DIR]`: serves the web page (dist/web, built by
// `npm run build`) and the Fashion-MNIST files found by the same search as `alexnet train` (served as found,
// gzip or not; nothing is downloaded). Prints the URL and runs until Ctrl-C or SIGTERM.
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL_FILES, FASHION_FILES, describeOrigin, findData, missingDataHelp } from "../data/fashionMnist.js";
import { createStaticServer } from "../server/staticServer.js";
import { type Command, type FlagSpecs, defineCommand, UsageError } from "./args.js";

const FLAGS: FlagSpecs = {
  port: { type: "int", min: 0, default: 8080, help: "port to listen on (0: any free port)" },
  host: { type: "string", default: "127.0.0.1", help: "address to bind (127.0.0.1: this machine only)" },
  "data-dir": { type: "string", help: "directory with the four Fashion-MNIST files" },
  help: { type: "boolean", help: "show this help" },
};

/** The built page: dist/web next to dist/src (this file runs as dist/src/cli/serve.js). */
export const WEB_ROOT = fileURLToPath(new URL("../../web/", import.meta.url));

/** What the page reads from /data/index.json. */
export interface DataIndex {
  /** Where the files came from, or null when none were found. */
  source: string | null;
  /** URL of each file, by split and kind. */
  files: { train: { images: string; labels: string }; test: { images: string; labels: string } } | null;
  /** Why there is no data, for the page's one-line message. */
  missing: string | null;
}

function dataFor(dataDir: string | undefined): { files: Map<string, string>; index: DataIndex } {
  const location = findData({ dataDir });
  if (!location) {
    const help = missingDataHelp({ dataDir });
    return { files: new Map(), index: { source: null, files: null, missing: help.split("\n").join(" ") } };
  }
  const files = new Map<string, string>();
  const url = (name: string): string => {
    const served = basename(location.paths.get(name)!);
    files.set(served, location.paths.get(name)!);
    return `/data/${served}`;
  };
  const split = (s: "train" | "test") => ({ images: url(FASHION_FILES[s].images.name), labels: url(FASHION_FILES[s].labels.name) });
  const index: DataIndex = { source: `${location.dir} (${describeOrigin(location.origin)})`, files: { train: split("train"), test: split("test") }, missing: null };
  if (files.size !== ALL_FILES.length) throw new Error(`data: expected ${ALL_FILES.length} files in ${location.dir}, found ${files.size}`);
  return { files, index };
}

export const serveCommand: Command = defineCommand("serve", "[flags]", FLAGS, async ({ flags }) => {
    const port = flags.port as number;
    if (port > 65535) throw new UsageError(`--port must be at most 65535 (got ${port})`);
    if (!existsSync(`${WEB_ROOT}index.html`)) throw new Error(`the page is not built (no ${WEB_ROOT}index.html): run npm run build`);
    const { files, index } = dataFor(flags["data-dir"] as string | undefined);
    const server = createStaticServer({ webRoot: WEB_ROOT, dataFiles: files, dataIndex: index });
    const host = flags.host as string;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    const bound = typeof address === "object" && address ? address.port : port;
    const shownHost = host.includes(":") ? `[${host}]` : host;
    console.log(`alexnet serve: http://${shownHost}:${bound}/`);
    console.log(index.source ? `data: ${index.source}` : `data: none found; the page can still load weights. ${index.missing}`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        server.close(() => resolve());
        server.closeAllConnections();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
    return 0;
}, { positional: false });

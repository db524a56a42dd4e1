// The HTTP server behind `alexnet serve`: the built page from one folder, the Fashion-MNIST files under
// /data/<name> from an explicit list (never by looking the name up on disk), and /data/index.json saying
// what was found. GET and HEAD only. Files are streamed, so memory stays flat however many requests come.
// Every response carries the cross-origin isolation headers (COOP/COEP), so the page gets SharedArrayBuffer.
import { createReadStream, realpathSync, statSync, type Stats } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join, sep } from "node:path";
import { requestSegments } from "./safePath.js";

export interface StaticServerOptions {
  /** The folder served at the URL root (the built page). */
  webRoot: string;
  /** Files served as /data/<name>, by name (the data files found; only these names exist). */
  dataFiles: ReadonlyMap<string, string>;
  /** Served as /data/index.json: what the page needs to know about the data. */
  dataIndex: unknown;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".map": "application/json; charset=utf-8",
  // The browser must not undo the gzip itself: the page decompresses with DecompressionStream.
  ".gz": "application/gzip",
};

const ISOLATION_HEADERS: Record<string, string> = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-cache",
};

function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...ISOLATION_HEADERS, "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body), ...extra });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** The real path of a file under `rootReal`, or null when it does not exist, is not a regular file, or
 * resolves (through a symlink anywhere on the way) outside the root. */
function fileInside(rootReal: string, segments: readonly string[]): { path: string; stats: Stats } | null {
  try {
    const real = realpathSync(join(rootReal, ...segments));
    if (!real.startsWith(rootReal + sep)) return null;
    const stats = statSync(real);
    return stats.isFile() ? { path: real, stats } : null;
  } catch {
    return null;
  }
}

function streamFile(req: IncomingMessage, res: ServerResponse, path: string, stats: Stats, name: string): void {
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    "Content-Type": CONTENT_TYPES[extname(name)] ?? "application/octet-stream",
    "Content-Length": stats.size,
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const stream = createReadStream(path);
  // A file that vanishes or fails mid-way can only end the connection: the status line is already sent.
  stream.on("error", () => res.destroy());
  res.on("close", () => stream.destroy());
  stream.pipe(res);
}

export function createStaticServer(options: StaticServerOptions): Server {
  const rootReal = realpathSync(options.webRoot);
  const indexJson = `${JSON.stringify(options.dataIndex)}\n`;
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(req, res, 405, "only GET and HEAD\n", { Allow: "GET, HEAD" });
      return;
    }
    const notFound = (): void => send(req, res, 404, "not found\n");
    const segments = requestSegments(req.url);
    if (!segments) return notFound();
    if (segments[0] === "data" && segments.length === 2) {
      const name = segments[1]!;
      if (name === "index.json") {
        return send(req, res, 200, indexJson, { "Content-Type": CONTENT_TYPES[".json"]! });
      }
      const path = options.dataFiles.get(name);
      if (!path) return notFound();
      try {
        const stats = statSync(path);
        if (!stats.isFile()) return notFound();
        return streamFile(req, res, path, stats, name);
      } catch {
        return notFound();
      }
    }
    const file = fileInside(rootReal, segments);
    if (!file) return notFound();
    streamFile(req, res, file.path, file.stats, segments[segments.length - 1]!);
  });
  // A stalled client must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return server;
}

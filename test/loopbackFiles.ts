// A loopback HTTP server of in-memory files for download tests (mirrors of IDX files): serves `routes`
// by path, 404 otherwise, records every request path; started before the file's tests and closed after.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before } from "node:test";

export interface LoopbackFiles {
  routes: Map<string, Uint8Array>;
  hits: string[];
  /** http://127.0.0.1:PORT, once the server listens. */
  base(): string;
}

export function loopbackFiles(cleanup: () => void = () => {}): LoopbackFiles {
  const routes = new Map<string, Uint8Array>();
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? "");
    const body = routes.get(req.url ?? "");
    if (!body) {
      res.statusCode = 404;
      res.end("not found");
      return;
    }
    res.setHeader("content-length", body.length);
    res.end(body);
  });
  let base = "";
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    cleanup();
  });
  return { routes, hits, base: () => base };
}

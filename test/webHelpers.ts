// Helpers of the web tests: `alexnet serve` on a free port as a child process (the URL read from its first
// line), plain HTTP requests that send the path exactly as written (no client-side normalisation), and the
// `alexnet` command line, and Debian's Chromium launched headless with its SwiftShader WebGPU adapter.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request, type Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { CLI, type CliRun, runCli } from "./cliProcess.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Browser tests run wherever Chromium is, and must run in CI (a missing browser is a failure there). */
export const chromiumSkip = existsSync(CHROMIUM) || process.env.CI ? false : `no Chromium at ${CHROMIUM} (scripts/setup.sh installs Debian's chromium)`;

/** Headless Chromium with WebGPU on SwiftShader, a fresh profile under `tmp`, and none of the background
 * networking this machine's closed network refuses. */
export function launchChromium(tmp: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Waits for a training run are longer than the default 180 s a protocol call may take.
    protocolTimeout: 600_000,
    args: ["--no-sandbox", "--disable-gpu-sandbox", "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", `--user-data-dir=${join(tmp, "profile")}`],
  });
}

export { CLI };

export function alexnet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `alexnet` with arguments, asynchronously (to overlap a Node run with the browser's). */
export function alexnetAsync(...args: string[]): Promise<CliRun> {
  return runCli(args);
}

export interface Served {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServe(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += String(d)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`alexnet serve printed no URL in 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout!.on("data", (d) => {
      out += String(d);
      const m = /http:\/\/[^\s/]+\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    child.on("exit", (code) => reject(new Error(`alexnet serve exited with ${code}: ${stderr}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  };
  return { url, port: Number(new URL(url).port), child, stop };
}

export interface Response {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** GET (or another method) with the path sent byte for byte as given. */
export function get(port: number, path: string, options: { agent?: Agent; method?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", agent: options.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** One test file's page: `alexnet serve` on loopback, Chromium with a profile in its own temporary folder,
 * and one page whose console errors and uncaught exceptions are collected. close() removes all three. */
export interface PageSession {
  served: Served;
  browser: Browser;
  page: Page;
  tmp: string;
  consoleErrors: string[];
  close(): Promise<void>;
}

export async function openPageSession(prefix: string, viewport?: { width: number; height: number }): Promise<PageSession> {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const served = await startServe();
  const browser = await launchChromium(tmp);
  const page = await browser.newPage();
  if (viewport) await page.setViewport(viewport);
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  return {
    served, browser, page, tmp, consoleErrors,
    async close() {
      await browser.close();
      await served.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// The page on WebGPU in a real browser: Chromium with its SwiftShader adapter (a CPU emulation, so only
// small work) opened without ?backend=reference creates the core's webgpu backend from navigator.gpu, says
// so in the device line, and trains one step of the narrow AlexNet-28 on it, with no console errors.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "puppeteer-core";
import { chromiumSkip, launchChromium, startServe, type Served } from "./webHelpers.js";

const skip = chromiumSkip;

interface GpuHook {
  device: string;
  state: string;
  outcome: { end: string; lines: string[] } | null;
}
const hook = (page: Page): Promise<GpuHook> => page.evaluate(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet);

describe("the page on WebGPU (SwiftShader in Chromium)", { skip }, () => {
  let served: Served;
  let browser: Browser;
  let page: Page;
  let tmp: string;
  const consoleErrors: string[] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "alexnet-web-gpu-"));
    served = await startServe();
    browser = await launchChromium(tmp);
    page = await browser.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(`${served.url}?variant=28&width=0.125&lr=0.05&epochs=1&batch=8&seed=0&train=8&test=8`);
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("says gpu (webgpu, <adapter>) and trains a step on it to d2l's two final lines", async () => {
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.device !== "", { timeout: 120_000 });
    const device = (await hook(page)).device;
    assert.match(device, /^gpu \(webgpu, .*swiftshader/i, device);
    // Start once the page is ready for it, then wait for the run's outcome (the state is "idle" before too).
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.state === "idle", { timeout: 120_000 });
    await page.click("#start");
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.outcome !== null, { timeout: 480_000 });
    const outcome = (await hook(page)).outcome;
    assert.equal(outcome?.end, "done", await page.$eval("#message", (el) => el.textContent ?? ""));
    assert.match(outcome!.lines[0]!, /^loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$/);
    assert.match(outcome!.lines[1]!, /examples\/sec on gpu \(webgpu, /);
    assert.deepEqual(consoleErrors, []);
  });
});

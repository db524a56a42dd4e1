// The page on WebGPU in a real browser: Chromium whose only adapter is SwiftShader (a CPU emulation). By
// default the page follows `--device auto` and never takes an emulation: it trains on the CPU and says in one
// line that it found one and did not use it, and its device picker offers the GPU as an emulation. With
// ?device=gpu it creates the core's webgpu backend from navigator.gpu, says it is an emulation, and trains
// one step of the narrow AlexNet-28 on it, and an epoch of a picked LeNet on a subset that then predicts, with
// no console errors.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Page } from "puppeteer-core";
import { chromiumSkip, openPageSession, type PageSession, type Served } from "./webHelpers.js";

const skip = chromiumSkip;

interface GpuHook {
  device: string;
  deviceInfo: { request: string; chosen: string; note: string | null; gpu: { description: string; software: boolean } | { error: string } } | null;
  state: string;
  outcome: { end: string; lines: string[] } | null;
}
const hook = (page: Page): Promise<GpuHook> => page.evaluate(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet);

describe("the page on WebGPU (SwiftShader in Chromium)", { skip }, () => {
  let served: Served;
  let page: Page;
  let consoleErrors: string[] = [];
  let session: PageSession;

  before(async () => {
    session = await openPageSession("alexnet-web-gpu-");
    ({ served, page, consoleErrors } = session);
  });

  after(() => session?.close());

  it("by default (auto) takes the CPU, saying in one line that a CPU emulation was found and not used", async () => {
    await page.goto(served.url);
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.state === "idle", { timeout: 120_000 });
    const h = await hook(page);
    assert.match(h.device, /^cpu \(reference/, h.device);
    const note = await page.$eval("#note", (el) => el.textContent ?? "");
    assert.match(note, /^A CPU emulation of a GPU \([^)]*swiftshader[^)]*\) was found and not used: [^\n]*pick GPU to use it anyway\.$/i, note);
    assert.equal(await page.$eval("#device-choice", (el) => (el as unknown as { value: string }).value), "auto");
    assert.match(await page.$eval('#device-choice option[value="gpu"]', (el) => el.textContent ?? ""), /GPU \(a CPU emulation here\)/);
    // On the CPU the form offers BN-LeNet's quick run, and AlexNet (if picked) narrow.
    assert.equal(await page.$eval("#model", (el) => (el as unknown as { value: string }).value), "lenet-bn");
    assert.equal(await page.$eval("#width", (el) => (el as unknown as { value: string }).value), "0.125");
    // The picker takes the emulation when asked, and the CPU back.
    await page.select("#device-choice", "gpu");
    await page.waitForFunction(() => /^device: gpu \(webgpu, /.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById("device")!.textContent ?? ""), { timeout: 120_000 });
    assert.match(await page.$eval("#note", (el) => el.textContent ?? ""), /is a CPU emulation \(as asked\)/);
    await page.select("#device-choice", "cpu");
    await page.waitForFunction(() => /^device: cpu \(reference/.test((globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById("device")!.textContent ?? ""), { timeout: 60_000 });
    assert.match(await page.$eval("#note", (el) => el.textContent ?? ""), /^CPU, as asked: /);
    assert.match(page.url(), /[?&]device=cpu\b/);
  });

  it("with ?device=gpu says gpu (webgpu, <adapter>), that it is an emulation, and trains a step on it to d2l's two final lines", async () => {
    await page.goto(`${served.url}?device=gpu&variant=28&width=0.125&lr=0.05&epochs=1&batch=8&seed=0&train=8&test=8`);
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.device !== "", { timeout: 120_000 });
    const device = (await hook(page)).device;
    assert.match(device, /^gpu \(webgpu, .*swiftshader/i, device);
    assert.match(await page.$eval("#note", (el) => el.textContent ?? ""), /is a CPU emulation \(as asked\)/);
    assert.equal(await page.$eval("#device-choice", (el) => (el as unknown as { value: string }).value), "gpu");
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

  it("with ?device=gpu&model=lenet&preset=quick trains LeNet an epoch on a subset on it, then predicts", async () => {
    await page.goto(`${served.url}?device=gpu&model=lenet&preset=quick&batch=32&seed=0&train=64&test=32`);
    await page.waitForFunction(() => {
      const h = (globalThis as unknown as { __alexnet: GpuHook }).__alexnet;
      return h.state === "idle" && h.device !== "";
    }, { timeout: 120_000 });
    assert.match((await hook(page)).device, /^gpu \(webgpu, /);
    assert.equal(await page.$eval("#model", (el) => (el as unknown as { value: string }).value), "lenet");
    assert.equal(await page.$eval("#epochs", (el) => (el as unknown as { value: string }).value), "1");
    await page.click("#start");
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: GpuHook }).__alexnet.outcome !== null, { timeout: 300_000 });
    const outcome = (await hook(page)).outcome;
    assert.equal(outcome?.end, "done", await page.$eval("#message", (el) => el.textContent ?? ""));
    assert.match(outcome!.lines[0]!, /^loss \d+\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}$/);
    assert.match(outcome!.lines[1]!, /examples\/sec on gpu \(webgpu, /);
    await page.click("#show-grid");
    await page.waitForFunction(() => (globalThis as unknown as { __alexnet: { grid: unknown } }).__alexnet.grid !== null, { timeout: 60_000 });
    assert.equal(await page.$$eval("#grid figure", (f) => f.length), 18);
    assert.deepEqual(consoleErrors, []);
  });
});

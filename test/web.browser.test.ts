// The page in a real browser: Debian's Chromium driven by puppeteer-core against `alexnet serve` on a free
// port. No console errors; the shape tables equal `alexnet summary` line for line; a narrow AlexNet-28 trained
// in the page (paused and resumed on the way) gives the same losses as `alexnet train` with the same settings;
// the page's saved safetensors loads in `alexnet eval` and predicts the fixture images as `alexnet predict`
// does; `alexnet train`'s model.safetensors loads in the page with the same test accuracy; bad files are one
// line. A screenshot after training goes to test-output/web/ (or $ALEXNET_TEST_OUTPUT/web/).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Page } from "puppeteer-core";
import { alexnet, alexnetAsync, chromiumSkip, openPageSession, type PageSession, type Served } from "./webHelpers.js";

const skip = chromiumSkip;
const OUTPUT = resolve(process.env.ALEXNET_TEST_OUTPUT ?? "test-output", "web");
const FIXTURES = fileURLToPath(new URL("../../test/fixtures/images/", import.meta.url));
const IMAGES = ["rgb8_interlaced.png", "rgb420_q75_128x96.jpg"];

/** The run both sides do: narrow AlexNet-28, batch 8, 5 steps (d2l's 5 points), 100 test images: the
 * reference backend computes about 0.3 GMAC/s here, and evaluation is most of the work. */
const RUN = { variant: "28", width: "0.125", lr: "0.05", epochs: "1", batch: "8", seed: "3", train: "40", test: "100" };
const CLI_RUN = ["--variant", RUN.variant, "--width-scale", RUN.width, "--lr", RUN.lr, "--epochs", RUN.epochs, "--batch-size", RUN.batch,
  "--seed", RUN.seed, "--train-limit", RUN.train, "--test-limit", RUN.test, "--backend", "reference", "--plain"];

interface Point {
  x: number;
  trainLoss?: number;
  trainAcc?: number;
  testAcc?: number;
}
interface Hook {
  state: string;
  describes: number;
  points: Point[];
  outcome: { end: string; points: Point[]; lines: string[] } | null;
  prediction: { top: { label: string; probability: number }[]; activations?: { layer: string; width: number; height: number } | { error: string } } | null;
  predictions: number;
  evaluation: { accuracy: number; count: number } | null;
  evaluations: number;
  grid: { labels: number[]; predicted: number[] } | null;
  device: string;
}
/** The page's globals as the functions run inside it see them (this file is compiled without the DOM types). */
interface PageGlobal {
  __alexnet: Hook;
  crossOriginIsolated: boolean;
  document: { getElementById(id: string): { textContent: string | null } | null };
}

const text = (page: Page, selector: string): Promise<string> => page.$eval(selector, (el) => el.textContent ?? "");
const hook = (page: Page): Promise<Hook> => page.evaluate(() => (globalThis as unknown as PageGlobal).__alexnet);

describe("the page in Chromium", { skip }, () => {
  let served: Served;
  let page: Page;
  let tmp: string;
  let consoleErrors: string[] = [];
  let session: PageSession;
  let nodeRun: Promise<{ code: number | null; stdout: string; stderr: string }>;
  let savedModel = "";

  before(async () => {
    session = await openPageSession("alexnet-web-", { width: 1200, height: 900 });
    ({ served, page, tmp, consoleErrors } = session);
    // The Node run of the same settings, in parallel with the browser's.
    nodeRun = alexnetAsync("train", ...CLI_RUN, "--run-dir", join(tmp, "run"));
    // AlexNet by name: on the CPU the page's own default is BN-LeNet (test/web.zoo.test.ts).
    const query = new URLSearchParams({ backend: "reference", model: "alexnet", ...RUN });
    await page.goto(`${served.url}?${query}`);
    // Idle comes after the worker has chosen the device and the form has been set for it (the first
    // description comes earlier, before the device is known).
    await page.waitForFunction(() => {
      const hook = (globalThis as unknown as PageGlobal).__alexnet;
      return hook.describes > 0 && hook.state === "idle";
    }, { timeout: 60_000 });
  });

  after(() => session?.close());

  it("opens cross-origin isolated, says which device it trains on, with no console errors", async () => {
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobal).crossOriginIsolated), true);
    assert.match(await text(page, "#device"), /^device: cpu \(reference/);
    assert.match(await text(page, "#note"), /CPU reference backend/);
    assert.equal(await text(page, "#message"), "");
    assert.deepEqual(consoleErrors, []);
  });

  it("shows d2l's shape table exactly as `alexnet summary` prints it", { timeout: 180_000 }, async () => {
    // d2l's own network (variant 224, full width): the narrow 28 one is what the page trains below. The order
    // of the choices keeps the page from building a full-width variant-28 network on the way.
    const summary = alexnetAsync("summary", "--variant", "224", "--backend", "reference");
    await page.select("#variant", "224");
    await page.select("#width", "1");
    const cli = await summary;
    assert.equal(cli.code, 0, cli.stderr);
    const want = cli.stdout.trimEnd();
    await page.waitForFunction((w) => (globalThis as unknown as PageGlobal).document.getElementById("shape-table")!.textContent === w, { timeout: 150_000 }, want).catch(() => {});
    assert.deepEqual((await text(page, "#shape-table")).split("\n"), want.split("\n"));
    assert.match(await text(page, "#answers"), /Most parameters: layer 14 Linear\(in_features=6400, out_features=4096.*Most compute: layer \d+ Conv2d/s);
    await page.select("#width", RUN.width);
    await page.select("#variant", RUN.variant);
    await page.waitForFunction(() => /variant 28, width x0\.125/.test((globalThis as unknown as PageGlobal).document.getElementById("model-status")!.textContent ?? ""), { timeout: 60_000 });
  });

  it("trains in a worker (paused and resumed) to the same losses as `alexnet train` with the same settings", { timeout: 240_000 }, async () => {
    await page.click("#start");
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).__alexnet.points.length >= 2, { timeout: 180_000 });
    // The page answers while a step computes in the worker.
    const t0 = Date.now();
    await page.evaluate(() => (globalThis as unknown as PageGlobal).document.getElementById("progress-text")!.textContent);
    const latency = Date.now() - t0;
    await page.click("#pause");
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).__alexnet.state === "paused", { timeout: 60_000 });
    await page.click("#pause"); // now "Resume"
    await page.waitForFunction(() => ["done", "stopped", "idle"].includes((globalThis as unknown as PageGlobal).__alexnet.state), { timeout: 180_000 });
    const h = await hook(page);
    assert.equal(h.outcome?.end, "done", await text(page, "#message"));
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "page-after-training.png"), fullPage: true });

    const node = await nodeRun;
    assert.equal(node.code, 0, node.stderr);
    const nodePoints = readFileSync(join(tmp, "run", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Point);
    assert.equal(h.points.length, nodePoints.length);
    const rows = nodePoints.map((p, i) => {
      const b = h.points[i]!;
      assert.equal(b.x, p.x);
      if (p.trainLoss !== undefined) {
        assert.ok(Math.abs(b.trainLoss! - p.trainLoss) <= 1e-4, `point ${i}: browser loss ${b.trainLoss}, node ${p.trainLoss}`);
        assert.equal(b.trainAcc, p.trainAcc);
        return `#   x ${p.x.toFixed(1)}  loss browser ${b.trainLoss!.toFixed(7)}  node ${p.trainLoss.toFixed(7)}  |diff| ${Math.abs(b.trainLoss! - p.trainLoss).toExponential(1)}`;
      }
      assert.equal(b.testAcc, p.testAcc);
      return `#   x ${p.x.toFixed(1)}  test acc browser ${b.testAcc}  node ${p.testAcc}`;
    });
    console.log(`# browser vs node (narrow AlexNet-28, batch ${RUN.batch}, seed ${RUN.seed}, lr ${RUN.lr}); page answered in ${latency} ms while training\n${rows.join("\n")}`);
    assert.equal((await text(page, "#final")).split("\n")[0], node.stdout.trim().split("\n").find((l) => l.startsWith("loss ")));
    assert.ok(latency < 2000, `the page took ${latency} ms to answer during training`);
  });

  it("saves a model.safetensors that `alexnet eval` loads, with the page's test accuracy", { timeout: 120_000 }, async () => {
    const downloads = join(tmp, "downloads");
    mkdirSync(downloads);
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
    await page.click("#save");
    savedModel = join(downloads, "model.safetensors");
    for (let i = 0; i < 100 && !(existsSync(savedModel) && readdirSync(downloads).length === 1); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(savedModel), `no download in ${downloads}: ${readdirSync(downloads).join(", ")}`);
    const r = alexnet("eval", "--checkpoint", savedModel, "--test-limit", RUN.test, "--backend", "reference", "--out", join(tmp, "confusion.png"));
    assert.equal(r.code, 0, r.stderr);
    const acc = /test acc (\d\.\d+)/.exec(r.stdout)![1];
    const pageAcc = (await hook(page)).points.at(-1)!.testAcc!;
    assert.equal(acc, pageAcc.toFixed(3));
  });

  it("predicts the fixture images with the same top-3 as `alexnet predict`", { timeout: 60_000 }, async () => {
    const cli = alexnet("predict", "--checkpoint", savedModel, "--backend", "reference", ...IMAGES.map((f) => join(FIXTURES, f)));
    assert.equal(cli.code, 0, cli.stderr);
    const cliLines = cli.stdout.trim().split("\n");
    const input = (await page.$("#image-file"))!;
    for (const [i, name] of IMAGES.entries()) {
      const before = (await hook(page)).predictions;
      await input.uploadFile(join(FIXTURES, name));
      await page.waitForFunction((n) => (globalThis as unknown as PageGlobal).__alexnet.predictions > n, { timeout: 30_000 }, before);
      const top = (await hook(page)).prediction!.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(", ");
      assert.equal(`${join(FIXTURES, name)}: ${top}`, cliLines[i]);
      assert.equal((await text(page, "#top3 li:first-child")).split(" ")[0], top.split(" ")[0]);
    }
  });

  it("predicts a drawing on the canvas", { timeout: 60_000 }, async () => {
    const before = (await hook(page)).predictions;
    const box = (await (await page.$("#pad"))!.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
    await page.mouse.down();
    for (const [fx, fy] of [[0.3, 0.8], [0.7, 0.8], [0.7, 0.2]]) await page.mouse.move(box.x + box.width * fx!, box.y + box.height * fy!, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobal).__alexnet.predictions > n, { timeout: 30_000 }, before);
    const top = (await hook(page)).prediction!.top;
    assert.equal(top.length, 3);
    assert.ok(Math.abs(top.reduce((a, t) => a + t.probability, 0)) <= 1 + 1e-6);
    assert.equal(await page.$$eval("#top3 li", (li) => li.length), 3);
    // The first layer's feature maps for the drawing (`alexnet activations --layer 0`), on the canvas below.
    const maps = (await hook(page)).prediction!.activations as { layer: string; width: number; height: number };
    assert.equal(maps.layer, "0");
    assert.deepEqual(await page.$eval("#activations", (c) => [(c as unknown as { width: number }).width, (c as unknown as { height: number }).height]), [maps.width, maps.height]);
    assert.ok(maps.width > 200 && maps.height > 50, `${maps.width}x${maps.height}`);
    assert.match(await text(page, "#activations-note"), /^feature maps of layer 0: /);
    // A layer the model does not have: the prediction stands, the maps say why in one line.
    await page.$eval("#activation-layer", (el) => ((el as unknown as { value: string }).value = "99"));
    const again = (await hook(page)).predictions;
    await page.click("#predict-drawing");
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobal).__alexnet.predictions > n, { timeout: 30_000 }, again);
    assert.equal((await hook(page)).prediction!.top.length, 3);
    assert.match(await text(page, "#activations-note"), /^feature maps: no layer '99' in the model; its layers: 0 Conv2d, /);
    await page.$eval("#activation-layer", (el) => ((el as unknown as { value: string }).value = "0"));
  });

  it("loads `alexnet train`'s model.safetensors and evaluates it to the same test accuracy", { timeout: 120_000 }, async () => {
    const before = (await hook(page)).evaluations;
    await (await page.$("#weights-file"))!.uploadFile(join(tmp, "run", "model.safetensors"));
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobal).__alexnet.evaluations > n, { timeout: 90_000 }, before);
    const nodeAcc = readFileSync(join(tmp, "run", "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Point).at(-1)!.testAcc!;
    const h = await hook(page);
    assert.equal(h.evaluation!.count, Number(RUN.test));
    assert.equal(h.evaluation!.accuracy, nodeAcc);
    assert.match(await text(page, "#eval-result"), /model\.safetensors \(variant 28\): test acc \d\.\d{3} on 100 test examples/);
  });

  it("draws d2l's predict_ch3 grid with the wrong predictions marked", { timeout: 60_000 }, async () => {
    await page.click("#show-grid");
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).__alexnet.grid !== null, { timeout: 30_000 });
    const g = (await hook(page)).grid!;
    assert.equal(g.labels.length, 18);
    const wrong = g.labels.filter((l, i) => l !== g.predicted[i]).length;
    assert.equal(await page.$$eval("#grid figure", (f) => f.length), 18);
    assert.equal(await page.$$eval("#grid figure.wrong", (f) => f.length), wrong);
  });

  it("answers a wrong weights file and a non-image with one clear line", { timeout: 60_000 }, async () => {
    const notImage = join(tmp, "notes.txt");
    writeFileSync(notImage, "not an image\n");
    await (await page.$("#weights-file"))!.uploadFile(join(FIXTURES, IMAGES[0]!));
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).document.getElementById("message")!.textContent !== "", { timeout: 30_000 });
    assert.match(await text(page, "#message"), /^invalid safetensors file rgb8_interlaced\.png: [^\n]+$/);
    await (await page.$("#image-file"))!.uploadFile(notImage);
    await page.waitForFunction(() => /notes\.txt/.test((globalThis as unknown as PageGlobal).document.getElementById("message")!.textContent ?? ""), { timeout: 30_000 });
    assert.match(await text(page, "#message"), /^notes\.txt: unsupported image format \(it starts with bytes [^\n]+$/);
  });

  it("logged no console errors through all of it", () => {
    assert.deepEqual(consoleErrors, []);
  });
});

// Pictures and tables a person reads: the chart legend covers no plotted line, point or bar (a geometric
// check on the SVG, for d2l's training curves after one epoch and after many, and the per-layer bars), a
// lone point gets a visible marker, bar categories carry layer names, the confusion table's rows are as
// wide as its header and its PNG keeps a margin, and the predict grid paints wrong predictions red.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderRaster, renderSvg } from "../src/plot/render.js";
import { trainingChart } from "../src/plot/trainingChart.js";
import { boxesOverlap, segmentHitsBox, type Box, type ChartSpec } from "../src/plot/chart.js";
import { analysisChart, layerNames } from "../src/analysis/plot.js";
import { analyzeNetwork } from "../src/analysis/analyze.js";
import { alexNet } from "../src/models/alexnet.js";
import { confusionPng, confusionTable, type Confusion } from "../src/train/confusion.js";
import { markWrong } from "../src/cli/predict.js";
import { TEXT_LABELS } from "../src/data/labels.js";
import type { MetricPoint } from "../src/train/trainer.js";
import { decodePng } from "../src/data/decode/png.js";

interface SvgShapes {
  legend: Box;
  segments: [number, number, number, number][];
  boxes: Box[];
}

/** The legend's box and every plotted segment and box, read back from the SVG's groups. */
function parseSvg(svg: string): SvgShapes {
  const num = (tag: string, name: string): number => Number(new RegExp(`\\b${name}="([-\\d.]+)"`).exec(tag)![1]);
  const legendPart = /<g class="legend">([\s\S]*?)<\/g>/.exec(svg);
  assert.ok(legendPart, "the SVG has a legend group");
  const first = /<rect [^>]*>/.exec(legendPart[1]!)![0];
  const legend = { x: num(first, "x"), y: num(first, "y"), w: num(first, "width"), h: num(first, "height") };
  const segments: [number, number, number, number][] = [];
  const boxes: Box[] = [];
  for (const g of svg.matchAll(/<g class="series"[^>]*>([\s\S]*?)<\/g>/g)) {
    for (const l of g[1]!.matchAll(/<line [^>]*>/g)) segments.push([num(l[0], "x1"), num(l[0], "y1"), num(l[0], "x2"), num(l[0], "y2")]);
    for (const r of g[1]!.matchAll(/<rect [^>]*>/g)) boxes.push({ x: num(r[0], "x"), y: num(r[0], "y"), w: num(r[0], "width"), h: num(r[0], "height") });
  }
  return { legend, segments, boxes };
}

function assertLegendCoversNothing(spec: ChartSpec, what: string): SvgShapes {
  const shapes = parseSvg(renderSvg(spec));
  assert.ok(shapes.segments.length + shapes.boxes.length > 0, `${what}: something is plotted`);
  for (const s of shapes.segments) assert.ok(!segmentHitsBox(...s, shapes.legend), `${what}: the legend ${JSON.stringify(shapes.legend)} covers the segment ${s}`);
  for (const b of shapes.boxes) assert.ok(!boxesOverlap(b, shapes.legend), `${what}: the legend covers ${JSON.stringify(b)}`);
  return shapes;
}

/** d2l's plot points: five per epoch of train loss and accuracy, the test accuracy at each epoch's end. */
function points(epochs: number, loss: (x: number) => number, acc: (x: number) => number): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (let e = 0; e < epochs; e++) {
    for (let k = 1; k <= 5; k++) {
      const x = e + k / 5;
      out.push({ x, trainLoss: loss(x), trainAcc: acc(x) });
    }
    out.push({ x: e + 1, testAcc: acc(e + 1) - 0.02 });
  }
  return out;
}

describe("charts", () => {
  it("the training chart's legend covers no point or line: one epoch, ten, a flat loss, a loss from the top", () => {
    const cases: [string, MetricPoint[], number][] = [
      ["one epoch, no learning", points(1, () => 2.303, () => 0.1), 1],
      ["one epoch, learning", points(1, (x) => 2.3 - 1.4 * x, (x) => 0.1 + 0.6 * x), 1],
      ["ten epochs (d2l's figure)", points(10, (x) => 1.3 / (1 + x) + 0.25, (x) => 0.9 - 0.5 / (1 + x)), 10],
      ["loss along the top", points(3, () => 0.99, (x) => 0.2 * x), 3],
      ["curves everywhere", points(4, (x) => 0.5 + 0.45 * Math.sin(3 * x), (x) => 0.5 + 0.45 * Math.cos(3 * x)), 4],
    ];
    for (const [what, pts, epochs] of cases) assertLegendCoversNothing(trainingChart(pts, epochs), what);
  });

  it("one epoch's test accuracy is a visible marker, not a lone pixel", () => {
    const spec = trainingChart(points(1, () => 2.303, () => 0.1), 1);
    const shapes = parseSvg(renderSvg(spec));
    const marker = shapes.boxes.find((b) => b.w >= 8 && b.h >= 8);
    assert.ok(marker, `a marker of at least 8x8 px: ${JSON.stringify(shapes.boxes)}`);
    // The PNG has the test accuracy's colour (d2l's green) over the marker's whole area at 2x.
    const r = renderRaster(spec);
    const green = (x: number, y: number) => {
      const i = (y * r.width + x) * 3;
      return r.data[i] === 0 && r.data[i + 1] === 128 && r.data[i + 2] === 0;
    };
    let count = 0;
    for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) if (green(x, y)) count++;
    assert.ok(count >= 200, `${count} green pixels`);
  });

  it("analyze --plot: bars named by layer (conv2, fc1), the legend over no bar", () => {
    const stats = analyzeNetwork(alexNet({ variant: "28", widthScale: 0.125 }), [8, 1, 28, 28]);
    assert.deepEqual(layerNames(stats), ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool3",
      "flatten", "fc1", "relu6", "drop1", "fc2", "relu7", "drop2", "fc3"]);
    const spec = analysisChart(stats, null);
    assert.equal(spec.categories![3], "conv2");
    const svg = renderSvg(spec);
    for (const name of ["conv2", "fc1"]) assert.ok(svg.includes(`>${name}</text>`), name);
    assertLegendCoversNothing(spec, "bars");
  });
});

describe("eval's confusion matrix", () => {
  const counts = TEXT_LABELS.map((_, i) => TEXT_LABELS.map((_, j) => (i === j ? 1000 - 9 * i : (i * 7 + j * 3) % 11)));
  const c: Confusion = { counts, total: counts.flat().reduce((a, b) => a + b, 0), accuracy: 0.9, perClass: counts.map((row, i) => row[i]! / row.reduce((a, b) => a + b, 0)) };

  it("the table's rows are all as wide as its header, and each number ends under its column's number", () => {
    const lines = confusionTable(c, TEXT_LABELS);
    assert.equal(lines.length, 11);
    for (const line of lines) assert.equal(line.length, lines[0]!.length, JSON.stringify(line));
    // Column j's header digit and every count in that column end at the same character.
    for (let j = 0; j < 10; j++) {
      const end = lines[0]!.indexOf(` ${j} `) + 2;
      for (const line of lines.slice(1)) assert.match(line[end - 1]!, /\d/, `column ${j} in ${JSON.stringify(line)}`);
    }
    assert.match(lines[1]!, /^0 t-shirt\s/);
    assert.match(lines[10]!, /^9 ankle boot\s.*%$/);
  });

  it("the PNG names its columns like its rows and keeps a white margin on the right", () => {
    const png = decodePng(confusionPng(c, TEXT_LABELS), "confusion.png");
    // The last 16 columns of pixels are background: the last cell does not touch the edge.
    for (let y = 0; y < png.height; y++) {
      for (let x = png.width - 16; x < png.width; x++) assert.equal(png.gray[y * png.width + x], 255, `pixel ${x},${y}`);
    }
    // Wider than ten cells of 44 px plus the row labels: the column names set the width.
    assert.ok(png.width > 10 * 48, `width ${png.width}`);
  });
});

describe("predict --from-test's grid", () => {
  it("paints the titles of wrong predictions red and leaves the right ones black", () => {
    const images = new Uint8Array(3 * 28 * 28).fill(40);
    const titles = ["trouser\ntrouser", "shirt\nt-shirt", "bag\nbag"];
    const r = markWrong(images, 3, 28, 28, titles, [false, true, false]);
    assert.equal(r.channels, 3);
    const red: number[] = [];
    const black: number[] = [];
    for (let i = 0; i < r.width * r.height; i++) {
      const [R, G, B] = [r.data[i * 3]!, r.data[i * 3 + 1]!, r.data[i * 3 + 2]!];
      if (R > 150 && G < 50 && B < 50) red.push(i % r.width);
      if (R === 0 && G === 0 && B === 0) black.push(i % r.width);
    }
    const cell = r.width / 3;
    assert.ok(red.length > 50 && red.every((x) => x >= cell - 6 && x < 2 * cell + 6), "red text only in the second cell");
    assert.ok(black.some((x) => x < cell) && black.some((x) => x >= 2 * cell), "black titles in the others");
  });
});

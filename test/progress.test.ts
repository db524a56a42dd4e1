// The progress module: lines that fit the terminal at any width (least important fields dropped first),
// redrawn in place, the whole run's ETA next to the epoch's, downloads on the same bar, and plain lines
// (not a terminal) exactly as before.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Progress } from "../src/cli/progress.js";
import { clock, renderBar, terminalProgress, type BarField } from "../src/io/progressBar.js";
import type { StepInfo } from "../src/train/trainer.js";

const WIDTHS = [40, 60, 80, 120];

/** A terminal of `columns` columns that records what is written. */
function fakeTerminal(columns: number, isTTY = true): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const stream = { isTTY, columns, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/** Clear to the end of the line, which ends every redraw. */
const CLEAR_LINE = "\x1b[K";

/** Each state of the line as the terminal shows it: the text after the last '\r' of each redraw. */
function drawnLines(text: string): string[] {
  return text.split(/[\r\n]/).map((l) => (l.endsWith(CLEAR_LINE) ? l.slice(0, -CLEAR_LINE.length) : l)).filter((l) => l.length > 0);
}

const longestStep: StepInfo = {
  epoch: 9, batch: 468, numBatches: 469, batchSize: 128, trainLoss: 12.3456, trainAcc: 0.8791, examplesPerSec: 12345.6,
};

test("renderBar never exceeds the width and drops the least important fields first", () => {
  const fields: BarField[] = [
    { text: "epoch 10/10", keep: 100 },
    { fraction: 0.5, keep: 40 },
    { text: "469/469", keep: 60 },
    { text: "12345.6 ex/s", keep: 30 },
    { text: "run ETA 123:45:06", keep: 90 },
  ];
  for (let width = 1; width <= 130; width++) {
    const line = renderBar(fields, width);
    assert.ok(line.length <= width, `width ${width}: ${JSON.stringify(line)} is ${line.length} wide`);
  }
  assert.equal(renderBar(fields, 120), "epoch 10/10 [############............] 469/469 12345.6 ex/s run ETA 123:45:06");
  // The bar shrinks before anything goes; examples/s (least important) goes first, the bar next.
  assert.equal(renderBar(fields, 60), "epoch 10/10 [####...] 469/469 12345.6 ex/s run ETA 123:45:06");
  assert.equal(renderBar(fields, 50), "epoch 10/10 [#####.....] 469/469 run ETA 123:45:06");
  assert.equal(renderBar(fields, 40), "epoch 10/10 469/469 run ETA 123:45:06");
  assert.equal(renderBar(fields, 30), "epoch 10/10 run ETA 123:45:06");
  assert.equal(renderBar(fields, 8), "epoch 10");
  assert.equal(renderBar([], 80), "");
});

test("clock: minutes under an hour, hours above, unknown as --:--", () => {
  assert.deepEqual([clock(620), clock(3600 * 2 + 61), clock(NaN), clock(-3)], ["10:20", "2:01:01", "--:--", "00:00"]);
});

for (const columns of WIDTHS) {
  test(`training bar on a ${columns}-column terminal: every redraw fits, one line per epoch`, () => {
    const term = fakeTerminal(columns);
    const progress = new Progress({ stream: term.stream, epochs: 10, testBatches: 79 });
    for (const batch of [0, 1, 233, 467, 468]) progress.step({ ...longestStep, batch, examplesPerSec: batch === 0 ? 1.5 : 12345.6 });
    progress.line("epoch 10/10: test acc 0.880");
    const lines = drawnLines(term.text());
    for (const line of lines) assert.ok(line.length < columns, `${line.length} >= ${columns}: ${line}`);
    assert.equal(term.text().split("\n").length - 1, 2, "the bar's line and the summary line");
    assert.ok(lines.every((l) => l.startsWith("epoch 10/10")), lines.join("\n"));
    assert.ok(lines.slice(0, -1).every((l) => /run ETA \d/.test(l)), `the run ETA is kept at ${columns} columns`);
    if (columns >= 80) assert.ok(lines.slice(0, -1).every((l) => /\[[#.]+\] .*loss .* ETA \d/.test(l)), lines.join("\n"));
    if (columns >= 120) assert.match(lines[1]!, /^epoch 10\/10 \[\.+\] 2\/469 loss 12\.346 acc 0\.879 12345\.6 ex\/s ETA 00:05 run ETA 00:05$/);
  });
}

test("the run ETA: this epoch's rest, an estimate of evaluation, then the remaining epochs", () => {
  let ms = 0;
  const term = fakeTerminal(200);
  const progress = new Progress({ stream: term.stream, epochs: 10, testBatches: 79, now: () => ms });
  // 1 s per batch: 468 s left in epoch 1; evaluation estimated at 79 / 3 s; nine more epochs of 469 s + that.
  const step = { ...longestStep, epoch: 0, batch: 0, examplesPerSec: 128 };
  progress.step(step);
  assert.ok(term.text().endsWith(CLEAR_LINE));
  assert.match(drawnLines(term.text()).at(-1)!, /ETA 07:48 run ETA 1:22:32$/);
  // Once an epoch boundary is seen, the measured time between epochs (60 s here) replaces the estimate.
  progress.step({ ...step, batch: 468 });
  ms = 61_000;
  progress.step({ ...step, epoch: 1 });
  assert.match(drawnLines(term.text()).at(-1)!, /^epoch 2\/10 .* ETA 07:48 run ETA 1:19:20$/);
});

test("not a terminal: plain lines every tenth of an epoch, unchanged", () => {
  const term = fakeTerminal(40, false);
  const progress = new Progress({ stream: term.stream, epochs: 10, testBatches: 79 });
  for (let batch = 0; batch < 20; batch++) {
    // The trainer reads the loss at its plot points only: none yet before the first (batch 4 of 20).
    const read = batch >= 3;
    progress.step({ epoch: 0, batch, numBatches: 20, batchSize: 128, trainLoss: read ? 2.30259 : null, trainAcc: read ? 0.1 : null, examplesPerSec: 45.3 });
  }
  const lines = term.text().trimEnd().split("\n");
  assert.equal(lines.length, 11);
  assert.equal(lines[0], "epoch 1/10 batch 1/20: loss -, train acc -, 45.3 examples/s, ETA 00:54");
  assert.equal(lines[2], "epoch 1/10 batch 4/20: loss 2.303, train acc 0.100, 45.3 examples/s, ETA 00:45");
  assert.equal(lines[10], "epoch 1/10 batch 20/20: loss 2.303, train acc 0.100, 45.3 examples/s, ETA 00:00");
  assert.ok(!term.text().includes("\r") && !term.text().includes(CLEAR_LINE), "no redrawing in plain mode");
});

for (const columns of WIDTHS) {
  test(`download bar on a ${columns}-column terminal fits, and ends its line`, () => {
    let ms = 0;
    const term = fakeTerminal(columns);
    const bar = terminalProgress(term.stream, () => ms);
    bar.start("train-images-idx3-ubyte.gz", "http://x/train-images-idx3-ubyte.gz", 26_421_880);
    for (const n of [1_000_000, 13_000_000, 26_421_880]) {
      ms += 1000;
      bar.update(n);
    }
    bar.end(false);
    const lines = drawnLines(term.text());
    for (const line of lines) assert.ok(line.length < columns, `${line.length} >= ${columns}: ${line}`);
    assert.ok(lines.every((l) => l.startsWith("train-images-idx3-ubyte.gz")));
    assert.match(lines.at(-1)!, /failed$/);
    assert.equal(term.text().split("\n").length, 2, "one line, redrawn in place");
  });
}

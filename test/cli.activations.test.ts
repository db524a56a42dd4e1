// `alexnet activations` (issue 25, item 5): for a LeNet checkpoint written here, `--layer 1` (the Sigmoid
// after the first conv: 6 channels of 28x28) draws a grid with one tile per channel, of the size the layout
// says, whose pixels are the maps computed independently through the library (the network's first two
// layers on the same inputs), each scaled to its own min..max; a Linear layer is one strip per image; a
// dotted path finds a nested module; a wrong layer names the layers there are; test images of chosen classes
// are labelled with their true labels (when Fashion-MNIST is installed).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { activationsCommand } from "../src/cli/activations.js";
import { FRAME, GAP, LINE, PAD, STRIP_HEIGHT, THUMB, resolveLayer } from "../src/analysis/activations.js";
import { modelMetadata } from "../src/cli/modelChoice.js";
import { UsageError } from "../src/cli/args.js";
import { encodeSafetensors } from "../src/checkpoint/safetensors.js";
import { getBackend } from "../src/backend/registry.js";
import { textWidth } from "../src/data/font.js";
import { TEXT_LABELS } from "../src/data/labels.js";
import { ALL_FILES, DEBIAN_DIR } from "../src/data/fashionMnist.js";
import { decodePng } from "../src/data/decode/png.js";
import { loadImageForModel } from "../src/data/decode/file.js";
import { createRaster, encodePng } from "../src/data/png.js";
import { leNet } from "../src/models/lenet.js";
import { Conv2d, Flatten, Linear, ReLU, Sequential } from "../src/nn/index.js";
import { noGrad } from "../src/tensor/autograd.js";
import { manualSeed } from "../src/tensor/random.js";
import { tensor } from "../src/tensor/tensor.js";

const work = mkdtempSync(join(tmpdir(), "alexnet-activations-"));
const checkpoint = join(work, "lenet.safetensors");
const images = [join(work, "bar.png"), join(work, "ring.png")];
const reference = getBackend("reference");
let net: Sequential;

before(() => {
  manualSeed(3);
  net = leNet();
  const tensors = net.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape], data: Float32Array.from(p.dataSync()) }));
  writeFileSync(checkpoint, encodeSafetensors(tensors, modelMetadata({ model: "lenet", inChannels: 1, classes: 10, size: 28, resize: null }), checkpoint));
  // Two 28x28 pictures: a vertical bar and a ring.
  const draw = (inside: (x: number, y: number) => boolean) => {
    const r = createRaster(28, 28, 1, 0);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (inside(x, y)) r.data[y * 28 + x] = 230;
    return encodePng(r);
  };
  writeFileSync(images[0]!, draw((x, y) => x >= 11 && x <= 16 && y >= 3 && y <= 24));
  writeFileSync(images[1]!, draw((x, y) => Math.abs(Math.hypot(x - 13.5, y - 13.5) - 8) < 2.5));
});
after(() => {
  net?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the command in this process; its stdout lines. */
async function activations(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    assert.equal(await activationsCommand.run([...args, "--backend", "reference"]), 0);
  } finally {
    console.log = log;
  }
  return lines;
}

/** The library's own answer: the outputs of the first `upTo` + 1 layers, and the predicted classes. */
function forwardTo(upTo: number): { values: Float32Array; shape: number[]; predicted: number[] } {
  const x = new Float32Array(images.length * 28 * 28);
  images.forEach((f, i) => x.set(loadImageForModel(f, 28), i * 28 * 28));
  return noGrad(() => {
    let h = tensor(x, { shape: [images.length, 1, 28, 28], backend: reference });
    let kept = h;
    for (let i = 0; i < net.length; i++) {
      h = net.at(i).call(h);
      if (i === upTo) kept = h;
    }
    const logits = h.toFloat32Array();
    const predicted = images.map((_, i) => {
      const row = logits.subarray(i * 10, (i + 1) * 10);
      return row.indexOf(Math.max(...row));
    });
    return { values: kept.toFloat32Array(), shape: [...kept.shape], predicted };
  });
}

/** Grey levels of a map scaled to its own min..max. */
function normalized(v: Float32Array): number[] {
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return Array.from(v, (x) => (hi > lo ? Math.round(((x - lo) * 255) / (hi - lo)) : 0));
}

const labelsOf = (predicted: number[]) => images.map((f, i) => [f.replace(/^.*\//, ""), `pred: ${TEXT_LABELS[predicted[i]!]}`]);

describe("alexnet activations", () => {
  it("--layer 1 of LeNet: one 56x56 tile per channel (6), laid out as stated, holding each normalized map", async () => {
    const out = join(work, "layer1.png");
    const stdout = await activations("--checkpoint", checkpoint, "--layer", "1", ...images, "--out", out);
    assert.match(stdout.join("\n"), /layer 1 \(Sigmoid\), 6 channels of 28x28, for 2 images/);
    const { values, shape, predicted } = forwardTo(1);
    assert.deepEqual(shape, [2, 6, 28, 28]);
    const png = decodePng(new Uint8Array(readFileSync(out)), out);
    // The layout: title line; per image a label column (two lines and the 56 px input) and 6 tiles of 28x28
    // at scale 2, each under its channel number.
    const labels = labelsOf(predicted);
    const labelW = Math.max(THUMB, ...labels.flat().map((t) => textWidth(t))) + PAD;
    const title = "LeNet, layer 1 Sigmoid 6x28x28: each tile scaled to its own min..max";
    const blockW = labelW + 6 * (56 + GAP) - GAP;
    const blockH = Math.max(2 * LINE + THUMB, LINE + 56);
    assert.equal(png.width, 2 * PAD + Math.max(textWidth(title), blockW));
    assert.equal(png.height, PAD + LINE + PAD + 2 * (blockH + PAD));
    for (let i = 0; i < 2; i++) {
      for (let c = 0; c < 6; c++) {
        const want = normalized(values.subarray((i * 6 + c) * 784, (i * 6 + c + 1) * 784));
        const x0 = PAD + labelW + c * (56 + GAP);
        const y0 = PAD + LINE + PAD + i * (blockH + PAD) + LINE;
        let worst = 0;
        for (let y = 0; y < 56; y++) {
          for (let x = 0; x < 56; x++) {
            worst = Math.max(worst, Math.abs(png.gray[(y0 + y) * png.width + x0 + x]! - want[(y >> 1) * 28 + (x >> 1)]!));
          }
        }
        assert.ok(worst <= 1, `image ${i} channel ${c}: a pixel is ${worst} grey levels off the map`);
        // The map spans its whole scale; a frame just outside the tile, the background beyond it.
        assert.ok(want.includes(0) && want.includes(255));
        assert.equal(png.gray[(y0 + 56) * png.width + x0], FRAME);
        assert.equal(png.gray[(y0 + 57) * png.width + x0], 255);
      }
    }
  });

  it("a Linear layer (--layer 7, 120 features) is one strip per image; --normalize layer shares one scale", async () => {
    const out = join(work, "layer7.png");
    const stdout = await activations("--checkpoint", checkpoint, "--layer", "7", ...images, "--out", out, "--normalize", "layer");
    assert.match(stdout.join("\n"), /layer 7 \(Linear\), 120 values, for 2 images .*one scale for the layer/);
    const { values, predicted } = forwardTo(7);
    const png = decodePng(new Uint8Array(readFileSync(out)), out);
    const labelW = Math.max(THUMB, ...labelsOf(predicted).flat().map((t) => textWidth(t))) + PAD;
    const cellW = Math.floor(1024 / 120);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const blockH = Math.max(2 * LINE + THUMB, STRIP_HEIGHT);
    for (let i = 0; i < 2; i++) {
      const y = PAD + LINE + PAD + i * (blockH + PAD) + STRIP_HEIGHT - 1;
      for (let f = 0; f < 120; f++) {
        const want = Math.round(((values[i * 120 + f]! - lo) * 255) / (hi - lo));
        const got = png.gray[y * png.width + PAD + labelW + f * cellW + cellW - 1]!;
        assert.ok(Math.abs(got - want) <= 1, `image ${i} feature ${f}: ${got}, want ${want}`);
      }
    }
  });

  it("a dotted path finds a nested module; a layer that is not there names those that are", async () => {
    const nested = new Sequential(new Sequential(new Conv2d(1, 2, { kernelSize: 3 }), new ReLU()), new Flatten(), new Linear(2 * 26 * 26, 10));
    assert.equal(resolveLayer(nested, "0.1").module, nested.at(0).children()[1]);
    assert.equal(resolveLayer(nested, "2").name, "2");
    assert.throws(() => resolveLayer(nested, "0.5"), /no layer '5' in layer 0 \(Sequential\); its layers: 0 Conv2d, 1 ReLU/);
    nested.dispose();
    await assert.rejects(activationsCommand.run(["--checkpoint", checkpoint, "--layer", "12", images[0]!, "--backend", "reference", "--out", join(work, "x.png")]),
      (e: Error) => e instanceof UsageError && /--layer 12: no layer '12' in the model; its layers: 0 Conv2d, 1 Sigmoid, 2 AvgPool2d, .*11 Linear/.test(e.message));
    assert.equal(existsSync(join(work, "x.png")), false);
  });

  const haveData = ALL_FILES.every((f) => existsSync(join(DEBIAN_DIR, f.name)));
  it("--from-test 2 --classes pullover,coat: 4 test images labelled with their true labels", { skip: haveData ? false : `${DEBIAN_DIR} is needed` }, async () => {
    const out = join(work, "coats.png");
    const stdout = await activations("--checkpoint", checkpoint, "--layer", "3", "--from-test", "2", "--classes", "pullover,coat", "--out", out, "--data-dir", DEBIAN_DIR);
    assert.match(stdout.join("\n"), /layer 3 \(Conv2d\), 16 channels of 10x10, for 4 images/);
    const png = decodePng(new Uint8Array(readFileSync(out)), out);
    // 10x10 maps at scale 6 (60 px), 16 in a line.
    const blockH = Math.max(2 * LINE + THUMB, LINE + 60);
    assert.equal(png.height, PAD + LINE + PAD + 4 * (blockH + PAD));
  });
});

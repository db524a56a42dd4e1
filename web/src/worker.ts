// The page's Web Worker: it holds the data, the network and the training run, so the page stays responsive
// while a step computes. It trains whichever model the page picked (any nn.Module of the zoo) with the
// core's own trainCh6 (d2l's train_ch6: Xavier init, SGD, cross-entropy, five plot points per epoch, test
// accuracy at each epoch end), predicts, evaluates, and writes and reads safetensors (a loaded file rebuilds
// the model it records) and ONNX.
import {
  decodeImage, imageForModel, TEXT_LABELS,
  type Backend, type nn,
} from "../../src/core.js";
import { argmaxRows, evaluateAccuracy, finalLines, trainCh6, type StepInfo } from "../../src/core.js";
import { deployOptions } from "../../src/export/deploy.js";
import { exportOnnxAsync } from "../../src/export/onnx.js";
import { ArrayLoader } from "../../src/web/arrayLoader.js";
import {
  checkSettings, loadModel, modelInputSize, newTrainingRun, probabilities, savedModelOf, saveModel, topK, type TrainingRun, type WebTrainSettings,
} from "../../src/web/model.js";
import { activationGrid, captureActivations, resolveLayer } from "../../src/analysis/activations.js";
import { loadSplit, type LoadedSplit } from "./data.js";
import { selectBackend, type Selected } from "./device.js";
import type { DeviceInfo, DeviceRequest, Envelope, GridResult, ModelInfo, Prediction, Reply, Request, Results, TrainOutcome, WorkerEvent } from "./protocol.js";


interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<Envelope>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

const emit = (e: WorkerEvent): void => scope.postMessage(e);

let selected: Promise<Selected> | null = null;
const device = (): Promise<Selected> => (selected ??= selectBackend("auto"));
const backend = async (): Promise<Backend> => (await device()).backend;

/** Chooses the device by the page's picker (or URL): the current model moves to it; a paused run ends
 * (its optimizer state stays behind), keeping its network as the model. */
async function chooseDevice(request: DeviceRequest): Promise<DeviceInfo> {
  if (training) throw new Error("pause or stop the run before changing the device");
  const before = selected ? await selected : null;
  if (!before || before.request !== request) {
    selected = selectBackend(request);
    const now = await selected;
    if (before && now.backend !== before.backend) {
      if (run) {
        run.optimizer.dispose();
        run = null;
      }
      if (current) await current.net.to(now.backend);
    }
  }
  const d = await device();
  return { request: d.request, chosen: d.backend.name === "webgpu" ? "gpu" : "cpu", device: d.device, note: d.note, gpu: d.gpu };
}

const splits: Partial<Record<"train" | "test", Promise<LoadedSplit>>> = {};
function split(name: "train" | "test"): Promise<LoadedSplit> {
  const p = (splits[name] ??= loadSplit(name));
  // A failed fetch must not stick: the next request tries again.
  p.catch(() => delete splits[name]);
  return p;
}

interface Current extends ModelInfo {
  net: nn.Module;
}
/** The model that predicts, evaluates and is saved: the run's network, or weights loaded from a file. */
let current: Current | null = null;
let run: (TrainingRun & { settings: WebTrainSettings }) | null = null;
let training = false;
let pauseRequested = false;
let stopRequested = false;

function replaceCurrent(next: Current | null): void {
  if (current && current.net !== next?.net) current.net.dispose();
  if (run && run.net !== next?.net) {
    run.optimizer.dispose();
    run = null;
  }
  current = next;
}

function needModel(): Current {
  if (!current) throw new Error("no model yet: train one or load a model.safetensors");
  return current;
}

function progressOfStep(info: StepInfo, epochs: number, step: number): WorkerEvent {
  const total = info.numBatches * epochs;
  const remainingExamples = Math.max(0, total - step) * info.batchSize;
  const eta = info.examplesPerSec > 0 ? remainingExamples / info.examplesPerSec : null;
  const text = `epoch ${info.epoch + 1}/${epochs} batch ${info.batch + 1}/${info.numBatches}: loss ${info.trainLoss?.toFixed(3) ?? "-"}, train acc ${info.trainAcc?.toFixed(3) ?? "-"}`;
  return { event: "progress", phase: "train", done: step, total, examplesPerSec: info.examplesPerSec, etaSeconds: eta, text };
}

async function startTraining(settings: WebTrainSettings): Promise<TrainOutcome> {
  if (training) throw new Error("a run is in progress: pause or stop it first");
  const problem = checkSettings(settings);
  if (problem) throw new Error(problem);
  const b = await backend();
  emit({ event: "progress", phase: "data", done: 0, total: 1, examplesPerSec: 0, etaSeconds: null, text: "loading Fashion-MNIST..." });
  const [trainSet, testSet] = await Promise.all([split("train"), split("test")]);
  replaceCurrent(null);
  const r = await newTrainingRun(settings, b, trainSet, testSet);
  run = { ...r, settings };
  current = { ...modelInfo(settings, modelInputSize(settings)), net: r.net, source: `trained in this page (seed ${settings.seed}, lr ${settings.lr})` };
  return continueTraining();
}

async function continueTraining(): Promise<TrainOutcome> {
  if (!run) throw new Error("nothing to resume: start a run");
  if (training) throw new Error("the run is already going");
  const r = run;
  const { backend: b, device: dev } = await device();
  training = true;
  pauseRequested = stopRequested = false;
  try {
    const result = await trainCh6(r.net, {
      epochs: r.settings.epochs, backend: b, trainLoader: r.trainLoader, testLoader: r.testLoader, optimizer: r.optimizer,
      hooks: {
        onPoint: (point) => emit({ event: "point", point }),
        onStep: (info, state) => emit(progressOfStep(info, r.settings.epochs, state.step)),
        onEvalBatch: (done, total) => emit({ event: "progress", phase: "eval", done, total, examplesPerSec: 0, etaSeconds: null, text: `evaluating: batch ${done}/${total}` }),
        shouldStop: () => pauseRequested || stopRequested,
      },
    }, r.state);
    r.state = result.state;
    const model = infoOf(current!);
    const points = [...result.state.points];
    if (result.completed || stopRequested) {
      // The network stays the current model; only the run (optimizer, resumable state) ends.
      r.optimizer.dispose();
      run = null;
    }
    if (result.completed) return { end: "done", points, lines: finalLines(result, dev), model };
    return { end: stopRequested ? "stopped" : "paused", points, lines: [], model };
  } finally {
    training = false;
  }
}

async function evaluate(testLimit: number | null): Promise<Results["evaluate"]> {
  const m = needModel();
  const b = await backend();
  const test = await split("test");
  const loader = new ArrayLoader(test, { batchSize: 64, shuffle: false, size: m.size, limit: testLimit ?? undefined });
  const accuracy = await evaluateAccuracy(m.net, loader, b, (done, total) =>
    emit({ event: "progress", phase: "eval", done, total, examplesPerSec: 0, etaSeconds: null, text: `evaluating: batch ${done}/${total}` }));
  return { accuracy, count: loader.size, model: infoOf(m) };
}

async function predict(pixels: Float32Array, layer?: string): Promise<Prediction> {
  const m = needModel();
  const b = await backend();
  const [p] = await probabilities(m.net, pixels, 1, m.size, b);
  const top = topK(p!, 3).map((k) => ({ label: TEXT_LABELS[k] ?? `class ${k}`, probability: p![k]! }));
  return { top, ...(layer === undefined ? {} : { activations: await featureMaps(m.net, layer, pixels, m.size, top[0]!.label, b) }) };
}

/** The feature maps of `layer` for one image as `alexnet activations` draws them, or why there are none. */
async function featureMaps(net: nn.Module, layer: string, pixels: Float32Array, size: number, predicted: string, b: Backend): Promise<NonNullable<Prediction["activations"]>> {
  try {
    const ref = resolveLayer(net, layer);
    const got = await captureActivations(net, ref.module, pixels, [1, 1, size, size], b);
    const { raster } = activationGrid({
      values: got.values, shape: got.shape, inputs: pixels, inputSize: size, labels: [[`pred: ${predicted}`]],
      title: `layer ${ref.name} ${ref.module.constructor.name} ${got.shape.slice(1).join("x")}`,
    });
    return { layer: ref.name, ...raster };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** d2l's predict_ch3: the first n test images with their true and predicted labels. */
async function grid(n: number): Promise<GridResult> {
  const m = needModel();
  const test = await split("test");
  const count = Math.max(1, Math.min(n, test.count, 64));
  const size = m.size;
  const batch = new ArrayLoader(test, { batchSize: count, shuffle: false, size, limit: count }).batch(0, 0);
  const probs = await probabilities(m.net, batch.images, count, size, await backend());
  const predicted = probs.map((p) => argmaxRows(p, 1, p.length)[0]!);
  const pixels = test.images.slice(0, count * test.rows * test.cols);
  return { rows: test.rows, cols: test.cols, pixels, labels: [...batch.labels], predicted };
}

async function load(bytes: Uint8Array, name: string): Promise<ModelInfo> {
  if (training) throw new Error("pause or stop the run before loading other weights");
  const loaded = await loadModel(bytes, name, await backend());
  replaceCurrent({ ...modelInfo(loaded, loaded.size), net: loaded.net, source: name });
  return infoOf(current!);
}

/** The model as the page names it (AlexNet's variant and width; the others' zoo name). */
function modelInfo(c: { model: string; variant: ModelInfo["variant"]; widthScale: number }, size: number): ModelInfo {
  const alex = c.model === "alexnet";
  return { source: "", model: c.model, variant: alex ? c.variant : null, widthScale: alex ? c.widthScale : 1, size };
}
const infoOf = (m: Current): ModelInfo => ({ source: m.source, model: m.model, variant: m.variant, widthScale: m.widthScale, size: m.size });

/** The record `alexnet eval` rebuilds the current model from. */
const savedOf = (m: Current): ReturnType<typeof savedModelOf> =>
  savedModelOf({ model: m.model, variant: m.variant ?? "224", widthScale: m.widthScale }, m.size);

/** The current model as ONNX, named and described as `alexnet export` names a run's model. */
async function toOnnx(m: Current): Promise<{ bytes: Uint8Array; name: string }> {
  const saved = savedOf(m);
  const name = m.model === "alexnet" && m.variant === "28" ? "alexnet-28" : m.model;
  const input = [saved.inChannels, saved.size, saved.size] as const;
  const options = deployOptions({ name, input, resize: saved.resize, classes: saved.classes });
  return { bytes: await exportOnnxAsync(m.net, [1, ...input], options), name };
}

async function handle(r: Request): Promise<{ result: unknown; transfer?: Transferable[] }> {
  switch (r.type) {
    case "device":
      return { result: await chooseDevice(r.request) };
    case "train":
      return { result: await startTraining(r.settings) };
    case "resume":
      return { result: await continueTraining() };
    case "pause":
      pauseRequested = true;
      return { result: null };
    case "stop":
      stopRequested = true;
      if (!training && run) {
        run.optimizer.dispose();
        run = null;
      }
      return { result: null };
    case "evaluate":
      return { result: await evaluate(r.testLimit) };
    case "predictImage":
      return { result: await predict(imageForModel(decodeImage(r.bytes, r.name), needModel().size), r.layer) };
    case "predictPixels":
      return { result: await predict(imageForModel({ width: r.width, height: r.height, gray: r.gray }, needModel().size), r.layer) };
    case "grid": {
      const g = await grid(r.n);
      return { result: g, transfer: [g.pixels.buffer as ArrayBuffer] };
    }
    case "save": {
      const bytes = await saveModel(needModel().net, savedOf(needModel()));
      return { result: { bytes }, transfer: [bytes.buffer as ArrayBuffer] };
    }
    case "exportOnnx": {
      const onnx = await toOnnx(needModel());
      return { result: onnx, transfer: [onnx.bytes.buffer as ArrayBuffer] };
    }
    case "load":
      return { result: await load(r.bytes, r.name) };
  }
}

scope.addEventListener("message", (e) => {
  const { id, ...request } = e.data;
  handle(request as Request).then(
    ({ result, transfer }) => scope.postMessage({ id, ok: true, result } satisfies Reply, transfer ?? []),
    (err: unknown) => scope.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
  );
});

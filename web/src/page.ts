// The page's script: wires the form, buttons, canvas and drop zones to the worker that trains, describes
// the picked network itself (on the shape-only backend: milliseconds, so the Model panel is filled at once),
// draws the tables and charts, and shows every failure as one line at the top. URL parameters preset the
// form (?model=lenet&preset=quick|recipe&variant=28&width=0.125&lr=0.05&epochs=1&batch=8&seed=0&train=40&test=200;
// the picker and presets are modelPicker.ts);
// ?device=auto|gpu|cpu picks the device as the command line's --device does (?backend=reference is
// ?device=cpu), and so does the picker at the top. window.__alexnet exposes the state for the browser tests.
import { TEXT_LABELS } from "../../src/core.js";
import type { MetricPoint } from "../../src/train/trainer.js";
import type { WebTrainSettings } from "../../src/web/model.js";
import { analysisChart, liveTrainingChart, renderChart } from "./charts.js";
import { WorkerClient } from "./client.js";
import { describe } from "./describe.js";
import { showActivations } from "./activationsView.js";
import { setupDrawPad } from "./drawPad.js";
import { applyPreset, fillModelPicker, modelChoice, modelLabel, pickModel, presetForm, showModelControls } from "./modelPicker.js";
import type { Description, DeviceInfo, DeviceRequest, GridResult, ModelInfo, Prediction, TrainOutcome, WorkerEvent } from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const int = (n: number): string => n.toLocaleString("en-US");
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);
const clock = (s: number): string => `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(Math.round(s % 60)).padStart(2, "0")}`;

function showMessage(text: string | null): void {
  const el = $("message");
  el.hidden = text === null;
  el.textContent = text ? text.split("\n")[0]! : "";
}
const fail = (e: unknown): void => showMessage(e instanceof Error ? e.message : String(e));

const trainer = new WorkerClient("worker.js");

/** What the tests read: the latest results, and how many of each have arrived. */
const hook = {
  state: "starting" as "starting" | "idle" | "running" | "paused" | "done" | "stopped",
  describes: 0,
  description: null as Description | null,
  outcome: null as TrainOutcome | null,
  points: [] as MetricPoint[],
  prediction: null as Prediction | null,
  predictions: 0,
  evaluation: null as { accuracy: number; count: number; model: ModelInfo } | null,
  evaluations: 0,
  grid: null as { labels: number[]; predicted: number[] } | null,
  model: null as ModelInfo | null,
  device: "",
  /** The device as the worker chose it (request, gpu or cpu, note, the adapter offered). */
  deviceInfo: null as DeviceInfo | null,
};
(globalThis as { __alexnet?: typeof hook }).__alexnet = hook;

// ---- Model: shape table, analysis, answers, bars ----

/** PyTorch's repr of a layer, short enough for a table cell (the full repr is the cell's tooltip). */
function shortRepr(repr: string): string {
  return repr
    .replace(/kernel_size=\((\d+), \1\)/, "k=$1").replace(/kernel_size=(\d+)/, "k=$1")
    .replace(/stride=\((\d+), \1\)/, "s=$1").replace(/stride=(\d+)/, "s=$1")
    .replace(/padding=\((\d+), \1\)/, "p=$1").replace(/padding=(\d+)/, "p=$1")
    .replace(/, dilation=1, ceil_mode=False/, "").replace(/, inplace=False/, "")
    .replace(/in_features=(\d+), out_features=(\d+), bias=True/, "$1, $2")
    .replace(/start_dim=1, end_dim=-1/, "");
}

function showDescription(d: Description): void {
  $("shape-table").textContent = d.shapeLines.join("\n");
  $("answers").replaceChildren(...[`Most parameters: ${d.mostParams}.`, `Most compute: ${d.mostCompute}.`].map((t) => {
    const li = document.createElement("li");
    li.textContent = t;
    return li;
  }));
  const table = $<HTMLTableElement>("analysis-table");
  const head = ["#", "name", "layer", "output shape", "params", "weight MiB", `out MiB @${d.batchSize}`, `saved MiB @${d.batchSize}`, "MACs/example"];
  const row = (cells: string[], tag: "td" | "th", cls = "", title = ""): HTMLTableRowElement => {
    const tr = document.createElement("tr");
    if (cls) tr.className = cls;
    cells.forEach((c, j) => {
      const cell = document.createElement(tag);
      cell.textContent = c;
      if ((j === 1 || j === 2) && title) cell.title = title;
      tr.appendChild(cell);
    });
    return tr;
  };
  const mostParams = d.layers.reduce((a, b) => (b.params > a.params ? b : a));
  const mostMacs = d.layers.reduce((a, b) => (b.macs > a.macs ? b : a));
  table.replaceChildren(
    row(head, "th"),
    ...d.layers.map((l) => row([String(l.index), l.name, shortRepr(l.layer), `[${l.outputShape.join(", ")}]`, int(l.params), mib(l.paramBytes), mib(l.outputBytes), mib(l.activationBytes), int(l.macs)], "td",
      l === mostParams || l === mostMacs ? "most" : "", l.layer)),
    row(["", "", "total", "", int(d.totals.params), mib(d.totals.paramBytes), mib(d.totals.outputBytes), mib(d.totals.activationBytes), int(d.totals.macs)], "th"),
  );
  renderChart(analysisChart(d.layers), $("analysis-chart"));
}

function describeModel(): void {
  const batchSize = Math.max(1, Math.floor(Number($<HTMLInputElement>("analysis-batch").value) || 128));
  try {
    const choice = modelChoice();
    const d = describe({ ...choice, batchSize });
    showDescription(d);
    const label = modelLabel(choice);
    const widths = choice.model === "alexnet" && choice.widthScale === 1 ? " (d2l's widths)" : "";
    $("model-status").textContent = `${label}${widths}: ${int(d.totals.params)} parameters, ${int(d.totals.macs)} MACs per example at input [${d.analysisInput.slice(1).join(", ")}]`;
    $("shape-input").textContent = `[${d.shapeInput.join(", ")}]`;
    hook.description = d;
    hook.describes++;
  } catch (e) {
    fail(e);
  }
}

// ---- Train ----

let epochs = 1;
function settings(): WebTrainSettings {
  const num = (id: string): number => Number($<HTMLInputElement>(id).value);
  const limit = (id: string): number | null => ($<HTMLInputElement>(id).value.trim() === "" ? null : num(id));
  return { ...modelChoice(), lr: num("lr"), epochs: num("epochs"), batchSize: num("batch-size"), seed: num("seed"), trainLimit: limit("train-limit"), testLimit: limit("test-limit") };
}

function setState(state: typeof hook.state): void {
  hook.state = state;
  document.body.dataset.state = state;
  const running = state === "running";
  $<HTMLButtonElement>("start").disabled = running;
  $<HTMLButtonElement>("pause").disabled = !(running || state === "paused");
  $<HTMLButtonElement>("pause").textContent = state === "paused" ? "Resume" : "Pause";
  $<HTMLButtonElement>("stop").disabled = !(running || state === "paused");
  $<HTMLButtonElement>("save").disabled = hook.model === null || running;
}

function drawCurves(): void {
  renderChart(liveTrainingChart(hook.points, epochs), $("curves"));
}

function onWorkerEvent(e: WorkerEvent): void {
  if (e.event === "point") {
    hook.points.push(e.point);
    drawCurves();
    return;
  }
  const bar = $<HTMLProgressElement>("progress");
  if (e.phase === "train") {
    bar.max = e.total;
    bar.value = e.done;
    $("speed").textContent = `${e.examplesPerSec.toFixed(1)} examples/s${e.etaSeconds === null ? "" : `, ETA ${clock(e.etaSeconds)}`} on ${hook.device}`;
  }
  $("progress-text").textContent = e.text;
}
trainer.onEvent = onWorkerEvent;

function showModel(m: ModelInfo | null): void {
  hook.model = m;
  $("model-source").textContent = m ? `model: ${m.source} (${modelLabel(m)})` : "model: none yet";
}

async function runTraining(start: boolean): Promise<void> {
  showMessage(null);
  if (start) {
    epochs = settings().epochs;
    hook.points = [];
    $("final").textContent = "";
    drawCurves();
  }
  setState("running");
  try {
    const outcome = start ? await trainer.call({ type: "train", settings: settings() }) : await trainer.call({ type: "resume" });
    hook.outcome = outcome;
    hook.points = outcome.points;
    drawCurves();
    showModel(outcome.model);
    if (outcome.end === "done") $("final").textContent = outcome.lines.join("\n");
    $("progress-text").textContent = outcome.end === "done" ? "done" : outcome.end;
    setState(outcome.end);
  } catch (e) {
    fail(e);
    setState(hook.model ? "stopped" : "idle");
  }
}

$("start").addEventListener("click", () => void runTraining(true));
$("pause").addEventListener("click", () => {
  if (hook.state === "paused") void runTraining(false);
  else trainer.call({ type: "pause" }).catch(fail);
});
$("stop").addEventListener("click", () => {
  trainer.call({ type: "stop" }).catch(fail);
  if (hook.state === "paused") setState("stopped");
});

// ---- Predict ----

/** The layer whose feature maps a prediction shows (as `alexnet activations --layer`), or none. */
const activationLayer = (): string | undefined => $<HTMLInputElement>("activation-layer").value.trim() || undefined;

function showPrediction(p: Prediction): void {
  $("top3").replaceChildren(...p.top.map((t) => {
    const li = document.createElement("li");
    li.textContent = `${t.label} ${(t.probability * 100).toFixed(1)}%`;
    return li;
  }));
  showActivations(p, $<HTMLCanvasElement>("activations"), $("activations-note"));
  hook.prediction = p;
  hook.predictions++;
}

async function predictFile(file: File): Promise<void> {
  showMessage(null);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    showPrediction(await trainer.call({ type: "predictImage", bytes, name: file.name, layer: activationLayer() }, [bytes.buffer]));
  } catch (e) {
    fail(e);
  }
}

const pad = setupDrawPad($<HTMLCanvasElement>("pad"), (gray, width, height) => {
  if (!hook.model) return;
  trainer.call({ type: "predictPixels", gray, width, height, layer: activationLayer() }, [gray.buffer]).then(showPrediction, fail);
});
$("clear").addEventListener("click", () => pad.clear());
$("predict-drawing").addEventListener("click", () => {
  if (!hook.model) return showMessage("no model yet: train one or load a model.safetensors");
  pad.submit();
});

function showGrid(g: GridResult): void {
  const figures = g.labels.map((label, i) => {
    const fig = document.createElement("figure");
    const wrong = g.predicted[i] !== label;
    if (wrong) fig.className = "wrong";
    const canvas = document.createElement("canvas");
    canvas.width = g.cols;
    canvas.height = g.rows;
    const ctx = canvas.getContext("2d")!;
    const img = ctx.createImageData(g.cols, g.rows);
    const n = g.rows * g.cols;
    for (let k = 0; k < n; k++) {
      const v = g.pixels[i * n + k]!;
      img.data.set([v, v, v, 255], k * 4);
    }
    ctx.putImageData(img, 0, 0);
    const caption = document.createElement("figcaption");
    const truth = document.createElement("div");
    truth.textContent = TEXT_LABELS[label] ?? String(label);
    const predicted = document.createElement("div");
    predicted.className = "predicted";
    predicted.textContent = `${wrong ? "✗ " : ""}${TEXT_LABELS[g.predicted[i]!] ?? g.predicted[i]}`;
    caption.append(truth, predicted);
    fig.append(canvas, caption);
    return fig;
  });
  $("grid").replaceChildren(...figures);
  hook.grid = { labels: g.labels, predicted: g.predicted };
}

$("show-grid").addEventListener("click", () => {
  showMessage(null);
  trainer.call({ type: "grid", n: 18 }).then(showGrid, fail);
});

// ---- Weights in and out ----

async function loadWeights(file: File): Promise<void> {
  showMessage(null);
  if (hook.state === "running") return showMessage("pause or stop the run before loading other weights");
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const info = await trainer.call({ type: "load", bytes, name: file.name }, [bytes.buffer]);
    showModel(info);
    // The Model panel shows the network the file holds (rebuilt from the model it records).
    pickModel(info);
    describeModel();
    setState(hook.state === "starting" ? "idle" : hook.state === "paused" ? "stopped" : hook.state);
    $("eval-result").textContent = `${file.name}: evaluating on the test set...`;
    const limit = settings().testLimit;
    const r = await trainer.call({ type: "evaluate", testLimit: limit });
    $("eval-result").textContent = `${file.name} (${r.model.model === "alexnet" ? `variant ${r.model.variant}` : modelLabel(r.model)}): test acc ${r.accuracy.toFixed(3)} on ${r.count} test examples`;
    hook.evaluation = r;
    hook.evaluations++;
  } catch (e) {
    $("eval-result").textContent = "";
    fail(e);
  }
}

$("save").addEventListener("click", () => {
  showMessage(null);
  trainer.call({ type: "save" }).then(({ bytes }) => {
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "model.safetensors";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }, fail);
});

// "Download ONNX" beside "Save model.safetensors": the model as ONNX (src/export/deploy.ts), exported by the
// worker that holds it; enabled whenever saving is.
const saveButton = $<HTMLButtonElement>("save");
const onnxButton = Object.assign(document.createElement("button"), { type: "button", id: "save-onnx", textContent: "Download ONNX" });
saveButton.after(onnxButton);
onnxButton.disabled = saveButton.disabled;
new MutationObserver(() => (onnxButton.disabled = saveButton.disabled)).observe(saveButton, { attributes: true, attributeFilter: ["disabled"] });
onnxButton.addEventListener("click", () => {
  showMessage(null);
  trainer.call({ type: "exportOnnx" }).then((onnx) => {
    const url = URL.createObjectURL(new Blob([onnx.bytes as BlobPart], { type: "application/octet-stream" }));
    const a = Object.assign(document.createElement("a"), { href: url, download: `${onnx.name}.onnx` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }).catch(fail);
});

/** A drop zone and its file input call `use` with the chosen file. */
function fileTarget(zoneId: string, inputId: string, use: (f: File) => Promise<void>): void {
  const zone = $(zoneId);
  const input = $<HTMLInputElement>(inputId);
  input.addEventListener("change", () => {
    const f = input.files?.[0];
    if (f) void use(f).finally(() => (input.value = ""));
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const f = e.dataTransfer?.files[0];
    if (f) void use(f);
  });
}
fileTarget("image-drop", "image-file", predictFile);
fileTarget("weights-drop", "weights-file", loadWeights);

// ---- Start ----

/** The device the URL asks for: ?device=auto|gpu|cpu, or ?backend=reference (the CPU). */
function requestedDevice(): DeviceRequest {
  const d = params.get("device");
  if (d === "gpu" || d === "cpu" || d === "auto") return d;
  return params.get("backend") === "reference" ? "cpu" : "auto";
}

function showDevice(d: DeviceInfo): void {
  hook.device = d.device;
  hook.deviceInfo = d;
  $("device").textContent = `device: ${d.device}`;
  $("note").hidden = d.note === null;
  $("note").textContent = d.note ?? "";
  const picker = $<HTMLSelectElement>("device-choice");
  picker.value = d.request;
  const gpuOption = picker.querySelector<HTMLOptionElement>('option[value="gpu"]')!;
  gpuOption.disabled = "error" in d.gpu;
  gpuOption.textContent = "error" in d.gpu ? "GPU (none here)" : `GPU${d.gpu.software ? " (a CPU emulation here)" : ""}`;
}

async function chooseDevice(request: DeviceRequest): Promise<DeviceInfo | null> {
  try {
    const d = await trainer.call({ type: "device", request });
    showDevice(d);
    const url = new URL(location.href);
    url.searchParams.delete("backend");
    if (request === "auto") url.searchParams.delete("device");
    else url.searchParams.set("device", request);
    history.replaceState(null, "", url);
    return d;
  } catch (e) {
    fail(e);
    if (hook.deviceInfo) $<HTMLSelectElement>("device-choice").value = hook.deviceInfo.request;
    return null;
  }
}

async function start(): Promise<void> {
  window.addEventListener("error", (e) => showMessage(`error: ${e.message}`));
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  // A choice made before the device is known is the user's, and the CPU preset below leaves it alone.
  let formTouched = false;
  const touched = (): void => void (formTouched = true);
  for (const id of ["lr", "epochs", "batch-size", "seed", "train-limit", "test-limit"]) $(id).addEventListener("change", touched);
  for (const id of ["variant", "width", "analysis-batch"]) {
    $(id).addEventListener("change", () => {
      touched();
      describeModel();
    });
  }
  // Another model, or another preset, fills the training fields from that model's preset.
  $("model").addEventListener("change", () => {
    touched();
    showModelControls();
    applyPreset();
    describeModel();
  });
  $("preset").addEventListener("change", () => {
    touched();
    applyPreset();
  });
  $("device-choice").addEventListener("change", () => {
    showMessage(null);
    void chooseDevice($<HTMLSelectElement>("device-choice").value as DeviceRequest);
  });
  // The Model panel and the empty chart at once; on the CPU (known once the worker has looked at the
  // GPU) the form offers BN-LeNet's quick run (and AlexNet narrow) and describes it instead.
  fillModelPicker();
  showMessage(presetForm(false, params));
  describeModel();
  drawCurves();
  const d = await chooseDevice(requestedDevice());
  if (d?.chosen === "cpu" && !formTouched) {
    const before = JSON.stringify(modelChoice());
    presetForm(true, params);
    if (JSON.stringify(modelChoice()) !== before) describeModel();
  }
  setState("idle");
}

void start();
// The messages between the page and its worker: requests with an id, answered once (result or a one-line
// error), and events the worker sends while it trains. One file so both sides agree on the shapes.
import type { AlexNetVariant } from "../../src/models/alexnet.js";
import type { MetricPoint } from "../../src/train/trainer.js";
import type { WebTrainSettings } from "../../src/web/model.js";

export interface LayerRow {
  index: number;
  /** Short name as papers use it: conv1, pool1, fc1. */
  name: string;
  layer: string;
  outputShape: number[];
  params: number;
  /** fp32 bytes of the layer's weights. */
  paramBytes: number;
  /** The layer's output at the described batch size, as the unfused network allocates it. */
  outputBytes: number;
  /** Bytes kept for the backward pass at the described batch size. */
  activationBytes: number;
  /** Multiply-accumulates per example. */
  macs: number;
}

export interface Description {
  shapeLines: string[];
  /** The input of the shape table, [1, C, H, W] (the one `alexnet summary` uses). */
  shapeInput: number[];
  /** The input of the analysis, [B, C, H, W] (the one the model trains on). */
  analysisInput: number[];
  layers: LayerRow[];
  batchSize: number;
  totals: { params: number; paramBytes: number; outputBytes: number; activationBytes: number; macs: number };
  mostParams: string;
  mostCompute: string;
}

export type DeviceRequest = "auto" | "cpu" | "gpu";

/** The worker's device, as the page shows it: the line, the note, and what the picker offers. */
export interface DeviceInfo {
  request: DeviceRequest;
  /** "gpu" or "cpu": which one the page trains on. */
  chosen: "gpu" | "cpu";
  device: string;
  note: string | null;
  /** The browser's GPU adapter (and whether it is a CPU emulation), or why there is none. */
  gpu: { description: string; software: boolean } | { error: string };
}

export interface Prediction {
  top: { label: string; probability: number }[];
  /** The feature maps of the layer asked for (`alexnet activations` as a picture), or why there are none. */
  activations?: { layer: string; width: number; height: number; channels: 1 | 3; data: Uint8Array } | { error: string };
}

export interface GridResult {
  rows: number;
  cols: number;
  pixels: Uint8Array;
  labels: number[];
  predicted: number[];
}

export interface ModelInfo {
  /** What the current model is: "trained here (...)" or the loaded file's name. */
  source: string;
  /** The zoo's name of the network (src/models/registry.ts). */
  model: string;
  /** AlexNet's variant (null for the other models, which have one). */
  variant: AlexNetVariant | null;
  /** AlexNet's width multiplier (1 for the other models). */
  widthScale: number;
  /** The side of the images it takes (28, or the resize it was trained at). */
  size: number;
}

export interface TrainOutcome {
  /** "done": all epochs; "paused": can resume; "stopped": ended early, the model stays usable. */
  end: "done" | "paused" | "stopped";
  points: MetricPoint[];
  /** d2l's two final lines (only when done). */
  lines: string[];
  model: ModelInfo;
}

export type Request =
  | { type: "device"; request: DeviceRequest }
  | { type: "train"; settings: WebTrainSettings }
  | { type: "resume" }
  | { type: "pause" }
  | { type: "stop" }
  | { type: "evaluate"; testLimit: number | null }
  | { type: "predictImage"; bytes: Uint8Array; name: string; layer?: string }
  | { type: "predictPixels"; gray: Uint8Array; width: number; height: number; layer?: string }
  | { type: "grid"; n: number }
  | { type: "save" }
  | { type: "exportOnnx" }
  | { type: "load"; bytes: Uint8Array; name: string };

export interface Results {
  device: DeviceInfo;
  train: TrainOutcome;
  resume: TrainOutcome;
  pause: null;
  stop: null;
  evaluate: { accuracy: number; count: number; model: ModelInfo };
  predictImage: Prediction;
  predictPixels: Prediction;
  grid: GridResult;
  save: { bytes: Uint8Array };
  exportOnnx: { bytes: Uint8Array; name: string };
  load: ModelInfo;
}

export type Envelope = { id: number } & Request;

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type WorkerEvent =
  | { event: "point"; point: MetricPoint }
  | { event: "progress"; phase: "train" | "eval" | "data"; done: number; total: number; examplesPerSec: number; etaSeconds: number | null; text: string };

// The browser-safe core (`alexnet-ts/core`): tensors, autograd, nn, optim, the Backend contract and the
// reference backend, the models, the analysis, the training loop, and the pure parts of data (IDX parsing,
// PIL-exact resize, image decoding, safetensors on bytes). Imports nothing from Node: the lint rule in
// eslint.config.js and test/core.bundle.test.ts enforce it.
export * from "./tensor/index.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * from "./backend/backend.js";
export {
  getBackend, setBackend, registerBackend, listBackends, hasBackend, createBackend, registerBackendFactory, listBackendFactories,
  type BackendFactory, type BackendOptions,
} from "./backend/registry.js";
export * from "./backend/shapes.js";
export { applyPrecision, precisionSupportOf, PrecisionError } from "./backend/precision.js";
export { ReferenceBackend } from "./backend/reference/index.js";
export {
  WebGpuBackend, GpuError, createWebGpuBackend, navigatorGpu, webGpuFactory, type WebGpuOptions,
} from "./backend/webgpu/index.js";
export { resolveDevice, DeviceError, DEVICE_REQUESTS, type DeviceRequest, type DeviceOffer, type DeviceChoice } from "./backend/device.js";
export { alexNet, alexNetInputShape, initWeights, ALEXNET_VARIANTS, type AlexNetVariant, type AlexNetOptions } from "./models/alexnet.js";
export { shapeTable } from "./models/summary.js";
export { analyzeNetwork, answers, type LayerStats, type NetworkStats, type Answers } from "./analysis/analyze.js";
export { DataError, parseIdx, parseIdxImages, parseIdxLabels, encodeIdx, type IdxArray, type IdxImages } from "./data/idx.js";
export { Resizer, resizeBilinear, bilinearPlan, toTensor, resizedSize } from "./data/resize.js";
export { decodeImage, decodePng, decodeJpeg, sniffFormat, imageForModel, ImageError, type GrayImage } from "./data/decode/index.js";
export { BatchAssembler, type Batch, type ImageDataset } from "./data/batch.js";
export { Xoshiro128, shuffledOrder } from "./data/prng.js";
export { TEXT_LABELS } from "./data/labels.js";
export { encodeSafetensors, decodeSafetensors, type NamedTensor, type DecodedSafetensors } from "./checkpoint/safetensors.js";
export {
  trainCh6, evaluateAccuracy, initialTrainState, finalLines, argmaxRows, DivergedError, TRAINING_OPS,
  type TrainState, type TrainOptions, type TrainResult, type TrainerHooks, type MetricPoint, type StepInfo, type BatchSource,
} from "./train/trainer.js";
export { setYield, type Yield } from "./train/platform.js";
export { checkOps } from "./nn/module.js";

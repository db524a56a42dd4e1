// The browser-safe core: tensors, autograd, nn, optim, backends and the models. Imports nothing from Node.
export * from "./tensor/index.js";
export * as nn from "./nn/index.js";
export * as optim from "./optim/index.js";
export * from "./backend/backend.js";
export { getBackend, setBackend, registerBackend, listBackends, hasBackend } from "./backend/registry.js";
export { ReferenceBackend } from "./backend/reference/index.js";
export { alexNet, alexNetInputShape, initWeights, ALEXNET_VARIANTS, type AlexNetVariant, type AlexNetOptions } from "./models/alexnet.js";
export { shapeTable } from "./models/summary.js";

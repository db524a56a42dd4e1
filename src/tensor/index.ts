// The tensor layer: Tensor, creation, autograd, scopes, random numbers, ops and functional layer ops.
export { Tensor, tensor, fromStorage, type NestedArray, type TensorOptions } from "./tensor.js";
export { zeros, ones, full, rand, randn, type RandomOptions } from "./creation.js";
export { noGrad, isGradEnabled, type GradNode } from "./autograd.js";
export { tidy, keep } from "./scope.js";
export { Rng, defaultRng, manualSeed } from "./random.js";
export * from "./ops.js";
export * as functional from "./functional.js";
export { ShapeError } from "./functional.js";

// The nn namespace: layers, containers and initialisation, as torch.nn.
export { Module, Parameter } from "./module.js";
export { Sequential, LayerError } from "./sequential.js";
export { Conv2d, type Conv2dConfig } from "./conv.js";
export { MaxPool2d, type MaxPool2dConfig } from "./pool.js";
export { Linear } from "./linear.js";
export { ReLU } from "./activation.js";
export { Dropout } from "./dropout.js";
export { Flatten } from "./flatten.js";
export * as init from "./init.js";

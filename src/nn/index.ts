// The nn namespace: layers, containers and initialisation, as torch.nn.
export { Module, Parameter, LayerError } from "./module.js";
export { Sequential, ModuleList } from "./sequential.js";
export { Conv2d, type Conv2dConfig } from "./conv.js";
export { MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dConfig, type AvgPool2dConfig } from "./pool.js";
export { Linear } from "./linear.js";
export { ReLU, Sigmoid, Tanh, Identity } from "./activation.js";
export { BatchNorm1d, BatchNorm2d, type BatchNormConfig } from "./batchnorm.js";
export { Dropout } from "./dropout.js";
export { Flatten } from "./flatten.js";
export * as init from "./init.js";

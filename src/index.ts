// The package entry for Node.js: the core, plus the native backend registered when its addon loads.
export * from "./core.js";

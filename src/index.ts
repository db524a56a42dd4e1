// The package entry for Node.js: the core, plus the native backend, registered (and its factory, for
// createBackend) and made the default when its addon loads (`nativeBackendError` says why when it does
// not), and the webgpu factory (Dawn's package is loaded only when a GPU is asked for).
import { registerBackend, registerBackendFactory, setBackend } from "./backend/registry.js";
import { createNativeBackend, loadNativeBackend } from "./backend/native/load.js";
import { setYield } from "./train/platform.js";
import { nodeWebGpuFactory } from "./backend/webgpu/node.js";

export * from "./core.js";

registerBackendFactory("native", createNativeBackend);
// Dawn's `webgpu` package loads only when createBackend("webgpu") is called.
registerBackendFactory("webgpu", nodeWebGpuFactory());
setYield(() => new Promise((resolve) => setImmediate(resolve)));
const native = loadNativeBackend();
if ("backend" in native) {
  registerBackend(native.backend);
  setBackend(native.backend);
}

/** Why the native backend is not in use, or null when it is the default. */
export const nativeBackendError: string | null = "error" in native ? native.error : null;

// d2l's data side for TypeScript users: load_data_fashion_mnist and the DataLoader it returns.
export { loadDataFashionMnist, type LoadDataOptions } from "./data/d2l.js";
export { DataLoader, type DataLoaderOptions } from "./data/loader.js";
export { loadFashionMnist } from "./data/fashionMnist.js";

// ONNX export (browser-safe, also `alexnet-ts/onnx`; kept out of `alexnet-ts/core`, whose bundle it would
// grow by protobufjs' ~96 KiB).
export { exportOnnx, exportOnnxAsync, planOnnx, OnnxExportError, type OnnxExportOptions } from "./export/onnx.js";

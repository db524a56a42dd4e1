// ONNX export, as torch.onnx.export does it: the forward pass is traced on the shape-only backend
// (trace.ts), each traced backend op is mapped to standard ONNX operators by one table (`lower` below), the
// initializers are the parameters and buffers the graph uses, named by the state_dict (`features.0.weight`),
// and the file is encoded by protobufjs' encoders generated from ONNX's own onnx.proto (onnx.pb.ts). The
// graph has one input `x` (NCHW float32, dynamic batch by default) and one output `logits`; metadata_props
// carry the model name, the class labels and the preprocessing. An op without a mapping throws an
// OnnxExportError naming the layer and the op while tracing, before any value is read or byte written.
// Browser-safe: the same weights give the same bytes in Node and in a browser.
import type { BatchNormParams, BinaryOp, Conv2dParams, Epilogue, Pool2dParams, Storage, UnaryOp } from "../backend/backend.js";
import type { Module } from "../nn/module.js";
import type { Tensor } from "../tensor/tensor.js";
import { onnx } from "./onnx.pb.js";
import { type TraceGraph, type TraceNode, traceModule } from "./trace.js";

/** The opset written unless another is asked for (ONNX 1.12, what torch.onnx.export writes by default). */
export const DEFAULT_OPSET = 17;
/** Opsets this writer can target (ONNX Runtime 1.31 reads all of them). */
export const SUPPORTED_OPSETS: readonly number[] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22];

export interface OnnxExportOptions {
  /** ai.onnx opset (default 17). */
  opset?: number;
  /** "dynamic" (default): the input's and output's first dimension is the symbol `batch`; a number fixes it. */
  batch?: "dynamic" | number;
  /** The graph's name and the `model` metadata entry (e.g. the zoo name "alexnet"). */
  modelName?: string;
  /** Class names by index: the `labels` metadata entry (a JSON array). */
  labels?: readonly string[];
  /** How to prepare an image for `x`: the `preprocessing` metadata entry (JSON). */
  preprocessing?: Readonly<Record<string, unknown>>;
  /** Further metadata_props entries. */
  metadata?: Readonly<Record<string, string>>;
  /** producer_version (the package version; the core cannot read package.json). */
  producerVersion?: string;
  docString?: string;
}

/** The model cannot be written as ONNX (an op without a mapping, a shape that cannot be dynamic). */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxExportError";
  }
}

// ---- the graph in ONNX terms, before any value is read -------------------------------------------------

type Attribute =
  | { name: string; kind: "int"; value: number }
  | { name: string; kind: "float"; value: number }
  | { name: string; kind: "ints"; value: readonly number[] }
  | { name: string; kind: "string"; value: string };

export interface OnnxNodeSpec {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
}

type InitializerSource = { tensor: Tensor } | { float32: Float32Array } | { int64: readonly number[] };

export interface OnnxInitializerSpec {
  name: string;
  dims: number[];
  source: InitializerSource;
}

export interface OnnxValueSpec {
  name: string;
  /** A number, or a symbol ("batch") for a dynamic dimension. */
  dims: (number | string)[];
}

/** Everything the file will hold except the values of the initializers. */
export interface OnnxPlan {
  opset: number;
  irVersion: number;
  graphName: string;
  nodes: OnnxNodeSpec[];
  initializers: OnnxInitializerSpec[];
  input: OnnxValueSpec;
  output: OnnxValueSpec;
  metadata: [string, string][];
  producerVersion: string;
  docString: string;
}

/** The IR version that goes with an opset (ONNX's versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

const BINARY: Record<BinaryOp, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div" };
const UNARY: Record<UnaryOp, string> = { neg: "Neg", exp: "Exp", log: "Log", sqrt: "Sqrt" };

/** What each unmapped backend op is, for the error message. */
const UNMAPPED: Record<string, string> = {
  dropout: "dropout in training mode (random; export runs the model in eval mode, where dropout is the identity)",
  crossEntropy: "a cross-entropy loss (export the network without its loss)",
  correctCount: "an accuracy count",
  sgdUpdate: "an SGD update",
  split: "split",
};

/** The layer as errors name it: `layer 3 AdaptiveAvgPool2d(output_size=(3, 3))`. */
function layerName(node: TraceNode): string {
  const what = node.layer.toString().split("\n")[0]!.replace(/\($/, "");
  return node.path ? `layer ${node.path} ${what}` : `the model's own forward (${what})`;
}

class Lowering {
  readonly nodes: OnnxNodeSpec[] = [];
  readonly initializers = new Map<string, OnnxInitializerSpec>();
  private readonly names = new Map<Storage, string>();
  private readonly nodeNames = new Set<string>();
  private readonly batchDependent = new Set<Storage>();
  private constantCount = 0;

  constructor(readonly graph: TraceGraph, readonly opset: number, readonly dynamic: boolean) {
    this.names.set(graph.input, "x");
    this.batchDependent.add(graph.input);
  }

  /** A value's name; parameters, buffers and constants become initializers when first used. */
  value(s: Storage): string {
    const known = this.names.get(s);
    if (known !== undefined) return known;
    const state = this.graph.state.get(s);
    if (state) {
      this.names.set(s, state.name);
      this.initializers.set(state.name, { name: state.name, dims: [...s.shape], source: { tensor: state.tensor } });
      return state.name;
    }
    const constant = this.graph.constants.get(s);
    if (constant) {
      const name = `onnx::const_${this.constantCount++}`;
      this.names.set(s, name);
      this.initializers.set(name, { name, dims: [...constant.shape], source: { float32: constant.data } });
      return name;
    }
    throw new OnnxExportError("cannot export to ONNX: the forward used a tensor that was neither its input, a parameter, a buffer nor made inside it");
  }

  private int64Constant(name: string, values: readonly number[]): string {
    this.initializers.set(name, { name, dims: [values.length], source: { int64: [...values] } });
    return name;
  }

  private floatConstant(name: string, value: number): string {
    this.initializers.set(name, { name, dims: [], source: { float32: Float32Array.of(value) } });
    return name;
  }

  private nodeName(path: string, opType: string): string {
    const base = `/${path}${path ? "/" : ""}${opType}`;
    let name = base;
    for (let i = 1; this.nodeNames.has(name); i++) name = `${base}_${i}`;
    this.nodeNames.add(name);
    return name;
  }

  /** Adds a node; its output is `out` (a traced value, named here, or a fresh intermediate when null). */
  private emit(path: string, opType: string, inputs: string[], out: Storage | null, attributes: Attribute[] = []): string {
    return this.emitNamed(this.nodeName(path, opType), opType, inputs, out, attributes);
  }

  private emitNamed(name: string, opType: string, inputs: string[], out: Storage | null, attributes: Attribute[] = []): string {
    let output = `${name}_output_0`;
    if (out) {
      if (out === this.graph.output) output = "logits";
      this.names.set(out, output);
    }
    this.nodes.push({ opType, name, inputs, outputs: [output], attributes });
    return output;
  }

  /** A layer op whose epilogue may add a ReLU: the op's output is an intermediate, the ReLU's is `y`. */
  private withRelu(node: TraceNode, epilogue: Epilogue | undefined, opType: string, inputs: string[], y: Storage, attributes: Attribute[]): void {
    if (!epilogue?.relu) {
      this.emit(node.path, opType, inputs, y, attributes);
      return;
    }
    const z = this.emit(node.path, opType, inputs, null, attributes);
    this.emit(node.reluPath ?? node.path, "Relu", [z], y);
  }

  private unmapped(node: TraceNode, what: string): never {
    throw new OnnxExportError(`cannot export to ONNX: ${layerName(node)} runs ${what}, which has no ONNX mapping`);
  }

  lower(node: TraceNode): void {
    const a = node.args;
    const y = node.outputs[0]!;
    const inputs = a.flatMap((v) => (Array.isArray(v) ? v : [v])).filter((v): v is Storage => this.isValue(v));
    if (inputs.some((s) => this.batchDependent.has(s))) for (const o of node.outputs) this.batchDependent.add(o);
    switch (node.op) {
      case "conv2d": {
        const [x, w, b, p, e] = a as [Storage, Storage, Storage | null, Conv2dParams, Epilogue | undefined];
        const ins = [this.value(x), this.value(w), ...(b ? [this.value(b)] : [])];
        this.withRelu(node, e, "Conv", ins, y, [
          { name: "dilations", kind: "ints", value: [1, 1] },
          { name: "group", kind: "int", value: 1 },
          { name: "kernel_shape", kind: "ints", value: w.shape.slice(2) },
          { name: "pads", kind: "ints", value: [p.padding[0], p.padding[1], p.padding[0], p.padding[1]] },
          { name: "strides", kind: "ints", value: [...p.stride] },
        ]);
        return;
      }
      case "linear": {
        const [x, w, b, e] = a as [Storage, Storage, Storage | null, Epilogue | undefined];
        const ins = [this.value(x), this.value(w), ...(b ? [this.value(b)] : [])];
        this.withRelu(node, e, "Gemm", ins, y, [
          { name: "alpha", kind: "float", value: 1 },
          { name: "beta", kind: "float", value: 1 },
          { name: "transB", kind: "int", value: 1 },
        ]);
        return;
      }
      case "batchNorm": {
        const [x, w, b, rm, rv, p, e] = a as [Storage, Storage, Storage, Storage, Storage, BatchNormParams, Epilogue | undefined];
        if (p.training) this.unmapped(node, "batch normalization with batch statistics (training mode)");
        this.withRelu(node, e, "BatchNormalization", [x, w, b, rm, rv].map((s) => this.value(s)), y, [
          { name: "epsilon", kind: "float", value: p.eps },
          // ONNX's momentum weighs the running value, PyTorch's the batch value (unused in inference).
          { name: "momentum", kind: "float", value: 1 - p.momentum },
        ]);
        return;
      }
      case "maxPool2d": {
        const [x, p] = a as [Storage, Pool2dParams];
        this.emit(node.path, "MaxPool", [this.value(x)], y, [{ name: "ceil_mode", kind: "int", value: 0 }, ...poolAttributes(p)]);
        return;
      }
      case "avgPool2d": {
        const [x, p] = a as [Storage, Pool2dParams];
        const whole = p.padding[0] === 0 && p.padding[1] === 0 && p.kernel[0] === x.shape[2] && p.kernel[1] === x.shape[3];
        if (whole) this.emit(node.path, "GlobalAveragePool", [this.value(x)], y);
        else {
          this.emit(node.path, "AveragePool", [this.value(x)], y, [
            { name: "ceil_mode", kind: "int", value: 0 },
            { name: "count_include_pad", kind: "int", value: 1 },
            ...poolAttributes(p),
          ]);
        }
        return;
      }
      case "adaptiveAvgPool2d": {
        const [x, out] = a as [Storage, readonly [number, number]];
        const [h, w] = [x.shape[2]!, x.shape[3]!];
        if (out[0] === 1 && out[1] === 1) this.emit(node.path, "GlobalAveragePool", [this.value(x)], y);
        else if (h % out[0] === 0 && w % out[1] === 0) {
          const k = [h / out[0], w / out[1]];
          this.emit(node.path, "AveragePool", [this.value(x)], y, [
            { name: "ceil_mode", kind: "int", value: 0 },
            { name: "count_include_pad", kind: "int", value: 1 },
            ...poolAttributes({ kernel: [k[0]!, k[1]!], stride: [k[0]!, k[1]!], padding: [0, 0] }),
          ]);
        } else this.unmapped(node, `adaptiveAvgPool2d with bins of unequal size (${h}x${w} -> ${out[0]}x${out[1]})`);
        return;
      }
      case "relu":
      case "sigmoid":
      case "tanh": {
        const opType = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh" }[node.op];
        this.emit(node.path, opType, [this.value(a[0] as Storage)], y);
        return;
      }
      case "copy":
        // Eval-mode dropout is a copy (and so is detach): the identity.
        this.emit(node.path, "Identity", [this.value(a[0] as Storage)], y);
        return;
      case "concat": {
        const [xs, axis] = a as [readonly Storage[], number];
        this.emit(node.path, "Concat", xs.map((s) => this.value(s)), y, [{ name: "axis", kind: "int", value: axis }]);
        return;
      }
      case "reshape": {
        const [x, shape] = a as [Storage, readonly number[]];
        if (x.shape.length >= 2 && shape.length === 2 && shape[0] === x.shape[0]) {
          this.emit(node.path, "Flatten", [this.value(x)], y, [{ name: "axis", kind: "int", value: 1 }]);
          return;
        }
        let target = [...shape];
        if (this.dynamic && this.batchDependent.has(x)) {
          if (shape[0] !== x.shape[0]) {
            this.unmapped(node, `a reshape of [${x.shape.join(", ")}] to [${shape.join(", ")}] that moves the batch axis (export with a fixed batch)`);
          }
          target = [0, ...shape.slice(1)]; // 0: the input's batch size, whatever it is
        }
        const name = this.nodeName(node.path, "Reshape");
        this.emitNamed(name, "Reshape", [this.value(x), this.int64Constant(`${name}_shape`, target)], y);
        return;
      }
      case "binary": {
        const [op, l, r] = a as [BinaryOp, Storage, Storage];
        this.emit(node.path, BINARY[op], [this.value(l), this.value(r)], y);
        return;
      }
      case "unary": {
        const [op, x] = a as [UnaryOp, Storage];
        this.emit(node.path, UNARY[op], [this.value(x)], y);
        return;
      }
      case "affine": {
        const [x, alpha, beta] = a as [Storage, number, number];
        let v = this.value(x);
        if (alpha !== 1) {
          const name = this.nodeName(node.path, "Mul");
          v = this.emitNamed(name, "Mul", [v, this.floatConstant(`${name}_scale`, alpha)], beta === 0 ? y : null);
        }
        if (beta !== 0 || alpha === 1) {
          const name = this.nodeName(node.path, "Add");
          this.emitNamed(name, "Add", [v, this.floatConstant(`${name}_shift`, beta)], y);
        }
        return;
      }
      case "sum":
      case "max": {
        const [x, axes, keepDims] = a as [Storage, readonly number[], boolean];
        const opType = node.op === "sum" ? "ReduceSum" : "ReduceMax";
        const keep: Attribute = { name: "keepdims", kind: "int", value: keepDims ? 1 : 0 };
        if (axes.length === 0) this.emit(node.path, opType, [this.value(x)], y, [keep]);
        else if (node.op === "max" && this.opset < 18) {
          this.emit(node.path, opType, [this.value(x)], y, [{ name: "axes", kind: "ints", value: [...axes] }, keep]);
        } else {
          const name = this.nodeName(node.path, opType);
          this.emitNamed(name, opType, [this.value(x), this.int64Constant(`${name}_axes`, axes)], y, [keep]);
        }
        return;
      }
      case "matmul": {
        const [l, r, transA, transB] = a as [Storage, Storage, boolean, boolean];
        this.emit(node.path, "Gemm", [this.value(l), this.value(r)], y, [
          { name: "transA", kind: "int", value: transA ? 1 : 0 },
          { name: "transB", kind: "int", value: transB ? 1 : 0 },
        ]);
        return;
      }
      case "transpose":
        this.emit(node.path, "Transpose", [this.value(a[0] as Storage)], y, [{ name: "perm", kind: "ints", value: [1, 0] }]);
        return;
      default:
        this.unmapped(node, UNMAPPED[node.op] ?? `the backend op '${node.op}'`);
    }
  }

  private isValue(v: unknown): v is Storage {
    return typeof v === "object" && v !== null && "shape" in v && "dtype" in v && "backend" in v;
  }

  isBatchDependent(s: Storage): boolean {
    return this.batchDependent.has(s);
  }
}

function poolAttributes(p: Pool2dParams): Attribute[] {
  return [
    { name: "kernel_shape", kind: "ints", value: [...p.kernel] },
    { name: "pads", kind: "ints", value: [p.padding[0], p.padding[1], p.padding[0], p.padding[1]] },
    { name: "strides", kind: "ints", value: [...p.stride] },
  ];
}

/** Checks the options and the input shape; returns the opset, whether the batch is dynamic and the shape to trace. */
function resolveOptions(inputShape: readonly number[], options: OnnxExportOptions): { opset: number; dynamic: boolean; shape: number[] } {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!SUPPORTED_OPSETS.includes(opset)) {
    throw new OnnxExportError(`opset ${opset} is not supported (supported: ${SUPPORTED_OPSETS[0]} to ${SUPPORTED_OPSETS[SUPPORTED_OPSETS.length - 1]})`);
  }
  if (inputShape.length < 2 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new OnnxExportError(`the input shape must be positive whole numbers with the batch first, e.g. [1, 1, 28, 28]; got [${inputShape.join(", ")}]`);
  }
  const batch = options.batch ?? "dynamic";
  if (batch !== "dynamic" && !(Number.isInteger(batch) && batch >= 1)) {
    throw new OnnxExportError(`batch must be "dynamic" or a positive whole number, got ${String(batch)}`);
  }
  const shape = [batch === "dynamic" ? inputShape[0]! : batch, ...inputShape.slice(1)];
  return { opset, dynamic: batch === "dynamic", shape };
}

/** Traces `module` and maps its graph to ONNX: everything but the initializers' values. Throws an
 * OnnxExportError (one line, naming the layer and the op) for anything ONNX cannot express. */
export function planOnnx(module: Module, inputShape: readonly number[], options: OnnxExportOptions = {}): OnnxPlan {
  const { opset, dynamic, shape } = resolveOptions(inputShape, options);
  const graph = traceModule(module, shape);
  const lowering = new Lowering(graph, opset, dynamic);
  for (const node of graph.nodes) lowering.lower(node);
  if (lowering.value(graph.output) !== "logits") {
    // forward returned its input, a parameter or a constant: one Identity makes it the output.
    lowering.nodes.push({ opType: "Identity", name: "/Identity_output", inputs: [lowering.value(graph.output)], outputs: ["logits"], attributes: [] });
  }
  // Only what reaches the output is written (dead branches of a forward and unused parameters are not).
  const needed = new Set(["logits"]);
  const nodes: OnnxNodeSpec[] = [];
  for (const n of [...lowering.nodes].reverse()) {
    if (!n.outputs.some((o) => needed.has(o))) continue;
    nodes.unshift(n);
    for (const i of n.inputs) needed.add(i);
  }
  // In state_dict order, then the constants the forward made.
  const order = new Map([...graph.state.values()].map(({ name }, i) => [name, i]));
  const rank = (name: string): number => order.get(name) ?? order.size;
  const initializers = [...lowering.initializers.values()].filter((i) => needed.has(i.name)).sort((a, b) => rank(a.name) - rank(b.name));
  const batchDim = (s: Storage): (number | string)[] => s.shape.map((d, i) => (i === 0 && dynamic && lowering.isBatchDependent(s) && d === shape[0] ? "batch" : d));
  const graphName = options.modelName ?? module.constructor.name;
  const metadata: [string, string][] = [];
  if (options.modelName !== undefined) metadata.push(["model", options.modelName]);
  if (options.labels !== undefined) metadata.push(["labels", JSON.stringify(options.labels)]);
  if (options.preprocessing !== undefined) metadata.push(["preprocessing", JSON.stringify(options.preprocessing)]);
  for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.push([k, v]);
  return {
    opset,
    irVersion: irVersionFor(opset),
    graphName,
    nodes,
    initializers,
    input: { name: "x", dims: dynamic ? ["batch", ...shape.slice(1)] : shape },
    output: { name: "logits", dims: batchDim(graph.output) },
    metadata,
    producerVersion: options.producerVersion ?? "",
    docString: options.docString ?? `${graphName} exported by alexnet-ts in eval mode: input x (NCHW float32), output logits`,
  };
}

// ---- encoding --------------------------------------------------------------------------------------

const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32Bytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function int64Bytes(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

function valueInfo(v: OnnxValueSpec): object {
  const dim = v.dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
  return { name: v.name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

function attribute(a: Attribute): object {
  const type = ATTRIBUTE_TYPE[a.kind];
  switch (a.kind) {
    case "int": return { name: a.name, type, i: a.value };
    case "float": return { name: a.name, type, f: a.value };
    case "ints": return { name: a.name, type, ints: [...a.value] };
    case "string": return { name: a.name, type, s: new TextEncoder().encode(a.value) };
  }
}

interface ModelEncoder {
  encode(message: object): { finish(): Uint8Array };
}

/** The ModelProto bytes of a plan, with each initializer's float32 values from `values` (by name). */
export function encodeOnnx(plan: OnnxPlan, values: ReadonlyMap<string, Float32Array>): Uint8Array {
  const initializer = plan.initializers.map((init) => {
    let rawData: Uint8Array;
    if ("int64" in init.source) rawData = int64Bytes(init.source.int64);
    else {
      const v = "float32" in init.source ? init.source.float32 : values.get(init.name);
      if (!v) throw new Error(`encodeOnnx: no values for initializer '${init.name}'`);
      rawData = float32Bytes(v);
    }
    return { name: init.name, dims: init.dims, dataType: "int64" in init.source ? INT64 : FLOAT, rawData };
  });
  const model = {
    irVersion: plan.irVersion,
    producerName: "alexnet-ts",
    producerVersion: plan.producerVersion,
    docString: plan.docString,
    graph: {
      name: plan.graphName,
      node: plan.nodes.map((n) => ({ input: n.inputs, output: n.outputs, name: n.name, opType: n.opType, domain: "", attribute: n.attributes.map(attribute) })),
      initializer,
      input: [valueInfo(plan.input)],
      output: [valueInfo(plan.output)],
    },
    opsetImport: [{ domain: "", version: plan.opset }],
    metadataProps: plan.metadata.map(([key, value]) => ({ key, value })),
  };
  const bytes = (onnx as unknown as { ModelProto: ModelEncoder }).ModelProto.encode(model).finish();
  // Node's protobufjs writer returns a Buffer: hand back a plain Uint8Array over the same bytes.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toFloat32(values: Float32Array | Float64Array): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** The module's forward as an ONNX model (eval mode; float32 weights read synchronously, so on a CPU
 * backend: use exportOnnxAsync for a GPU one). `inputShape` is (N, C, H, W); with a dynamic batch, N is
 * only the size traced. Throws OnnxExportError before reading anything when the model cannot be exported. */
export function exportOnnx(module: Module, inputShape: readonly number[], options: OnnxExportOptions = {}): Uint8Array {
  const plan = planOnnx(module, inputShape, options);
  const values = new Map<string, Float32Array>();
  for (const init of plan.initializers) if ("tensor" in init.source) values.set(init.name, toFloat32(init.source.tensor.dataSync()));
  return encodeOnnx(plan, values);
}

/** exportOnnx for any backend (values read asynchronously, as a GPU backend requires). */
export async function exportOnnxAsync(module: Module, inputShape: readonly number[], options: OnnxExportOptions = {}): Promise<Uint8Array> {
  const plan = planOnnx(module, inputShape, options);
  const values = new Map<string, Float32Array>();
  for (const init of plan.initializers) if ("tensor" in init.source) values.set(init.name, toFloat32(await init.source.tensor.data()));
  return encodeOnnx(plan, values);
}

// The graph of one forward pass, as torch.onnx.export traces it: a Module's forward runs on a shape-only
// backend (a MetaBackend: every op's shape rule, no values) whose every op call becomes a node. Each storage
// is a value (identified by the storage object itself); the input is a lent storage named `x`, and every
// parameter and buffer lends a storage named by its state_dict name (`features.0.weight`), given back after
// the trace as Module.outputShape does it. Every module's forward (and forwardRelu, which nn.Sequential uses
// to fuse a following ReLU) is wrapped for the duration of the trace, so each node knows the layer that ran
// it (`1.0.bn1`) and a fused ReLU knows the ReLU layer it stands for. The trace runs in eval mode (dropout
// is a copy, batch norm uses the running statistics) without autograd, and leaves the module as it was.
// Browser-safe: nothing here reads values; the ONNX writer (onnx.ts) reads the used parameters afterwards.
import { OP_NAMES, type DType, type OpName, type Storage } from "../backend/backend.js";
import { MetaBackend } from "../backend/meta.js";
import { ReLU } from "../nn/activation.js";
import type { Module } from "../nn/module.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";

/** One backend call made by the forward pass, with its arguments as the backend got them. */
export interface TraceNode {
  /** The backend method (`conv2d`, `binary`, `reshape`, `copy`, ...). */
  op: OpName;
  /** Its arguments in the backend's order (storages, parameter objects, numbers). */
  args: readonly unknown[];
  /** The storages it returned (a `{ y, ctx }` result gives y). */
  outputs: Storage[];
  /** The module whose forward made the call: its state_dict path ("" for the traced module itself). */
  path: string;
  layer: Module;
  /** For a conv/linear/batch-norm with a fused ReLU: the path of the ReLU layer it stands for, if known. */
  reluPath: string | null;
}

/** A constant made inside the forward (fill or fromArray): its values, so the writer can store them. */
export interface TraceConstant {
  shape: readonly number[];
  data: Float32Array;
}

export interface TraceGraph {
  /** The graph input, named `x`: a storage of the traced input shape. */
  input: Storage;
  /** What forward returned. */
  output: Storage;
  nodes: TraceNode[];
  /** Parameter and buffer storages, by state_dict name, with the tensor that owns the values. */
  state: Map<Storage, { name: string; tensor: Tensor }>;
  constants: Map<Storage, TraceConstant>;
  /** Every module's path (the first one where a module appears twice). */
  paths: Map<Module, string>;
}

interface Frame {
  path: string;
  layer: Module;
  reluPath: string | null;
}

/** A MetaBackend that writes down every op called while `active` (calls an op makes inside another are its
 * own business: MetaBackend's relu returns this.copy(x), which is no node). */
export class TraceBackend extends MetaBackend {
  readonly nodes: TraceNode[] = [];
  readonly constants = new Map<Storage, TraceConstant>();
  active = false;
  private depth = 0;
  /** Where the forward is now: the innermost module running. */
  frame: () => Frame = () => {
    throw new Error("TraceBackend: no module is running");
  };

  constructor() {
    super();
    const self = this as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const op of OP_NAMES) {
      const inner = self[op]!;
      self[op] = (...args: unknown[]) => {
        if (!this.active || this.depth > 0) return inner.apply(this, args);
        this.depth++;
        let result: unknown;
        try {
          result = inner.apply(this, args);
        } finally {
          this.depth--;
        }
        this.note(op, args, result);
        return result;
      };
    }
  }

  override fromArray(data: Float32Array | Float64Array, shape: readonly number[], dtype: DType): Storage {
    const s = super.fromArray(data, shape, dtype);
    if (this.active && this.depth === 0) this.constants.set(s, { shape: [...shape], data: Float32Array.from(data) });
    return s;
  }

  private note(op: OpName, args: unknown[], result: unknown): void {
    if (op === "fill") {
      const [shape, , value] = args as [readonly number[], DType, number];
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value);
      this.constants.set(result as Storage, { shape: [...shape], data });
      return;
    }
    const outputs: Storage[] = [];
    const collect = (v: unknown): void => {
      if (isStorage(v)) outputs.push(v);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === "object") {
        for (const key of ["y", "loss", "dx", "dw", "db", "dweight", "dbias"]) {
          const s = (v as Record<string, unknown>)[key];
          if (isStorage(s)) outputs.push(s);
        }
      }
    };
    collect(result);
    const { path, layer, reluPath } = this.frame();
    this.nodes.push({ op, args: [...args], outputs, path, layer, reluPath });
  }
}

function isStorage(v: unknown): v is Storage {
  return typeof v === "object" && v !== null && "shape" in v && "dtype" in v && "backend" in v;
}

/** Runs `module.forward` once on an input of `inputShape` and returns its graph (eval mode, no autograd).
 * Errors are those of the forward (a LayerError naming the layer for a shape that does not fit). */
export function traceModule(module: Module, inputShape: readonly number[]): TraceGraph {
  const backend = new TraceBackend();
  const paths = new Map<Module, string>();
  for (const [path, m] of module.namedModules()) if (!paths.has(m)) paths.set(m, path);

  // A Sequential runs Conv2d/Linear/BatchNorm followed by ReLU as one forwardRelu call: the ReLU layer's
  // path is the next sibling's.
  const reluAfter = new Map<Module, string>();
  for (const [m, path] of paths) {
    const children = m.namedChildren();
    children.forEach(([, child], i) => {
      const next = children[i + 1];
      if (next && next[1] instanceof ReLU && !reluAfter.has(child)) reluAfter.set(child, path ? `${path}.${next[0]}` : next[0]);
    });
  }

  const stack: Frame[] = [{ path: "", layer: module, reluPath: null }];
  backend.frame = () => stack[stack.length - 1]!;
  const restore: (() => void)[] = [];
  const wrap = (m: Module, method: "forward" | "forwardRelu", path: string): void => {
    const target = m as unknown as Record<string, unknown>;
    const original = target[method];
    if (typeof original !== "function") return;
    const own = Object.getOwnPropertyDescriptor(m, method);
    const reluPath = method === "forwardRelu" ? (reluAfter.get(m) ?? null) : null;
    target[method] = function (this: unknown, x: Tensor): Tensor {
      stack.push({ path, layer: m, reluPath });
      try {
        return (original as (x: Tensor) => Tensor).call(this, x);
      } finally {
        stack.pop();
      }
    };
    restore.push(() => {
      if (own) Object.defineProperty(m, method, own);
      else delete target[method];
    });
  };
  for (const [m, path] of paths) {
    wrap(m, "forward", path);
    wrap(m, "forwardRelu", path);
  }

  // Parameters and buffers lend their storages for named ones (a tensor registered twice keeps its first name).
  const state = new Map<Storage, { name: string; tensor: Tensor }>();
  const lent = new Map<Tensor, Storage>();
  for (const [name, t] of module.namedState()) {
    if (lent.has(t)) continue;
    const s = backend.fill(t.shape, t.dtype, 0);
    state.set(s, { name, tensor: t });
    lent.set(t, t.swapStorage(s));
  }
  const modes = module.modules().map((m) => [m, m.training] as const);
  const input = backend.fill(inputShape, "float32", 0);
  module.eval();
  backend.active = true;
  let output: Storage;
  try {
    output = noGrad(() => tidy(() => module.call(new Tensor(input)).storage));
  } finally {
    backend.active = false;
    for (const undo of restore.reverse()) undo();
    for (const [m, mode] of modes) m.training = mode;
    for (const [t, s] of lent) t.swapStorage(s);
  }
  return { input, output, nodes: backend.nodes, state, constants: backend.constants, paths };
}

// Module: the base of every layer, as torch.nn.Module. Children and parameters assigned to fields
// (`this.conv1 = new Conv2d(...)`) are registered by name in assignment order, buffers (state without
// gradients, e.g. BatchNorm's running statistics) by registerBuffer; state_dict names are PyTorch's
// (`0.weight`, `1.0.bn1.running_mean`). A user writes only `forward`: output shapes come from running it on
// the shape-only backend (outputShape), and errors name the module path (`layer 1.0.bn1 BatchNorm2d(...)`).
import type { Backend, DType, OpName } from "../backend/backend.js";
import { UnsupportedOpError } from "../backend/backend.js";
import { metaBackend } from "../backend/meta.js";
import { ShapeError } from "../backend/shapes.js";
import { noGrad } from "../tensor/autograd.js";
import { keep, tidy } from "../tensor/scope.js";
import { Tensor, resolveBackend } from "../tensor/tensor.js";

/** A tensor that is a model parameter: requires grad and outlives every tidy scope. */
export class Parameter extends Tensor {
  constructor(t: Tensor) {
    // Take over t's storage; t itself must not be used afterwards.
    super(t.backend.copy(t.storage), true);
    t.dispose();
    keep(this);
  }
}

/** A module could not take its input: `path` names it from the outermost module that called it. */
export class LayerError extends Error {
  /** The module the path starts from (the error moves up one parent at a time). */
  base: Module;
  constructor(
    readonly path: string[],
    readonly layer: Module,
    readonly detail: string,
    base?: Module,
  ) {
    super("");
    this.name = "LayerError";
    this.base = base ?? layer;
    this.setMessage();
  }

  /** The index of the failing layer in the outermost Sequential (the first path element), for callers of old. */
  get index(): number {
    return Number(this.path[0]);
  }

  /** Re-bases the error on `parent`, whose child `name` it came from. */
  prefix(parent: Module, name: string): this {
    this.path.unshift(name);
    this.base = parent;
    this.setMessage();
    return this;
  }

  private setMessage(): void {
    const where = this.path.length > 0 ? `layer ${this.path.join(".")} ` : "";
    this.message = `${where}${this.layer.toString().split("\n")[0]!.replace(/\($/, "")}: ${this.detail}`;
  }
}

/** Which module a ShapeError came out of first (its innermost `call`). */
const shapeErrorSource = new WeakMap<Error, Module>();

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Parameter>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _modules = new Map<string, Module | null>();
  private readonly _shapes = new Map<string, number[]>();

  constructor() {
    // Every field definition and assignment is a [[DefineOwnProperty]] on the instance, so this one trap
    // sees `this.conv1 = ...` in assignment order, as PyTorch's __setattr__ does.
    return new Proxy(this, {
      defineProperty: (target, key, desc) => {
        if (typeof key === "string" && "value" in desc) target.assignField(key, desc.value);
        return Reflect.defineProperty(target, key, desc);
      },
    });
  }

  private assignField(name: string, value: unknown): void {
    if (value instanceof Parameter) {
      if (this._params.get(name) !== value) this.registerParameter(name, value);
    } else if (value instanceof Module) {
      this._modules.set(name, value);
    } else if (value instanceof Tensor && this._buffers.has(name)) {
      this._buffers.set(name, keep(value));
    } else if ((value === null || value === undefined) && this._modules.has(name)) {
      this._modules.set(name, null);
    }
  }

  /** The computation; call the module through `call` to get errors that name it. */
  abstract forward(x: Tensor): Tensor;

  /** The output shape for an input shape, without computing: by default `forward` run on the shape-only
   * backend (cached per input shape). Throws LayerError/ShapeError when the input does not fit. */
  outputShape(input: readonly number[]): number[] {
    const key = input.join(",");
    let shape = this._shapes.get(key);
    if (!shape) {
      shape = traceForward(this, input);
      this._shapes.set(key, shape);
    }
    return [...shape];
  }

  /** The backend ops this module needs itself (checked when the model is built or moved); a module with its
   * own forward adds those its forward used the last time it was traced (add, cat, ...). */
  ops(): OpName[] {
    return [...(tracedOps.get(this) ?? [])];
  }

  /** PyTorch's repr: a layer's one line, or the module's name and its children indented. */
  toString(): string {
    const children = this.namedChildren();
    if (children.length === 0) return `${this.constructor.name}()`;
    const lines = children.map(([name, m]) => `  (${name}): ${m.toString().replace(/\n/g, "\n  ")}`);
    return `${this.constructor.name}(\n${lines.join("\n")}\n)`;
  }

  call(x: Tensor): Tensor {
    try {
      return this.forward(x);
    } catch (e) {
      throw this.locate(e);
    }
  }

  /** Names a child's failure from this module: a ShapeError raised inside child `n`'s call, or a LayerError
   * based at child `n`, gets `n` in front of its path. */
  locate(e: unknown): unknown {
    if (e instanceof ShapeError && !shapeErrorSource.has(e)) {
      shapeErrorSource.set(e, this);
      return e;
    }
    const from = e instanceof LayerError ? e.base : e instanceof ShapeError ? shapeErrorSource.get(e) : undefined;
    if (!from || from === this) return e;
    const name = this.childName(from);
    if (name === null) return e;
    return e instanceof LayerError ? e.prefix(this, name) : new LayerError([name], from, (e as Error).message, this);
  }

  private childName(m: Module): string | null {
    for (const [name, c] of this._modules) if (c === m) return name;
    return null;
  }

  protected registerParameter(name: string, value: Tensor | Parameter): Parameter {
    const p = value instanceof Parameter ? value : new Parameter(value);
    const old = this._params.get(name);
    if (old && old !== p) old.dispose();
    this._params.set(name, p);
    return p;
  }

  /** A tensor that is state but not a parameter (no gradient, never touched by the optimizer), saved in
   * the state dict under `name` and moved by `to`. The module keeps it alive; null removes it. */
  protected registerBuffer(name: string, value: Tensor | null): Tensor | null {
    const old = this._buffers.get(name);
    if (old && old !== value) old.dispose();
    if (value === null) {
      this._buffers.delete(name);
      return null;
    }
    this._buffers.set(name, keep(value));
    return value;
  }

  /** One of this module's own buffers by name, or null. */
  getBuffer(name: string): Tensor | null {
    return this._buffers.get(name) ?? null;
  }

  protected registerModule(name: string, module: Module): void {
    this._modules.set(name, module);
  }

  /** Direct children with their names (a child set to null is skipped, as None in PyTorch). */
  namedChildren(): [string, Module][] {
    return [...this._modules.entries()].filter((e): e is [string, Module] => e[1] !== null);
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** Every module with its dotted name, this one first (""), depth first. */
  namedModules(prefix = ""): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, m] of this.namedChildren()) out.push(...m.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** All parameters, depth first, named as PyTorch's state_dict (`0.weight`, `3.bias`). */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this._params) out.push([prefix + name, p]);
    for (const [name, m] of this.namedChildren()) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** All buffers, depth first (`1.0.bn1.running_mean`). */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this._buffers) out.push([prefix + name, b]);
    for (const [name, m] of this.namedChildren()) out.push(...m.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /** Parameters and buffers in PyTorch's state_dict order: per module its parameters, its buffers, then
   * its children. */
  namedState(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, p] of this._params) out.push([prefix + name, p]);
    for (const [name, b] of this._buffers) out.push([prefix + name, b]);
    for (const [name, m] of this.namedChildren()) out.push(...m.namedState(`${prefix}${name}.`));
    return out;
  }

  /** One of this module's own parameters by name, or null. */
  getParameter(name: string): Parameter | null {
    return this._params.get(name) ?? null;
  }

  /** Every module, this one first, then children depth first. */
  modules(): Module[] {
    return [this, ...this.children().flatMap((m) => m.modules())];
  }

  /** Calls fn on every module, children first then this one (as torch's Module.apply). */
  apply(fn: (m: Module) => void): this {
    for (const m of this.children()) m.apply(fn);
    fn(this);
    return this;
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Name -> tensor (copies that the caller owns), PyTorch's state_dict: parameters and buffers. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedState().map(([name, t]) => [name, t.detach()]));
  }

  /** Loads parameters and buffers by name; shapes must match and every name must be present (strict),
   * except `num_batches_tracked`, which older files lack (it loads as 0, as PyTorch does). */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>): void {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.namedState();
    const optional = (name: string): boolean => name === "num_batches_tracked" || name.endsWith(".num_batches_tracked");
    const missing = own.filter(([name]) => !entries.has(name) && !optional(name)).map(([name]) => name);
    const unexpected = [...entries.keys()].filter((name) => !own.some(([n]) => n === name));
    if (missing.length || unexpected.length) {
      throw new Error(`state dict does not match the model: missing [${missing.join(", ")}], unexpected [${unexpected.join(", ")}]`);
    }
    for (const [name, p] of own) {
      const t = entries.get(name);
      if (t && t.shape.join() !== p.shape.join()) {
        throw new Error(`state dict '${name}' has shape [${t.shape.join(", ")}], the model expects [${p.shape.join(", ")}]`);
      }
    }
    for (const [name, p] of own) {
      const t = entries.get(name);
      if (t) p.copy_(t);
      else p.assignStorage_(p.backend.fill(p.shape, p.dtype, 0));
    }
  }

  /** The backend ops this model's forward and backward use, with the layer that needs each. */
  requiredOps(): { op: OpName; neededBy: string }[] {
    return this.modules().flatMap((m) => m.ops().map((op) => ({ op, neededBy: m.toString().split("\n")[0]! })));
  }

  /** Checks that `backend` supports every op of every module at `dtype` (before anything moves), then moves
   * the parameters and buffers there in place (the same Parameter objects, so optimizers and fields that
   * hold them stay valid); values are read asynchronously, so a GPU backend on either side works. */
  async to(backendOrName: Backend | string, dtype: DType = "float32"): Promise<this> {
    const backend = resolveBackend(backendOrName);
    checkOps(backend, this.requiredOps(), dtype);
    for (const m of this.modules()) {
      for (const [name, p] of [...m._params]) {
        if (p.backend === backend && p.dtype === dtype) continue;
        p.grad?.dispose();
        p.grad = null;
        const moved = backend.fromArray(await p.data(), p.shape, dtype);
        if (p.dtype === dtype) p.assignStorage_(moved);
        else m.replaceField(p, m.registerParameter(name, new Tensor(moved)));
      }
      for (const [name, b] of [...m._buffers]) {
        if (b.backend === backend && b.dtype === dtype) continue;
        const moved = keep(new Tensor(backend.fromArray(await b.data(), b.shape, dtype)));
        m._buffers.set(name, moved);
        m.replaceField(b, moved);
        b.dispose();
      }
    }
    return this;
  }

  /** Points fields that held `old` at `now` (a tensor replaced by `to` with another dtype). */
  private replaceField(old: Tensor, now: Tensor): void {
    for (const key of Object.keys(this)) {
      if ((this as Record<string, unknown>)[key] === old) Reflect.set(this, key, now);
    }
  }

  /** Frees every parameter (and its gradient) and buffer. */
  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
      p.dispose();
    }
    for (const b of this.buffers()) b.dispose();
  }
}

/** The ops each traced module's own forward ran (for the up-front op check). */
const tracedOps = new WeakMap<Module, Set<OpName>>();

/** Runs m.forward on the shape-only backend: parameters and buffers lend their storages for meta ones
 * (given back after), every module is in eval mode (so nothing counts batches or draws dropout masks), and
 * errors name the child they came from. Returns the output shape. */
function traceForward(m: Module, input: readonly number[]): number[] {
  const lent = new Map<Tensor, ReturnType<Tensor["swapStorage"]>>();
  for (const t of [...m.parameters(), ...m.buffers()]) {
    if (!lent.has(t) && t.backend !== metaBackend) lent.set(t, t.swapStorage(metaBackend.fill(t.shape, t.dtype, 0)));
  }
  const modes = m.modules().map((mod) => [mod, mod.training] as const);
  m.eval();
  const ops = metaBackend.startRecording();
  try {
    return noGrad(() => tidy(() => [...m.forward(new Tensor(metaBackend.fill(input, "float32", 0))).shape]));
  } catch (e) {
    throw m.locate(e);
  } finally {
    metaBackend.stopRecording(ops);
    for (const [mod, mode] of modes) mod.training = mode;
    for (const [t, s] of lent) t.swapStorage(s);
    const own = new Set([...ops].filter((op) => !m.modules().some((c) => c !== m && c.ops().includes(op))));
    tracedOps.set(m, own);
  }
}

/** Throws UnsupportedOpError for the first op `backend` lacks at `dtype`, naming op, dtype, device and who
 * needs it (a layer, the loss, the optimizer). The trainer calls it with everything a step uses. */
export function checkOps(backend: Backend, ops: readonly { op: OpName; neededBy: string }[], dtype: DType): void {
  for (const { op, neededBy } of ops) {
    if (!backend.supports(op, dtype)) throw new UnsupportedOpError(op, dtype, backend, neededBy);
  }
}

// Module: the base of every layer, as torch.nn.Module: child modules and parameters registered by name,
// PyTorch state_dict names (`0.weight`, `3.bias`), train()/eval(), apply(fn), and moving to a backend
// with an up-front check that the backend supports every op the model uses.
import type { Backend, DType, OpName } from "../backend/backend.js";
import { UnsupportedOpError } from "../backend/backend.js";
import { keep } from "../tensor/scope.js";
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

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Parameter>();
  private readonly _modules = new Map<string, Module>();

  /** The computation; call the module through `call` (or Sequential) to get layer-named errors. */
  abstract forward(x: Tensor): Tensor;

  /** The output shape for an input shape, without computing; throws ShapeError when the input does not fit. */
  abstract outputShape(input: readonly number[]): number[];

  /** The backend ops this module needs (checked when the model is built or moved). */
  ops(): OpName[] {
    return [];
  }

  /** PyTorch's repr of this layer, e.g. `Conv2d(1, 96, kernel_size=(11, 11), stride=(4, 4), padding=(1, 1))`. */
  toString(): string {
    return `${this.constructor.name}()`;
  }

  call(x: Tensor): Tensor {
    return this.forward(x);
  }

  protected registerParameter(name: string, value: Tensor | Parameter): Parameter {
    const p = value instanceof Parameter ? value : new Parameter(value);
    const old = this._params.get(name);
    if (old && old !== p) old.dispose();
    this._params.set(name, p);
    return p;
  }

  protected registerModule(name: string, module: Module): void {
    this._modules.set(name, module);
  }

  /** Direct children with their names. */
  namedChildren(): [string, Module][] {
    return [...this._modules.entries()];
  }

  children(): Module[] {
    return [...this._modules.values()];
  }

  /** All parameters, depth first, named as PyTorch's state_dict (`0.weight`, `3.bias`). */
  namedParameters(prefix = ""): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this._params) out.push([prefix + name, p]);
    for (const [name, m] of this._modules) out.push(...m.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
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

  /** Name -> tensor (copies that the caller owns), PyTorch's state_dict. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters().map(([name, p]) => [name, p.detach()]));
  }

  /** Loads parameters by name; shapes must match exactly and every name must be present (strict). */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>): void {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.namedParameters();
    const missing = own.filter(([name]) => !entries.has(name)).map(([name]) => name);
    const unexpected = [...entries.keys()].filter((name) => !own.some(([n]) => n === name));
    if (missing.length || unexpected.length) {
      throw new Error(`state dict does not match the model: missing [${missing.join(", ")}], unexpected [${unexpected.join(", ")}]`);
    }
    for (const [name, p] of own) {
      const t = entries.get(name)!;
      if (t.shape.join() !== p.shape.join()) {
        throw new Error(`state dict '${name}' has shape [${t.shape.join(", ")}], the model expects [${p.shape.join(", ")}]`);
      }
    }
    for (const [name, p] of own) p.copy_(entries.get(name)!);
  }

  /** The backend ops this model's forward and backward use, with the layer that needs each. */
  requiredOps(): { op: OpName; neededBy: string }[] {
    return this.modules().flatMap((m) => m.ops().map((op) => ({ op, neededBy: m.toString() })));
  }

  /** Checks that `backend` supports every op of every module at `dtype` (before anything moves), then moves
   * the parameters there; values are read asynchronously, so a GPU backend on either side works. */
  async to(backendOrName: Backend | string, dtype: DType = "float32"): Promise<this> {
    const backend = resolveBackend(backendOrName);
    checkOps(backend, this.requiredOps(), dtype);
    for (const m of this.modules()) {
      for (const [name, p] of m._params) {
        if (p.backend === backend && p.dtype === dtype) continue;
        const moved = new Tensor(backend.fromArray(await p.data(), p.shape, dtype));
        m.registerParameter(name, moved);
      }
    }
    return this;
  }

  /** Frees every parameter (and its gradient). */
  dispose(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
      p.dispose();
    }
  }
}

/** Throws UnsupportedOpError for the first op `backend` lacks at `dtype`, naming op, dtype, device and who
 * needs it (a layer, the loss, the optimizer). The trainer calls it with everything a step uses. */
export function checkOps(backend: Backend, ops: readonly { op: OpName; neededBy: string }[], dtype: DType): void {
  for (const { op, neededBy } of ops) {
    if (!backend.supports(op, dtype)) throw new UnsupportedOpError(op, dtype, backend, neededBy);
  }
}

// Tensor: a logical shape, a dtype and a backend-owned storage, plus what autograd needs (requiresGrad,
// grad, and the node that produced it). Values are read only through explicit calls (`await t.data()`,
// `t.dataSync()`, `t.item()`): a backend may keep them in another layout or on another device.
import { type Backend, type DType, type Storage, numel } from "../backend/backend.js";
import { getBackend } from "../backend/registry.js";
import { type GradNode, backward as runBackward, releaseNode } from "./autograd.js";
import { keep, track } from "./scope.js";

export type NestedArray = number | NestedArray[];

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  backend?: Backend | string;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf that requires grad (set by backward, cleared by the optimizer). */
  grad: Tensor | null = null;
  /** How this tensor was computed; null for leaves and after the graph was freed. */
  node: GradNode | null;
  private _storage: Storage | null;

  constructor(storage: Storage, requiresGrad = false, node: GradNode | null = null) {
    this._storage = storage;
    this.shape = storage.shape;
    this.dtype = storage.dtype;
    this.requiresGrad = requiresGrad;
    this.node = node;
    track(this);
  }

  get storage(): Storage {
    if (!this._storage) throw new Error(`use of a disposed tensor (shape [${this.shape.join(", ")}])`);
    return this._storage;
  }

  /** Replaces the storage with one of the same shape and returns the old one, which the caller owns (the
   * shape-only trace lends a module's parameters meta storages and gives the real ones back). */
  swapStorage(s: Storage): Storage {
    const old = this.storage;
    if (s.shape.join() !== old.shape.join()) throw new Error(`swapStorage: shape [${s.shape.join(", ")}] for a tensor of shape [${this.shape.join(", ")}]`);
    this._storage = s;
    return old;
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  get isDisposed(): boolean {
    return this._storage === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return numel(this.shape);
  }

  size(dim: number): number {
    const d = this.shape[dim < 0 ? dim + this.shape.length : dim];
    if (d === undefined) throw new Error(`dimension ${dim} out of range for shape [${this.shape.join(", ")}]`);
    return d;
  }

  /** Frees the storage now (and the saved context of the op that made it). Safe to call twice. */
  dispose(): void {
    if (!this._storage) return;
    if (this.node) releaseNode(this.node);
    this.node = null;
    this._storage.backend.dispose(this._storage);
    this._storage = null;
  }

  // ---- reading values -----------------------------------------------------------------------------

  async data(): Promise<Float32Array | Float64Array> {
    return this.backend.read(this.storage);
  }

  dataSync(): Float32Array | Float64Array {
    const backend = this.backend;
    if (!backend.readSync) throw new Error(`the ${backend.name} backend reads values asynchronously: use await t.data()`);
    return backend.readSync(this.storage);
  }

  toFloat32Array(): Float32Array {
    const d = this.dataSync();
    return d instanceof Float32Array ? d : Float32Array.from(d);
  }

  /** Nested arrays, like torch's tolist(). */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  arraySync(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item() needs a one-element tensor, got shape [${this.shape.join(", ")}]`);
    return this.dataSync()[0]!;
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(", ")}], dtype=${this.dtype}, backend=${this._storage?.backend.name ?? "disposed"})`;
  }

  // ---- autograd -----------------------------------------------------------------------------------

  /** Reverse-mode autograd from this tensor; a non-scalar needs an explicit upstream gradient. */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, grad, options.retainGraph ?? false);
  }

  /** Same storage values, no history (a copy, so each tensor owns its buffer). */
  detach(): Tensor {
    return new Tensor(this.backend.copy(this.storage));
  }

  /** Replaces the values in place (same shape and dtype), like torch's `t.copy_(src)` under no_grad. The
   * new storage is taken over. Used for initialisation and loading; not recorded by autograd. */
  assignStorage_(storage: Storage): this {
    if (storage.shape.join() !== this.shape.join() || storage.dtype !== this.dtype) {
      throw new Error(`cannot assign [${storage.shape.join(", ")}] ${storage.dtype} to a tensor of shape [${this.shape.join(", ")}] ${this.dtype}`);
    }
    const old = this.storage;
    this._storage = storage;
    old.backend.dispose(old);
    return this;
  }

  /** Copies `src`'s values into this tensor in place: on one backend, or from one whose values can be read
   * synchronously (a CPU). From a GPU, use `await t.copyAsync_(src)`. */
  copy_(src: Tensor): this {
    if (src.backend === this.backend && src.dtype === this.dtype) {
      return this.assignStorage_(this.backend.reshape(src.storage, this.shape));
    }
    return this.assignStorage_(this.backend.fromArray(src.dataSync(), this.shape, this.dtype));
  }

  /** copy_ across any two backends, reading `src` asynchronously. */
  async copyAsync_(src: Tensor): Promise<this> {
    if (src.backend === this.backend && src.dtype === this.dtype) return this.copy_(src);
    return this.assignStorage_(this.backend.fromArray(await src.data(), this.shape, this.dtype));
  }

  /** This tensor's values on another backend (a new tensor; this one is unchanged). */
  async to(backend: Backend | string): Promise<Tensor> {
    const target = resolveBackend(backend);
    return new Tensor(target.fromArray(await this.data(), this.shape, this.dtype));
  }

  requiresGrad_(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  // The op methods (x.add(y), x.sum(), ...) are declared and installed by ops.ts, which needs this class:
  // defining them here would make the two files import each other.

  /** Adds `g` to this leaf's gradient (autograd's accumulation into `.grad`); the gradient outlives every
   * tidy scope: it belongs to the tensor until the optimizer clears it. Takes `g` over. */
  accumulateGrad(g: Storage): void {
    if (!this.grad) {
      this.grad = keep(new Tensor(g));
      return;
    }
    const backend = this.backend;
    const sum = backend.binary("add", this.grad.storage, g);
    backend.dispose(g);
    this.grad.dispose();
    this.grad = keep(new Tensor(sum));
  }
}

function nest(data: ArrayLike<number>, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0]!;
  let offset = 0;
  const build = (dim: number): NestedArray[] => {
    const out: NestedArray[] = [];
    for (let i = 0; i < shape[dim]!; i++) out.push(dim === shape.length - 1 ? data[offset++]! : build(dim + 1));
    return out;
  };
  return build(0);
}

// ---- creation --------------------------------------------------------------------------------------

export function resolveBackend(b: Backend | string | undefined): Backend {
  return typeof b === "object" ? b : getBackend(b);
}

/** A tensor from nested arrays or a flat typed array (then `shape` is required). */
export function tensor(
  values: NestedArray | ArrayLike<number>,
  options: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  const dtype = options.dtype ?? "float32";
  let flat: number[] | ArrayLike<number>;
  let shape: readonly number[];
  if (typeof values === "number" || Array.isArray(values)) {
    const inferred = inferShape(values);
    flat = typeof values === "number" ? [values] : (values as NestedArray[]).flat(Infinity as 1) as number[];
    shape = options.shape ?? inferred;
  } else {
    flat = values;
    shape = options.shape ?? [values.length];
  }
  if (flat.length !== numel(shape)) {
    throw new Error(`${flat.length} values do not fit shape [${shape.join(", ")}]`);
  }
  const data = dtype === "float64" ? Float64Array.from(flat) : Float32Array.from(flat);
  const backend = resolveBackend(options.backend);
  return new Tensor(backend.fromArray(data, shape, dtype), options.requiresGrad ?? false);
}

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] ?? 0;
  }
  return shape;
}

export function fromStorage(storage: Storage, requiresGrad = false): Tensor {
  return new Tensor(storage, requiresGrad);
}

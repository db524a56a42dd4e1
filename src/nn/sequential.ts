// nn.Sequential and nn.ModuleList: modules named "0", "1", ... (PyTorch's state_dict names), iterable and
// indexable (`net[3]`, `for (const layer of net)`), nested to any depth. A shape mismatch is reported with
// the layer's path (`layer 1.0.bn1`) and PyTorch-style description, what it expected and what it got.
import type { Tensor } from "../tensor/tensor.js";
import { ReLU } from "./activation.js";
import { LayerError, Module } from "./module.js";

export { LayerError };

/** A layer that can apply a ReLU that follows it in the same pass (Conv2d, Linear, BatchNorm). */
interface FusesRelu {
  forwardRelu(x: Tensor): Tensor;
}

function fusesRelu(m: Module): m is Module & FusesRelu {
  return typeof (m as Partial<FusesRelu>).forwardRelu === "function";
}

export class Sequential extends Module implements Iterable<Module> {
  readonly [index: number]: Module;
  private readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((layer, i) => {
      if (!(layer instanceof Module)) throw new Error(`Sequential: argument ${i} is not a Module`);
      this.registerModule(String(i), layer);
      Object.defineProperty(this, i, { value: layer, enumerable: true });
    });
  }

  get length(): number {
    return this.layers.length;
  }

  at(index: number): Module {
    const layer = this.layers.at(index);
    if (!layer) throw new Error(`Sequential has ${this.length} layers, no index ${index}`);
    return layer;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.layers[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    return this.forwardEach(x);
  }

  /** Runs the layers in order; `onLayer` sees each output (d2l's shape table, per-layer profiling). Without
   * it, a Conv2d or Linear followed by a ReLU runs as one fused op (saves a pass over the activation). */
  forwardEach(x: Tensor, onLayer?: (layer: Module, index: number, output: Tensor) => void): Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!;
      this.checkLayerInput(i, h.shape);
      try {
        if (!onLayer && this.layers[i + 1] instanceof ReLU && fusesRelu(layer)) {
          h = layer.forwardRelu(h);
          i++;
          continue;
        }
        h = layer.call(h);
      } catch (e) {
        throw this.locate(e);
      }
      onLayer?.(layer, i, h);
    }
    return h;
  }

  /** Output shape of the whole stack, naming the first layer that cannot take its input. */
  override outputShape(input: readonly number[]): number[] {
    let shape = [...input];
    this.layers.forEach((_, i) => {
      shape = this.checkLayerInput(i, shape);
    });
    return shape;
  }

  /** Every layer's output shape for `input`, in order. */
  layerShapes(input: readonly number[]): number[][] {
    const shapes: number[][] = [];
    let shape = [...input];
    this.layers.forEach((_, i) => {
      shape = this.checkLayerInput(i, shape);
      shapes.push(shape);
    });
    return shapes;
  }

  private checkLayerInput(i: number, shape: readonly number[]): number[] {
    const layer = this.layers[i]!;
    try {
      return layer.outputShape(shape);
    } catch (e) {
      if (e instanceof LayerError && e.base === layer) throw e.prefix(this, String(i));
      if (e instanceof LayerError) throw e;
      throw new LayerError([String(i)], layer, (e as Error).message, this);
    }
  }

  override toString(): string {
    const lines = this.layers.map((l, i) => `  (${i}): ${l.toString().replace(/\n/g, "\n  ")}`);
    return `Sequential(\n${lines.join("\n")}\n)`;
  }
}

/** nn.ModuleList: holds modules (named "0", "1", ...) for a forward written by hand; it has no forward. */
export class ModuleList extends Module implements Iterable<Module> {
  readonly [index: number]: Module;
  private readonly items: Module[] = [];

  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  append(m: Module): this {
    if (!(m instanceof Module)) throw new Error(`ModuleList: item ${this.items.length} is not a Module`);
    const i = this.items.length;
    this.items.push(m);
    this.registerModule(String(i), m);
    Object.defineProperty(this, i, { value: m, enumerable: true, configurable: true });
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(index: number): Module {
    const m = this.items.at(index);
    if (!m) throw new Error(`ModuleList has ${this.length} modules, no index ${index}`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.items[Symbol.iterator]();
  }

  forward(_x: Tensor): Tensor {
    throw new Error("ModuleList has no forward: call its modules from your own module's forward");
  }

  override toString(): string {
    const lines = this.items.map((l, i) => `  (${i}): ${l.toString().replace(/\n/g, "\n  ")}`);
    return `ModuleList(\n${lines.join("\n")}\n)`;
  }
}

// What every module of a network computes, without computing it: one forward on the shape-only backend that
// notes each module's input and output shapes (nested blocks, a Residual's own forward, a module called twice
// are all seen), and the work that follows from them (multiply-accumulates of Conv2d and Linear, parameter
// counts). `alexnet models`, `analyze` and `bench` use it for networks of any depth. Browser-safe.
import { metaBackend } from "../backend/meta.js";
import { getBackend, setBackend } from "../backend/registry.js";
import { Conv2d } from "../nn/conv.js";
import { Linear } from "../nn/linear.js";
import type { Module } from "../nn/module.js";
import { noGrad } from "../tensor/autograd.js";
import { tidy } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";

export interface ModuleCall {
  input: number[];
  output: number[];
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Runs `build` with the shape-only backend as the default, so its parameters take no memory (VGG-11's 129M
 * parameters cost nothing); the network can be traced, counted and shape-checked, never run. */
export function buildOnMeta<T>(build: () => T): T {
  const previous = getBackend();
  setBackend(metaBackend);
  try {
    return build();
  } finally {
    setBackend(previous);
  }
}

/** Every call of every module of `net` in one forward of an `input`-shaped batch, in evaluation mode, on the
 * shape-only backend (parameters and buffers lend meta storages and get their own back). Fusion of a layer
 * with the ReLU after it is turned off for the trace, so that the ReLU is seen too. */
export function traceCalls(net: Module, input: readonly number[]): Map<Module, ModuleCall[]> {
  const calls = new Map<Module, ModuleCall[]>();
  const modules = net.modules();
  const lent = new Map<Tensor, ReturnType<Tensor["swapStorage"]>>();
  for (const t of [...net.parameters(), ...net.buffers()]) {
    if (!lent.has(t) && t.backend !== metaBackend) lent.set(t, t.swapStorage(metaBackend.fill(t.shape, t.dtype, 0)));
  }
  const modes = modules.map((m) => [m, m.training] as const);
  const patched: Module[] = [];
  // A Sequential checks each layer's input with outputShape, which may trace that layer on its own: calls
  // made inside such a check are not part of the forward.
  let checking = 0;
  net.eval();
  try {
    for (const m of modules) {
      const own = m as unknown as Record<string, unknown>;
      const forward = m.forward;
      const outputShape = m.outputShape;
      own.outputShape = (input: readonly number[]): number[] => {
        checking++;
        try {
          return outputShape.call(m, input);
        } finally {
          checking--;
        }
      };
      own.forward = (x: Tensor): Tensor => {
        const y = forward.call(m, x);
        if (checking > 0) return y;
        const list = calls.get(m) ?? [];
        list.push({ input: [...x.shape], output: [...y.shape] });
        calls.set(m, list);
        return y;
      };
      // Sequential fuses a layer with the ReLU after it when the layer has forwardRelu; hidden, both run.
      own.forwardRelu = undefined;
      patched.push(m);
    }
    noGrad(() => tidy(() => {
      net.forward(new Tensor(metaBackend.fill(input, "float32", 0)));
    }));
  } finally {
    for (const m of patched) {
      delete (m as unknown as Record<string, unknown>).forward;
      delete (m as unknown as Record<string, unknown>).outputShape;
      delete (m as unknown as Record<string, unknown>).forwardRelu;
    }
    for (const [m, mode] of modes) m.training = mode;
    for (const [t, s] of lent) t.swapStorage(s);
  }
  return calls;
}

/** Multiply-accumulates per example of a module's own work (Conv2d, Linear) over its calls; 0 otherwise. */
export function ownMacs(m: Module, calls: readonly ModuleCall[]): number {
  let macs = 0;
  for (const c of calls) {
    const perExample = numel(c.output) / c.output[0]!;
    if (m instanceof Conv2d) macs += perExample * m.inChannels * m.kernelSize[0] * m.kernelSize[1];
    else if (m instanceof Linear) macs += perExample * m.inFeatures;
  }
  return macs;
}

/** Conv2d and Linear multiply-accumulates per example of `m` and everything inside it, from a trace. */
export function macsWithin(m: Module, calls: ReadonlyMap<Module, ModuleCall[]>): number {
  return m.modules().reduce((n, sub) => n + ownMacs(sub, calls.get(sub) ?? []), 0);
}

/** Parameters (trainable values) and buffers of a network. */
export function countParameters(net: Module): { params: number; buffers: number } {
  return {
    params: net.parameters().reduce((n, p) => n + p.numel, 0),
    buffers: net.buffers().reduce((n, b) => n + b.numel, 0),
  };
}

/** Conv2d and Linear multiply-accumulates for one example of shape `input` (C, H, W). */
export function macsPerExample(net: Module, input: readonly number[]): number {
  return macsWithin(net, traceCalls(net, [1, ...input]));
}

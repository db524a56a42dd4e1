// Reverse-mode autograd. Every differentiable op records a GradNode on its output: the inputs, a backward
// function that maps the output's gradient to the inputs' gradients, and a release function that frees
// what the backend saved for it (pool workspace, dropout mask). backward() walks the nodes in reverse
// topological order, accumulates into the `.grad` of leaves, and frees the graph unless asked to keep it.
import type { Storage } from "../backend/backend.js";
import type { Tensor } from "./tensor.js";

export interface GradNode {
  /** Op name, for error messages. */
  op: string;
  inputs: readonly Tensor[];
  /** Gradients for each input (null where the input needs none), given the output's gradient. */
  backward(grad: Storage): (Storage | null)[];
  release?: () => void;
  released?: boolean;
}

let gradEnabled = true;

/** Optional observer of each node's backward call with its duration in ms (per-layer profiling). */
let backwardObserver: ((node: GradNode, ms: number) => void) | null = null;

export function setBackwardObserver(fn: ((node: GradNode, ms: number) => void) | null): void {
  backwardObserver = fn;
}

/** Optional observer of each leaf whose gradient this backward has finished (data parallelism starts
 * that gradient's allreduce while backward continues below it). */
let leafObserver: ((leaf: Tensor) => void) | null = null;

export function setAutogradLeafObserver(fn: ((leaf: Tensor) => void) | null): void {
  leafObserver = fn;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording the graph (evaluation, optimizer updates), like torch.no_grad(). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function releaseNode(node: GradNode): void {
  if (node.released) return;
  node.released = true;
  node.release?.();
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: AlexNet is shallow, but composed test graphs and long chains should not hit the stack limit.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

export function backward(root: Tensor, grad: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) throw new Error("backward() on a tensor that does not require grad (was it computed under noGrad?)");
  const backend = root.backend;
  let seed: Storage;
  if (grad) {
    if (grad.shape.join() !== root.shape.join()) {
      throw new Error(`backward() gradient of shape [${grad.shape.join(", ")}] for a tensor of shape [${root.shape.join(", ")}]`);
    }
    seed = backend.reshape(grad.storage, grad.shape);
  } else {
    if (root.numel !== 1) throw new Error(`backward() without a gradient needs a scalar, got shape [${root.shape.join(", ")}]`);
    seed = backend.fill(root.shape, root.dtype, 1);
  }
  const grads = new Map<Tensor, Storage>([[root, seed]]);
  const accumulate = (t: Tensor, g: Storage): void => {
    const prev = grads.get(t);
    if (!prev) {
      grads.set(t, g);
      return;
    }
    grads.set(t, backend.binary("add", prev, g));
    backend.dispose(prev);
    backend.dispose(g);
  };
  for (const t of topoOrder(root)) {
    const g = grads.get(t);
    if (!g) continue;
    grads.delete(t);
    const node = t.node;
    if (!node) {
      t.accumulateGrad(g);
      leafObserver?.(t);
      continue;
    }
    if (node.released) throw new Error(`backward through '${node.op}' a second time: its saved values were freed (use retainGraph)`);
    const started = backwardObserver ? performance.now() : 0;
    const inputGrads = node.backward(g);
    backwardObserver?.(node, performance.now() - started);
    backend.dispose(g);
    node.inputs.forEach((input, i) => {
      const ig = inputGrads[i];
      if (ig && input.requiresGrad) accumulate(input, ig);
      else if (ig) backend.dispose(ig);
    });
    if (!retainGraph) releaseNode(node);
  }
}

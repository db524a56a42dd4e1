// PyTorch's torch.optim.SGD step, in place (reference/layers.ts sgdUpdate): d = g + wd·w;
// v = firstStep ? d : momentum·v + (1 - dampening)·d; d = nesterov ? d + momentum·v : v; w -= lr·d.
import { MAIN_SIGNATURE, LINEAR_ID } from "./elementwise.js";

/** With `momentum` the kernel binds the velocity buffer (binding 3); without, it does not exist. */
export function sgdShader(momentum: boolean): string {
  return `// sgd update${momentum ? " with momentum" : ""}
struct Params { n: u32, pOff: u32, gOff: u32, vOff: u32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32,
  nesterov: u32, firstStep: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
${momentum ? "@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;" : ""}
${MAIN_SIGNATURE} {
  ${LINEAR_ID}
  if (i >= p.n) { return; }
  let w = param[p.pOff + i];
  var d = grad[p.gOff + i] + p.weightDecay * w;
  ${momentum ? `var v = d;
  if (p.firstStep == 0u) { v = p.momentum * velocity[p.vOff + i] + (1.0 - p.dampening) * d; }
  velocity[p.vOff + i] = v;
  if (p.nesterov != 0u) { d = d + p.momentum * v; } else { d = v; }` : ""}
  param[p.pOff + i] = w - p.lr * d;
}`;
}

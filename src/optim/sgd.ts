// optim.SGD: torch.optim.SGD's update rule (momentum, dampening, Nesterov, weight decay), applied in place
// by the backend. zeroGrad() frees the gradients (PyTorch's set_to_none=True default).
import type { SgdParams } from "../backend/backend.js";
import type { Parameter } from "../nn/module.js";
import { keep } from "../tensor/scope.js";
import { Tensor } from "../tensor/tensor.js";

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD {
  readonly params: Parameter[];
  readonly options: SgdParams;
  /** Momentum buffers, created on the first step of each parameter (as PyTorch's state['momentum_buffer']). */
  readonly velocity = new Map<Parameter, Tensor>();
  stepCount = 0;

  constructor(params: Iterable<Parameter>, options: SgdOptions) {
    this.params = [...params];
    this.options = {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      weightDecay: options.weightDecay ?? 0,
      nesterov: options.nesterov ?? false,
    };
    const o = this.options;
    if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new Error(`SGD: invalid learning rate ${options.lr}`);
    if (!(o.momentum >= 0)) throw new Error(`SGD: invalid momentum ${o.momentum}`);
    if (!(o.weightDecay >= 0)) throw new Error(`SGD: invalid weight decay ${o.weightDecay}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new Error("SGD: Nesterov momentum requires a momentum and zero dampening");
    }
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let v = this.velocity.get(p) ?? null;
      const first = v === null;
      if (first && this.options.momentum !== 0) {
        v = keep(new Tensor(p.backend.fill(p.shape, p.dtype, 0)));
        this.velocity.set(p, v);
      }
      p.backend.sgdUpdate(p.storage, p.grad.storage, v ? v.storage : null, this.options, first);
    }
    this.stepCount++;
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    this.zeroGrad();
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}

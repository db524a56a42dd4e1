// nn.BatchNorm1d and nn.BatchNorm2d, as PyTorch's (eps 1e-5, momentum 0.1, affine, tracking running
// statistics): batch statistics in training mode, running statistics in eval mode. The running statistics
// and the batch count are buffers (`running_mean`, `running_var`, `num_batches_tracked`).
import type { OpName } from "../backend/backend.js";
import { ShapeError, batchNormShape, fmt } from "../backend/shapes.js";
import { batchNorm, batchNormRelu } from "../tensor/functional.js";
import { ones, zeros } from "../tensor/creation.js";
import { Tensor } from "../tensor/tensor.js";
import { Module, type Parameter } from "./module.js";

export interface BatchNormConfig {
  eps?: number;
  momentum?: number;
}

abstract class BatchNorm extends Module {
  readonly eps: number;
  readonly momentum: number;
  /** 2 for BatchNorm1d ((N,C) inputs), 4 for BatchNorm2d ((N,C,H,W)). */
  protected abstract readonly rank: 2 | 4;

  constructor(readonly numFeatures: number, config: BatchNormConfig = {}) {
    super();
    this.eps = config.eps ?? 1e-5;
    this.momentum = config.momentum ?? 0.1;
    const layer = this.constructor.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new Error(`${layer}: num_features must be a positive integer, got ${numFeatures}`);
    if (!(this.eps > 0)) throw new Error(`${layer}: eps must be positive, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`${layer}: momentum must be in [0, 1], got ${this.momentum}`);
    this.registerParameter("weight", ones([numFeatures]));
    this.registerParameter("bias", zeros([numFeatures]));
    this.registerBuffer("running_mean", zeros([numFeatures]));
    this.registerBuffer("running_var", ones([numFeatures]));
    this.registerBuffer("num_batches_tracked", zeros([]));
  }

  get weight(): Parameter {
    return this.getParameter("weight")!;
  }

  get bias(): Parameter {
    return this.getParameter("bias")!;
  }

  get runningMean(): Tensor {
    return this.getBuffer("running_mean")!;
  }

  get runningVar(): Tensor {
    return this.getBuffer("running_var")!;
  }

  /** Training batches seen (PyTorch's int64 `num_batches_tracked`, kept as a float32 0-d tensor). */
  get numBatchesTracked(): Tensor {
    return this.getBuffer("num_batches_tracked")!;
  }

  forward(x: Tensor): Tensor {
    return this.normalize(x, false);
  }

  /** relu(forward(x)) in one pass where the backend fuses it (nn.Sequential uses it for BatchNorm, ReLU). */
  forwardRelu(x: Tensor): Tensor {
    return this.normalize(x, true);
  }

  private normalize(x: Tensor, withRelu: boolean): Tensor {
    this.checkRank(x.shape);
    const f = withRelu ? batchNormRelu : batchNorm;
    const y = f(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.momentum, this.eps);
    if (this.training && x.backend.name !== "meta") this.countBatch();
    return y;
  }

  /** num_batches_tracked += 1, on the buffer's own device (a new 0-d tensor: values are never read here). */
  private countBatch(): void {
    const count = this.numBatchesTracked;
    this.registerBuffer("num_batches_tracked", new Tensor(count.backend.affine(count.storage, 1, 1)));
  }

  private checkRank(shape: readonly number[]): void {
    if (shape.length !== this.rank) {
      const want = this.rank === 2 ? `(N, ${this.numFeatures})` : `(N, ${this.numFeatures}, H, W)`;
      throw new ShapeError(`expected input ${want} with ${this.rank} dimensions, got ${fmt(shape)}`);
    }
    batchNormShape(shape, this.numFeatures, false);
  }

  override outputShape(input: readonly number[]): number[] {
    this.checkRank(input);
    return [...input];
  }

  override ops(): OpName[] {
    return ["batchNorm", "batchNormBackward", "reluBackward", "affine"];
  }

  override toString(): string {
    return `${this.constructor.name}(${this.numFeatures}, eps=${formatFloat(this.eps)}, momentum=${this.momentum}, affine=True, track_running_stats=True)`;
  }
}

/** Python's repr of a float as PyTorch prints eps: 1e-05, 0.001. */
function formatFloat(v: number): string {
  if (v !== 0 && Math.abs(v) < 1e-4) {
    const [m, e] = v.toExponential().split("e") as [string, string];
    const exp = Number(e);
    return `${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(v);
}

/** Batch normalization of (N, C) inputs (after a Linear layer). */
export class BatchNorm1d extends BatchNorm {
  protected readonly rank = 2;
}

/** Batch normalization of (N, C, H, W) inputs, per channel (after a Conv2d layer). */
export class BatchNorm2d extends BatchNorm {
  protected readonly rank = 4;
}

// What a training checkpoint holds, as data (no files): browser-safe, so the page's snapshots and the
// command line's share one type (checkpointFormat.ts has the files).
import type { NamedTensor } from "./safetensors.js";

export interface CheckpointData {
  /** Model parameters, PyTorch state_dict names and shapes (OIHW convs, (out, in) linears). */
  model: NamedTensor[];
  /** Optimizer state tensors, e.g. `0.weight.momentum_buffer`. */
  optimizer: NamedTensor[];
  /** JSON-serialisable training state: epoch, step, RNG state, loader order, metrics, config. */
  state: Record<string, unknown>;
  /** String metadata written into model.safetensors besides `format: "pt"` (which model the weights are
   * for, `alexnet-ts.model`: see src/cli/modelChoice.ts), so a checkpoint rebuilds its network. Absent
   * when there is none (checkpoints written before it). */
  metadata?: Record<string, string>;
}

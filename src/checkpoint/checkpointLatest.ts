// Finding the checkpoint to use in a run directory: the newest one that verifies (for --resume), saying why
// any newer one was passed over, and model weights from whatever a user calls a checkpoint (for eval and
// predict).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type CheckpointData, LEFTOVER_DIR, type LoadedCheckpoint, MANIFEST, STEP_DIR, checkpointDirName, stepOf } from "./checkpointFormat.js";
import { InvalidCheckpoint, decodeModel, readCheckpoint } from "./checkpointRead.js";
import { CheckpointError, describeFsError } from "./errors.js";
import type { NamedTensor } from "./safetensors.js";

/**
 * The newest checkpoint in runDir that verifies, or null when there is none. Newer ones that are incomplete
 * or corrupt are skipped, never loaded, and `log` says so: "checkpoint step-000000123 is corrupt
 * (model.safetensors checksum mismatch); using step-000000100".
 */
export function readLatestCheckpoint(runDir: string, log: (msg: string) => void = () => {}): LoadedCheckpoint | null {
  const checkpointsDir = join(runDir, "checkpoints");
  let names: string[];
  try {
    names = readdirSync(checkpointsDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CheckpointError(checkpointsDir, `cannot read checkpoints in ${checkpointsDir}: ${describeFsError(e)}`, { cause: e });
  }
  const candidates = names.filter((n) => STEP_DIR.test(n)).sort((a, b) => stepOf(b) - stepOf(a));
  const leftovers = names.filter((n) => LEFTOVER_DIR.test(n));
  const skipped: string[] = [];
  let found: LoadedCheckpoint | null = null;
  for (const n of candidates) {
    const dir = join(checkpointsDir, n);
    try {
      found = { dir, ...readCheckpoint(dir) };
      break;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      const what = e instanceof InvalidCheckpoint && e.incomplete ? "incomplete" : "corrupt";
      skipped.push(`checkpoint ${n} is ${what} (${e.reason})`);
    }
  }
  const using = found ? `using ${checkpointDirName(found.step)}` : "no complete checkpoint is left";
  for (const n of leftovers) {
    const by = LEFTOVER_DIR.exec(n)![2] === "del" ? "an interrupted deletion of an old checkpoint" : "an interrupted checkpoint write";
    if (!found || stepOf(n) >= found.step) log(`ignoring ${n}: left by ${by}; ${using}`);
  }
  for (const s of skipped) log(`${s}; ${using}`);
  return found;
}

/**
 * Model weights from what a user calls a checkpoint: a .safetensors file, a checkpoint directory, or a run
 * directory (its newest complete checkpoint). For `alexnet eval/predict --checkpoint PATH`.
 */
export function readModelWeights(path: string, log: (msg: string) => void = () => {}): NamedTensor[] {
  return readModelFile(path, log).tensors;
}

/** Model weights and the model file's metadata (besides `format`: which network they are for, when the
 * run recorded it), from a .safetensors file, a checkpoint directory or a run directory. */
export function readModelFile(path: string, log: (msg: string) => void = () => {}): { tensors: NamedTensor[]; metadata: Record<string, string> } {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new CheckpointError(path, `cannot read checkpoint ${path}: ${describeFsError(e)}`, { cause: e });
  }
  if (!isDir) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new CheckpointError(path, `cannot read checkpoint ${path}: ${describeFsError(e)}`, { cause: e });
    }
    return decodeModel(bytes, path);
  }
  const fromData = (d: CheckpointData): { tensors: NamedTensor[]; metadata: Record<string, string> } => ({ tensors: d.model, metadata: d.metadata ?? {} });
  if (existsSync(join(path, MANIFEST))) return fromData(readCheckpoint(path).data);
  const latest = readLatestCheckpoint(path, log);
  if (!latest) throw new CheckpointError(path, `${path} holds no complete checkpoint (expected a .safetensors file, a checkpoint directory or a run directory)`);
  return fromData(latest.data);
}

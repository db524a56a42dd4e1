// Writing a checkpoint so that a crash, a kill or a full disk at any moment leaves a loadable one behind:
// every file is written into `step-....tmp-<pid>/` and fsynced, the manifest last, and only then is the
// directory renamed to its final name (rename is atomic), so a `step-N` directory is always complete. The
// previous checkpoint is deleted only after the new one is in place. Also: the newest weights published as
// runDir/model.safetensors, pruning of old checkpoints, and checking up front that a run directory can take
// checkpoints at all.
import {
  copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statfsSync, unlinkSync,
} from "node:fs";
import { basename, join } from "node:path";
import {
  type CheckpointData, FORMAT, type FileRecord, LEFTOVER_DIR, MANIFEST, STEP_DIR, VERSION, checkpointDirName, manifestChecksum, utf8,
} from "./checkpointFormat.js";
import { looksComplete } from "./checkpointRead.js";
import { fsyncDir, fsyncPath, isProcessAlive, writeDurable } from "../io/durableFile.js";
import { CheckpointError, describeFsError } from "./errors.js";
import { encodeSafetensorsChunks } from "./safetensors.js";

/** state.json's text; refuses values JSON would silently change (NaN becomes null, a typed array an object),
 * since resuming from a quietly different state breaks "resume equals an uninterrupted run". */
function stateText(step: number, state: Record<string, unknown>, where: string): string {
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw new CheckpointError(where, `cannot write checkpoint ${where}: the training state must be an object`);
  }
  const bad = (key: string, what: string): CheckpointError =>
    new CheckpointError(where, `cannot write checkpoint ${where}: state value ${JSON.stringify(key)} is ${what}, which JSON cannot hold exactly`);
  return `${JSON.stringify({ step, state }, (key, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) throw bad(key, String(v));
    if (typeof v === "bigint") throw bad(key, "a bigint");
    if (ArrayBuffer.isView(v)) throw bad(key, `a ${v.constructor.name} (convert it with Array.from)`);
    return v;
  })}\n`;
}

function manifestText(step: number, files: Record<string, FileRecord>): string {
  const body = { format: FORMAT, version: VERSION, step, files };
  return `${JSON.stringify({ ...body, sha256: manifestChecksum(body) })}\n`;
}

/**
 * Writes the checkpoint for `step` and returns its directory. Throws CheckpointError (with the path and the
 * reason: no space, permission, file size limit, not a directory...) when anything fails; the previous
 * checkpoint is then untouched and no `step-N` directory for this step is left half-written.
 *
 * Afterwards only this checkpoint and the newest complete one before it remain: older ones, and any with a
 * higher step (a timeline abandoned by resuming from an earlier checkpoint), are deleted, as are directories
 * left by interrupted writes of processes that no longer run. `log` hears about deletions that fail.
 */
export function writeCheckpoint(runDir: string, step: number, data: CheckpointData, log: (msg: string) => void = () => {}): string {
  const checkpointsDir = join(runDir, "checkpoints");
  const name = checkpointDirName(step);
  const finalDir = join(checkpointsDir, name);
  const tmpDir = join(checkpointsDir, `${name}.tmp-${process.pid}`);
  const oldDir = join(checkpointsDir, `${name}.old-${process.pid}`);
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new CheckpointError(finalDir, `cannot write a checkpoint for step ${step}: the step must be a non-negative integer`);
  }
  // Everything that can fail without the disk fails here, before anything is written.
  const stateJson = utf8(stateText(step, data.state, finalDir));
  const modelChunks = encodeSafetensorsChunks(data.model, { ...data.metadata, format: "pt" }, join(finalDir, "model.safetensors"));
  const optimizerChunks = encodeSafetensorsChunks(data.optimizer, { format: "pt" }, join(finalDir, "optimizer.safetensors"));

  let movedOld = false;
  try {
    mkdirSync(checkpointsDir, { recursive: true });
    prune(checkpointsDir, step, log);
    rmSync(tmpDir, { recursive: true, force: true });
    mkdirSync(tmpDir);
    const files: Record<string, FileRecord> = {
      "model.safetensors": writeDurable(join(tmpDir, "model.safetensors"), modelChunks),
      "optimizer.safetensors": writeDurable(join(tmpDir, "optimizer.safetensors"), optimizerChunks),
      "state.json": writeDurable(join(tmpDir, "state.json"), [stateJson]),
    };
    writeDurable(join(tmpDir, MANIFEST), [utf8(manifestText(step, files))]);
    fsyncDir(tmpDir);
    // A checkpoint of the same step (written again after a resume, or at an epoch end that is also a
    // --checkpoint-every step) is moved aside, not deleted, until the new one has its name.
    if (existsSync(finalDir)) {
      rmSync(oldDir, { recursive: true, force: true });
      renameSync(finalDir, oldDir);
      movedOld = true;
    }
    renameSync(tmpDir, finalDir);
    fsyncDir(checkpointsDir);
  } catch (e) {
    try {
      rmSync(tmpDir, { recursive: true, force: true });
      if (movedOld && !existsSync(finalDir)) renameSync(oldDir, finalDir);
    } catch {
      // The original error is the one to report; a leftover tmp directory is never loaded.
    }
    if (e instanceof CheckpointError) throw e;
    const at = (e as NodeJS.ErrnoException).path;
    throw new CheckpointError(
      at ?? finalDir,
      `cannot write checkpoint ${name} in ${checkpointsDir}: ${describeFsError(e)}${at ? ` (at ${at})` : ""}; the previous checkpoint is unchanged`,
      { cause: e, reason: describeFsError(e) },
    );
  }
  try {
    if (movedOld) rmSync(oldDir, { recursive: true, force: true });
    prune(checkpointsDir, step, log);
  } catch (e) {
    log(`could not delete old checkpoints in ${checkpointsDir}: ${describeFsError(e)}`);
  }
  publishModel(runDir, finalDir, name);
  return finalDir;
}

/** Makes runDir/model.safetensors the weights of checkpoint `finalDir`, atomically: a hard link (no copy, no
 * extra space) or, where links are not allowed, a copy, made under a temporary name and renamed over the old
 * one. Also called on resume: a kill between a checkpoint's rename and this leaves the previous weights there. */
export function publishModel(runDir: string, finalDir: string, name = basename(finalDir)): void {
  const source = join(finalDir, "model.safetensors");
  const target = join(runDir, "model.safetensors");
  const tmp = join(runDir, `.model.safetensors.tmp-${process.pid}`);
  try {
    rmSync(tmp, { force: true });
    try {
      linkSync(source, tmp);
    } catch {
      copyFileSync(source, tmp);
      fsyncPath(tmp, "r+");
    }
    renameSync(tmp, target);
    fsyncDir(runDir);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The error below is the one to report.
    }
    throw new CheckpointError(
      target,
      `checkpoint ${name} was saved, but updating ${target} failed: ${describeFsError(e)}`,
      { cause: e, reason: describeFsError(e) },
    );
  }
}

/** Deletes all checkpoints except `keepStep`'s and the newest complete one before it, and leftovers of
 * interrupted writes by processes that have exited. "Complete" is judged cheaply (manifest valid, sizes
 * right); hashing hundreds of megabytes on every save would cost seconds. */
function prune(checkpointsDir: string, keepStep: number, log: (msg: string) => void): void {
  const names = readdirSync(checkpointsDir);
  let previous = -1;
  for (const n of names) {
    const m = STEP_DIR.exec(n);
    if (!m) continue;
    const s = Number(m[1]);
    if (s < keepStep && s > previous && looksComplete(join(checkpointsDir, n))) previous = s;
  }
  for (const n of names) {
    const step = STEP_DIR.exec(n);
    const leftover = LEFTOVER_DIR.exec(n);
    let remove = false;
    if (step) remove = Number(step[1]) !== keepStep && Number(step[1]) !== previous;
    else if (leftover) remove = Number(leftover[3]) !== process.pid && !isProcessAlive(Number(leftover[3]));
    if (!remove) continue;
    try {
      if (step) {
        // Renamed first (atomic): a kill during the recursive delete then leaves a leftover, not a
        // `step-N` directory without its manifest that looks like an interrupted write of step N.
        const doomed = join(checkpointsDir, `${n}.del-${process.pid}`);
        renameSync(join(checkpointsDir, n), doomed);
        rmSync(doomed, { recursive: true, force: true });
      } else rmSync(join(checkpointsDir, n), { recursive: true, force: true });
    } catch (e) {
      log(`could not delete old checkpoint ${join(checkpointsDir, n)}: ${describeFsError(e)}`);
    }
  }
}

/**
 * Creates runDir (and its checkpoints directory) if needed and proves that a file can be written, fsynced and
 * renamed there, so that an unwritable run directory is reported before training starts, not at the first
 * checkpoint. With `needBytes` (about twice the model and optimizer bytes: the new checkpoint and the
 * previous one), also checks the free space.
 */
export function checkWritable(runDir: string, options: { needBytes?: number } = {}): void {
  const checkpointsDir = join(runDir, "checkpoints");
  const probe = join(checkpointsDir, `.write-probe-${process.pid}`);
  try {
    mkdirSync(checkpointsDir, { recursive: true });
    writeDurable(probe, [utf8("probe\n")]);
    renameSync(probe, `${probe}.renamed`);
    unlinkSync(`${probe}.renamed`);
  } catch (e) {
    for (const p of [probe, `${probe}.renamed`]) {
      try {
        rmSync(p, { force: true });
      } catch {
        // Nothing was created where nothing can be written.
      }
    }
    throw new CheckpointError(runDir, `run directory ${runDir} is not writable: ${describeFsError(e)}`, { cause: e, reason: describeFsError(e) });
  }
  if (options.needBytes !== undefined) {
    const fs = statfsSync(checkpointsDir);
    const free = fs.bavail * fs.bsize;
    if (free < options.needBytes) {
      const mb = (n: number): string => `${(n / 1e6).toFixed(0)} MB`;
      throw new CheckpointError(runDir, `not enough space for checkpoints in ${runDir}: ${mb(free)} free, about ${mb(options.needBytes)} needed`, { reason: "not enough space" });
    }
  }
}

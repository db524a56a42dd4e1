// Training checkpoints in a run directory, written so that a crash, a kill or a full disk at any moment
// leaves a loadable checkpoint behind:
//
//   runDir/checkpoints/step-000000123/
//     model.safetensors       weights under PyTorch state_dict names (`0.weight`), loadable by load_state_dict
//     optimizer.safetensors   optimizer buffers (`0.weight.momentum_buffer`)
//     state.json              {"step": 123, "state": {...}}: epoch, RNG, data order, metrics, config
//     manifest.json           written last: size and sha256 of the three files, and a sha256 of itself
//   runDir/model.safetensors  the newest weights, for users (a hard link to the checkpoint's file)
//
// A checkpoint is written into `step-....tmp-<pid>/`, every file and the directory fsynced, and only then
// renamed to its final name (rename is atomic), so a `step-N` directory is always complete; the checksums catch
// what happens to it afterwards (a truncated copy, a flipped bit). The previous checkpoint is deleted only
// after the new one is in place. Reading picks the newest checkpoint that verifies and says why it skipped any
// newer one.
import { createHash } from "node:crypto";
import {
  closeSync, copyFileSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync,
  rmSync, statfsSync, statSync, unlinkSync, writeSync,
} from "node:fs";
import { join } from "node:path";
import { CheckpointError, describeFsError } from "./errors.js";
import { decodeSafetensors, encodeSafetensorsChunks, type NamedTensor } from "./safetensors.js";

export { CheckpointError } from "./errors.js";
export type { NamedTensor } from "./safetensors.js";

export interface CheckpointData {
  /** Model parameters, PyTorch state_dict names and shapes (OIHW convs, (out, in) linears). */
  model: NamedTensor[];
  /** Optimizer state tensors, e.g. `0.weight.momentum_buffer`. */
  optimizer: NamedTensor[];
  /** JSON-serialisable training state: epoch, step, RNG state, loader order, metrics, config. */
  state: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  dir: string;
  step: number;
  data: CheckpointData;
}

const FORMAT = "alexnet-ts checkpoint";
const VERSION = 1;
const DATA_FILES = ["model.safetensors", "optimizer.safetensors", "state.json"] as const;
const MANIFEST = "manifest.json";
const STEP_DIR = /^step-(\d+)$/;
/** Directories a write leaves behind only if it was interrupted: `.tmp-` while writing, `.old-` while
 * replacing a checkpoint of the same step. Never loaded. */
const LEFTOVER_DIR = /^step-(\d+)\.(tmp|old)-(\d+)$/;

/** `step-000000123`: zero-padded so that directory listings sort in step order. */
export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(9, "0")}`;
}

function sha256(chunks: readonly Uint8Array[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

interface FileRecord {
  bytes: number;
  sha256: string;
}

/** Writes a new file (it must not exist), fsyncs it, and returns its size and checksum. */
function writeDurable(path: string, chunks: readonly Uint8Array[]): FileRecord {
  const fd = openSync(path, "wx");
  let bytes = 0;
  try {
    for (const c of chunks) {
      for (let at = 0; at < c.length;) at += writeSync(fd, c, at, c.length - at);
      bytes += c.length;
    }
    fsyncSync(fd);
  } catch (e) {
    // write and fsync errors carry no path; the message should say which file could not be written.
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err === "object" && err.path === undefined) err.path = path;
    try {
      closeSync(fd);
    } catch {
      // The write's error is the one to report.
    }
    throw e;
  }
  closeSync(fd);
  return { bytes, sha256: sha256(chunks) };
}

/** fsync a directory so that the names created or renamed in it survive a power cut (Linux, macOS). */
function fsyncDir(dir: string): void {
  if (process.platform === "win32") return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

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
  return `${JSON.stringify({ ...body, sha256: sha256([utf8(JSON.stringify(body))]) })}\n`;
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
  const modelChunks = encodeSafetensorsChunks(data.model, { format: "pt" }, join(finalDir, "model.safetensors"));
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

/** Makes runDir/model.safetensors the new checkpoint's weights, atomically: a hard link (no copy, no extra
 * space) or, where links are not allowed, a copy, made under a temporary name and renamed over the old one. */
function publishModel(runDir: string, finalDir: string, name: string): void {
  const source = join(finalDir, "model.safetensors");
  const target = join(runDir, "model.safetensors");
  const tmp = join(runDir, `.model.safetensors.tmp-${process.pid}`);
  try {
    rmSync(tmp, { force: true });
    try {
      linkSync(source, tmp);
    } catch {
      copyFileSync(source, tmp);
      const fd = openSync(tmp, "r+");
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
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
    else if (leftover) remove = Number(leftover[3]) !== process.pid && !isAlive(Number(leftover[3]));
    if (!remove) continue;
    try {
      rmSync(join(checkpointsDir, n), { recursive: true, force: true });
    } catch (e) {
      log(`could not delete old checkpoint ${join(checkpointsDir, n)}: ${describeFsError(e)}`);
    }
  }
}

function looksComplete(dir: string): boolean {
  try {
    const manifest = readManifest(dir);
    return DATA_FILES.every((f) => statSync(join(dir, f)).size === manifest.files[f]!.bytes);
  } catch {
    return false;
  }
}

interface Manifest {
  step: number;
  files: Record<string, FileRecord>;
}

/** A checkpoint that cannot be used; `incomplete` when a write was interrupted (no manifest). */
class InvalidCheckpoint extends CheckpointError {
  constructor(dir: string, reason: string, readonly incomplete = false) {
    super(dir, `checkpoint ${dir} is ${incomplete ? "incomplete" : "corrupt"} (${reason})`, { reason });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function readManifest(dir: string): Manifest {
  let text: string;
  try {
    text = readFileSync(join(dir, MANIFEST), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new InvalidCheckpoint(dir, `${MANIFEST} is missing: an interrupted write`, true);
    throw new InvalidCheckpoint(dir, `cannot read ${MANIFEST}: ${describeFsError(e)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidCheckpoint(dir, `${MANIFEST} is not valid JSON`);
  }
  if (!isObject(parsed)) throw new InvalidCheckpoint(dir, `${MANIFEST} is not a JSON object`);
  const { sha256: own, ...body } = parsed;
  if (own !== sha256([utf8(JSON.stringify(body))])) throw new InvalidCheckpoint(dir, `${MANIFEST} checksum mismatch`);
  if (body.format !== FORMAT) throw new InvalidCheckpoint(dir, `${MANIFEST} is not an ${FORMAT} manifest`);
  if (body.version !== VERSION) throw new InvalidCheckpoint(dir, `${MANIFEST} has version ${String(body.version)}; this program reads version ${VERSION}`);
  const files = body.files;
  if (!isObject(files) || !DATA_FILES.every((f) => isObject(files[f]) && Number.isSafeInteger(files[f].bytes) && typeof files[f].sha256 === "string")) {
    throw new InvalidCheckpoint(dir, `${MANIFEST} does not list the checkpoint's files`);
  }
  if (!Number.isSafeInteger(body.step)) throw new InvalidCheckpoint(dir, `${MANIFEST} has no step`);
  return { step: body.step as number, files: files as Record<string, FileRecord> };
}

function readVerified(dir: string, file: string, record: FileRecord): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(join(dir, file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidCheckpoint(dir, code === "ENOENT" ? `${file} is missing` : `cannot read ${file}: ${describeFsError(e)}`);
  }
  if (bytes.length !== record.bytes) throw new InvalidCheckpoint(dir, `${file} is ${bytes.length} bytes, the manifest says ${record.bytes}`);
  if (sha256([bytes]) !== record.sha256) throw new InvalidCheckpoint(dir, `${file} checksum mismatch`);
  return bytes;
}

function toNamed(bytes: Uint8Array, file: string): NamedTensor[] {
  return [...decodeSafetensors(bytes, file).tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
}

/** Reads and verifies one checkpoint directory; throws CheckpointError (with a short `reason`) when it is
 * incomplete or any file fails its checksum. */
export function readCheckpoint(dir: string): { step: number; data: CheckpointData } {
  const manifest = readManifest(dir);
  const m = STEP_DIR.exec(dir.split(/[\\/]/).pop() ?? "");
  if (m && Number(m[1]) !== manifest.step) throw new InvalidCheckpoint(dir, `its manifest is for step ${manifest.step}`);
  const bytes = Object.fromEntries(DATA_FILES.map((f) => [f, readVerified(dir, f, manifest.files[f]!)]));
  let state: unknown;
  try {
    state = JSON.parse(new TextDecoder().decode(bytes["state.json"]));
  } catch {
    throw new InvalidCheckpoint(dir, "state.json is not valid JSON");
  }
  if (!isObject(state) || state.step !== manifest.step || !isObject(state.state)) {
    throw new InvalidCheckpoint(dir, "state.json does not hold this step's state");
  }
  return {
    step: manifest.step,
    data: {
      model: toNamed(bytes["model.safetensors"]!, join(dir, "model.safetensors")),
      optimizer: toNamed(bytes["optimizer.safetensors"]!, join(dir, "optimizer.safetensors")),
      state: state.state,
    },
  };
}

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
    if (!found || stepOf(n) >= found.step) log(`ignoring ${n}: left by an interrupted checkpoint write; ${using}`);
  }
  for (const s of skipped) log(`${s}; ${using}`);
  return found;
}

function stepOf(name: string): number {
  return Number((STEP_DIR.exec(name) ?? LEFTOVER_DIR.exec(name))![1]);
}

/**
 * Model weights from what a user calls a checkpoint: a .safetensors file, a checkpoint directory, or a run
 * directory (its newest complete checkpoint). For `alexnet eval/predict --checkpoint PATH`.
 */
export function readModelWeights(path: string, log: (msg: string) => void = () => {}): NamedTensor[] {
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
    return toNamed(bytes, path);
  }
  if (existsSync(join(path, MANIFEST))) return readCheckpoint(path).data.model;
  const latest = readLatestCheckpoint(path, log);
  if (!latest) throw new CheckpointError(path, `${path} holds no complete checkpoint (expected a .safetensors file, a checkpoint directory or a run directory)`);
  return latest.data.model;
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

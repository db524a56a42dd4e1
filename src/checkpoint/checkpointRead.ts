// Reading one checkpoint directory and proving it intact: the manifest (its own checksum, format, version,
// file list), then every file's size and sha256, then state.json's step. Anything wrong is an
// InvalidCheckpoint that says whether the write was interrupted (no manifest) or the files were damaged.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  type CheckpointData, DATA_FILES, FORMAT, type FileRecord, MANIFEST, STEP_DIR, VERSION, manifestChecksum, sha256,
} from "./checkpointFormat.js";
import { CheckpointError, describeFsError } from "./errors.js";
import { decodeSafetensors, type NamedTensor } from "./safetensors.js";

interface Manifest {
  step: number;
  files: Record<string, FileRecord>;
}

/** A checkpoint that cannot be used; `incomplete` when a write was interrupted (no manifest). */
export class InvalidCheckpoint extends CheckpointError {
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
  if (own !== manifestChecksum(body)) throw new InvalidCheckpoint(dir, `${MANIFEST} checksum mismatch`);
  if (body.format !== FORMAT) throw new InvalidCheckpoint(dir, `${MANIFEST} is not an ${FORMAT} manifest`);
  if (body.version !== VERSION) throw new InvalidCheckpoint(dir, `${MANIFEST} has version ${String(body.version)}; this program reads version ${VERSION}`);
  const files = body.files;
  if (!isObject(files) || !DATA_FILES.every((f) => isObject(files[f]) && Number.isSafeInteger(files[f].bytes) && typeof files[f].sha256 === "string")) {
    throw new InvalidCheckpoint(dir, `${MANIFEST} does not list the checkpoint's files`);
  }
  if (!Number.isSafeInteger(body.step)) throw new InvalidCheckpoint(dir, `${MANIFEST} has no step`);
  return { step: body.step as number, files: files as Record<string, FileRecord> };
}

/** Whether `dir` holds a complete checkpoint by its manifest and file sizes alone, without hashing (pruning
 * asks on every save). */
export function looksComplete(dir: string): boolean {
  try {
    const manifest = readManifest(dir);
    return DATA_FILES.every((f) => statSync(join(dir, f)).size === manifest.files[f]!.bytes);
  } catch {
    return false;
  }
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

/** The tensors of a safetensors file's bytes; `file` names it in errors. */
export function toNamed(bytes: Uint8Array, file: string): NamedTensor[] {
  return decodeModel(bytes, file).tensors;
}

/** The tensors of a safetensors file's bytes and its metadata other than `format`. */
export function decodeModel(bytes: Uint8Array, file: string): { tensors: NamedTensor[]; metadata: Record<string, string> } {
  const decoded = decodeSafetensors(bytes, file);
  const { format: _format, ...metadata } = decoded.metadata;
  return { tensors: [...decoded.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })), metadata };
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
  const model = decodeModel(bytes["model.safetensors"]!, join(dir, "model.safetensors"));
  return {
    step: manifest.step,
    data: {
      model: model.tensors,
      optimizer: toNamed(bytes["optimizer.safetensors"]!, join(dir, "optimizer.safetensors")),
      state: state.state,
      ...(Object.keys(model.metadata).length > 0 ? { metadata: model.metadata } : {}),
    },
  };
}

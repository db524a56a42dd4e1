// What a checkpoint is on disk, shared by writing and reading: the files of a checkpoint directory, how
// directories are named (and which names are leftovers of interrupted writes), and the manifest's checksums.
import type { CheckpointData } from "./checkpointData.js";
import { type FileRecord, sha256 } from "../io/durableFile.js";

export { type FileRecord, sha256 };
export type { CheckpointData };

export interface LoadedCheckpoint {
  dir: string;
  step: number;
  data: CheckpointData;
}


export const FORMAT = "alexnet-ts checkpoint";
export const VERSION = 1;
export const DATA_FILES = ["model.safetensors", "optimizer.safetensors", "state.json"] as const;
export const MANIFEST = "manifest.json";
export const STEP_DIR = /^step-(\d+)$/;
/** Directories left behind only by an interrupted process: `.tmp-` while writing, `.old-` while replacing a
 * checkpoint of the same step, `.del-` while deleting one (it is renamed first, so a half-deleted checkpoint
 * never keeps its `step-N` name). Never loaded. */
export const LEFTOVER_DIR = /^step-(\d+)\.(tmp|old|del)-(\d+)$/;

/** `step-000000123`: zero-padded so that directory listings sort in step order. */
export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(9, "0")}`;
}

/** The step of a checkpoint directory's name, or of a leftover's. */
export function stepOf(name: string): number {
  return Number((STEP_DIR.exec(name) ?? LEFTOVER_DIR.exec(name))![1]);
}


export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The manifest's checksum of itself: over its JSON text without the `sha256` field. */
export function manifestChecksum(body: Record<string, unknown>): string {
  return sha256([utf8(JSON.stringify(body))]);
}

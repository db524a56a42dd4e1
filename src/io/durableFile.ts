// Writes that survive a crash or a power cut once they return: new files written in full and fsynced, and
// directories fsynced so that the names created or renamed in them are on disk too; and whether the process
// named in a temporary file's name still runs (its leftovers are deleted only once it does not). Checkpoints
// and downloads build on it.
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";

/** A file as the manifest records it. */
export interface FileRecord {
  bytes: number;
  sha256: string;
}

/** The SHA-256 of the chunks, hex. */
export function sha256(chunks: readonly Uint8Array[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

/** Writes a new file (it must not exist), fsyncs it, and returns its size and checksum. */
export function writeDurable(path: string, chunks: readonly Uint8Array[]): FileRecord {
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

/** fsync an existing file (or, with flags "r", a directory). */
export function fsyncPath(path: string, flags: "r" | "r+"): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync a directory so that the names created or renamed in it survive a power cut (Linux, macOS). */
export function fsyncDir(dir: string): void {
  if (process.platform === "win32") return;
  fsyncPath(dir, "r");
}

/** Whether process `pid` exists (EPERM: it does, but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

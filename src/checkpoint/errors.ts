// The error type of everything under src/train that reads or writes checkpoint files, so that callers (the
// training loop, `alexnet eval`) can tell a bad or unwritable checkpoint from a bug and print one clear line.

export class CheckpointError extends Error {
  /** The file or directory the problem is about. */
  readonly path: string;
  /** The problem in a few words, without the path ("model.safetensors checksum mismatch"), for log lines
   * that name the checkpoint themselves. */
  readonly reason: string;

  constructor(path: string, message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CheckpointError";
    this.path = path;
    this.reason = options?.reason ?? message;
  }
}

/** A short, human reason for a Node fs error ("no space left on device (ENOSPC)"), used inside messages. */
export function describeFsError(err: unknown): string {
  const e = err as { code?: unknown } | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const reasons: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EFBIG: "file too large (file size limit reached)",
    EROFS: "read-only file system",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ENOTDIR: "a component of the path is not a directory",
    EISDIR: "is a directory",
    ENOENT: "no such file or directory",
    EEXIST: "already exists",
    EIO: "input/output error",
  };
  if (code && reasons[code]) return `${reasons[code]} (${code})`;
  if (e instanceof Error) return e.message;
  return String(err);
}

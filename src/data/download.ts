// Downloads that never leave a corrupt file behind: each file streams into a private temporary file in the
// target directory, its MD5 is checked against the published value (for a repackaged copy: its content
// against the published content's checksum), and only then is it renamed into place (rename is atomic
// within a directory). Any failure (HTTP error, dropped connection, stall, checksum mismatch) removes the
// temporary file and moves on to the next mirror.
import { createHash } from "node:crypto";
import { mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, unlinkSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isProcessAlive } from "../io/durableFile.js";
import { DataError } from "./idx.js";
import { type ProgressSink, terminalProgress } from "../io/progressBar.js";

/** The download bar (src/io/progressBar.ts); the data API still offers it. */
export { terminalProgress, type ProgressSink };

export interface RemoteFile {
  /** File name, appended to each mirror's base URL and used as the local name. */
  name: string;
  /** Published MD5 of the file as served (hex). */
  md5: string;
  /** Published size in bytes; a transfer that grows beyond it is cut short. */
  size?: number;
  /**
   * A second check for a file whose bytes differ from the published MD5 but whose content is the same (a
   * recompressed .gz, as Debian ships and local mirrors serve): true accepts it.
   */
  sameContent?: (path: string) => boolean;
}


export interface DownloadOptions {
  /** Base URLs tried in order; each is joined with the file name. */
  mirrors: readonly string[];
  /** Abort a transfer that receives nothing for this long (ms). Default 30 s. */
  stallTimeoutMs?: number;
  /** true: progress bar on stderr (default when stderr is a TTY); false: none; or a custom sink. */
  progress?: boolean | ProgressSink;
  /** One-line notes (which mirror failed and why). Default: stderr. */
  log?: (line: string) => void;
  /** Injectable for tests. Default: the global fetch. */
  fetch?: typeof fetch;
}

/** Thrown when every mirror failed for a file; `attempts` lists each mirror's reason. */
export class DownloadError extends DataError {
  constructor(
    message: string,
    readonly attempts: readonly string[],
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

const TEMP_MARK = ".part-";

function joinUrl(base: string, name: string): string {
  return base.endsWith("/") ? base + name : `${base}/${name}`;
}

/** Removes temporary files that a killed earlier run left behind (their owner process is gone). */
function removeStaleTemps(dir: string, name: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(name + TEMP_MARK)) continue;
    const pid = Number(entry.slice(name.length + TEMP_MARK.length).split(".")[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isProcessAlive(pid)) {
      try {
        unlinkSync(join(dir, entry));
      } catch {
        // another process may have removed it first
      }
    }
  }
}

let tempCounter = 0;

/** Fetches one URL into `tempPath`; resolves with the MD5 of what was written, rejects on any failure. */
async function fetchToFile(
  url: string,
  tempPath: string,
  file: RemoteFile,
  opts: DownloadOptions,
  sink: ProgressSink | null,
): Promise<string> {
  const doFetch = opts.fetch ?? fetch;
  const stallMs = opts.stallTimeoutMs ?? 30_000;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${stallMs / 1000} s`)), stallMs);
  };
  arm();
  const fd = openSync(tempPath, "wx");
  let closed = false;
  try {
    const res = await doFetch(url, { signal: controller.signal, redirect: "follow" });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`.trimEnd());
    const header = Number(res.headers.get("content-length"));
    const total = file.size ?? (Number.isFinite(header) && header > 0 ? header : undefined);
    sink?.start(file.name, url, total);
    const hash = createHash("md5");
    let received = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        received += value.length;
        if (file.size !== undefined && received > file.size) {
          throw new Error(`server sent more than the expected ${file.size} bytes`);
        }
        hash.update(value);
        let off = 0;
        while (off < value.length) off += writeSync(fd, value, off, value.length - off);
        sink?.update(received);
      }
    } finally {
      reader.releaseLock();
    }
    // A repackaged copy may be shorter than the published size; only its content check can accept it.
    if (file.size !== undefined && received !== file.size && !file.sameContent) {
      throw new Error(`transfer ended after ${received} of ${file.size} bytes`);
    }
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    sink?.end(true);
    return hash.digest("hex");
  } catch (err) {
    sink?.end(false);
    const reason = controller.signal.aborted ? (controller.signal.reason as Error) : (err as Error);
    const cause = (reason as { cause?: Error }).cause;
    throw new Error(cause ? `${reason.message} (${cause.message})` : reason.message);
  } finally {
    if (timer) clearTimeout(timer);
    if (!closed) closeSync(fd);
  }
}

/**
 * Downloads `file` into `dir` (created if needed) from the first mirror that delivers the right bytes.
 * Returns the final path. The final name appears only once the content is complete and its MD5 matches.
 */
export async function downloadFile(file: RemoteFile, dir: string, opts: DownloadOptions): Promise<string> {
  if (opts.mirrors.length === 0) throw new DownloadError(`no mirrors to download ${file.name} from`, []);
  mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir, file.name);
  const finalPath = join(dir, file.name);
  const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
  const sink = resolveSink(opts.progress);
  const attempts: string[] = [];
  for (const mirror of opts.mirrors) {
    const url = joinUrl(mirror, file.name);
    const tempPath = join(dir, `${file.name}${TEMP_MARK}${process.pid}.${tempCounter++}`);
    let renamed = false;
    try {
      if (!sink) log(`downloading ${url}`);
      const md5 = await fetchToFile(url, tempPath, file, opts, sink);
      if (md5 !== file.md5.toLowerCase() && !file.sameContent?.(tempPath)) {
        throw new Error(`checksum mismatch: MD5 ${md5}, expected ${file.md5}`);
      }
      renameSync(tempPath, finalPath);
      renamed = true;
      return finalPath;
    } catch (err) {
      const line = `${url}: ${(err as Error).message}`;
      attempts.push(line);
      log(`download failed: ${line}`);
    } finally {
      if (!renamed) {
        try {
          unlinkSync(tempPath);
        } catch {
          // never created, or already gone
        }
      }
    }
  }
  throw new DownloadError(`could not download ${file.name} from any mirror:\n  ${attempts.join("\n  ")}`, attempts);
}

function resolveSink(progress: DownloadOptions["progress"]): ProgressSink | null {
  if (progress === false) return null;
  if (progress && progress !== true) return progress;
  if (progress === true || process.stderr.isTTY) return terminalProgress(process.stderr);
  return null;
}

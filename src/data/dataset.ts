// Any IDX image-classification data set published as four gzip files (MNIST's layout): where its files come
// from and how a split is loaded, driven by a descriptor (name, files and checksums, mirrors, labels), so
// Fashion-MNIST and MNIST share one set of rules. A directory named with --data-dir is used and nothing else:
// missing files are downloaded into it (as torchvision's MNIST(root, download=True) does). Without it the
// search order is the data set's environment variable ($ALEXNET_DATA for Fashion-MNIST), the user cache
// (~/.cache/alexnet-ts/<name>), and its Debian package if it has one; if none has all four files they are
// downloaded (into the environment variable's directory when set, else the cache). The mirrors' variable
// ($ALEXNET_MIRRORS for Fashion-MNIST) replaces the official mirrors. Each data set has variables of its own
// because MNIST and Fashion-MNIST publish files of the same names: one directory cannot hold both.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DataError, parseIdxImages, parseIdxLabels } from "./idx.js";
import { readMaybeGzip } from "./idxFile.js";
import { downloadFile, DownloadError, type DownloadOptions, type ProgressSink } from "./download.js";

export type Split = "train" | "test";

export interface DatasetFile {
  /** Name as published (gzip-compressed). */
  name: string;
  /** Published MD5 and size of the .gz file. */
  md5: string;
  size: number;
  /**
   * MD5 of the uncompressed IDX bytes, where known. Repackaged copies (Debian recompressed Fashion-MNIST
   * without the name in the gzip header) differ in the .gz bytes but not here, so local files are checked on
   * this. Without it (MNIST publishes checksums of the .gz files only) a local file passes as a byte-identical
   * published .gz, or, uncompressed or recompressed, by its uncompressed size and IDX header.
   */
  contentMd5?: string;
  contentSize: number;
}

export interface DatasetSpec {
  /** The --dataset name and the cache directory's name: "fashion-mnist", "mnist". */
  name: string;
  /** How messages name it: "Fashion-MNIST". */
  title: string;
  /** Where the files are described (for the missing-data help). */
  homepage: string;
  files: Record<Split, { images: DatasetFile; labels: DatasetFile }>;
  /** Official mirrors, tried in order. */
  mirrors: readonly string[];
  /** Class names by label (d2l's text labels); their count is the number of classes. */
  labels: readonly string[];
  /** Environment variable naming a directory with the files. */
  dataEnv: string;
  /** Environment variable with base URLs replacing the official mirrors. */
  mirrorsEnv: string;
  /** The Debian package that installs the files, if there is one. */
  debian?: { package: string; dir: string };
}

/** Where a data set was found. "ALEXNET_DATA" stands for the data set's own variable (spec.dataEnv). */
export type Origin = "--data-dir" | "ALEXNET_DATA" | "cache" | "debian";

export interface LocateOptions {
  /** --data-dir: the only place looked at (and downloaded into) when given. */
  dataDir?: string;
  /** Environment to read the data set's variables, XDG_CACHE_HOME and HOME from. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Override the Debian location (tests point it at an empty directory). */
  debianDir?: string;
}

export interface Candidate {
  origin: Origin;
  dir: string;
  /** Path found for each published file name; missing names are absent. */
  paths: Map<string, string>;
  complete: boolean;
}

export interface DataLocation {
  origin: Origin;
  dir: string;
  /** Path of each of the four files, by published name. */
  paths: Map<string, string>;
  /** true when this call downloaded at least one file. */
  downloaded: boolean;
}

export interface EnsureOptions extends LocateOptions {
  /** Allow downloading when no place has the files (default true). */
  download?: boolean;
  mirrors?: readonly string[];
  progress?: boolean | ProgressSink;
  log?: (line: string) => void;
  stallTimeoutMs?: number;
  fetch?: typeof fetch;
}

export interface LoadOptions extends EnsureOptions {
  /** Check each file against the published checksums (default true). Turn off to load other IDX data
   * placed under the published names. */
  verify?: boolean;
}

/** One loaded split: uint8 images (what the DataLoader takes) and where they came from. */
export interface LoadedSplit {
  /** The data set's name ("fashion-mnist", "mnist"). */
  dataset: string;
  split: Split;
  /** count*rows*cols pixels, row-major, 0 = background. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  source: { origin: Origin; dir: string; imagesFile: string; labelsFile: string; downloaded: boolean };
}

export function allFiles(spec: DatasetSpec): DatasetFile[] {
  return [spec.files.train.images, spec.files.train.labels, spec.files.test.images, spec.files.test.labels];
}

export function describeOriginOf(spec: DatasetSpec, origin: Origin): string {
  switch (origin) {
    case "--data-dir": return "--data-dir";
    case "ALEXNET_DATA": return `$${spec.dataEnv}`;
    case "cache": return "user cache";
    case "debian": return `Debian package ${spec.debian?.package ?? "(none)"}`;
  }
}

/** The user cache directory: $XDG_CACHE_HOME/alexnet-ts/<name>, by default ~/.cache/alexnet-ts/<name>. */
export function cacheDirOf(spec: DatasetSpec, env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "alexnet-ts", spec.name);
}

/** A file counts as present under its published name or uncompressed (without .gz). */
function findFile(dir: string, name: string): string | undefined {
  for (const candidate of [name, name.replace(/\.gz$/, "")]) {
    const p = join(dir, candidate);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Every place searched, in order, and what each holds: only the --data-dir directory when one is named. */
export function candidatesOf(spec: DatasetSpec, opts: LocateOptions = {}): Candidate[] {
  const env = opts.env ?? process.env;
  const debianDir = opts.debianDir ?? spec.debian?.dir;
  const places: [Origin, string | undefined][] = opts.dataDir !== undefined
    ? [["--data-dir", opts.dataDir]]
    : [
      ["ALEXNET_DATA", env[spec.dataEnv] || undefined],
      ["cache", cacheDirOf(spec, env)],
      ["debian", spec.debian ? debianDir : undefined],
    ];
  const files = allFiles(spec);
  const out: Candidate[] = [];
  for (const [origin, dir] of places) {
    if (dir === undefined) continue;
    const abs = resolve(dir);
    const paths = new Map<string, string>();
    for (const f of files) {
      const p = existsSync(abs) ? findFile(abs, f.name) : undefined;
      if (p) paths.set(f.name, p);
    }
    out.push({ origin, dir: abs, paths, complete: paths.size === files.length });
  }
  return out;
}

/** The first place holding all four files, or null. Does not download. */
export function findDataset(spec: DatasetSpec, opts: LocateOptions = {}): DataLocation | null {
  const hit = candidatesOf(spec, opts).find((c) => c.complete);
  return hit ? { origin: hit.origin, dir: hit.dir, paths: hit.paths, downloaded: false } : null;
}

/** Where downloads go: the explicit directory if one was named, else the variable's, else the user cache. */
export function downloadDirOf(spec: DatasetSpec, opts: LocateOptions = {}): { origin: Origin; dir: string } {
  const env = opts.env ?? process.env;
  if (opts.dataDir !== undefined) return { origin: "--data-dir", dir: resolve(opts.dataDir) };
  const named = env[spec.dataEnv];
  if (named) return { origin: "ALEXNET_DATA", dir: resolve(named) };
  return { origin: "cache", dir: cacheDirOf(spec, env) };
}

/** What to tell a user who has no data and no network: the files, where they go, the Debian package. */
export function missingHelpOf(spec: DatasetSpec, opts: LocateOptions = {}): string {
  const target = downloadDirOf(spec, opts).dir;
  const explicit = opts.dataDir !== undefined;
  return [
    ...(explicit ? [`${spec.title} is not in ${target} (named with --data-dir).`] : []),
    `${explicit ? "" : `${spec.title} was not found. `}Put these four files (from ${spec.homepage})`,
    ...allFiles(spec).map((f) => `  ${f.name}  (MD5 ${f.md5})`),
    `into ${target}`,
    explicit
      ? `(or name another directory with --data-dir, or leave it out to search $${spec.dataEnv}, the user cache${spec.debian ? " and Debian's copy)," : ")."}`
      : `(or any directory named with --data-dir DIR or the ${spec.dataEnv} environment variable)${spec.debian ? "," : "."}`,
    ...(spec.debian ? [`or on Debian/Ubuntu install them with: sudo apt install ${spec.debian.package}  (files in ${spec.debian.dir}).`] : []),
  ].join("\n");
}

/** The mirrors' variable (comma- or space-separated base URLs) when set, else the official mirrors. */
export function mirrorsOf(spec: DatasetSpec, env: Record<string, string | undefined> = process.env): readonly string[] {
  const listed = (env[spec.mirrorsEnv] ?? "").split(/[\s,]+/).filter((m) => m.length > 0);
  return listed.length > 0 ? listed : spec.mirrors;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** true when `path` holds the published content of `f`, however it was compressed (needs its content MD5). */
function sameContent(path: string, f: DatasetFile): boolean {
  try {
    const content = readMaybeGzip(path);
    return content.length === f.contentSize && md5(content) === f.contentMd5;
  } catch {
    return false;
  }
}

/** Finds the data, downloading the missing files when nothing local is complete. */
export async function locateDataset(spec: DatasetSpec, opts: EnsureOptions = {}): Promise<DataLocation> {
  const found = findDataset(spec, opts);
  if (found) return found;
  if (opts.download === false) throw new DataError(missingHelpOf(spec, opts));
  const { origin, dir } = downloadDirOf(spec, opts);
  const dl: DownloadOptions = {
    mirrors: opts.mirrors ?? mirrorsOf(spec, opts.env ?? process.env),
    ...(opts.progress !== undefined && { progress: opts.progress }),
    ...(opts.log && { log: opts.log }),
    ...(opts.stallTimeoutMs !== undefined && { stallTimeoutMs: opts.stallTimeoutMs }),
    ...(opts.fetch && { fetch: opts.fetch }),
  };
  const paths = new Map<string, string>();
  for (const f of allFiles(spec)) {
    const existing = findFile(dir, f.name);
    if (existing) {
      paths.set(f.name, existing);
      continue;
    }
    try {
      const remote = {
        name: f.name, md5: f.md5, size: f.size,
        ...(f.contentMd5 !== undefined && { sameContent: (p: string) => sameContent(p, f) }),
      };
      paths.set(f.name, await downloadFile(remote, dir, dl));
    } catch (err) {
      if (err instanceof DownloadError) {
        throw new DownloadError(`${err.message}\n\n${missingHelpOf(spec, opts)}`, err.attempts);
      }
      throw new DataError(`${(err as Error).message}\n\n${missingHelpOf(spec, opts)}`);
    }
  }
  return { origin, dir, paths, downloaded: true };
}

function verifyFile(spec: DatasetSpec, path: string, content: Uint8Array, f: DatasetFile): void {
  const gz = path.endsWith(".gz");
  if (f.contentMd5 !== undefined) {
    if (content.length === f.contentSize && md5(content) === f.contentMd5) return;
    // A byte-identical copy of the published .gz is accepted too, whatever it decompresses to on this zlib.
    if (gz && md5(readFileSync(path)) === f.md5) return;
  } else {
    // Only the .gz has a published checksum: a .gz must be it; another copy is held to its size.
    if (gz ? md5(readFileSync(path)) === f.md5 : content.length === f.contentSize) return;
  }
  throw new DataError(
    `${path}: checksum mismatch: not the published ${spec.title} ${f.name} ` +
      `(${content.length} bytes uncompressed, expected ${f.contentSize}); delete it and fetch it again ` +
      `(MNIST and Fashion-MNIST publish files of the same names: each needs a directory of its own; ` +
      `to load other IDX data under this name, pass verify: false)`,
  );
}

/** Loads one split from a known location (synchronous; validation as in idx.ts, plus checksums). */
export function loadSplitOf(spec: DatasetSpec, location: DataLocation, split: Split, verify = true): LoadedSplit {
  const files = spec.files[split];
  const imagesFile = location.paths.get(files.images.name);
  const labelsFile = location.paths.get(files.labels.name);
  if (!imagesFile || !labelsFile) {
    throw new DataError(`${location.dir}: missing ${!imagesFile ? files.images.name : files.labels.name}`);
  }
  const imageBytes = readMaybeGzip(imagesFile);
  if (verify) verifyFile(spec, imagesFile, imageBytes, files.images);
  const { images, count, rows, cols } = parseIdxImages(imageBytes, imagesFile);
  const labelBytes = readMaybeGzip(labelsFile);
  if (verify) verifyFile(spec, labelsFile, labelBytes, files.labels);
  const labels = parseIdxLabels(labelBytes, labelsFile, spec.labels.length);
  if (labels.length !== count) {
    throw new DataError(
      `${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${count} images; ` +
        `the two files do not belong together`,
    );
  }
  return {
    dataset: spec.name,
    split,
    images,
    labels,
    count,
    rows,
    cols,
    source: { origin: location.origin, dir: location.dir, imagesFile, labelsFile, downloaded: location.downloaded },
  };
}

/** d2l's load_data_*, data side: finds (or downloads) the files of `spec` and loads one split. */
export async function loadSplit(spec: DatasetSpec, split: Split, opts: LoadOptions = {}): Promise<LoadedSplit> {
  const location = await locateDataset(spec, opts);
  return loadSplitOf(spec, location, split, opts.verify ?? true);
}

/** One line saying where a split came from, for reports. */
export function describeSourceOf(spec: DatasetSpec, ds: LoadedSplit): string {
  const how = ds.source.downloaded ? ", downloaded" : "";
  return `${ds.source.dir} (${describeOriginOf(spec, ds.source.origin)}${how})`;
}

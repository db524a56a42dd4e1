// Fashion-MNIST: where the four files come from and how a split is loaded.
// A directory named with --data-dir is used and nothing else: missing files are downloaded into it (as
// torchvision's FashionMNIST(root, download=True) does), and when that fails the error names the files, the
// directory and the Debian package. Without it the search order is $ALEXNET_DATA, the user cache
// (~/.cache/alexnet-ts/fashion-mnist), Debian's dataset-fashion-mnist package (/usr/share/datasets/
// fashion-mnist); if none has all four files they are downloaded (into $ALEXNET_DATA when set, else the
// cache). $ALEXNET_MIRRORS (base URLs, comma-separated) replaces the official mirrors. Images stay uint8 in
// memory (47 MB for the training set); conversion to float happens per batch in the loader.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { DataError, parseIdxImages, parseIdxLabels } from "./idx.js";
import { readMaybeGzip } from "./idxFile.js";
import { downloadFile, DownloadError, type DownloadOptions, type ProgressSink } from "./download.js";

export type Split = "train" | "test";

export interface FashionFile {
  /** Name as published (gzip-compressed). */
  name: string;
  /** Published MD5 and size of the .gz file. */
  md5: string;
  size: number;
  /**
   * MD5 and size of the uncompressed IDX bytes. Repackaged copies (Debian recompressed the files without
   * the name in the gzip header) differ in the .gz bytes but not here, so local files are checked on this.
   */
  contentMd5: string;
  contentSize: number;
}

export const FASHION_FILES: Record<Split, { images: FashionFile; labels: FashionFile }> = {
  train: {
    images: {
      name: "train-images-idx3-ubyte.gz",
      md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
      size: 26421880,
      contentMd5: "f4a8712d7a061bf5bd6d2ca38dc4d50a",
      contentSize: 47040016,
    },
    labels: {
      name: "train-labels-idx1-ubyte.gz",
      md5: "25c81989df183df01b3e8a0aad5dffbe",
      size: 29515,
      contentMd5: "9018921c3c673c538a1fc5bad174d6f9",
      contentSize: 60008,
    },
  },
  test: {
    images: {
      name: "t10k-images-idx3-ubyte.gz",
      md5: "bef4ecab320f06d8554ea6380940ec79",
      size: 4422102,
      contentMd5: "8181f5470baa50b63fa0f6fddb340f0a",
      contentSize: 7840016,
    },
    labels: {
      name: "t10k-labels-idx1-ubyte.gz",
      md5: "bb300cfdad3c16e7a12a480ee83cd310",
      size: 5148,
      contentMd5: "15d484375f8d13e6eb1aabb0c3f46965",
      contentSize: 10008,
    },
  },
};

export const ALL_FILES: readonly FashionFile[] = [
  FASHION_FILES.train.images,
  FASHION_FILES.train.labels,
  FASHION_FILES.test.images,
  FASHION_FILES.test.labels,
];

/** The official mirrors: Zalando's S3 bucket (what torchvision and d2l use) and the GitHub repository. */
export const MIRRORS: readonly string[] = [
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

import { TEXT_LABELS } from "./labels.js";
export { TEXT_LABELS, textLabels } from "./labels.js";

export const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";
export const DEBIAN_PACKAGE = "dataset-fashion-mnist";

export type Origin = "--data-dir" | "ALEXNET_DATA" | "cache" | "debian";

const ORIGIN_NAMES: Record<Origin, string> = {
  "--data-dir": "--data-dir",
  ALEXNET_DATA: "$ALEXNET_DATA",
  cache: "user cache",
  debian: `Debian package ${DEBIAN_PACKAGE}`,
};

export interface LocateOptions {
  /** --data-dir: the only place looked at (and downloaded into) when given. */
  dataDir?: string;
  /** Environment to read ALEXNET_DATA, ALEXNET_MIRRORS, XDG_CACHE_HOME and HOME from. Default: process.env. */
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

export function describeOrigin(origin: Origin): string {
  return ORIGIN_NAMES[origin];
}

/** The user cache directory: $XDG_CACHE_HOME/alexnet-ts/fashion-mnist, by default ~/.cache/alexnet-ts/... */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "alexnet-ts", "fashion-mnist");
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
export function dataCandidates(opts: LocateOptions = {}): Candidate[] {
  const env = opts.env ?? process.env;
  const places: [Origin, string | undefined][] = opts.dataDir !== undefined
    ? [["--data-dir", opts.dataDir]]
    : [
      ["ALEXNET_DATA", env.ALEXNET_DATA || undefined],
      ["cache", cacheDir(env)],
      ["debian", opts.debianDir ?? DEBIAN_DIR],
    ];
  const out: Candidate[] = [];
  for (const [origin, dir] of places) {
    if (dir === undefined) continue;
    const abs = resolve(dir);
    const paths = new Map<string, string>();
    for (const f of ALL_FILES) {
      const p = existsSync(abs) ? findFile(abs, f.name) : undefined;
      if (p) paths.set(f.name, p);
    }
    out.push({ origin, dir: abs, paths, complete: paths.size === ALL_FILES.length });
  }
  return out;
}

/** The first place holding all four files, or null. Does not download. */
export function findData(opts: LocateOptions = {}): DataLocation | null {
  const hit = dataCandidates(opts).find((c) => c.complete);
  return hit ? { origin: hit.origin, dir: hit.dir, paths: hit.paths, downloaded: false } : null;
}

/** Where downloads go: the explicit directory if one was named, else the user cache. */
export function downloadDir(opts: LocateOptions = {}): { origin: Origin; dir: string } {
  const env = opts.env ?? process.env;
  if (opts.dataDir !== undefined) return { origin: "--data-dir", dir: resolve(opts.dataDir) };
  if (env.ALEXNET_DATA) return { origin: "ALEXNET_DATA", dir: resolve(env.ALEXNET_DATA) };
  return { origin: "cache", dir: cacheDir(env) };
}

/** What to tell a user who has no data and no network: the files, where they go, the Debian package. */
export function missingDataHelp(opts: LocateOptions = {}): string {
  const target = downloadDir(opts).dir;
  const explicit = opts.dataDir !== undefined;
  return [
    ...(explicit ? [`Fashion-MNIST is not in ${target} (named with --data-dir).`] : []),
    `${explicit ? "" : "Fashion-MNIST was not found. "}Put these four files (from https://github.com/zalandoresearch/fashion-mnist)`,
    ...ALL_FILES.map((f) => `  ${f.name}  (MD5 ${f.md5})`),
    `into ${target}`,
    explicit
      ? "(or name another directory with --data-dir, or leave it out to search $ALEXNET_DATA, the user cache and Debian's copy),"
      : "(or any directory named with --data-dir DIR or the ALEXNET_DATA environment variable),",
    `or on Debian/Ubuntu install them with: sudo apt install ${DEBIAN_PACKAGE}  (files in ${DEBIAN_DIR}).`,
  ].join("\n");
}

/** $ALEXNET_MIRRORS (comma- or space-separated base URLs) when set, else the official mirrors. */
export function mirrorsFrom(env: Record<string, string | undefined> = process.env): readonly string[] {
  const listed = (env.ALEXNET_MIRRORS ?? "").split(/[\s,]+/).filter((m) => m.length > 0);
  return listed.length > 0 ? listed : MIRRORS;
}

/** true when `path` holds the published content of `f`, however it was compressed. */
function sameContent(path: string, f: FashionFile): boolean {
  try {
    const content = readMaybeGzip(path);
    return content.length === f.contentSize && md5(content) === f.contentMd5;
  } catch {
    return false;
  }
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

/** Finds the data, downloading the missing files when nothing local is complete. */
export async function locateData(opts: EnsureOptions = {}): Promise<DataLocation> {
  const found = findData(opts);
  if (found) return found;
  if (opts.download === false) throw new DataError(missingDataHelp(opts));
  const { origin, dir } = downloadDir(opts);
  const dl: DownloadOptions = {
    mirrors: opts.mirrors ?? mirrorsFrom(opts.env ?? process.env),
    ...(opts.progress !== undefined && { progress: opts.progress }),
    ...(opts.log && { log: opts.log }),
    ...(opts.stallTimeoutMs !== undefined && { stallTimeoutMs: opts.stallTimeoutMs }),
    ...(opts.fetch && { fetch: opts.fetch }),
  };
  const paths = new Map<string, string>();
  for (const f of ALL_FILES) {
    const existing = findFile(dir, f.name);
    if (existing) {
      paths.set(f.name, existing);
      continue;
    }
    try {
      const remote = { name: f.name, md5: f.md5, size: f.size, sameContent: (p: string) => sameContent(p, f) };
      paths.set(f.name, await downloadFile(remote, dir, dl));
    } catch (err) {
      if (err instanceof DownloadError) {
        throw new DownloadError(`${err.message}\n\n${missingDataHelp(opts)}`, err.attempts);
      }
      throw new DataError(`${(err as Error).message}\n\n${missingDataHelp(opts)}`);
    }
  }
  return { origin, dir, paths, downloaded: true };
}

export interface FashionMnist {
  split: Split;
  /** count*rows*cols pixels, row-major, 0 = background. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
  source: { origin: Origin; dir: string; imagesFile: string; labelsFile: string; downloaded: boolean };
}

export interface LoadOptions extends EnsureOptions {
  /**
   * Check each file against the published Fashion-MNIST checksums (default true). Turn off to load other
   * IDX data (e.g. MNIST digits) placed under the Fashion-MNIST names.
   */
  verify?: boolean;
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

function verifyFile(path: string, content: Uint8Array, f: FashionFile): void {
  if (content.length === f.contentSize && md5(content) === f.contentMd5) return;
  // A byte-identical copy of the published .gz is accepted too, whatever it decompresses to on this zlib.
  if (path.endsWith(".gz") && md5(readFileSync(path)) === f.md5) return;
  throw new DataError(
    `${path}: checksum mismatch: not the published Fashion-MNIST ${f.name} ` +
      `(${content.length} bytes uncompressed, expected ${f.contentSize}); delete it and fetch it again ` +
      `(to load other IDX data under this name, pass verify: false)`,
  );
}

/** Loads one split from a known location (synchronous; validation as in idx.ts, plus checksums). */
export function loadSplitFrom(location: DataLocation, split: Split, verify = true): FashionMnist {
  const spec = FASHION_FILES[split];
  const imagesFile = location.paths.get(spec.images.name);
  const labelsFile = location.paths.get(spec.labels.name);
  if (!imagesFile || !labelsFile) {
    throw new DataError(`${location.dir}: missing ${!imagesFile ? spec.images.name : spec.labels.name}`);
  }
  const imageBytes = readMaybeGzip(imagesFile);
  if (verify) verifyFile(imagesFile, imageBytes, spec.images);
  const { images, count, rows, cols } = parseIdxImages(imageBytes, imagesFile);
  const labelBytes = readMaybeGzip(labelsFile);
  if (verify) verifyFile(labelsFile, labelBytes, spec.labels);
  const labels = parseIdxLabels(labelBytes, labelsFile, TEXT_LABELS.length);
  if (labels.length !== count) {
    throw new DataError(
      `${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${count} images; ` +
        `the two files do not belong together`,
    );
  }
  return {
    split,
    images,
    labels,
    count,
    rows,
    cols,
    source: { origin: location.origin, dir: location.dir, imagesFile, labelsFile, downloaded: location.downloaded },
  };
}

/** d2l's load_data_fashion_mnist, data side: finds (or downloads) the files and loads one split. */
export async function loadFashionMnist(split: Split, opts: LoadOptions = {}): Promise<FashionMnist> {
  const location = await locateData(opts);
  return loadSplitFrom(location, split, opts.verify ?? true);
}

/** One line saying where a split came from, for reports. */
export function describeSource(ds: FashionMnist): string {
  const how = ds.source.downloaded ? ", downloaded" : "";
  return `${ds.source.dir} (${describeOrigin(ds.source.origin)}${how})`;
}

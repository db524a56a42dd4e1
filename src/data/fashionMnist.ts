// Fashion-MNIST: its descriptor (files, published checksums, mirrors, Debian package, d2l's labels) and the
// functions the rest of the toolkit has always called, now thin wrappers over the general rules in
// dataset.ts (search order --data-dir, $ALEXNET_DATA, ~/.cache/alexnet-ts/fashion-mnist, Debian's
// dataset-fashion-mnist in /usr/share/datasets/fashion-mnist; downloads from the mirrors or $ALEXNET_MIRRORS,
// checksummed). Images stay uint8 in memory (47 MB for the training set); conversion to float happens per
// batch in the loader.
import {
  type Candidate,
  type DataLocation,
  type DatasetFile,
  type DatasetSpec,
  type EnsureOptions,
  type LoadedSplit,
  type LoadOptions,
  type LocateOptions,
  type Origin,
  type Split,
  allFiles,
  cacheDirOf,
  candidatesOf,
  describeOriginOf,
  describeSourceOf,
  downloadDirOf,
  findDataset,
  loadSplit,
  loadSplitOf,
  locateDataset,
  mirrorsOf,
  missingHelpOf,
} from "./dataset.js";
import { TEXT_LABELS } from "./labels.js";

export { TEXT_LABELS, textLabels } from "./labels.js";
export type { Candidate, DataLocation, EnsureOptions, LoadOptions, LocateOptions, Origin, Split };
/** A file of Fashion-MNIST (the general descriptor's type; Fashion-MNIST knows every content checksum). */
export type FashionFile = DatasetFile;
/** A loaded split (of any data set since MNIST joined; `dataset` says which). */
export type FashionMnist = LoadedSplit;

export const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";
export const DEBIAN_PACKAGE = "dataset-fashion-mnist";

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

/** The official mirrors: Zalando's S3 bucket (what torchvision and d2l use) and the GitHub repository. */
export const MIRRORS: readonly string[] = [
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
];

export const FASHION_MNIST: DatasetSpec = {
  name: "fashion-mnist",
  title: "Fashion-MNIST",
  homepage: "https://github.com/zalandoresearch/fashion-mnist",
  files: FASHION_FILES,
  mirrors: MIRRORS,
  labels: TEXT_LABELS,
  dataEnv: "ALEXNET_DATA",
  mirrorsEnv: "ALEXNET_MIRRORS",
  debian: { package: DEBIAN_PACKAGE, dir: DEBIAN_DIR },
};

export const ALL_FILES: readonly FashionFile[] = allFiles(FASHION_MNIST);

export function describeOrigin(origin: Origin): string {
  return describeOriginOf(FASHION_MNIST, origin);
}

/** The user cache directory: $XDG_CACHE_HOME/alexnet-ts/fashion-mnist, by default ~/.cache/alexnet-ts/... */
export function cacheDir(env: Record<string, string | undefined> = process.env): string {
  return cacheDirOf(FASHION_MNIST, env);
}

/** Every place searched, in order, and what each holds: only the --data-dir directory when one is named. */
export function dataCandidates(opts: LocateOptions = {}): Candidate[] {
  return candidatesOf(FASHION_MNIST, opts);
}

/** The first place holding all four files, or null. Does not download. */
export function findData(opts: LocateOptions = {}): DataLocation | null {
  return findDataset(FASHION_MNIST, opts);
}

/** Where downloads go: the explicit directory if one was named, else $ALEXNET_DATA, else the user cache. */
export function downloadDir(opts: LocateOptions = {}): { origin: Origin; dir: string } {
  return downloadDirOf(FASHION_MNIST, opts);
}

/** What to tell a user who has no data and no network: the files, where they go, the Debian package. */
export function missingDataHelp(opts: LocateOptions = {}): string {
  return missingHelpOf(FASHION_MNIST, opts);
}

/** $ALEXNET_MIRRORS (comma- or space-separated base URLs) when set, else the official mirrors. */
export function mirrorsFrom(env: Record<string, string | undefined> = process.env): readonly string[] {
  return mirrorsOf(FASHION_MNIST, env);
}

/** Finds the data, downloading the missing files when nothing local is complete. */
export function locateData(opts: EnsureOptions = {}): Promise<DataLocation> {
  return locateDataset(FASHION_MNIST, opts);
}

/** Loads one split from a known location (synchronous; validation as in idx.ts, plus checksums). */
export function loadSplitFrom(location: DataLocation, split: Split, verify = true): FashionMnist {
  return loadSplitOf(FASHION_MNIST, location, split, verify);
}

/** d2l's load_data_fashion_mnist, data side: finds (or downloads) the files and loads one split. */
export function loadFashionMnist(split: Split, opts: LoadOptions = {}): Promise<FashionMnist> {
  return loadSplit(FASHION_MNIST, split, opts);
}

/** One line saying where a split came from, for reports. */
export function describeSource(ds: FashionMnist): string {
  return describeSourceOf(FASHION_MNIST, ds);
}

// Public API of the data pipeline: the data sets (Fashion-MNIST, MNIST) and their files, IDX reading,
// downloads, transforms, the loader, and the PNG/text helpers used to show the data.
export {
  DataError,
  parseIdx,
  parseIdxImages,
  parseIdxLabels,
  encodeIdx,
} from "./idx.js";
export { readIdxImages, readIdxLabels, readIdxPair, readMaybeGzip } from "./idxFile.js";
export type { IdxArray, IdxImages } from "./idx.js";
export type { ReadOptions } from "./idxFile.js";
export { downloadFile, DownloadError, terminalProgress } from "./download.js";
export type { RemoteFile, DownloadOptions, ProgressSink } from "./download.js";
export {
  FASHION_FILES,
  ALL_FILES,
  MIRRORS,
  TEXT_LABELS,
  DEBIAN_DIR,
  DEBIAN_PACKAGE,
  textLabels,
  cacheDir,
  dataCandidates,
  findData,
  downloadDir,
  missingDataHelp,
  locateData,
  loadSplitFrom,
  loadFashionMnist,
  describeOrigin,
  describeSource,
} from "./fashionMnist.js";
export type {
  Split,
  FashionFile,
  Origin,
  LocateOptions,
  Candidate,
  DataLocation,
  EnsureOptions,
  FashionMnist,
  LoadOptions,
} from "./fashionMnist.js";
export { MNIST_LABELS, MNIST_MIRRORS } from "./mnist.js";
export {
  FASHION_MNIST,
  MNIST,
  DATASETS,
  DATASET_NAMES,
  DEFAULT_DATASET,
  datasetSpec,
  loadDataset,
  describeDatasetSource,
  classLabels,
  recordedDataset,
} from "./datasets.js";
export {
  allFiles,
  cacheDirOf,
  candidatesOf,
  findDataset,
  downloadDirOf,
  missingHelpOf,
  mirrorsOf,
  locateDataset,
  loadSplitOf,
  loadSplit,
  describeOriginOf,
  describeSourceOf,
} from "./dataset.js";
export type { DatasetSpec, DatasetFile, LoadedSplit } from "./dataset.js";
export { Resizer, resizeBilinear, bilinearPlan, toTensor, resizedSize, TO_TENSOR_LUT } from "./resize.js";
export type { ResamplePlan } from "./resize.js";
export { BatchAssembler } from "./batch.js";
export type { Batch, ImageDataset } from "./batch.js";
export { DataLoader } from "./loader.js";
export type { DataLoaderOptions, LoaderState } from "./loader.js";
export { Xoshiro128, shuffledOrder } from "./prng.js";
export { encodePng, crc32, createRaster, setPixel, blitGray, PNG_SIGNATURE } from "./png.js";
export type { Raster } from "./png.js";
export { drawText, textWidth, GLYPH_WIDTH, GLYPH_HEIGHT, FONT_CHARACTERS } from "./font.js";
export { imageGrid } from "./grid.js";
export type { GridOptions } from "./grid.js";

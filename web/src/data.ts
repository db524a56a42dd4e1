// Fashion-MNIST in the browser: what the server found (/data/index.json), the IDX files fetched and, when
// gzip-compressed, inflated with the browser's DecompressionStream, then checked and parsed by the core's
// own IDX parser (the same checks as `alexnet train`).
import { DataError, parseIdxImages, parseIdxLabels, TEXT_LABELS, type ImageDataset } from "../../src/core.js";

interface DataIndex {
  source: string | null;
  files: Record<"train" | "test", { images: string; labels: string }> | null;
  missing: string | null;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new DataError(`${url}: the server answered ${response.status}`);
  const body = url.endsWith(".gz") ? response.body.pipeThrough(new DecompressionStream("gzip")) : response.body;
  try {
    return new Uint8Array(await new Response(body).arrayBuffer());
  } catch (e) {
    throw new DataError(`${url}: could not be read or inflated (${(e as Error).message})`);
  }
}

let index: Promise<DataIndex> | null = null;

function dataIndex(): Promise<DataIndex> {
  index ??= fetch("/data/index.json").then(async (r) => {
    if (!r.ok) throw new DataError(`/data/index.json: the server answered ${r.status}`);
    return (await r.json()) as DataIndex;
  });
  return index;
}

export interface LoadedSplit extends ImageDataset {
  source: string;
}

/** One split, parsed and validated (a wrong or damaged file is one DataError line). */
export async function loadSplit(split: "train" | "test"): Promise<LoadedSplit> {
  const idx = await dataIndex();
  if (!idx.files) throw new DataError(`the server has no Fashion-MNIST: ${idx.missing ?? "no data found"}`);
  const urls = idx.files[split];
  const [imageBytes, labelBytes] = await Promise.all([fetchBytes(urls.images), fetchBytes(urls.labels)]);
  const { images, count, rows, cols } = parseIdxImages(imageBytes, urls.images);
  const labels = parseIdxLabels(labelBytes, urls.labels, TEXT_LABELS.length);
  if (labels.length !== count) throw new DataError(`${urls.labels} has ${labels.length} labels but ${urls.images} has ${count} images`);
  return { images, labels, count, rows, cols, source: idx.source ?? "" };
}

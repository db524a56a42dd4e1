// d2l's load_data_fashion_mnist(batch_size, resize=None) for TypeScript users: the shuffled training
// iterator and the test iterator over Fashion-MNIST, with the CLI's rules for finding (or downloading) the
// files and its worker-thread resize. Node-only (files, worker threads).
import { type LoadOptions, loadFashionMnist } from "./fashionMnist.js";
import { DataLoader } from "./loader.js";

export interface LoadDataOptions extends LoadOptions {
  /** torchvision's Resize(n) before ToTensor, as d2l's `resize` (e.g. 224 for AlexNet). */
  resize?: number;
  /** Use only the first examples of each split (quick experiments). */
  trainLimit?: number;
  testLimit?: number;
  /** Seed of the training set's shuffle (default 0). */
  seed?: number;
}

/** [trainIter, testIter] as d2l returns them: the training set shuffled every epoch, the test set in order.
 * Close both (`await it.close()`) when done, or let the process end. */
export async function loadDataFashionMnist(batchSize: number, options: LoadDataOptions = {}): Promise<[DataLoader, DataLoader]> {
  const { resize, trainLimit, testLimit, seed = 0, ...load } = options;
  const [train, test] = [await loadFashionMnist("train", load), await loadFashionMnist("test", load)];
  return [
    new DataLoader(train, { batchSize, shuffle: true, seed, resize, limit: trainLimit }),
    new DataLoader(test, { batchSize, shuffle: false, resize, limit: testLimit }),
  ];
}

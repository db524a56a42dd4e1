// MNIST (LeCun, Cortes and Burges' handwritten digits): its descriptor for the rules of dataset.ts. The
// files, mirrors and MD5s are torchvision's (datasets/mnist.py); the MD5s are of the published .gz files, the
// only checksums published, so an uncompressed or recompressed local copy is held to its size and IDX header
// (see DatasetFile.contentMd5). No Debian package ships MNIST. Its variables are ALEXNET_MNIST_DATA and
// ALEXNET_MNIST_MIRRORS, as its file names are Fashion-MNIST's. Labels are d2l-style, the digits "0".."9".
import type { DatasetSpec } from "./dataset.js";

export const MNIST_LABELS: readonly string[] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** torchvision's mirrors: PyTorch's S3 copy first (Yann LeCun's page often refuses downloads), then the original. */
export const MNIST_MIRRORS: readonly string[] = [
  "https://ossci-datasets.s3.amazonaws.com/mnist/",
  "http://yann.lecun.com/exdb/mnist/",
];

export const MNIST: DatasetSpec = {
  name: "mnist",
  title: "MNIST",
  homepage: "http://yann.lecun.com/exdb/mnist/",
  files: {
    train: {
      images: { name: "train-images-idx3-ubyte.gz", md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873", size: 9912422, contentSize: 47040016 },
      labels: { name: "train-labels-idx1-ubyte.gz", md5: "d53e105ee54ea40749a09fcbcd1e9432", size: 28881, contentSize: 60008 },
    },
    test: {
      images: { name: "t10k-images-idx3-ubyte.gz", md5: "9fb629c4189551a2d022fa330f9573f3", size: 1648877, contentSize: 7840016 },
      labels: { name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c", size: 4542, contentSize: 10008 },
    },
  },
  mirrors: MNIST_MIRRORS,
  labels: MNIST_LABELS,
  dataEnv: "ALEXNET_MNIST_DATA",
  mirrorsEnv: "ALEXNET_MNIST_MIRRORS",
};

// d2l's AlexNet (chapter 7.1) as an nn.Sequential, in the seed's two variants:
//   "224": input 1x224x224, first block Conv2d(1,96,k11,s4,p1) ReLU MaxPool(3,2)
//   "28":  input 1x28x28,   first block Conv2d(1,96,k5,p2)     ReLU MaxPool(3, stride 1)
// The rest is shared: conv 96->256 k5 p2, pool, three 3x3 convs (384, 384, 256), pool, flatten (6400),
// Linear 6400-4096-4096-classes with ReLU and Dropout(0.5).
import { windowOutSize } from "../backend/shapes.js";
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential, init, type Module } from "../nn/index.js";

export type AlexNetVariant = "224" | "28";
export const ALEXNET_VARIANTS: readonly AlexNetVariant[] = ["224", "28"];

export interface AlexNetOptions {
  variant?: AlexNetVariant;
  /** Input channels (1 for Fashion-MNIST; the seed's exercise reasons about 3). */
  inChannels?: number;
  /** Output classes (10 for Fashion-MNIST; 1000 for ImageNet). */
  classes?: number;
  /** Input height and width; defaults to the variant's (224 or 28). */
  imageSize?: number;
  /** Dropout probability (d2l: 0.5). */
  dropout?: number;
  /** Multiplies every channel count and hidden width (96, 256, 384, 4096) for quick experiments and tests;
   * 1 is d2l's network. */
  widthScale?: number;
}

/** The input shape (C, H, W) a variant is built for. */
export function alexNetInputShape(options: AlexNetOptions = {}): [number, number, number] {
  const variant = options.variant ?? "224";
  const size = options.imageSize ?? (variant === "224" ? 224 : 28);
  return [options.inChannels ?? 1, size, size];
}

export function alexNet(options: AlexNetOptions = {}): Sequential {
  const variant = options.variant ?? "224";
  if (!ALEXNET_VARIANTS.includes(variant)) throw new Error(`unknown AlexNet variant '${variant}' (use 224 or 28)`);
  const [inChannels, size] = alexNetInputShape(options);
  const classes = options.classes ?? 10;
  const p = options.dropout ?? 0.5;
  const scale = options.widthScale ?? 1;
  if (!(scale > 0)) throw new Error(`widthScale must be positive, got ${scale}`);
  const [c1, c2, c3, fc] = [96, 256, 384, 4096].map((w) => Math.max(1, Math.round(w * scale))) as [number, number, number, number];
  const firstBlock = variant === "224"
    ? [new Conv2d(inChannels, c1, { kernelSize: 11, stride: 4, padding: 1 }), new ReLU(), new MaxPool2d(3, { stride: 2 })]
    : [new Conv2d(inChannels, c1, { kernelSize: 5, padding: 2 }), new ReLU(), new MaxPool2d(3, { stride: 1 })];
  const net = new Sequential(
    ...firstBlock,
    new Conv2d(c1, c2, { kernelSize: 5, padding: 2 }), new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Conv2d(c2, c3, { kernelSize: 3, padding: 1 }), new ReLU(),
    new Conv2d(c3, c3, { kernelSize: 3, padding: 1 }), new ReLU(),
    new Conv2d(c3, c2, { kernelSize: 3, padding: 1 }), new ReLU(),
    new MaxPool2d(3, { stride: 2 }),
    new Flatten(),
    new Linear((flattenWidth(variant, size) / 256) * c2, fc), new ReLU(),
    new Dropout(p),
    new Linear(fc, fc), new ReLU(),
    new Dropout(p),
    new Linear(fc, classes),
  );
  // Fail at build time, naming the layer, if the input size cannot pass through the network.
  net.outputShape([1, inChannels, size, size]);
  return net;
}

/** Width of the flattened features for the input size (6400 at the variants' own sizes). A size too small
 * to pass gets 6400 here, so that the build-time shape check names the layer that fails. */
function flattenWidth(variant: AlexNetVariant, size: number): number {
  // The 5x5/p2 and 3x3/p1 convolutions keep the size; the first block and the pools shrink it.
  let h = variant === "224" ? windowOutSize(windowOutSize(size, 11, 4, 1), 3, 2, 0) : windowOutSize(size, 3, 1, 0);
  h = windowOutSize(windowOutSize(h, 3, 2, 0), 3, 2, 0);
  return h >= 1 ? 256 * h * h : 6400;
}

/** d2l's init_weights for train_ch6: Xavier-uniform on every Conv2d and Linear weight (biases keep
 * PyTorch's default initialisation). */
export function initWeights(net: Module): void {
  net.apply((m) => {
    if (m instanceof Conv2d || m instanceof Linear) init.xavierUniform_(m.weight);
  });
}

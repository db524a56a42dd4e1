// d2l's NiN (7.3): nin_blocks (a convolution and two 1x1 convolutions, each with ReLU), max-pools, and
// global average pooling over 10 channels instead of fully connected layers.
import { AdaptiveAvgPool2d, Conv2d, Dropout, Flatten, MaxPool2d, ReLU, Sequential } from "../nn/index.js";
import type { ZooOptions } from "./options.js";

export function ninBlock(inChannels: number, outChannels: number, kernelSize: number, strides: number, padding: number): Sequential {
  return new Sequential(
    new Conv2d(inChannels, outChannels, { kernelSize, stride: strides, padding }), new ReLU(),
    new Conv2d(outChannels, outChannels, { kernelSize: 1 }), new ReLU(),
    new Conv2d(outChannels, outChannels, { kernelSize: 1 }), new ReLU(),
  );
}

export function nin(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  return new Sequential(
    ninBlock(inChannels, 96, 11, 4, 0),
    new MaxPool2d(3, { stride: 2 }),
    ninBlock(96, 256, 5, 1, 2),
    new MaxPool2d(3, { stride: 2 }),
    ninBlock(256, 384, 3, 1, 1),
    new MaxPool2d(3, { stride: 2 }),
    new Dropout(0.5),
    ninBlock(384, classes, 3, 1, 1),
    new AdaptiveAvgPool2d([1, 1]),
    new Flatten(),
  );
}

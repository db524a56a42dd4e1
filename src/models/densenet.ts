// d2l's DenseNet (7.7): conv_block (BN, ReLU, 3x3 convolution), the DenseBlock that concatenates every
// block's output onto its input, transition blocks (BN, ReLU, 1x1 convolution, 2x2 average pooling), four
// dense blocks of 4 convolutions with growth rate 32.
import { AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, type Module, Module as BaseModule, ReLU, Sequential } from "../nn/index.js";
import { cat } from "../tensor/ops.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ZooOptions } from "./options.js";
import { stemBlock } from "./resnet.js";

export function convBlock(inputChannels: number, numChannels: number): Sequential {
  return new Sequential(
    new BatchNorm2d(inputChannels), new ReLU(),
    new Conv2d(inputChannels, numChannels, { kernelSize: 3, padding: 1 }),
  );
}

export class DenseBlock extends BaseModule {
  net: Sequential;

  constructor(numConvs: number, inputChannels: number, numChannels: number) {
    super();
    const layer: Module[] = [];
    for (let i = 0; i < numConvs; i++) layer.push(convBlock(numChannels * i + inputChannels, numChannels));
    this.net = new Sequential(...layer);
  }

  forward(X: Tensor): Tensor {
    for (const blk of this.net) {
      const Y = blk.call(X);
      // Concatenate the input and output of each block on the channel dimension
      X = cat([X, Y], 1);
    }
    return X;
  }
}

export function transitionBlock(inputChannels: number, numChannels: number): Sequential {
  return new Sequential(
    new BatchNorm2d(inputChannels), new ReLU(),
    new Conv2d(inputChannels, numChannels, { kernelSize: 1 }),
    new AvgPool2d(2, { stride: 2 }),
  );
}

export function denseNet(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  let numChannels = 64;
  const growthRate = 32;
  const numConvsInDenseBlocks = [4, 4, 4, 4];
  const blks: Module[] = [];
  numConvsInDenseBlocks.forEach((numConvs, i) => {
    blks.push(new DenseBlock(numConvs, numChannels, growthRate));
    // The number of output channels in the previous dense block
    numChannels += numConvs * growthRate;
    // A transition layer that halves the number of channels is added between the dense blocks
    if (i !== numConvsInDenseBlocks.length - 1) {
      blks.push(transitionBlock(numChannels, Math.floor(numChannels / 2)));
      numChannels = Math.floor(numChannels / 2);
    }
  });
  return new Sequential(
    stemBlock(inChannels), ...blks,
    new BatchNorm2d(numChannels), new ReLU(),
    new AdaptiveAvgPool2d([1, 1]),
    new Flatten(),
    new Linear(numChannels, classes),
  );
}

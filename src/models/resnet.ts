// d2l's ResNet-18 (7.6): the Residual block (two 3x3 convolutions with batch normalization and a shortcut,
// a 1x1 convolution where the shape changes) and the network b1..b5, global average pooling, one Linear.
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential } from "../nn/index.js";
import { add, relu } from "../tensor/ops.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ZooOptions } from "./options.js";

export class Residual extends Module {
  conv1: Conv2d;
  conv2: Conv2d;
  conv3: Conv2d | null;
  bn1: BatchNorm2d;
  bn2: BatchNorm2d;

  constructor(inputChannels: number, numChannels: number, useConv1x1 = false, strides = 1) {
    super();
    this.conv1 = new Conv2d(inputChannels, numChannels, { kernelSize: 3, padding: 1, stride: strides });
    this.conv2 = new Conv2d(numChannels, numChannels, { kernelSize: 3, padding: 1 });
    this.conv3 = useConv1x1 ? new Conv2d(inputChannels, numChannels, { kernelSize: 1, stride: strides }) : null;
    this.bn1 = new BatchNorm2d(numChannels);
    this.bn2 = new BatchNorm2d(numChannels);
  }

  forward(X: Tensor): Tensor {
    let Y = relu(this.bn1.call(this.conv1.call(X)));
    Y = this.bn2.call(this.conv2.call(Y));
    if (this.conv3) X = this.conv3.call(X);
    return relu(add(Y, X));
  }
}

export function resnetBlock(inputChannels: number, numChannels: number, numResiduals: number, firstBlock = false): Residual[] {
  const blk: Residual[] = [];
  for (let i = 0; i < numResiduals; i++) {
    if (i === 0 && !firstBlock) blk.push(new Residual(inputChannels, numChannels, true, 2));
    else blk.push(new Residual(numChannels, numChannels));
  }
  return blk;
}

/** d2l's b1 of ResNet and DenseNet: 7x7 convolution, batch normalization, ReLU, 3x3 max-pool. */
export function stemBlock(inChannels: number): Sequential {
  return new Sequential(
    new Conv2d(inChannels, 64, { kernelSize: 7, stride: 2, padding: 3 }),
    new BatchNorm2d(64), new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
}

export function resNet18(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  return new Sequential(
    stemBlock(inChannels),
    new Sequential(...resnetBlock(64, 64, 2, true)),
    new Sequential(...resnetBlock(64, 128, 2)),
    new Sequential(...resnetBlock(128, 256, 2)),
    new Sequential(...resnetBlock(256, 512, 2)),
    new AdaptiveAvgPool2d([1, 1]),
    new Flatten(), new Linear(512, classes),
  );
}

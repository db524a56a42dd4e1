// d2l's LeNet (6.6: sigmoid and average pooling, for 28x28 Fashion-MNIST) and its batch-normalized form
// (7.5, the concise nn.BatchNorm2d/1d version), as nn.Sequential with PyTorch's state_dict names.
import { AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, Sequential, Sigmoid } from "../nn/index.js";
import type { ZooOptions } from "./options.js";

export function leNet(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  return new Sequential(
    new Conv2d(inChannels, 6, { kernelSize: 5, padding: 2 }), new Sigmoid(),
    new AvgPool2d(2, { stride: 2 }),
    new Conv2d(6, 16, { kernelSize: 5 }), new Sigmoid(),
    new AvgPool2d(2, { stride: 2 }),
    new Flatten(),
    new Linear(16 * 5 * 5, 120), new Sigmoid(),
    new Linear(120, 84), new Sigmoid(),
    new Linear(84, classes),
  );
}

export function leNetBn(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  return new Sequential(
    new Conv2d(inChannels, 6, { kernelSize: 5 }), new BatchNorm2d(6), new Sigmoid(),
    new AvgPool2d(2, { stride: 2 }),
    new Conv2d(6, 16, { kernelSize: 5 }), new BatchNorm2d(16), new Sigmoid(),
    new AvgPool2d(2, { stride: 2 }), new Flatten(),
    new Linear(256, 120), new BatchNorm1d(120), new Sigmoid(),
    new Linear(120, 84), new BatchNorm1d(84), new Sigmoid(),
    new Linear(84, classes),
  );
}

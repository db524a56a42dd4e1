// d2l 7.1, exercise: "design a better model that works directly on 28x28 images". Two VGG-style stages of
// 3x3 convolutions with batch normalization (7.5), max-pooling, and a small classifier with dropout; written
// as a PyTorch user writes a Module: children assigned to fields, only `forward` by hand (the shapes for
// `summary`, `analyze` and the input check come from a trace of this forward).
//
//   alexnet train --model examples/better28.mjs
//   alexnet analyze --model examples/better28.mjs
//
// Imports the built package by path, the other way that works from a checkout (after `npm run build`);
// in a project of your own, import from "alexnet-ts" instead (see alexnet_simplified.mjs).
import { nn, relu } from "../dist/src/index.js";

export const recipe = { resize: null, batchSize: 128, lr: 0.1, epochs: 10 };
export const inputShape = [1, 28, 28];

class Stage extends nn.Module {
  constructor(inChannels, channels) {
    super();
    this.conv1 = new nn.Conv2d(inChannels, channels, { kernelSize: 3, padding: 1 });
    this.bn1 = new nn.BatchNorm2d(channels);
    this.conv2 = new nn.Conv2d(channels, channels, { kernelSize: 3, padding: 1 });
    this.bn2 = new nn.BatchNorm2d(channels);
    this.pool = new nn.MaxPool2d(2, { stride: 2 });
  }

  forward(x) {
    const y = relu(this.bn1.call(this.conv1.call(x)));
    return this.pool.call(relu(this.bn2.call(this.conv2.call(y))));
  }
}

export default class Better28 extends nn.Module {
  constructor({ inChannels = 1, classes = 10 } = {}) {
    super();
    this.stage1 = new Stage(inChannels, 32); // 14x14
    this.stage2 = new Stage(32, 64); // 7x7
    this.head = new nn.Sequential(
      new nn.Flatten(),
      new nn.Linear(64 * 7 * 7, 256), new nn.BatchNorm1d(256), new nn.ReLU(), new nn.Dropout(0.5),
      new nn.Linear(256, classes),
    );
  }

  forward(x) {
    return this.head.call(this.stage2.call(this.stage1.call(x)));
  }
}

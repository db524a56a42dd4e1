// d2l's GoogLeNet (7.4): the Inception block (four parallel paths concatenated along the channels) and
// the five-stage network b1..b5, as d2l writes them.
import { AdaptiveAvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential } from "../nn/index.js";
import { cat, relu } from "../tensor/ops.js";
import type { Tensor } from "../tensor/tensor.js";
import type { ZooOptions } from "./options.js";

export class Inception extends Module {
  p1_1: Conv2d;
  p2_1: Conv2d;
  p2_2: Conv2d;
  p3_1: Conv2d;
  p3_2: Conv2d;
  p4_1: MaxPool2d;
  p4_2: Conv2d;

  // c1--c4 are the output channels of each path
  constructor(inChannels: number, c1: number, c2: [number, number], c3: [number, number], c4: number) {
    super();
    // Path 1 is a single 1 x 1 convolutional layer
    this.p1_1 = new Conv2d(inChannels, c1, { kernelSize: 1 });
    // Path 2 is a 1 x 1 convolutional layer followed by a 3 x 3 convolutional layer
    this.p2_1 = new Conv2d(inChannels, c2[0], { kernelSize: 1 });
    this.p2_2 = new Conv2d(c2[0], c2[1], { kernelSize: 3, padding: 1 });
    // Path 3 is a 1 x 1 convolutional layer followed by a 5 x 5 convolutional layer
    this.p3_1 = new Conv2d(inChannels, c3[0], { kernelSize: 1 });
    this.p3_2 = new Conv2d(c3[0], c3[1], { kernelSize: 5, padding: 2 });
    // Path 4 is a 3 x 3 maximum pooling layer followed by a 1 x 1 convolutional layer
    this.p4_1 = new MaxPool2d(3, { stride: 1, padding: 1 });
    this.p4_2 = new Conv2d(inChannels, c4, { kernelSize: 1 });
  }

  forward(x: Tensor): Tensor {
    const p1 = relu(this.p1_1.call(x));
    const p2 = relu(this.p2_2.call(relu(this.p2_1.call(x))));
    const p3 = relu(this.p3_2.call(relu(this.p3_1.call(x))));
    const p4 = relu(this.p4_2.call(this.p4_1.call(x)));
    // Concatenate the outputs on the channel dimension
    return cat([p1, p2, p3, p4], 1);
  }
}

export function googLeNet(options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  const b1 = new Sequential(
    new Conv2d(inChannels, 64, { kernelSize: 7, stride: 2, padding: 3 }),
    new ReLU(), new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b2 = new Sequential(
    new Conv2d(64, 64, { kernelSize: 1 }), new ReLU(),
    new Conv2d(64, 192, { kernelSize: 3, padding: 1 }), new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b3 = new Sequential(
    new Inception(192, 64, [96, 128], [16, 32], 32),
    new Inception(256, 128, [128, 192], [32, 96], 64),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b4 = new Sequential(
    new Inception(480, 192, [96, 208], [16, 48], 64),
    new Inception(512, 160, [112, 224], [24, 64], 64),
    new Inception(512, 128, [128, 256], [24, 64], 64),
    new Inception(512, 112, [144, 288], [32, 64], 64),
    new Inception(528, 256, [160, 320], [32, 128], 128),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
  );
  const b5 = new Sequential(
    new Inception(832, 256, [160, 320], [32, 128], 128),
    new Inception(832, 384, [192, 384], [48, 128], 128),
    new AdaptiveAvgPool2d([1, 1]),
    new Flatten(),
  );
  return new Sequential(b1, b2, b3, b4, b5, new Linear(1024, classes));
}

// d2l 7.6 in alexnet-ts: the Residual block written as in PyTorch (children assigned to fields, only
// `forward` by hand), its output shapes, and ResNet-18's shape table for a 1x1x224x224 input.
// Run: node dist/examples/d2l_residual.js (after npm run build).
import { Tensor, add, nn, rand, relu } from "../src/index.js";

class Residual extends nn.Module {
  conv1: nn.Conv2d;
  conv2: nn.Conv2d;
  conv3: nn.Conv2d | null;
  bn1: nn.BatchNorm2d;
  bn2: nn.BatchNorm2d;

  constructor(inputChannels: number, numChannels: number, useConv1x1 = false, strides = 1) {
    super();
    this.conv1 = new nn.Conv2d(inputChannels, numChannels, { kernelSize: 3, padding: 1, stride: strides });
    this.conv2 = new nn.Conv2d(numChannels, numChannels, { kernelSize: 3, padding: 1 });
    this.conv3 = useConv1x1 ? new nn.Conv2d(inputChannels, numChannels, { kernelSize: 1, stride: strides }) : null;
    this.bn1 = new nn.BatchNorm2d(numChannels);
    this.bn2 = new nn.BatchNorm2d(numChannels);
  }

  forward(X: Tensor): Tensor {
    let Y = relu(this.bn1.call(this.conv1.call(X)));
    Y = this.bn2.call(this.conv2.call(Y));
    if (this.conv3) X = this.conv3.call(X);
    return relu(add(Y, X));
  }
}

let blk = new Residual(3, 3);
let X = rand([4, 3, 6, 6]);
console.log("Residual(3, 3):", blk.call(X).shape);
blk = new Residual(3, 6, true, 2);
console.log("Residual(3, 6, use_1x1conv=True, strides=2):", blk.call(X).shape);

const resnetBlock = (inputChannels: number, numChannels: number, numResiduals: number, firstBlock = false): Residual[] =>
  Array.from({ length: numResiduals }, (_, i) =>
    i === 0 && !firstBlock ? new Residual(inputChannels, numChannels, true, 2) : new Residual(numChannels, numChannels));

const b1 = new nn.Sequential(
  new nn.Conv2d(1, 64, { kernelSize: 7, stride: 2, padding: 3 }), new nn.BatchNorm2d(64), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
);
const net = new nn.Sequential(
  b1,
  new nn.Sequential(...resnetBlock(64, 64, 2, true)),
  new nn.Sequential(...resnetBlock(64, 128, 2)),
  new nn.Sequential(...resnetBlock(128, 256, 2)),
  new nn.Sequential(...resnetBlock(256, 512, 2)),
  new nn.AdaptiveAvgPool2d([1, 1]), new nn.Flatten(), new nn.Linear(512, 10),
);
X = rand([1, 1, 224, 224]);
for (const layer of net) {
  X = layer.call(X);
  console.log(`${layer.constructor.name} output shape:\t [${X.shape.join(", ")}]`);
}
console.log(`${net.stateDict().size} state_dict entries, e.g. ${[...net.stateDict().keys()].slice(16, 19).join(", ")}`);

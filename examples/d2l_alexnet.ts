// d2l chapter 7.1 in alexnet-ts: the network as nn.Sequential, and the layer-by-layer shape table.
// Run: node dist/examples/d2l_alexnet.js (after npm run build).
import { nn, randn } from "../src/index.js";

const net = new nn.Sequential(
  new nn.Conv2d(1, 96, { kernelSize: 11, stride: 4, padding: 1 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  new nn.Conv2d(96, 256, { kernelSize: 5, padding: 2 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  new nn.Conv2d(256, 384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
  new nn.Conv2d(384, 384, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
  new nn.Conv2d(384, 256, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  new nn.Flatten(),
  new nn.Linear(6400, 4096), new nn.ReLU(),
  new nn.Dropout(0.5),
  new nn.Linear(4096, 4096), new nn.ReLU(),
  new nn.Dropout(0.5),
  new nn.Linear(4096, 10),
);

let X = randn([1, 1, 224, 224]);
for (const layer of net) {
  X = layer.call(X);
  console.log(`${layer.constructor.name} output shape:\t [${X.shape.join(", ")}]`);
}

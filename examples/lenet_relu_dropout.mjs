// d2l 7.1, exercise: "apply dropout and ReLU to LeNet-5. Does it improve?" d2l's LeNet (6.6) with each
// Sigmoid replaced by a ReLU, max-pooling instead of average pooling (as AlexNet did), and Dropout(0.5)
// after the two hidden Linear layers. Sigmoid LeNet needs d2l's lr 0.9 and stays at loss 2.30 for most of
// its first epoch; this one learns from the first batches at lr 0.1.
//
//   alexnet train --model examples/lenet_relu_dropout.mjs
//
// Imports the package by its name (see alexnet_simplified.mjs).
import { nn } from "alexnet-ts";

export const recipe = { resize: null, batchSize: 256, lr: 0.1, epochs: 10 };

export default function leNetReluDropout({ inChannels = 1, classes = 10 } = {}) {
  return new nn.Sequential(
    new nn.Conv2d(inChannels, 6, { kernelSize: 5, padding: 2 }), new nn.ReLU(),
    new nn.MaxPool2d(2, { stride: 2 }),
    new nn.Conv2d(6, 16, { kernelSize: 5 }), new nn.ReLU(),
    new nn.MaxPool2d(2, { stride: 2 }),
    new nn.Flatten(),
    new nn.Linear(16 * 5 * 5, 120), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(120, 84), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(84, classes),
  );
}

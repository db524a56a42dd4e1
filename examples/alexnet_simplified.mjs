// d2l 7.1, exercise: "simplify the model to make training faster, while ensuring that the accuracy does not
// drop significantly". AlexNet's shape (convolutions widening then narrowing, max-pooling, two wide dropout
// layers) on Fashion-MNIST's own 28x28 images instead of 224x224 upscales: 3x3 kernels, pooling by 2, half
// the channels and an eighth of the hidden width. About 50M MACs per example instead of 938M.
//
//   alexnet train --model examples/alexnet_simplified.mjs           (10 epochs at the recipe below)
//   alexnet summary --model examples/alexnet_simplified.mjs
//
// Imports the package by its name: from this repository that is the package itself (its package.json
// "exports" map lets a file inside it import "alexnet-ts"); copied into a project that depends on
// alexnet-ts, the same line imports the installed package.
import { nn } from "alexnet-ts";

/** d2l's recipe for this network: no resize, batch 128, lr 0.05, 10 epochs (train_ch6: plain SGD). */
export const recipe = { resize: null, batchSize: 128, lr: 0.05, epochs: 10 };

export default function simplifiedAlexNet({ inChannels = 1, classes = 10 } = {}) {
  return new nn.Sequential(
    new nn.Conv2d(inChannels, 48, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(2, { stride: 2 }), // 14x14
    new nn.Conv2d(48, 128, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(2, { stride: 2 }), // 7x7
    new nn.Conv2d(128, 192, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.Conv2d(192, 192, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.Conv2d(192, 128, { kernelSize: 3, padding: 1 }), new nn.ReLU(),
    new nn.MaxPool2d(3, { stride: 2 }), // 3x3
    new nn.Flatten(),
    new nn.Linear(128 * 3 * 3, 512), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(512, 512), new nn.ReLU(), new nn.Dropout(0.5),
    new nn.Linear(512, classes),
  );
}

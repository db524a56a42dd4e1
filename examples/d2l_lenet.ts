// d2l 6.6 in alexnet-ts: LeNet on Fashion-MNIST, trained by d2l's train_ch6 (batch 256, lr 0.9, 10 epochs).
// Run: node dist/examples/d2l_lenet.js [epochs] [train-limit] (after npm run build).
import { getBackend, loadDataFashionMnist, nn, trainCh6 } from "../src/index.js";

const net = new nn.Sequential(
  new nn.Conv2d(1, 6, { kernelSize: 5, padding: 2 }), new nn.Sigmoid(),
  new nn.AvgPool2d(2, { stride: 2 }),
  new nn.Conv2d(6, 16, { kernelSize: 5 }), new nn.Sigmoid(),
  new nn.AvgPool2d(2, { stride: 2 }),
  new nn.Flatten(),
  new nn.Linear(16 * 5 * 5, 120), new nn.Sigmoid(),
  new nn.Linear(120, 84), new nn.Sigmoid(),
  new nn.Linear(84, 10),
);

const [epochs = 10, trainLimit] = process.argv.slice(2).map(Number);
const batchSize = 256;
const [trainIter, testIter] = await loadDataFashionMnist(batchSize, { trainLimit });
await trainCh6(net, trainIter, testIter, epochs, 0.9, getBackend());
await Promise.all([trainIter.close(), testIter.close()]);

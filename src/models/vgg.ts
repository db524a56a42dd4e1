// d2l's VGG-11 (7.2): vgg_block stacks of 3x3 convolutions and a 2x2 max-pool, conv_arch
// ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)), then three fully connected layers; "small" divides
// every block's channels by 4, as d2l trains it on Fashion-MNIST.
import { Conv2d, Dropout, Flatten, Linear, MaxPool2d, type Module, ReLU, Sequential } from "../nn/index.js";
import type { ZooOptions } from "./options.js";

export const VGG11_ARCH: readonly (readonly [number, number])[] = [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]];

export function vggBlock(numConvs: number, inChannels: number, outChannels: number): Sequential {
  const layers: Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new Conv2d(inChannels, outChannels, { kernelSize: 3, padding: 1 }), new ReLU());
    inChannels = outChannels;
  }
  layers.push(new MaxPool2d(2, { stride: 2 }));
  return new Sequential(...layers);
}

export function vgg(convArch: readonly (readonly [number, number])[], options: ZooOptions = {}): Sequential {
  const { inChannels = 1, classes = 10 } = options;
  const blocks: Module[] = [];
  let channels = inChannels;
  for (const [numConvs, outChannels] of convArch) {
    blocks.push(vggBlock(numConvs, channels, outChannels));
    channels = outChannels;
  }
  return new Sequential(
    ...blocks, new Flatten(),
    new Linear(channels * 7 * 7, 4096), new ReLU(), new Dropout(0.5),
    new Linear(4096, 4096), new ReLU(), new Dropout(0.5),
    new Linear(4096, classes),
  );
}

export function vgg11(options: ZooOptions = {}): Sequential {
  return vgg(VGG11_ARCH, options);
}

export function vgg11Small(options: ZooOptions = {}): Sequential {
  const ratio = 4;
  return vgg(VGG11_ARCH.map(([n, c]) => [n, Math.floor(c / ratio)] as const), options);
}

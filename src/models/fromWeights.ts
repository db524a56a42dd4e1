// An AlexNet rebuilt from named weights (a model.safetensors written by `alexnet train` or by the page):
// the variant from the first kernel (11x11 is variant 224, 5x5 is variant 28), the width from its channels
// (a --width-scale network has 96 x scale), the classes from the last layer, then a strict load of every
// name and shape. Errors are one line naming the source. Browser-safe; used by `alexnet eval`/`predict`
// (src/train/model.ts) and the web page (src/web/model.ts).
import type { Backend } from "../backend/backend.js";
import type { Sequential } from "../nn/sequential.js";
import { tidy } from "../tensor/scope.js";
import { tensor } from "../tensor/tensor.js";
import { alexNet, type AlexNetVariant } from "./alexnet.js";

export interface NamedWeights {
  shape: readonly number[];
  data: Float32Array;
}

export interface AlexNetFromWeights {
  net: Sequential;
  variant: AlexNetVariant;
  widthScale: number;
  classes: number;
}

/** The network in evaluation mode on `backend`. */
export async function alexNetFromWeights(weights: ReadonlyMap<string, NamedWeights>, source: string, backend: Backend): Promise<AlexNetFromWeights> {
  const first = weights.get("0.weight");
  const last = weights.get("20.weight");
  if (!first || first.shape.length !== 4 || !last || last.shape.length !== 2) {
    throw new Error(`${source} does not hold AlexNet weights (needs '0.weight' (96, C, k, k) and '20.weight' (classes, 4096))`);
  }
  const kernel = first.shape[2];
  if (kernel !== 11 && kernel !== 5) throw new Error(`${source}: first kernel ${kernel}x${kernel} is neither variant 224 (11x11) nor 28 (5x5)`);
  const variant: AlexNetVariant = kernel === 11 ? "224" : "28";
  const widthScale = first.shape[0]! / 96;
  const classes = last.shape[0]!;
  const net = await alexNet({ variant, inChannels: first.shape[1]!, classes, widthScale }).to(backend);
  try {
    tidy(() => net.loadStateDict(new Map([...weights].map(([name, t]) => [name, tensor(t.data, { shape: t.shape, backend })]))));
  } catch (e) {
    net.dispose();
    throw new Error(`${source}: ${(e as Error).message}`);
  }
  net.eval();
  return { net, variant, widthScale, classes };
}

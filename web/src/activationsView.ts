// The page's picture of a layer's feature maps for the image it just predicted (d2l 6.6's exercise, as
// `alexnet activations` draws it): the worker renders the grid; this puts it on a canvas, or says why not.
import type { Prediction } from "./protocol.js";

export function showActivations(p: Prediction, canvas: HTMLCanvasElement, note: HTMLElement): void {
  const a = p.activations;
  if (!a || "error" in a) {
    canvas.width = 0;
    canvas.height = 0;
    note.textContent = a ? `feature maps: ${a.error}` : "";
    return;
  }
  canvas.width = a.width;
  canvas.height = a.height;
  const rgba = new Uint8ClampedArray(a.width * a.height * 4);
  for (let i = 0; i < a.width * a.height; i++) {
    for (let c = 0; c < 3; c++) rgba[i * 4 + c] = a.data[i * a.channels + (a.channels === 3 ? c : 0)]!;
    rgba[i * 4 + 3] = 255;
  }
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, a.width, a.height), 0, 0);
  note.textContent = `feature maps of layer ${a.layer}: each tile scaled to its own min..max`;
}

// Fashion-MNIST's ten class names as d2l prints them (browser-safe).
/** d2l's text labels (d2l.get_fashion_mnist_labels), indexed by class. */
export const TEXT_LABELS: readonly string[] = [
  "t-shirt",
  "trouser",
  "pullover",
  "dress",
  "coat",
  "sandal",
  "shirt",
  "sneaker",
  "bag",
  "ankle boot",
];

export function textLabels(labels: ArrayLike<number>): string[] {
  return Array.from(labels, (l) => TEXT_LABELS[l] ?? `class ${l}`);
}

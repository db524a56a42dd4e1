// What every model builder of the zoo takes, and how d2l trains each model (its recipe). Apart from the
// registry so that the model files and the registry do not import each other.

/** What every builder takes: the data's channels and classes (Fashion-MNIST: 1 and 10). */
export interface ZooOptions {
  inChannels?: number;
  classes?: number;
  /** The input's height and width, for models whose layers depend on it (AlexNet's first Linear); the
   * others take any size their pooling allows and ignore it. */
  imageSize?: number;
}

/** How d2l trains a model: images resized to `resize` (null: the data's own 28x28), batch, lr, epochs. */
export interface Recipe {
  resize: number | null;
  batchSize: number;
  lr: number;
  epochs: number;
}

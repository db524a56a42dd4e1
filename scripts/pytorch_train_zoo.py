#!/usr/bin/python3
"""d2l's train_ch6 in PyTorch for a model of the zoo: the accuracy PyTorch reaches with the recipe and seed
that `alexnet train` uses, for the README's side-by-side figures (issue 24.7).

  /usr/bin/python3 scripts/pytorch_train_zoo.py --model lenet-bn [--epochs E] [--train-limit N]
      [--test-limit M] [--seed S] [--threads T] [--resize R] [--batch-size B] [--lr LR] [--variant 224|28]
      [--data-dir DIR]
  is the peer of `alexnet train --model lenet-bn` with the same flags.

As d2l's train_ch6 (d2l 0.17, PyTorch tab): d2l's own definition of the model (scripts/make_zoo_fixtures.py,
through bench/pytorch_zoo.py), Xavier-uniform init of every Conv2d and Linear weight, plain SGD with the
recipe's lr (src/models/registry.ts; flags override), cross-entropy, the training set shuffled every epoch
(the first N examples with --train-limit, as `alexnet train`), loss and accuracy accumulated over the last
epoch's training batches in training mode, test accuracy in evaluation mode, examples/s over the training
steps alone (d2l's timer: data preparation excluded). Images go through d2l's transforms.Resize(R) +
ToTensor() bit for bit without torchvision or PIL: Pillow's fixed-point bilinear resampling (the arithmetic
src/data/resize.ts follows, checked against torchvision's fixtures by test/bench.compare.test.ts), done as
float64 matrix products, exact because every term is an integer far below 2^53.
The order of the examples and the initial weights come from torch's generators, so they differ from ours;
the seed is the same number.

Prints one JSON line on stdout: train_loss, train_acc, test_acc, examples_per_sec, wall_seconds (data,
training and evaluation), and the settings; progress and d2l's two closing lines go to stderr.
Fashion-MNIST is read where `alexnet train` finds it (`alexnet data info`): --data-dir, $ALEXNET_DATA, the
user cache ($XDG_CACHE_HOME or ~/.cache, /alexnet-ts/fashion-mnist), Debian's /usr/share/datasets/fashion-mnist;
nothing is downloaded (`alexnet data download` does that). Run with Debian's python3-torch (/usr/bin/python3).
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from pytorch_zoo import RECIPES, build, init_weights, recipe  # noqa: E402  d2l's models and the zoo's recipes

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
PRECISION_BITS = 22


# ---- data --------------------------------------------------------------------------------------------------

def has_all(d):
    return all(os.path.exists(os.path.join(d, f)) or os.path.exists(os.path.join(d, f + ".gz"))
               for pair in FILES.values() for f in pair)


def find_data_dir(given):
    """The CLI's search order (src/data/fashionMnist.ts), without its download."""
    if given:
        if not has_all(given):
            sys.exit(f"pytorch_train_zoo: {given} does not hold Fashion-MNIST's four IDX files")
        return given
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "alexnet-ts", "fashion-mnist")
    for d in [os.environ.get("ALEXNET_DATA"), cache, "/usr/share/datasets/fashion-mnist"]:
        if d and has_all(d):
            return d
    sys.exit("pytorch_train_zoo: no Fashion-MNIST found ($ALEXNET_DATA, the user cache, Debian's dataset-fashion-mnist); "
             "run `alexnet data download` or pass --data-dir")


def read_idx(d, name, offset):
    path = os.path.join(d, name)
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_split(d, split, limit):
    """The first `limit` images (uint8, N x 28 x 28) and labels (int64) of a split."""
    images, labels = FILES[split]
    x = read_idx(d, images, 16).reshape(-1, 28, 28)
    y = read_idx(d, labels, 8).astype(np.int64)
    n = min(limit or len(y), len(y))
    return torch.from_numpy(x[:n].copy()), torch.from_numpy(y[:n].copy())


# ---- transforms.Resize(R) + ToTensor(), Pillow's arithmetic -------------------------------------------------

def bilinear_weights(in_size, out_size):
    """Pillow's bilinear pass from in_size to out_size pixels (ImagingResample's precompute_coeffs) as an
    out_size x in_size matrix of its fixed-point weights (22 fractional bits, rounded half away from zero)."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 1.0 * filter_scale
    m = np.zeros((out_size, in_size), np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        ss = 1.0 / filter_scale
        xmin = max(int(center - support + 0.5), 0)  # C's (int) cast: truncation toward zero
        xmax = min(int(center + support + 0.5), in_size) - xmin
        w = [max(0.0, 1.0 - abs((x + xmin - center + 0.5) * ss)) for x in range(xmax)]
        total = sum(w)
        for x in range(xmax):
            k = w[x] / total if total != 0 else w[x]
            m[xx, xmin + x] = int(-0.5 + k * (1 << PRECISION_BITS)) if k < 0 else int(0.5 + k * (1 << PRECISION_BITS))
    return torch.from_numpy(m)


def _pass(acc):
    # (sum + 2^21) >> 22, clamped to 0..255: the sum is an exact integer in float64, the division by 2^22 exact.
    return torch.floor((acc + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)).clamp_(0, 255)


class Resizer:
    """uint8 N x H x W images to float32 N x 1 x R x R, as d2l's transforms.Resize(R) + ToTensor(): the
    horizontal pass then the vertical one, each rounded to uint8, a pass skipped when its size is kept."""

    def __init__(self, in_size, out_size):
        self.w = bilinear_weights(in_size, out_size) if in_size != out_size else None

    def __call__(self, images):
        x = images.to(torch.float64)
        if self.w is not None:
            x = _pass(x @ self.w.T)                       # rows: N x H x R
            x = _pass(torch.matmul(self.w, x))            # columns: N x R x R
        # ToTensor: uint8 -> float32, divided by 255 in float32
        return (x.to(torch.uint8).to(torch.float32) / 255).unsqueeze(1)


# ---- train_ch6 ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(RECIPES), default="alexnet")
    ap.add_argument("--variant", choices=["224", "28"], default=None, help="AlexNet's (default 224, as `alexnet train`)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's (10)")
    ap.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--resize", type=int, default=None, help="images R x R (default: the recipe's; 28 is no resize)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-limit", type=int, default=None, help="only the first N training examples")
    ap.add_argument("--test-limit", type=int, default=None, help="only the first M test examples")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="default: all cores, as `alexnet train`")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args()
    if a.variant is not None and a.model != "alexnet":
        ap.error(f"--variant is AlexNet's; {a.model} has one input size")
    variant = a.variant or "224"
    r = recipe(a.model, variant)
    size = a.resize or r["resize"] or 28
    batch = a.batch_size or r["batch_size"]
    lr = a.lr if a.lr is not None else r["lr"]
    epochs = a.epochs or r["epochs"]
    torch.set_num_threads(a.threads)

    started = time.perf_counter()
    data_dir = find_data_dir(a.data_dir)
    x_train, y_train = load_split(data_dir, "train", a.train_limit)
    x_test, y_test = load_split(data_dir, "test", a.test_limit)
    resize = Resizer(28, size)

    torch.manual_seed(a.seed)
    net = build(a.model, variant)
    init_weights(net)
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 1, size, size))
    except RuntimeError as e:
        sys.exit(f"pytorch_train_zoo: {a.model} cannot take input [1, 1, {size}, {size}]: {str(e).splitlines()[0]}")
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(a.seed)
    n = len(y_train)
    timer = 0.0
    for epoch in range(epochs):
        net.train()
        metric = [0.0, 0, 0]  # d2l's Accumulator(3): loss x n, correct, n
        order = torch.randperm(n, generator=shuffle)
        for i in range(0, n, batch):  # the last partial batch is kept, as PyTorch's DataLoader
            idx = order[i:i + batch]
            X, y = resize(x_train[idx]), y_train[idx]
            t0 = time.perf_counter()
            opt.zero_grad()
            y_hat = net(X)
            l = loss_fn(y_hat, y)
            l.backward()
            opt.step()
            with torch.no_grad():
                loss = l.item()
                if not math.isfinite(loss):
                    sys.exit(f"pytorch_train_zoo: the loss became {loss} at epoch {epoch + 1}, batch {i // batch + 1}")
                metric[0] += loss * len(y)
                metric[1] += int((y_hat.argmax(dim=1) == y).sum())
                metric[2] += len(y)
            timer += time.perf_counter() - t0
        net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(y_test), batch):
                correct += int((net(resize(x_test[i:i + batch])).argmax(dim=1) == y_test[i:i + batch]).sum())
        test_acc = correct / len(y_test)
        train_loss, train_acc = metric[0] / metric[2], metric[1] / metric[2]
        print(f"epoch {epoch + 1}/{epochs}: loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}",
              file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    rate = metric[2] * epochs / timer  # d2l: metric[2] * num_epochs / timer.sum()
    device = f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"
    print(f"loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}", file=sys.stderr)
    print(f"{rate:.1f} examples/sec on {device}", file=sys.stderr)
    print(json.dumps({
        "model": a.model, **({"variant": variant} if a.model == "alexnet" else {}), "input": [1, size, size],
        "batch_size": batch, "lr": lr, "epochs": epochs, "seed": a.seed, "train_examples": n, "test_examples": len(y_test),
        "threads": torch.get_num_threads(), "device": device,
        "train_loss": train_loss, "train_acc": train_acc, "test_acc": test_acc,
        "examples_per_sec": rate, "wall_seconds": wall,
    }))


if __name__ == "__main__":
    main()

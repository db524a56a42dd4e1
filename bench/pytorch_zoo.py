#!/usr/bin/python3
"""The PyTorch peer of `alexnet bench`, for every model of the zoo: d2l's own definition of the model
(imported from scripts/make_zoo_fixtures.py, the code the zoo's fixtures come from), SGD with the recipe's lr,
cross-entropy, random data, training and inference timed per step (data loading excluded), median after
warm-up. Prints one JSON object with the keys of `alexnet bench --json` (null where this side measures
nothing: TFLOP/s, time shares). bench/compare.ts runs it next to `alexnet bench`.

  /usr/bin/python3 bench/pytorch_zoo.py --model resnet18 [--resize 96] [--batch-size 256] [--steps 10]
      [--warmup 2] [--threads N] [--lr LR] [--mode both|train|infer] [--precision fp32|bf16|amp]
      [--device cpu|cuda]
  --model alexnet takes --variant 224|28 (default 28, as `alexnet bench`); other models' input is
  1 x R x R with R = --resize or the recipe's (28 where the recipe does not resize).

Needs Debian's python3-torch (run with /usr/bin/python3) and libopenblas0 for fast Linear layers.
`--device cuda` runs on the GPU (each step ends in a host read, so the times include the GPU work);
`--precision amp` is CUDA fp16 autocast with a GradScaler, bf16 is CPU (or CUDA) bf16 autocast.
bench/pytorch_alexnet.py is this script with --model alexnet (bench/gpu.sh calls it by that name).
"""
import argparse
import json
import os
import statistics
import sys
import time

# torch before the definitions: make_block_fixtures.py picks OpenBLAS's kernels through the environment
# before it imports torch (for byte-identical fixtures); the peer times PyTorch as it loads by default.
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import make_zoo_fixtures as zoo  # noqa: E402  d2l's definitions (d2l 0.17, PyTorch tab)

# d2l's recipes, as src/models/registry.ts has them (test/bench.compare.test.ts checks they agree):
# resize (None: Fashion-MNIST's own 28x28), batch size, lr, epochs.
RECIPES = {
    "lenet": {"resize": None, "batch_size": 256, "lr": 0.9, "epochs": 10},
    "alexnet": {"resize": 224, "batch_size": 128, "lr": 0.01, "epochs": 10},
    "vgg11": {"resize": 224, "batch_size": 128, "lr": 0.05, "epochs": 10},
    "vgg11-small": {"resize": 224, "batch_size": 128, "lr": 0.05, "epochs": 10},
    "nin": {"resize": 224, "batch_size": 128, "lr": 0.1, "epochs": 10},
    "googlenet": {"resize": 96, "batch_size": 128, "lr": 0.1, "epochs": 10},
    "lenet-bn": {"resize": None, "batch_size": 256, "lr": 1.0, "epochs": 10},
    "resnet18": {"resize": 96, "batch_size": 256, "lr": 0.05, "epochs": 10},
    "densenet": {"resize": 96, "batch_size": 256, "lr": 0.1, "epochs": 10},
}
BUILDERS = {name: build for name, build, _ in zoo.MODELS}


def build(model, variant="224"):
    """d2l's network for `model`; AlexNet's variant 28 (the seed's) is d2l's AlexNet with the first block
    made for 28x28 images: Conv2d(1, 96, k5, p2) and MaxPool2d(3, stride 1)."""
    net = BUILDERS[model]()
    if model == "alexnet" and variant == "28":
        net[0] = nn.Conv2d(1, 96, kernel_size=5, padding=2)
        net[2] = nn.MaxPool2d(kernel_size=3, stride=1)
    return net


def recipe(model, variant="224"):
    """The recipe of `model` (AlexNet's variant 28 trains on the 28x28 images, without resize)."""
    r = dict(RECIPES[model])
    if model == "alexnet" and variant == "28":
        r["resize"] = None
    return r


def init_weights(net):
    """train_ch6's init: Xavier-uniform weights of every Conv2d and Linear (biases keep PyTorch's default)."""
    def init(m):
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    net.apply(init)


def timed(warmup, steps, fn):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def parse(argv=None, default_model="alexnet"):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(RECIPES), default=default_model)
    ap.add_argument("--variant", choices=["224", "28"], default=None, help="AlexNet's (default 28)")
    ap.add_argument("--resize", type=int, default=None, help="input R x R (default: the recipe's, 28 without resize)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--lr", type=float, default=None, help="default: the recipe's")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mode", choices=["both", "train", "infer"], default="both")
    ap.add_argument("--precision", choices=["fp32", "bf16", "amp"], default="fp32")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args(argv)
    if args.variant is not None and args.model != "alexnet":
        ap.error(f"--variant is AlexNet's; {args.model} has one input size")
    if args.model == "alexnet" and args.variant is None:
        args.variant = "28"
    return args


def main(argv=None, default_model="alexnet"):
    args = parse(argv, default_model)
    prog = os.path.basename(sys.argv[0]).replace(".py", "")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"{prog}: --device cuda but torch.cuda.is_available() is False")
    if args.precision == "amp" and args.device != "cuda":
        raise SystemExit(f"{prog}: --precision amp needs --device cuda")
    r = recipe(args.model, args.variant or "224")
    size = args.resize or r["resize"] or 28
    batch = args.batch_size or r["batch_size"]
    lr = args.lr if args.lr is not None else r["lr"]
    dev = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = build(args.model, args.variant or "224")
    init_weights(net)
    net = net.to(dev)
    # A model that does not fit the input fails here, with one line, before any timing.
    try:
        with torch.no_grad():
            out = net.eval()(torch.zeros(1, 1, size, size, device=dev)).shape
    except RuntimeError as e:
        raise SystemExit(f"{prog}: {args.model} cannot take input [1, 1, {size}, {size}]: {str(e).splitlines()[0]}")
    if tuple(out) != (1, 10):
        raise SystemExit(f"{prog}: {args.model} gives {list(out)} for input [1, 1, {size}, {size}], not [1, 10]")
    x = torch.rand(batch, 1, size, size).to(dev)
    y = torch.randint(0, 10, (batch,)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    half = torch.float16 if args.precision == "amp" else torch.bfloat16
    autocast = torch.autocast(args.device, dtype=half, enabled=args.precision != "fp32")
    scaler = torch.cuda.amp.GradScaler(enabled=args.precision == "amp") if args.device == "cuda" else None

    def train_step():
        opt.zero_grad()
        with autocast:
            loss = loss_fn(net(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        loss.item()  # the step's end: a host read, as our bench's steps end in the backend's sync

    def infer_step():
        with torch.no_grad(), autocast:
            net(x).float().cpu().numpy()

    train, infer = [], []
    if args.mode != "infer":
        net.train()
        train = timed(args.warmup, args.steps, train_step)
    if args.mode != "train":
        net.eval()
        infer = timed(args.warmup, args.steps, infer_step)
    rate = lambda ts: batch / statistics.median(ts) if ts else None  # noqa: E731
    print(json.dumps({
        "model": args.model, **({"variant": args.variant} if args.model == "alexnet" else {}),
        "input": [1, size, size], "batch_size": batch, "steps": args.steps, "warmup": args.warmup, "lr": lr,
        "backend": "pytorch",
        "device": (f"cuda (torch {torch.__version__}, {torch.cuda.get_device_name(0)})" if args.device == "cuda"
                   else f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"),
        "precision": args.precision, "bf16": None,
        "threads": torch.get_num_threads(), "train_examples_per_sec": rate(train), "infer_examples_per_sec": rate(infer),
        "train_tflops": None, "infer_tflops": None, "train_time_shares": None, "infer_time_shares": None,
        "train_step_seconds": train, "infer_step_seconds": infer,
    }))


if __name__ == "__main__":
    main()

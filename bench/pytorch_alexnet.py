#!/usr/bin/python3
"""The PyTorch peer of `alexnet bench`: d2l's AlexNet (variant 224 or 28), SGD lr 0.01, random data,
training and inference timed per step (data loading excluded), median after warm-up. Prints one JSON
object with the same keys as `alexnet bench --json`. Needs Debian's python3-torch (run with /usr/bin/python3)
and libopenblas0 for fast Linear layers. `--device cuda` runs on the GPU (each step ends in a host read, so
the times include the GPU work); `--precision amp` is CUDA fp16 autocast with a GradScaler, bf16 is CPU
(or CUDA) bf16 autocast.
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn


def alexnet(variant):
    first = ([nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2)]
             if variant == "224" else
             [nn.Conv2d(1, 96, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=1)])
    return nn.Sequential(
        *first,
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2), nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 10))


def timed(warmup, steps, fn):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=["224", "28"], default="28")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--mode", choices=["both", "train", "infer"], default="both")
    ap.add_argument("--precision", choices=["fp32", "bf16", "amp"], default="fp32")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("pytorch_alexnet: --device cuda but torch.cuda.is_available() is False")
    if args.precision == "amp" and args.device != "cuda":
        raise SystemExit("pytorch_alexnet: --precision amp needs --device cuda")
    dev = torch.device(args.device)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = alexnet(args.variant).to(dev)
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
    size = 224 if args.variant == "224" else 28
    x = torch.rand(args.batch_size, 1, size, size).to(dev)
    y = torch.randint(0, 10, (args.batch_size,)).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
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
        loss.item()

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
    rate = lambda ts: args.batch_size / statistics.median(ts) if ts else None
    print(json.dumps({
        "variant": args.variant, "batch_size": args.batch_size, "steps": args.steps, "backend": "pytorch",
        "device": (f"cuda (torch {torch.__version__}, {torch.cuda.get_device_name(0)})" if args.device == "cuda"
                   else f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"),
        "precision": args.precision,
        "threads": torch.get_num_threads(), "train_examples_per_sec": rate(train), "infer_examples_per_sec": rate(infer),
        "train_step_seconds": train, "infer_step_seconds": infer,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Checks that a safetensors file written by alexnet-ts loads into PyTorch's d2l AlexNet.

Usage: /usr/bin/python3 scripts/check_safetensors_torch.py FILE [--variant 224|28] [--classes 10]

FILE is a model.safetensors (a checkpoint's, or a run directory's). The file is parsed by hand (json +
struct, then torch.frombuffer), because Debian has no python3-safetensors package; the parse follows the
format's rules, so a file this accepts is one the safetensors library accepts too. Then
`load_state_dict(strict=True)` on the same nn.Sequential d2l builds in chapter 7.1, and one forward pass.
Prints one line per tensor and a final "OK" line; exits 1 with the reason otherwise. Tests do not need this
(they compare names and shapes with test/fixtures/alexnet.json); it is the interoperability check by hand.
"""
import argparse
import json
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}
ITEM_SIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"header length {n} exceeds the file")
    if n % 8 != 0:
        print(f"note: header length {n} is not a multiple of 8 (allowed, but our writer pads it)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    covered = 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = entry["data_offsets"]
        dtype = entry["dtype"]
        shape = entry["shape"]
        numel = 1
        for d in shape:
            numel *= d
        if begin != covered or end - begin != numel * ITEM_SIZE[dtype]:
            raise ValueError(f"tensor {name}: offsets {begin, end} do not follow on at {covered} or disagree with shape {shape}")
        covered = end
        # bytearray: torch.frombuffer wants a writable buffer, and the tensor must own its memory.
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=DTYPES[dtype]) if numel else torch.empty(0, dtype=DTYPES[dtype])
        tensors[name] = t.reshape(shape).float()
    if covered != len(data):
        raise ValueError(f"the tensors cover {covered} of {len(data)} data bytes")
    return header, tensors, metadata


def alexnet(variant, classes):
    first = ([nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2)]
             if variant == "224" else
             [nn.Conv2d(1, 96, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=1)])
    return nn.Sequential(
        *first,
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(),
        nn.Dropout(p=0.5),
        nn.Linear(4096, classes))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--variant", choices=["224", "28"], default="224")
    ap.add_argument("--classes", type=int, default=10)
    args = ap.parse_args()
    try:
        header, state_dict, metadata = read_safetensors(args.file)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"FAIL: {args.file} is not a valid safetensors file: {e}")
        return 1
    print(f"metadata: {metadata}")
    for name, t in state_dict.items():
        print(f"{name:12s} {header[name]['dtype']:4s} {list(t.shape)}  sum {t.double().sum().item():.6f}")
    net = alexnet(args.variant, args.classes)
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        print(f"FAIL: load_state_dict(strict=True) refused {args.file}: {e}")
        return 1
    size = 224 if args.variant == "224" else 28
    net.eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 1, size, size))
    print(f"OK: torch {torch.__version__} loaded {len(state_dict)} tensors into d2l AlexNet ({args.variant}) with "
          f"load_state_dict(strict=True); forward on zeros -> {list(out.shape)}, logits[0,:3] = {out[0, :3].tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The PyTorch peer of `alexnet bench` for AlexNet, by its old name: bench/pytorch_zoo.py with --model alexnet
as the default (d2l's AlexNet, variant 28 unless --variant 224, SGD lr 0.01, random data, median step times
after warm-up, one JSON object with the keys of `alexnet bench --json`). Kept because bench/gpu.sh and older
notes call it (`--device cuda`, `--precision amp`); every flag of pytorch_zoo.py works here, --model too.
Run with Debian's python3-torch: /usr/bin/python3 bench/pytorch_alexnet.py [--variant 224|28] ...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_zoo import main  # noqa: E402

if __name__ == "__main__":
    main(default_model="alexnet")

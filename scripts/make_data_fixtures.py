#!/usr/bin/python3
"""Generates test/fixtures/resize.json: what torchvision/PIL produce when resizing 28x28 uint8 images.

d2l resizes with torchvision's `transforms.Resize(n)` on a PIL 'L' image, then `ToTensor()`. PIL resamples
the uint8 image to a uint8 image (fixed-point coefficients, rounded), and ToTensor divides by 255 in
float32. The fixture stores the uint8 results (zlib-compressed, base64) so src/data/resize.ts can be checked
bit for bit, plus torch's 256-entry uint8 -> float32 table so toTensor can be checked bit for bit too.

Run with Debian's python (python3-torchvision, python3-pil): /usr/bin/python3 scripts/make_data_fixtures.py
"""
import base64
import gzip
import json
import os
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms

BILINEAR = getattr(Image, "Resampling", Image).BILINEAR  # Pillow >= 9.1 moved the constants
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "resize.json")
DEBIAN = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def pack(a: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, dtype=np.uint8).tobytes(), 9)).decode()


def source_images():
    """A few real Fashion-MNIST test images when Debian's package is installed, plus synthetic edge cases."""
    images = []
    if os.path.exists(DEBIAN):
        with gzip.open(DEBIAN, "rb") as f:
            raw = f.read()
        data = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
        for i in (0, 1, 2, 7):
            images.append((f"fashion-mnist t10k #{i}", data[i]))
    rng = np.random.default_rng(20240607)
    images.append(("uniform noise", rng.integers(0, 256, size=(28, 28), dtype=np.uint8)))
    yy, xx = np.mgrid[0:28, 0:28]
    images.append(("diagonal ramp", ((xx * 9 + yy * 5) % 256).astype(np.uint8)))
    checker = np.where((xx + yy) % 2 == 0, 255, 0).astype(np.uint8)
    images.append(("checkerboard 0/255", checker))
    return images


def main() -> None:
    images = source_images()
    cases = []
    # (width, height): d2l's 224, AlexNet's original 227, small up/down sizes, and non-square outputs
    # that exercise one-pass (width or height unchanged) and antialiased downsampling.
    sizes = [(224, 224), (227, 227), (32, 32), (20, 20), (14, 14), (9, 9), (17, 30), (28, 56), (40, 28)]
    to_tensor = transforms.ToTensor()
    for name, arr in images:
        img = Image.fromarray(arr)  # 2-D uint8 -> mode "L"
        for w, h in sizes:
            if w == h:
                # d2l's exact pipeline: Resize(int) keeps the aspect ratio (square stays square).
                t = to_tensor(transforms.Resize(w)(img))
                out = np.asarray(img.resize((w, h), BILINEAR))
                expect = torch.from_numpy(out.astype(np.float32) / np.float32(255)).unsqueeze(0)
                assert torch.equal(t, expect), "ToTensor(Resize) differs from PIL uint8 / 255"
            else:
                out = np.asarray(img.resize((w, h), BILINEAR))
            assert out.shape == (h, w)
            cases.append({"image": name, "width": w, "height": h, "out": pack(out)})
    lut = to_tensor(Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)))
    fixture = {
        "generator": "scripts/make_data_fixtures.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__},
        "note": "inputs and outputs are uint8, zlib-compressed then base64; outputs are PIL Image.resize(BILINEAR)",
        "inputs": {name: pack(arr) for name, arr in images},
        "inputSize": [28, 28],
        "toTensorLutHex": lut.numpy().astype("<f4").tobytes().hex(),
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()

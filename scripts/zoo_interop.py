#!/usr/bin/python3
"""Checkpoints of the model zoo cross between alexnet-ts and PyTorch, both ways (issue 24.6).

For each model (LeNet, BN-LeNet, and two with forwards of their own, ResNet-18 and GoogLeNet, built for
Fashion-MNIST's 28x28 images so that no resize is involved and the run is short; NiN, VGG-11 small and
DenseNet, which need larger images, at 224, 224 and 96, resized on the PyTorch side with Pillow's arithmetic
as the CLI's loader does):

  ours -> PyTorch: `alexnet train --model NAME --resize 28` for 32 steps of 32 (d2l's lr) writes a run directory; its
    model.safetensors loads with load_state_dict(strict=True) into d2l's own definition of the model
    (scripts/make_zoo_fixtures.py, imported), whose logits on the first N test images equal those of our
    forward in evaluation mode (the checkpoint rebuilt by the library, as `alexnet eval` rebuilds it), and
    whose accuracy there equals what `alexnet eval --checkpoint RUN --test-limit N` prints.
  PyTorch -> ours: d2l's model trained the same way in PyTorch (so batch normalization's running
    statistics are not the initial ones) and saved as safetensors (PyTorch's state_dict names, no record of
    the model) loads in `alexnet eval --checkpoint FILE --model NAME --resize 28`, which prints PyTorch's
    accuracy on the same images, and our logits equal PyTorch's.

Usage: /usr/bin/python3 scripts/zoo_interop.py [--models lenet,lenet-bn,resnet18,googlenet,nin,vgg11-small,densenet] [--n 500]
       [--backend native|reference] [--work DIR]
Run after `npm run build`. Prints one line per check and "OK"; exits 1 on the first mismatch.
Debian has no python3-safetensors: the files are read and written by hand (json + struct), by the format's
rules. Fashion-MNIST comes from the same place the CLI finds it (`alexnet data info`), or --data-dir.
"""
import argparse
import gzip
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_zoo_fixtures as zoo  # noqa: E402  d2l's definitions, the ones the fixtures come from
from pytorch_train_zoo import Resizer  # noqa: E402  transforms.Resize + ToTensor with Pillow's arithmetic

CLI = os.path.join(ROOT, "dist", "src", "cli", "main.js")
BUILDERS = {"lenet": zoo.lenet, "lenet-bn": zoo.lenet_bn, "resnet18": zoo.resnet18, "googlenet": zoo.googlenet,
            "densenet": zoo.densenet, "nin": zoo.nin,
            "vgg11-small": lambda: zoo.vgg([(p[0], p[1] // 4) for p in zoo.conv_arch])}
# d2l's learning rates (the recipes of src/models/registry.ts), used on both sides.
LR = {"lenet": 0.9, "lenet-bn": 1.0, "resnet18": 0.05, "googlenet": 0.1, "densenet": 0.1, "nin": 0.1, "vgg11-small": 0.05}
# The image size of each model's runs: 28 (no resize) where the model takes it, else the smallest size its
# layers take among d2l's (NiN and VGG need 224; DenseNet's last pooling needs more than 28).
RESIZE = {"densenet": 96, "nin": 224, "vgg11-small": 224}
STEPS, BATCH = 32, 32
DTYPES = {"F32": (np.float32, 4), "F64": (np.float64, 8), "I64": (np.int64, 8)}

# Our forward on the first N test images, printed as JSON: the checkpoint rebuilt by the library exactly as
# `alexnet eval` rebuilds it (src/cli/modelChoice.ts), images batched by the CLI's DataLoader.
LOGITS_JS = """
const [, path, n, model, resize, backendName] = process.argv;
const root = process.env.ALEXNET_ROOT;
const { createBackend } = await import(`${root}/dist/src/backend/registry.js`);
await import(`${root}/dist/src/cli/backendFlags.js`);
const { loadCheckpointModel } = await import(`${root}/dist/src/cli/modelChoice.js`);
const { loadFashionMnist } = await import(`${root}/dist/src/data/fashionMnist.js`);
const { DataLoader } = await import(`${root}/dist/src/data/loader.js`);
const { tensor } = await import(`${root}/dist/src/tensor/tensor.js`);
const { noGrad } = await import(`${root}/dist/src/tensor/autograd.js`);
const backend = await createBackend(backendName);
const given = model === "-" ? {} : { model, resize: Number(resize) };
const { net, saved } = await loadCheckpointModel(path, backend, () => {}, given);
const test = await loadFashionMnist("test", process.env.ALEXNET_DATA_DIR ? { dataDir: process.env.ALEXNET_DATA_DIR } : {});
const loader = new DataLoader(test, { batchSize: Number(n), shuffle: false, limit: Number(n), resize: saved.resize ?? undefined, worker: false });
const batch = loader.batchSync(0, 0);
const out = noGrad(() => net.call(tensor(batch.images, { shape: [...batch.shape], backend })));
console.log(JSON.stringify({ shape: out.shape, logits: Array.from(await out.data()), labels: Array.from(batch.labels) }));
"""


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        dtype, size = DTYPES[e["dtype"]]
        start, end = e["data_offsets"]
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        if end - start != count * size:
            raise ValueError(f"{path}: {name} has {end - start} bytes for shape {e['shape']}")
        tensors[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype=dtype).reshape(e["shape"]).copy())
    return tensors, metadata


def write_safetensors(path, state):
    header, chunks, offset = {}, [], 0
    for name, t in state.items():
        a = t.detach().cpu().numpy()
        kind = "I64" if a.dtype == np.int64 else "F32"
        a = a.astype(np.int64 if kind == "I64" else np.float32)
        b = a.tobytes()
        header[name] = {"dtype": kind, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def find_data_dir(given):
    if given:
        return given
    out = subprocess.run(["node", CLI, "data", "info"], capture_output=True, text=True).stdout
    m = re.search(r"\s(/\S+): all 4 files\s+<- used", out)
    if not m:
        sys.exit(f"zoo_interop: no Fashion-MNIST found (alexnet data info):\n{out}")
    return m.group(1)


def load_split(data_dir, kind, n):
    pre = "train" if kind == "train" else "t10k"
    def read(suffix, offset):
        path = os.path.join(data_dir, f"{pre}-{suffix}")
        opener = gzip.open if os.path.exists(path + ".gz") else open
        with opener(path + (".gz" if os.path.exists(path + ".gz") else ""), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    x = read("images-idx3-ubyte", 16).reshape(-1, 1, 28, 28)[:n]
    y = read("labels-idx1-ubyte", 8)[:n]
    # torchvision's ToTensor: bytes / 255 as float32
    return torch.from_numpy(x.astype(np.float32) / np.float32(255)), torch.from_numpy(y.astype(np.int64))


def run(args, check=True):
    r = subprocess.run(["node", CLI, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"zoo_interop: alexnet {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r


def resized(x, size):
    """ToTensor's 28x28 floats resized to size x size as the CLI's loader does (Pillow's bilinear)."""
    if size == 28:
        return x
    pixels = torch.round(x[:, 0] * 255).to(torch.uint8)  # k / 255 in float32 gives k back exactly
    return Resizer(28, size)(pixels)


def our_logits(path, n, backend, data_dir, model=None, size=28):
    env = {**os.environ, "ALEXNET_ROOT": ROOT, "ALEXNET_DATA_DIR": data_dir}
    r = subprocess.run(["node", "--input-type=module", "-e", LOGITS_JS, path, str(n), model or "-", str(size), backend],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"zoo_interop: our forward of {path} failed:\n{r.stderr}")
    j = json.loads(r.stdout)
    return torch.tensor(j["logits"], dtype=torch.float32).reshape(j["shape"]), torch.tensor(j["labels"])


def eval_accuracy(args):
    r = run(["eval", *args])
    m = re.search(r"^test acc (\d\.\d{3})$", r.stdout, re.M)
    if not m:
        sys.exit(f"zoo_interop: no accuracy in alexnet eval's output:\n{r.stdout}")
    return float(m.group(1))


def compare(what, ours, theirs, tol):
    scale = max(float(theirs.abs().max()), 1e-12)
    err = float((ours - theirs).abs().max())
    ok = err <= tol * scale
    print(f"{what}: logits of {tuple(theirs.shape)} agree to {err:.2e} (max |logit| {scale:.2f}, bound {tol:g} x max){'' if ok else '  MISMATCH'}")
    if not ok:
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="lenet,lenet-bn,resnet18,googlenet")
    p.add_argument("--n", type=int, default=500, help="test images compared")
    p.add_argument("--backend", default="native", choices=["native", "reference"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--work", default=None, help="keep the run directories and files here")
    p.add_argument("--tol", type=float, default=1e-4, help="bound on |ours - PyTorch's| relative to the largest logit")
    a = p.parse_args()
    torch.set_num_threads(2)
    data_dir = find_data_dir(a.data_dir)
    work = a.work or tempfile.mkdtemp(prefix="zoo-interop-")
    os.makedirs(work, exist_ok=True)
    x_test, y_test = load_split(data_dir, "test", a.n)
    x_train, y_train = load_split(data_dir, "train", STEPS * BATCH)
    x_test28, x_train28 = x_test, x_train
    for name in a.models.split(","):
        build = BUILDERS[name]
        size = RESIZE.get(name, 28)
        x_test, x_train = resized(x_test28, size), resized(x_train28, size)
        # ours -> PyTorch
        run_dir = os.path.join(work, f"run-{name}")
        run(["train", "--model", name, "--resize", str(size), "--epochs", "1", "--train-limit", str(STEPS * BATCH), "--test-limit", "64",
             "--batch-size", str(BATCH), "--lr", str(LR[name]), "--seed", "1", "--run-dir", run_dir, "--plain", "--backend", a.backend,
             "--data-dir", data_dir])
        weights, metadata = read_safetensors(os.path.join(run_dir, "model.safetensors"))
        net = build()
        net.load_state_dict(weights, strict=True)
        net.eval()
        with torch.no_grad():
            theirs = net(x_test)
        acc_torch = float((theirs.argmax(1) == y_test).float().mean())
        ours, labels = our_logits(run_dir, a.n, a.backend, data_dir)
        assert torch.equal(labels, y_test)
        print(f"{name}: our checkpoint ({len(weights)} tensors, model record {metadata.get('alexnet-ts.model')}) "
              f"loads with load_state_dict(strict=True) into d2l's definition")
        compare(f"{name}: ours -> PyTorch", ours, theirs, a.tol)
        acc_ours = eval_accuracy(["--checkpoint", run_dir, "--test-limit", str(a.n), "--backend", a.backend,
                                  "--data-dir", data_dir, "--out", os.path.join(work, "confusion.png")])
        print(f"{name}: accuracy on the first {a.n} test images: alexnet eval {acc_ours:.3f}, PyTorch {acc_torch:.3f}")
        if f"{acc_torch:.3f}" != f"{acc_ours:.3f}":
            sys.exit(1)
        # PyTorch -> ours
        torch.manual_seed(0)
        net = build()
        for m in net.modules():
            if type(m) in (nn.Linear, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
        opt = torch.optim.SGD(net.parameters(), lr=LR[name])
        net.train()
        order = torch.randperm(STEPS * BATCH)
        for i in range(0, STEPS * BATCH, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x_train[idx]), y_train[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            theirs = net(x_test)
        acc_torch = float((theirs.argmax(1) == y_test).float().mean())
        path = os.path.join(work, f"pytorch-{name}.safetensors")
        write_safetensors(path, net.state_dict())
        ours, _ = our_logits(path, a.n, a.backend, data_dir, model=name, size=size)
        compare(f"{name}: PyTorch -> ours", ours, theirs, a.tol)
        acc_ours = eval_accuracy(["--checkpoint", path, "--model", name, "--resize", str(size), "--test-limit", str(a.n),
                                  "--backend", a.backend, "--data-dir", data_dir, "--out", os.path.join(work, "confusion.png")])
        print(f"{name}: PyTorch's weights in alexnet eval --model {name}: accuracy {acc_ours:.3f}, PyTorch {acc_torch:.3f}")
        if f"{acc_torch:.3f}" != f"{acc_ours:.3f}":
            sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()

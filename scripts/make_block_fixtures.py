#!/usr/bin/python3
"""Golden fixtures for d2l's CNN-chapter building blocks (d2l 0.17, PyTorch tab), written as d2l writes them.

Run with Debian's python3-torch: `/usr/bin/python3 scripts/make_block_fixtures.py`.
Writes test/fixtures/blocks.json and test/fixtures/blocks.safetensors (committed; the tests need no Python).

Blocks: `Residual` (7.6) without the 1x1 convolution (stride 1) and with it (stride 2), `Inception` (7.4) with
small channel counts, `DenseBlock` (7.7, d2l's conv_block BN-ReLU-Conv) and `transition_block` (7.7). Per block:
  stateDict      every state_dict entry (parameters and buffers) with PyTorch's names, in PyTorch's order; the
                 initial parameters are PyTorch's default init rounded to float32, BatchNorm's weight/bias and
                 running statistics are drawn (not 1/0/0/1, so that a load that drops them shows) and
                 num_batches_tracked is 5
  x, dy          the input and a fixed output gradient: loss = (y * dy).sum()
  y              the train-mode output
  grads          every parameter's gradient, by name
  dx             the input's gradient (x feeds several paths: Residual's shortcut, Inception's four branches)
  stateAfterStep the state_dict after one torch.optim.SGD(lr=0.1) step (running statistics and
                 num_batches_tracked from that one train-mode forward)
  yAfterStep     the train-mode output after the step (a second forward: it updates the statistics again)
  stateFinal     the state_dict after that second forward
  yEval          the eval-mode output after all that (running statistics, which it does not write)
Values are float32 numbers; PyTorch computes in float64 from them (as make_fixtures.py does).

blocks.safetensors holds the same initial state_dicts as PyTorch stores them: float tensors F32, every
num_batches_tracked a 0-d I64, keys `<block>.<state_dict name>` in state_dict order. Written by hand (json +
struct), because Debian has no python3-safetensors; the layout follows the format (8-byte little-endian header
length, the JSON header padded with spaces to 8 bytes, then the data in header order).
"""
import json
import os
import struct

# OpenBLAS's SkylakeX kernels where the CPU has AVX-512, as make_fixtures.py (byte-identical regeneration).
try:
    with open("/proc/cpuinfo") as _f:
        if " avx512f" in _f.read():
            os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
except OSError:
    pass

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")


# ---- d2l 0.17 (PyTorch tab), line for line ----------------------------------------------------------------

class Residual(nn.Module):  #@save
    def __init__(self, input_channels, num_channels,
                 use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, num_channels,
                               kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(num_channels, num_channels,
                               kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(input_channels, num_channels,
                                   kernel_size=1, stride=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(num_channels)
        self.bn2 = nn.BatchNorm2d(num_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


class Inception(nn.Module):
    # `c1`--`c4` are the number of output channels for each path
    def __init__(self, in_channels, c1, c2, c3, c4, **kwargs):
        super(Inception, self).__init__(**kwargs)
        # Path 1 is a single 1 x 1 convolutional layer
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        # Path 2 is a 1 x 1 convolutional layer followed by a 3 x 3
        # convolutional layer
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        # Path 3 is a 1 x 1 convolutional layer followed by a 5 x 5
        # convolutional layer
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        # Path 4 is a 3 x 3 maximum pooling layer followed by a 1 x 1
        # convolutional layer
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        # Concatenate the outputs on the channel dimension
        return torch.cat((p1, p2, p3, p4), dim=1)


def conv_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs, input_channels, num_channels):
        super(DenseBlock, self).__init__()
        layer = []
        for i in range(num_convs):
            layer.append(conv_block(
                num_channels * i + input_channels, num_channels))
        self.net = nn.Sequential(*layer)

    def forward(self, X):
        for blk in self.net:
            Y = blk(X)
            # Concatenate the input and output of each block on the channel
            # dimension
            X = torch.cat((X, Y), dim=1)
        return X


def transition_block(input_channels, num_channels):
    return nn.Sequential(
        nn.BatchNorm2d(input_channels), nn.ReLU(),
        nn.Conv2d(input_channels, num_channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2))


# ---- fixtures -------------------------------------------------------------------------------------------

def f32(t):
    return t.to(torch.float32).to(torch.float64)


def rnd(*shape, scale=1.0):
    return f32(torch.randn(*shape) * scale)


def arr(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def state(m):
    return [{"name": k, **arr(v)} for k, v in m.state_dict().items()]


def prepare(m):
    """float64 module whose values are float32 numbers; BatchNorm's affine and running statistics drawn."""
    m = m.to(torch.float64)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(1.0 + rnd(c, scale=0.3))
                mod.bias.copy_(rnd(c, scale=0.3))
                mod.running_mean.copy_(rnd(c, scale=0.2))
                mod.running_var.copy_(rnd(c, scale=0.3).abs() + 0.7)
                mod.num_batches_tracked.fill_(5)
        for p in m.parameters():
            p.copy_(f32(p))
        for b in m.buffers():
            if b.dtype.is_floating_point:
                b.copy_(f32(b))
    return m


def make(name, ctor, block, x_shape):
    block = prepare(block)
    initial = block.state_dict()
    initial = {k: v.clone() for k, v in initial.items()}
    x = rnd(*x_shape, scale=1.5).requires_grad_()
    block.train()
    y = block(x)
    dy = rnd(*y.shape)
    (y * dy).sum().backward()
    grads = [{"name": k, **arr(p.grad)} for k, p in block.named_parameters()]
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    opt.step()
    after_step = state(block)
    with torch.no_grad():
        y2 = block(x)
    final = state(block)
    block.eval()
    with torch.no_grad():
        y3 = block(x)
    return {
        "name": name, "ctor": ctor, "repr": repr(block),
        "stateDictNames": list(initial.keys()),
        "stateDict": [{"name": k, **arr(v)} for k, v in initial.items()],
        "x": arr(x), "dy": arr(dy), "y": arr(y), "grads": grads, "dx": arr(x.grad),
        "stateAfterStep": after_step, "yAfterStep": arr(y2), "stateFinal": final, "yEval": arr(y3),
    }, initial


def write_safetensors(path, named):
    """named: (key, tensor) in order. F32 for floating tensors, I64 for int64 ones, as torch stores them."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key, t in named:
        if t.dtype.is_floating_point:
            dtype, raw = "F32", t.detach().to(torch.float32).contiguous().numpy().tobytes()
        elif t.dtype == torch.int64:
            dtype, raw = "I64", struct.pack(f"<{t.numel()}q", *[int(v) for v in t.reshape(-1).tolist()])
        else:
            raise ValueError(f"{key}: dtype {t.dtype}")
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    torch.manual_seed(2023)
    blocks, tensors = [], []
    specs = [
        ("residual", {"type": "Residual", "input_channels": 4, "num_channels": 4}, lambda: Residual(4, 4), (3, 4, 6, 6)),
        ("residual_1x1", {"type": "Residual", "input_channels": 3, "num_channels": 6, "use_1x1conv": True, "strides": 2},
         lambda: Residual(3, 6, use_1x1conv=True, strides=2), (2, 3, 8, 8)),
        ("inception", {"type": "Inception", "in_channels": 8, "c1": 4, "c2": [4, 6], "c3": [2, 3], "c4": 3},
         lambda: Inception(8, 4, (4, 6), (2, 3), 3), (2, 8, 6, 6)),
        ("dense_block", {"type": "DenseBlock", "num_convs": 2, "input_channels": 3, "num_channels": 4},
         lambda: DenseBlock(2, 3, 4), (4, 3, 8, 8)),
        ("transition_block", {"type": "transition_block", "input_channels": 11, "num_channels": 5},
         lambda: transition_block(11, 5), (2, 11, 8, 8)),
    ]
    for name, ctor, build, x_shape in specs:
        fixture, initial = make(name, ctor, build(), x_shape)
        blocks.append(fixture)
        tensors += [(f"{name}.{k}", v) for k, v in initial.items()]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "blocks.json"), "w") as f:
        json.dump({"generator": f"torch {torch.__version__}", "sgd": {"lr": 0.1}, "blocks": blocks}, f)
    write_safetensors(os.path.join(OUT, "blocks.safetensors"), tensors)
    print(f"wrote {len(blocks)} blocks ({len(tensors)} state_dict entries) to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()

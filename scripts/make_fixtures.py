#!/usr/bin/python3
"""Golden fixtures from PyTorch for every op, forward and backward, and for one small training run.

Run with Debian's python3-torch: `/usr/bin/python3 scripts/make_fixtures.py` (npm run fixtures).
Writes test/fixtures/ops.json and test/fixtures/train_step.json, which are committed so the tests need
no Python. Inputs are drawn in float32 and rounded to float32; PyTorch computes in float64 from those
values, so a float64 backend can be compared tightly and a float32 one within float32 rounding.
"""
import json
import os

# The committed fixtures were made with OpenBLAS's SkylakeX (AVX-512) kernels; other kernels (Haswell, Zen)
# round PyTorch's float64 convolutions differently in the last bit (1e-15). On a CPU with AVX-512 the same
# kernels are chosen (overriding an OPENBLAS_CORETYPE from the environment), so that a regenerated
# ops.json/train_step.json equals the committed one byte for byte. Must be set before torch (OpenBLAS) loads.
try:
    with open("/proc/cpuinfo") as _f:
        if " avx512f" in _f.read():
            os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
except OSError:
    pass

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")


def arr(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).to(torch.float32).to(torch.float64)


cases = []


def conv_case(name, n, c, h, w, o, k, stride, padding, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rnd(n, c, h, w).requires_grad_()
    wt = rnd(o, c, kh, kw, scale=0.5).requires_grad_()
    b = rnd(o).requires_grad_() if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=padding)
    dy = rnd(*y.shape)
    y.backward(dy)
    inputs = {"x": arr(x), "w": arr(wt), "dy": arr(dy)}
    outputs = {"y": arr(y), "dx": arr(x.grad), "dw": arr(wt.grad)}
    if bias:
        inputs["b"] = arr(b)
        outputs["db"] = arr(b.grad)
    st = [stride, stride] if isinstance(stride, int) else list(stride)
    pd = [padding, padding] if isinstance(padding, int) else list(padding)
    cases.append({"op": "conv2d", "name": name, "params": {"stride": st, "padding": pd}, "inputs": inputs, "outputs": outputs})


def pool_case(name, x, k, stride, padding):
    x = x.clone().requires_grad_()
    y = F.max_pool2d(x, k, stride=stride, padding=padding)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "maxPool2d", "name": name,
                  "params": {"kernel": [k, k], "stride": [stride, stride], "padding": [padding, padding]},
                  "inputs": {"x": arr(x), "dy": arr(dy)}, "outputs": {"y": arr(y), "dx": arr(x.grad)}})


def linear_case(name, n, i, o, bias=True):
    x = rnd(n, i).requires_grad_()
    wt = rnd(o, i, scale=0.5).requires_grad_()
    b = rnd(o).requires_grad_() if bias else None
    y = F.linear(x, wt, b)
    dy = rnd(*y.shape)
    y.backward(dy)
    inputs = {"x": arr(x), "w": arr(wt), "dy": arr(dy)}
    outputs = {"y": arr(y), "dx": arr(x.grad), "dw": arr(wt.grad)}
    if bias:
        inputs["b"] = arr(b)
        outputs["db"] = arr(b.grad)
    cases.append({"op": "linear", "name": name, "params": {}, "inputs": inputs, "outputs": outputs})


# Convolutions: odd sizes, padding > 0, strides 1..4, non-square kernels and inputs, AlexNet's 11x11/s4/p1.
conv_case("3x3 s1 p0", 2, 3, 7, 6, 4, 3, 1, 0)
conv_case("3x3 s1 p1", 2, 3, 7, 7, 5, 3, 1, 1)
conv_case("3x3 s2 p1 odd", 1, 2, 9, 8, 3, 3, 2, 1)
conv_case("5x5 s1 p2", 2, 2, 9, 9, 3, 5, 1, 2)
conv_case("4x3 s(3,2) p(1,0)", 1, 3, 10, 11, 2, (4, 3), (3, 2), (1, 0))
conv_case("11x11 s4 p1 (AlexNet conv1)", 1, 1, 23, 23, 4, 11, 4, 1)
conv_case("1x1 no bias", 3, 4, 5, 5, 2, 1, 1, 0, bias=False)

# Max pooling: stride 1 and 2, padding, overlapping windows, and ties (small integers).
pool_case("3x3 s2", rnd(2, 3, 9, 9), 3, 2, 0)
pool_case("3x3 s1 (variant 28)", rnd(1, 2, 7, 8), 3, 1, 0)
pool_case("2x2 s2 p1", rnd(1, 2, 7, 7), 2, 2, 1)
pool_case("3x3 s2 p1 even", rnd(2, 1, 10, 10), 3, 2, 1)
pool_case("3x3 s1 ties", torch.randint(0, 3, (1, 2, 6, 6)).to(torch.float64), 3, 1, 0)

linear_case("5->4", 3, 5, 4)
linear_case("7->3 no bias", 2, 7, 3, bias=False)

# ReLU, including exact zeros (gradient 0 there, as PyTorch's threshold_backward).
x = rnd(3, 4, 5)
x.view(-1)[::7] = 0.0
x.requires_grad_()
y = F.relu(x)
dy = rnd(*y.shape)
y.backward(dy)
cases.append({"op": "relu", "name": "relu with zeros", "params": {}, "inputs": {"x": arr(x), "dy": arr(dy)},
              "outputs": {"y": arr(y), "dx": arr(x.grad)}})

# Log-softmax + cross-entropy (mean), with large logits to exercise the max-shift.
for name, scale, gscale in [("ce small", 1.0, 1.0), ("ce large logits", 30.0, 0.5)]:
    logits = rnd(6, 5, scale=scale).requires_grad_()
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    loss = F.cross_entropy(logits, labels)
    loss.backward(torch.tensor(gscale, dtype=torch.float64))
    cases.append({"op": "crossEntropy", "name": name, "params": {"dloss": gscale},
                  "inputs": {"logits": arr(logits), "labels": labels.tolist()},
                  "outputs": {"loss": float(loss), "dlogits": arr(logits.grad)}})

# SGD: three steps with given gradients, for each option set.
for name, opts in [
    ("plain", dict(lr=0.1)),
    ("momentum", dict(lr=0.05, momentum=0.9)),
    ("momentum dampening wd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("nesterov wd", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.001)),
]:
    p = torch.nn.Parameter(rnd(4, 3))
    p0 = p.detach().clone()
    opt = torch.optim.SGD([p], **opts)
    grads = [rnd(4, 3) for _ in range(3)]
    for g in grads:
        p.grad = g.clone()
        opt.step()
    cases.append({"op": "sgd", "name": name,
                  "params": {"lr": opts["lr"], "momentum": opts.get("momentum", 0.0), "dampening": opts.get("dampening", 0.0),
                             "weightDecay": opts.get("weight_decay", 0.0), "nesterov": opts.get("nesterov", False)},
                  "inputs": {"param": arr(p0), "grads": [arr(g) for g in grads]}, "outputs": {"param": arr(p)}})

# ---- Issue 23 (d2l's CNN chapter). Appended after the cases above so that their random draws stay as they were.

def unary_case(op, name, x, fn):
    x = x.clone().requires_grad_()
    y = fn(x)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": op, "name": name, "params": {}, "inputs": {"x": arr(x), "dy": arr(dy)},
                  "outputs": {"y": arr(y), "dx": arr(x.grad)}})


unary_case("sigmoid", "sigmoid", rnd(3, 4, 5, scale=3.0), torch.sigmoid)
unary_case("tanh", "tanh", rnd(3, 4, 5, scale=2.0), torch.tanh)
unary_case("sqrt", "sqrt of positive values", rnd(4, 6).abs() + 0.1, torch.sqrt)


def avg_pool_case(name, x, k, stride, padding):
    k = (k, k) if isinstance(k, int) else k
    stride = (stride, stride) if isinstance(stride, int) else stride
    padding = (padding, padding) if isinstance(padding, int) else padding
    x = x.clone().requires_grad_()
    y = F.avg_pool2d(x, k, stride=stride, padding=padding, count_include_pad=True)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "avgPool2d", "name": name,
                  "params": {"kernel": list(k), "stride": list(stride), "padding": list(padding)},
                  "inputs": {"x": arr(x), "dy": arr(dy)}, "outputs": {"y": arr(y), "dx": arr(x.grad)}})


# Average pooling: LeNet's 2x2 s2, padding (count_include_pad=True: the zeros count), stride != kernel.
avg_pool_case("2x2 s2 (LeNet)", rnd(2, 3, 8, 8), 2, 2, 0)
avg_pool_case("3x3 s1 p1 (Inception)", rnd(1, 2, 6, 5), 3, 1, 1)
avg_pool_case("3x3 s2 p1 odd", rnd(2, 2, 9, 7), 3, 2, 1)
avg_pool_case("2x2 s1 overlapping", rnd(1, 3, 5, 6), 2, 1, 0)
avg_pool_case("3x2 s(2,1) p(1,0)", rnd(2, 1, 7, 6), (3, 2), (2, 1), (1, 0))


def adaptive_case(name, x, out):
    x = x.clone().requires_grad_()
    y = F.adaptive_avg_pool2d(x, out)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "adaptiveAvgPool2d", "name": name, "params": {"outSize": list(out)},
                  "inputs": {"x": arr(x), "dy": arr(dy)}, "outputs": {"y": arr(y), "dx": arr(x.grad)}})


adaptive_case("(1,1) from 5x5 (global)", rnd(2, 3, 5, 5), (1, 1))
adaptive_case("(2,2) from 4x4", rnd(2, 2, 4, 4), (2, 2))
adaptive_case("(3,2) from 7x5 (bins overlap)", rnd(1, 2, 7, 5), (3, 2))


def batch_norm_case(name, shape, training, momentum=0.1, eps=1e-5):
    c = shape[1]
    x = rnd(*shape, scale=2.0).add_(0.5).requires_grad_()
    w = (rnd(c, scale=0.5) + 1.0).requires_grad_()
    b = rnd(c, scale=0.5).requires_grad_()
    rm = rnd(c, scale=0.3)
    rv = rnd(c, scale=0.3).abs() + 0.5
    rm0, rv0 = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=momentum, eps=eps)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "batchNorm", "name": name, "params": {"training": training, "momentum": momentum, "eps": eps},
                  "inputs": {"x": arr(x), "weight": arr(w), "bias": arr(b), "runningMean": arr(rm0),
                             "runningVar": arr(rv0), "dy": arr(dy)},
                  "outputs": {"y": arr(y), "dx": arr(x.grad), "dweight": arr(w.grad), "dbias": arr(b.grad),
                              "runningMean": arr(rm), "runningVar": arr(rv)}})


# Batch norm: training (batch statistics, running update with the unbiased variance) on (N,C) and (N,C,H,W),
# another momentum and eps, and eval mode (running statistics, not written; its backward too).
batch_norm_case("train (N,C)", (6, 4), True)
batch_norm_case("train (N,C,H,W)", (3, 3, 4, 5), True)
batch_norm_case("train (N,C,H,W) momentum 0.3 eps 1e-3", (2, 2, 3, 3), True, momentum=0.3, eps=1e-3)
batch_norm_case("eval (N,C,H,W)", (2, 3, 4, 4), False)
batch_norm_case("eval (N,C)", (5, 3), False)


def cat_case(name, shapes, dim):
    xs = [rnd(*s).requires_grad_() for s in shapes]
    y = torch.cat(xs, dim)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "cat", "name": name, "params": {"dim": dim},
                  "inputs": {"xs": [arr(x) for x in xs], "dy": arr(dy)},
                  "outputs": {"y": arr(y), "dxs": [arr(x.grad) for x in xs]}})


cat_case("3 tensors along dim 1 (Inception)", [(2, 2, 3, 3), (2, 1, 3, 3), (2, 3, 3, 3)], 1)
cat_case("2 tensors along dim 0", [(2, 3, 2, 2), (3, 3, 2, 2)], 0)
cat_case("2-D along dim 1", [(3, 2), (3, 4)], 1)


def softmax_case(op, name, x, dim):
    x = x.clone().requires_grad_()
    y = (F.softmax if op == "softmax" else F.log_softmax)(x, dim)
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": op, "name": name, "params": {"dim": dim}, "inputs": {"x": arr(x), "dy": arr(dy)},
                  "outputs": {"y": arr(y), "dx": arr(x.grad)}})


for op in ["softmax", "logSoftmax"]:
    softmax_case(op, "dim 1 of (3,4,5)", rnd(3, 4, 5, scale=2.0), 1)
    softmax_case(op, "dim -1 of (3,4,5)", rnd(3, 4, 5, scale=2.0), -1)
    softmax_case(op, "dim -1 of (4,6), large values", rnd(4, 6, scale=40.0), -1)


def max_case(name, x, axes, keep_dims):
    y = torch.amax(x, dim=axes, keepdim=keep_dims) if axes else x.max()
    if keep_dims and not axes:
        y = y.reshape([1] * x.dim())
    cases.append({"op": "max", "name": name, "params": {"axes": axes, "keepDims": keep_dims},
                  "inputs": {"x": arr(x)}, "outputs": {"y": arr(y)}})


max_case("axis 1 keepDims", rnd(2, 3, 4), [1], True)
max_case("axes [0, 2]", rnd(2, 3, 4), [0, 2], False)
max_case("last axis with ties", torch.randint(0, 3, (3, 5)).to(torch.float64), [1], False)
max_case("all axes", rnd(3, 4), [], False)


def add_case(name, sa, sb):
    a = rnd(*sa).requires_grad_()
    b = rnd(*sb).requires_grad_()
    y = a + b
    dy = rnd(*y.shape)
    y.backward(dy)
    cases.append({"op": "add", "name": name, "params": {}, "inputs": {"a": arr(a), "b": arr(b), "dy": arr(dy)},
                  "outputs": {"y": arr(y), "da": arr(a.grad), "db": arr(b.grad)}})


add_case("(N,C,H,W) + (1,C,1,1)", (2, 3, 4, 5), (1, 3, 1, 1))
add_case("(N,C,H,W) + (C,1,1)", (2, 3, 2, 2), (3, 1, 1))

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "ops.json"), "w") as f:
    json.dump({"generator": f"torch {torch.__version__}", "cases": cases}, f)

# One small conv net (AlexNet's pattern without dropout), three SGD steps with momentum and weight decay.
torch.manual_seed(7)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, kernel_size=3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(3, stride=2),
    torch.nn.Conv2d(4, 6, kernel_size=3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(6 * 2 * 2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
).to(torch.float64)
for m in net:
    if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
        torch.nn.init.xavier_uniform_(m.weight)
        m.weight.data = m.weight.data.to(torch.float32).to(torch.float64)
        m.bias.data = m.bias.data.to(torch.float32).to(torch.float64)
initial = {k: arr(v) for k, v in net.state_dict().items()}
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
batches, losses = [], []
for step in range(3):
    x = rnd(5, 1, 9, 9)
    y = torch.randint(0, 3, (5,))
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    batches.append({"x": arr(x), "labels": y.tolist()})
    losses.append(float(loss))
final = {k: arr(v) for k, v in net.state_dict().items()}
with open(os.path.join(OUT, "train_step.json"), "w") as f:
    json.dump({"generator": f"torch {torch.__version__}", "sgd": {"lr": 0.1, "momentum": 0.9, "weightDecay": 1e-3},
               "initial": initial, "batches": batches, "losses": losses, "final": final,
               "stateDictNames": list(net.state_dict().keys())}, f)
print(f"wrote {len(cases)} op cases and a 3-step training fixture to {os.path.normpath(OUT)}")

# AlexNet's state_dict names and shapes (both variants) and the summary tables, as d2l's code prints them.
def d2l_alexnet(variant):
    from torch import nn
    first = ([nn.Conv2d(1, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2)]
             if variant == "224" else
             [nn.Conv2d(1, 96, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=1)])
    return nn.Sequential(
        *first,
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2), nn.Flatten(),
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 10))


alexnet = {}
for variant in ["224", "28"]:
    net = d2l_alexnet(variant)
    size = int(variant)
    X = torch.randn(1, 1, size, size)
    table = []
    for layer in net:
        X = layer(X)
        table.append({"type": layer.__class__.__name__, "shape": list(X.shape), "repr": repr(layer)})
    alexnet[variant] = {
        "stateDict": [[k, list(v.shape)] for k, v in net.state_dict().items()],
        "parameters": sum(p.numel() for p in net.parameters()),
        "table": table,
    }
with open(os.path.join(OUT, "alexnet.json"), "w") as f:
    json.dump(alexnet, f, indent=1)

// Interoperability of the zoo's checkpoints with PyTorch (issue 24.6), by scripts/zoo_interop.py: our
// checkpoints of BN-LeNet and ResNet-18 (a model with its own forward) load with load_state_dict(strict=True)
// into d2l's definitions and give our logits and `alexnet eval`'s accuracy; PyTorch's weights, saved as
// safetensors, load in `alexnet eval --model NAME` with PyTorch's logits and accuracy. Needs Debian's
// python3-torch (skipped without it) and the native backend.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { nativeBackend } from "./helpers.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/zoo_interop.py", import.meta.url));
const torch = spawnSync("/usr/bin/python3", ["-c", "import torch, numpy"], { encoding: "utf8" });
const skip = torch.status !== 0 ? "no /usr/bin/python3 with torch and numpy here" : nativeBackend ? false : "the native backend is not built here";

describe("the zoo's checkpoints and PyTorch", { skip }, () => {
  it("BN-LeNet and ResNet-18 (28x28): both ways, strict load, same logits and accuracy", { timeout: 600_000 }, () => {
    const r = spawnSync("/usr/bin/python3", [SCRIPT, "--models", "lenet-bn,resnet18", "--n", "200"], { encoding: "utf8", timeout: 600_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[lines.length - 1], "OK");
    assert.equal(lines.filter((l) => /logits of \(200, 10\) agree to/.test(l)).length, 4);
    assert.equal(lines.filter((l) => /loads with load_state_dict\(strict=True\)/.test(l)).length, 2);
  });
});

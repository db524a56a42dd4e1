// d2l's CNNs by name: for every model of the zoo, the shape table d2l's loop prints and the state_dict
// names and shapes equal PyTorch's for d2l's own code (test/fixtures/zoo.json, made by
// scripts/make_zoo_fixtures.py with Debian's python3-torch). Shapes come from the shape-only trace.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { metaBackend } from "../src/backend/meta.js";
import { getBackend, setBackend } from "../src/backend/registry.js";
import { layerTypeName } from "../src/models/summary.js";
import { ZOO, zooModel } from "../src/models/registry.js";
import type { Sequential } from "../src/nn/sequential.js";
import { readFixture } from "./helpers.js";

interface ZooFixture {
  input: number[];
  table: [string, number[]][];
  state: [string, number[]][];
  params: number;
}

const fixtures = readFixture<Record<string, ZooFixture>>("zoo.json");

describe("the model zoo matches d2l's PyTorch code", () => {
  for (const z of ZOO) {
    it(`${z.name} (${z.section}): shape table, state_dict names and shapes, parameter count`, () => {
      const want = fixtures[z.name];
      assert.ok(want, `no fixture for ${z.name}`);
      // Built on the shape-only backend: VGG-11's 129M parameters cost nothing there.
      const previous = getBackend();
      setBackend(metaBackend);
      let net: Sequential;
      try {
        net = z.build() as Sequential;
      } finally {
        setBackend(previous);
      }
      assert.deepEqual([1, ...z.summaryInput], want.input);
      const shapes = net.layerShapes(want.input);
      assert.deepEqual([...net].map((layer, i) => [layerTypeName(layer), shapes[i]]), want.table);
      assert.deepEqual(net.namedState().map(([name, t]) => [name, [...t.shape]]), want.state);
      assert.equal(net.parameters().reduce((n, p) => n + p.numel, 0), want.params);
      net.dispose();
    });
  }

  it("an unknown name lists the valid ones", () => {
    assert.throws(() => zooModel("resnet50"), /unknown model 'resnet50' \(models: lenet, alexnet, .*densenet/);
  });
});

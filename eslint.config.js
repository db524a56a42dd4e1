// Lint config: typescript-eslint's recommended rules over src/, test/ and bench/, and the browser-safe core
// rule: the files behind `alexnet-ts/core` (src/core.ts) may not import Node built-ins or use Node globals,
// so a violation fails `npm test` (tsconfig.core.json type-checks the same files without Node's types).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { builtinModules } from "node:module";

export const CORE_FILES = [
  "src/core.ts",
  "src/tensor/**/*.ts",
  "src/nn/**/*.ts",
  "src/optim/**/*.ts",
  "src/models/**/*.ts",
  "src/backend/*.ts",
  "src/backend/reference/**/*.ts",
  "src/backend/webgpu/**/*.ts",
  "src/analysis/analyze.ts",
  "src/data/{idx,resize,batch,prng,labels,crc32}.ts",
  "src/data/decode/{index,error,png,jpeg,jpegColor,jpegHuffman,jpegIdct}.ts",
  "src/train/{trainer,platform}.ts",
  "src/checkpoint/{safetensors,errors}.ts",
  "src/export/{onnx,trace,deploy,onnx.pb}.ts",
  "src/plot/{chart,trainingChart}.ts",
  "src/web/**/*.ts",
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "build/**", "native/**", "runs/**", "prebuilds/**", ".bundle/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: CORE_FILES,
    // The WebGPU backend's Node loader is the one place in its folder allowed to reach for Node.
    ignores: ["src/backend/webgpu/node.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [{ group: ["node:*"], message: "the core runs in browsers too: no Node built-ins (move Node code out of the core)" }],
        paths: builtinModules.map((name) => ({ name, message: "the core runs in browsers too: no Node built-ins" })),
      }],
      "no-restricted-globals": ["error",
        ...["process", "Buffer", "setImmediate", "clearImmediate", "require", "module", "__dirname", "__filename", "global"].map((name) => ({
          name, message: "the core runs in browsers too: no Node globals (train/platform.ts has the yield hook)",
        })),
      ],
    },
  },
  {
    files: ["scripts/**/*.mjs", "eslint.config.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
);

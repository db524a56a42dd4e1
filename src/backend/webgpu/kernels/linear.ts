// Matmul and linear layers on the tiled GEMM (kernels/gemm.ts). Implements reference/index.ts matmul and
// reference/layers.ts linearForward/linearBackward: y = x w^T + b is matmul(x, w, transB), dx = dy w is
// matmul(dy, w), dw = dy^T x is matmul(dy, x, transA); db is a column sum (kernels/reduce.ts).
// The GEMM's fast index m runs along the output's contiguous columns, so C (rows, cols) is computed as
// C^T: m = column j, n = row i, and op(a)/op(b) become index maps (a transpose is never materialised).
import { type GemmSpec } from "./gemm.js";

/** bias: add b[j] to column j; relu: the fused ReLU epilogue (max(v, 0) as the reference's v > 0 ? v : 0). */
export interface MatmulVariant {
  transA: boolean;
  transB: boolean;
  bias: boolean;
  relu: boolean;
}

const cache = new Map<string, GemmSpec>();

/** C (M0,N0) = op(a) (M0,K) @ op(b) (K,N0), run as the kernel's M = N0, N = M0. a is srcB and b is srcA
 * in the kernel (the roles swap with the transpose of C). */
export function matmulSpec(v: MatmulVariant): GemmSpec {
  const key = `${+v.transA}${+v.transB}${+v.bias}${+v.relu}`;
  let spec = cache.get(key);
  if (spec) return spec;
  // kernel A(m=j, k) = op(b)(k, j); b is (K, N0) or, transposed, (N0, K)
  const loadA = v.transB ? "return srcA[p.aOff + m * p.K + k];" : "return srcA[p.aOff + k * p.M + m];";
  // kernel B(k, n=i) = op(a)(i, k); a is (M0, K) or, transposed, (K, M0)
  const loadB = v.transA ? "return srcB[p.bOff + k * p.N + n];" : "return srcB[p.bOff + n * p.K + k];";
  let value = "v";
  if (v.bias) value = "v + bias[m]";
  const store = v.relu
    ? `let r = ${value}; dst[p.outOff + n * p.M + m] = select(0.0, r, r > 0.0);`
    : `dst[p.outOff + n * p.M + m] = ${value};`;
  spec = {
    name: `matmul_${key}`,
    loadA,
    loadB,
    aFast: v.transB ? "k" : "m",
    bFast: v.transA ? "n" : "k",
    store,
    outDecls: (first) =>
      `@group(0) @binding(${first}) var<storage, read_write> dst: array<f32>;` +
      (v.bias ? `\n@group(0) @binding(${first + 1}) var<storage, read> bias: array<f32>;` : ""),
  };
  cache.set(key, spec);
  return spec;
}

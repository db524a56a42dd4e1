// oneDNN 2.x: 5x5 stride-1 convolutions (AlexNet's conv2) by Winograd F(4x4,5x5) in fp32. oneDNN has
// Winograd for 3x3 only; here the tile transforms are ours and the 64 element-wise products per tile are
// one batched oneDNN matmul.
//
// 1-D: y = A^T [(G g) . (B^T d)] gives 4 outputs of a 5-tap correlation over 8 inputs, with interpolation
// points 0, +-1, +-2, +-1/2 and infinity (A, G: Vandermonde rows at those points; B^T: the transposed
// inverse of the 8x8 one). 2-D: Y = A^T [(G g G^T) . (B^T d B)] A over 8x8 input tiles that overlap by
// 4: 64 multiplies for 16 outputs instead of 400 (6.25x fewer; 5.4x on AlexNet's 26x26 with its partial
// edge tiles).
//  - forward: V = B^T d B per (tile, in channel), U = G g G^T per (in, out channel), M[k] = V[k] U[k] for
//    the 64 tile positions k, y = A^T M A (+ bias, ReLU);
//  - data backward: the same with dy as input, the kernel rotated by 180 degrees and transposed, and
//    padding 4 - p;
//  - weights backward: with P = A dY A^T, dW = G^T [sum over tiles P . V] G, i.e. Z[k] = P[k]^T V[k].
// Images go through in chunks, so the transformed tiles of a chunk stay a few tens of MB instead of
// ~0.6 GB for a batch of 128. Activations are nChw16c, 16 channels per vector. The price is accuracy:
// errors of ~5e-6 of the output's range, ~10x direct fp32's. Measured on this EPYC (batch 128, 2 threads):
// conv2 forward+backward ~540 ms against ~845 ms for the stacked 3x3 Winograd of conv_stacked_3x3.cc and
// ~695 ms in bf16 direct. (The same machinery as F(6x6,3x3) was slower than oneDNN's F(4x4,3x3) on
// AlexNet's 3x3 layers, 192 against 158 ms for conv3, so 3x3 stays with oneDNN; bf16 products would be
// twice as fast but put the output off by 3-8% of its range.)
#include "onednn_internal.h"

#include <algorithm>

namespace nat {

using namespace v2;

namespace {

constexpr int64_t kB = kChannelBlock;  // floats per vector: 16 channels of one pixel
constexpr int kAlpha = 8, kOut = 4, kTap = 5, kPos = kAlpha * kAlpha;
constexpr int64_t kChunkTiles = 512;  // tiles per matmul batch (tuned on AlexNet's conv2, 2 threads)

struct Mats {
  float at[kOut][kAlpha];    // A^T
  float g[kAlpha][kTap];     // G
  float bt[kAlpha][kAlpha];  // B^T
};

constexpr double pow_int(double x, int k) { return k == 0 ? 1.0 : x * pow_int(x, k - 1); }
constexpr double abs_d(double x) { return x < 0 ? -x : x; }

// Solves for the transforms at compile time instead of hand-typing their coefficients, so that the tile
// loops below see constants (zeros and ones fold away).
constexpr Mats make_mats() {
  constexpr double pts[kAlpha - 1] = {0, 1, -1, 2, -2, 0.5, -0.5};
  auto vander = [&](int j, int k, int cols) {  // row j (the last one is infinity), column k
    return j < kAlpha - 1 ? pow_int(pts[j], k) : (k == cols - 1 ? 1.0 : 0.0);
  };
  // C = inverse of the 8x8 Vandermonde matrix (Gauss-Jordan with partial pivoting); B^T = C^T.
  double a[kAlpha][2 * kAlpha] = {};
  for (int j = 0; j < kAlpha; ++j) {
    for (int k = 0; k < kAlpha; ++k) a[j][k] = vander(j, k, kAlpha);
    a[j][kAlpha + j] = 1;
  }
  for (int col = 0; col < kAlpha; ++col) {
    int piv = col;
    for (int r = col + 1; r < kAlpha; ++r) {
      if (abs_d(a[r][col]) > abs_d(a[piv][col])) piv = r;
    }
    for (int k = 0; k < 2 * kAlpha; ++k) {
      const double tmp = a[piv][k];
      a[piv][k] = a[col][k];
      a[col][k] = tmp;
    }
    const double d = a[col][col];
    for (int k = 0; k < 2 * kAlpha; ++k) a[col][k] /= d;
    for (int r = 0; r < kAlpha; ++r) {
      if (r == col || a[r][col] == 0) continue;
      const double f = a[r][col];
      for (int k = 0; k < 2 * kAlpha; ++k) a[r][k] -= f * a[col][k];
    }
  }
  Mats out{};
  for (int i = 0; i < kAlpha; ++i) {
    for (int j = 0; j < kAlpha; ++j) out.bt[i][j] = static_cast<float>(a[j][kAlpha + i]);
    for (int k = 0; k < kTap; ++k) out.g[i][k] = static_cast<float>(vander(i, k, kTap));
    for (int k = 0; k < kOut; ++k) out.at[k][i] = static_cast<float>(vander(i, k, kOut));
  }
  return out;
}

constexpr Mats kMats = make_mats();

// ---- per-tile transforms on 16-channel vectors -----------------------------------------------------------
// One vector holds 16 channels of a pixel (nChw16c). Compiled for AVX-512, AVX2 and baseline x86-64 (the
// binary is not built with -march=native), picked at load time.
#define WINO_TARGETS __attribute__((target_clones("avx512f", "avx2", "default")))
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias));

__attribute__((always_inline)) inline v16 load(const float* p) { return *reinterpret_cast<const v16*>(p); }
__attribute__((always_inline)) inline void store(float* p, v16 v) { *reinterpret_cast<v16*>(p) = v; }

// out[i * os] = sum_k c[i][k] in[k * is] with c = m, or m's transpose when transposed, a constant matrix:
// its zero and unit terms fold away.
template <bool transposed, int A, int B>
__attribute__((always_inline)) inline void apply(const float (&m)[A][B], const v16* in, int is, v16* out, int os) {
  constexpr int rows = transposed ? B : A, inner = transposed ? A : B;
#pragma GCC unroll 8
  for (int i = 0; i < rows; ++i) {
    v16 acc = {};
#pragma GCC unroll 8
    for (int k = 0; k < inner; ++k) {
      const float c = transposed ? m[k][i] : m[i][k];
      if (c != 0) acc += c * in[k * is];
    }
    out[i * os] = acc;
  }
}

// dst[k * stride] = (B^T d B)[k] for the 8x8 tile of plane (h x w x 16) at (r0, c0), zero outside.
WINO_TARGETS void tile_in(const float* plane, int64_t h, int64_t w, int64_t r0, int64_t c0, float* dst, int64_t stride) {
  constexpr auto& bt = kMats.bt;
  v16 d[kPos], t[kPos];
  for (int i = 0; i < kAlpha; ++i) {
    for (int j = 0; j < kAlpha; ++j) {
      const int64_t r = r0 + i, c = c0 + j;
      d[i * kAlpha + j] = r >= 0 && r < h && c >= 0 && c < w ? load(plane + (r * w + c) * kB) : v16{};
    }
  }
  for (int j = 0; j < kAlpha; ++j) apply<false>(bt, d + j, kAlpha, t + j, kAlpha);          // columns: B^T d
  for (int i = 0; i < kAlpha; ++i) apply<false>(bt, t + i * kAlpha, 1, d + i * kAlpha, 1);  // rows: (B^T d) B
  for (int k = 0; k < kPos; ++k) store(dst + k * stride, d[k]);
}

// The 4x4 outputs A^T M A (+ bias, ReLU) of src[k * stride] into plane (h x w x 16) at (r0, c0), cut
// at the plane's edge.
WINO_TARGETS void tile_out(const float* src, int64_t stride, const float* bias, bool relu, float* plane, int64_t h,
                           int64_t w, int64_t r0, int64_t c0) {
  constexpr auto& at = kMats.at;
  v16 mm[kPos], t[kOut * kAlpha], y[kOut * kOut];
  for (int k = 0; k < kPos; ++k) mm[k] = load(src + k * stride);
  for (int j = 0; j < kAlpha; ++j) apply<false>(at, mm + j, kAlpha, t + j, kAlpha);    // A^T M: 4 x 8
  for (int i = 0; i < kOut; ++i) apply<false>(at, t + i * kAlpha, 1, y + i * kOut, 1);  // (A^T M) A: 4 x 4
  const v16 b = bias != nullptr ? load(bias) : v16{};
  for (int i = 0; i < kOut; ++i) {
    for (int j = 0; j < kOut; ++j) {
      const int64_t r = r0 + i, c = c0 + j;
      if (r >= h || c >= w) continue;
      v16 v = y[i * kOut + j] + b;
      if (relu) v = v > 0 ? v : v16{};
      store(plane + (r * w + c) * kB, v);
    }
  }
}

// dst[k * stride] = (A dY A^T)[k] for the 4x4 gradient tile of plane (h x w x 16) at (r0, c0).
WINO_TARGETS void tile_grad(const float* plane, int64_t h, int64_t w, int64_t r0, int64_t c0, float* dst, int64_t stride) {
  constexpr auto& at = kMats.at;
  v16 d[kOut * kOut], t[kAlpha * kOut], p[kPos];
  for (int i = 0; i < kOut; ++i) {
    for (int j = 0; j < kOut; ++j) {
      const int64_t r = r0 + i, c = c0 + j;
      d[i * kOut + j] = r < h && c < w ? load(plane + (r * w + c) * kB) : v16{};
    }
  }
  for (int j = 0; j < kOut; ++j) apply<true>(at, d + j, kOut, t + j, kOut);              // A dY: 8 x 4
  for (int i = 0; i < kAlpha; ++i) apply<true>(at, t + i * kOut, 1, p + i * kAlpha, 1);  // (A dY) A^T: 8 x 8
  for (int k = 0; k < kPos; ++k) store(dst + k * stride, p[k]);
}

// ---- filters ----------------------------------------------------------------------------------------------

// u[k * stride] = (G g G^T)[k] for a 5x5 kernel g (rotated by 180 degrees for the data backward).
void filter_in(const float* g, bool rotate, float* u, int64_t stride) {
  constexpr auto& gm = kMats.g;
  float t[kAlpha][kTap];
  for (int i = 0; i < kAlpha; ++i) {
    for (int j = 0; j < kTap; ++j) {
      float acc = 0;
      for (int k = 0; k < kTap; ++k) acc += gm[i][k] * (rotate ? g[(4 - k) * kTap + 4 - j] : g[k * kTap + j]);
      t[i][j] = acc;
    }
  }
  for (int i = 0; i < kAlpha; ++i) {
    for (int j = 0; j < kAlpha; ++j) {
      float acc = 0;
      for (int k = 0; k < kTap; ++k) acc += t[i][k] * gm[j][k];
      u[(i * kAlpha + j) * stride] = acc;
    }
  }
}

// U[k][c][o] from plain OIHW weights w (O,C,5,5); transposed (U[k][o][c], kernels rotated) for the data
// backward.
void transform_weights(const float* w, int64_t o_count, int64_t c_count, bool data_backward, float* u) {
  const int64_t stride = o_count * c_count;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < o_count; ++o) {
    for (int64_t c = 0; c < c_count; ++c) {
      const int64_t at = data_backward ? o * c_count + c : c * o_count + o;
      filter_in(w + (o * c_count + c) * kTap * kTap, data_backward, u + at, stride);
    }
  }
}

// dW (O,C,5,5) = G^T Z[.][o][c] G.
void weights_from_z(const float* z, int64_t o_count, int64_t c_count, float* dw) {
  constexpr auto& gm = kMats.g;
  const int64_t stride = o_count * c_count;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t o = 0; o < o_count; ++o) {
    for (int64_t c = 0; c < c_count; ++c) {
      const float* s = z + o * c_count + c;
      float t[kTap][kAlpha];
      for (int i = 0; i < kTap; ++i) {
        for (int j = 0; j < kAlpha; ++j) {
          float acc = 0;
          for (int k = 0; k < kAlpha; ++k) acc += gm[k][i] * s[(k * kAlpha + j) * stride];
          t[i][j] = acc;
        }
      }
      float* out = dw + (o * c_count + c) * kTap * kTap;
      for (int i = 0; i < kTap; ++i) {
        for (int j = 0; j < kTap; ++j) {
          float acc = 0;
          for (int k = 0; k < kAlpha; ++k) acc += t[i][k] * gm[k][j];
          out[i * kTap + j] = acc;
        }
      }
    }
  }
}

// ---- geometry, chunks and the batched products ---------------------------------------------------------------

// One Winograd correlation: in (N,CI,H,W) nChw16c, padded by (pt, pl), gives out (N,CO,OH,OW) nChw16c.
struct Geom {
  int64_t n, ci, h, w, co, oh, ow, pt, pl;
  int64_t th() const { return (oh + kOut - 1) / kOut; }
  int64_t tw() const { return (ow + kOut - 1) / kOut; }
  int64_t tiles_per_image() const { return th() * tw(); }
  int64_t chunk_images() const { return std::max<int64_t>(1, kChunkTiles / tiles_per_image()); }
};

// Calls f(t, cb, n, r0, c0) in parallel for each tile t of the images [n0, n0+nc) (image n, top-left output
// (r0, c0)) and each of the blocks channel blocks cb.
template <class F>
void for_tiles(const Geom& g, int64_t n0, int64_t nc, int64_t blocks, F f) {
  const int64_t tpi = g.tiles_per_image(), tw = g.tw(), tiles = nc * tpi;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t t = 0; t < tiles; ++t) {
    for (int64_t cb = 0; cb < blocks; ++cb) f(t, cb, n0 + t / tpi, t % tpi / tw * kOut, t % tw * kOut);
  }
}

// V[k][t][c] for the images [n0, n0+nc) of in (CI channels): t runs over (image, tile row, tile column).
void transform_input(const float* in, const Geom& g, int64_t n0, int64_t nc, float* v) {
  const int64_t blocks = g.ci / kB, stride = nc * g.tiles_per_image() * g.ci;
  for_tiles(g, n0, nc, blocks, [&](int64_t t, int64_t cb, int64_t n, int64_t r0, int64_t c0) {
    const float* plane = in + (n * blocks + cb) * g.h * g.w * kB;
    tile_in(plane, g.h, g.w, r0 - g.pt, c0 - g.pl, v + t * g.ci + cb * kB, stride);
  });
}

// out's images [n0, n0+nc) from M[k][t][o] (CO channels).
void transform_output(const float* mm, const Geom& g, int64_t n0, int64_t nc, const float* bias, bool relu,
                      float* out) {
  const int64_t blocks = g.co / kB, stride = nc * g.tiles_per_image() * g.co;
  for_tiles(g, n0, nc, blocks, [&](int64_t t, int64_t ob, int64_t n, int64_t r0, int64_t c0) {
    float* plane = out + (n * blocks + ob) * g.oh * g.ow * kB;
    tile_out(mm + t * g.co + ob * kB, stride, bias != nullptr ? bias + ob * kB : nullptr, relu, plane, g.oh, g.ow, r0, c0);
  });
}

// P[k][t][o] = A dY A^T for the images [n0, n0+nc) of dy (CO channels, OH x OW).
void transform_grad(const float* dy, const Geom& g, int64_t n0, int64_t nc, float* p) {
  const int64_t blocks = g.co / kB, stride = nc * g.tiles_per_image() * g.co;
  for_tiles(g, n0, nc, blocks, [&](int64_t t, int64_t ob, int64_t n, int64_t r0, int64_t c0) {
    const float* plane = dy + (n * blocks + ob) * g.oh * g.ow * kB;
    tile_grad(plane, g.oh, g.ow, r0, c0, p + t * g.co + ob * kB, stride);
  });
}

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// dst[k] (rows x cols) (+)= op(src[k]) (rows x inner) @ wei[k] (inner x cols) for the 64 positions k;
// src_t: src is stored as (inner x rows). accumulate adds to dst.
std::shared_ptr<Matmul> batched(int64_t rows, int64_t inner, int64_t cols, bool src_t, bool accumulate) {
  const std::string key = "winograd5_mm|" + dims_key({rows, inner, cols, src_t, accumulate});
  return cached<Matmul>(key, [&] {
    const memory::desc src = src_t ? memory::desc({kPos, rows, inner}, dt::f32, memory::dims{rows * inner, 1, rows})
                                   : memory::desc({kPos, rows, inner}, dt::f32, tag::abc);
    const memory::desc wei({kPos, inner, cols}, dt::f32, tag::abc);
    const memory::desc dst({kPos, rows, cols}, dt::f32, tag::abc);
    dnnl::primitive_attr attr = scratchpad_attr();
    if (accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    auto e = std::make_shared<Matmul>();
    e->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), attr, engine());
    e->prim = dnnl::matmul(e->pd);
    return e;
  });
}

void run_batched(const Matmul& e, const float* src, const float* wei, float* dst) {
  run(e.prim, {{DNNL_ARG_SRC, mem(e.pd.src_desc(), src)},
               {DNNL_ARG_WEIGHTS, mem(e.pd.weights_desc(), wei)},
               {DNNL_ARG_DST, mem(e.pd.dst_desc(), dst)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e.pd.scratchpad_desc())}});
}

// out = the Winograd correlation of in with the transformed filters u (U[k][ci][co]), chunk by chunk.
void correlate(const float* in, const float* u, const float* bias, bool relu, const Geom& g, float* out) {
  const int64_t step = g.chunk_images(), tpi = g.tiles_per_image();
  TempBuf tv, tm;
  float* v = tv.reset(sizeof(float) * kPos * step * tpi * g.ci);
  float* mm = tm.reset(sizeof(float) * kPos * step * tpi * g.co);
  for (int64_t n0 = 0; n0 < g.n; n0 += step) {
    const int64_t nc = std::min(step, g.n - n0), tiles = nc * tpi;
    transform_input(in, g, n0, nc, v);
    run_batched(*batched(tiles, g.ci, g.co, false, false), v, u, mm);
    transform_output(mm, g, n0, nc, bias, relu, out);
  }
}

// db[o] = sum of dy over (N, OH, OW), dy nChw16c.
void bias_grad(const float* dy, int64_t n, int64_t o, int64_t hw, float* db) {
  const int64_t blocks = o / kB;
#pragma omp parallel for schedule(static)
  for (int64_t ob = 0; ob < blocks; ++ob) {
    double acc[kB] = {};
    for (int64_t i = 0; i < n; ++i) {
      const float* p = dy + (i * blocks + ob) * hw * kB;
      for (int64_t s = 0; s < hw; ++s) {
        for (int l = 0; l < kB; ++l) acc[l] += p[s * kB + l];
      }
    }
    for (int l = 0; l < kB; ++l) db[ob * kB + l] = static_cast<float>(acc[l]);
  }
}

std::unique_ptr<Tensor> forward(Tensor& x, Tensor& w, Tensor* b, const ConvShape& s, bool relu) {
  // x is (N,C,H,W) nChw16c, w (O,C,5,5) -> U (64,C,O) -> y (N,O,OH,OW) nChw16c
  set_last_conv_impl("winograd F(4x4,5x5) (alexnet-ts)");
  TempBuf tx, tw, tu, tb;
  const float* xp = in_layout(x, blocked_md({s.n, s.c, s.h, s.w}), true, tx);
  const float* wp = plain_data(w, tw);
  float* u = tu.reset(sizeof(float) * kPos * s.c * s.o);
  transform_weights(wp, s.o, s.c, false, u);
  const float* bp = bias_data(b, s.o, tb);
  auto y = std::make_unique<Tensor>(Dims{s.n, s.o, s.oh, s.ow}, blocked_md({s.n, s.o, s.oh, s.ow}));
  correlate(xp, u, bp, relu, Geom{s.n, s.c, s.h, s.w, s.o, s.oh, s.ow, s.p.ph, s.p.pw}, y->data);
  return y;
}

void backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvShape& s, bool need_dx, Grads& gr) {
  // dy is (N,O,OH,OW) -> dx (N,C,H,W) nChw16c, dw (O,C,5,5) plain, db (O)
  TempBuf tdy, tx, tw, tu, tv, tp, tz;
  const memory::desc x_md = blocked_md({s.n, s.c, s.h, s.w});
  const float* dyp = in_layout(dy, blocked_md({s.n, s.o, s.oh, s.ow}), true, tdy);
  if (need_dx) {
    // dx is the correlation of dy, padded by 4-p, with the rotated kernels, in and out channels swapped.
    const float* wp = plain_data(w, tw);
    float* u = tu.reset(sizeof(float) * kPos * s.c * s.o);
    transform_weights(wp, s.o, s.c, true, u);
    gr.dx = std::make_unique<Tensor>(x.dims, x_md);
    const Geom gd{s.n, s.o, s.oh, s.ow, s.c, s.h, s.w, kTap - 1 - s.p.ph, kTap - 1 - s.p.pw};
    correlate(dyp, u, nullptr, false, gd, gr.dx->data);
  }
  // Z[k] (O x C) = sum over chunks of P[k]^T V[k], then dW = G^T Z G.
  const float* xp = in_layout(x, x_md, true, tx);
  const Geom g{s.n, s.c, s.h, s.w, s.o, s.oh, s.ow, s.p.ph, s.p.pw};
  const int64_t step = g.chunk_images(), tpi = g.tiles_per_image();
  float* v = tv.reset(sizeof(float) * kPos * step * tpi * s.c);
  float* p = tp.reset(sizeof(float) * kPos * step * tpi * s.o);
  float* z = tz.reset(sizeof(float) * kPos * s.o * s.c);
  for (int64_t n0 = 0; n0 < s.n; n0 += step) {
    const int64_t nc = std::min(step, s.n - n0), tiles = nc * tpi;
    transform_input(xp, g, n0, nc, v);
    transform_grad(dyp, g, n0, nc, p);
    run_batched(*batched(s.o, tiles, s.c, true, n0 > 0), p, v, z);
  }
  gr.dw = new_plain(w.dims);
  weights_from_z(z, s.o, s.c, gr.dw->data);
  if (has_bias) {
    gr.db = new_plain({s.o});
    bias_grad(dyp, s.n, s.o, s.oh * s.ow, gr.db->data);
  }
}

}  // namespace

namespace v2 {

bool winograd_qualifies(const ConvShape& s) {
  if (s.act != dt::f32 || s.kh != kTap || s.kw != kTap || s.p.sh != 1 || s.p.sw != 1) return false;
  if (s.c % kB != 0 || s.o % kB != 0 || s.p.ph > kTap - 1 || s.p.pw > kTap - 1) return false;
  const std::string& algo = conv_algorithm_setting();
  if (algo == "direct") return false;
  // Below a few hundred tiles the transforms and the matmul's setup outweigh the saved multiplies.
  const int64_t tiles = s.n * ((s.oh + kOut - 1) / kOut) * ((s.ow + kOut - 1) / kOut);
  return algo == "winograd" || tiles >= 256;
}

std::unique_ptr<Tensor> winograd_conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvShape& s, bool relu) {
  return winograd_qualifies(s) ? forward(x, w, b, s, relu) : nullptr;
}

bool winograd_conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvShape& s, bool need_dx, Grads& g) {
  if (!winograd_qualifies(s)) return false;
  backward(dy, x, w, has_bias, s, need_dx, g);
  return true;
}

}  // namespace v2

}  // namespace nat

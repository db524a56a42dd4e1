// oneDNN 2.x: a KxK stride-1 convolution with 4 <= K <= 6 computed as a single 3x3 convolution over four
// shifted copies of the input stacked along channels, so that oneDNN's Winograd F(4x4,3x3) kernels apply
// to it (oneDNN has no Winograd for larger kernels). 5x5 layers with channels in multiples of 16, such as
// AlexNet's conv2, take the faster F(4x4,5x5) of conv_winograd_5x5.cc instead; this covers the others.
//
// Why it is exact: pad the kernel with zeros to 6x6 and cut it into four 3x3 blocks K_ab (a,b in {0,1}).
// With padding p,
//   y[i,j] = sum_{ku,kv} x[i+ku-p, j+kv-p] W[ku,kv] = sum_ab sum_{u,v<3} x_ab[i+u, j+v] K_ab[u,v],
//   x_ab[t,s] = x[t+3a-p, s+3b-p] (zero outside x),
// which is an unpadded 3x3 convolution of X4 = concat_ab(x_ab) (N,4C,OH+2,OW+2) with W4 = concat_ab(K_ab)
// (O,4C,3,3). It does 36 taps instead of 25, but Winograd needs ~2.7x fewer multiplies per tap; measured
// on AlexNet's conv2 (batch 128): forward, data and weights backward each ~1.6x faster than direct.
// The gradients follow by the chain rule: dx sums the four shifted slices of dX4, dW picks its taps out
// of dW4. x is kept in the blocked nChw16c layout the neighbouring ops use; w stays row-major OIHW.
#include "onednn_internal.h"

#include <algorithm>
#include <cstring>

namespace nat {

using namespace v2;
using dnnl::algorithm;

namespace {

constexpr int64_t kBlock = kChannelBlock;

struct StackedPlan {
  bool ok = false;
  ConvShape s3;              // the stacked 3x3 convolution
  memory::desc x_md, x4_md;  // nChw16c for x (N,C,H,W) and X4 (N,4C,OH+2,OW+2)
  std::shared_ptr<ConvFwd> fwd;
  std::shared_ptr<ConvBwd> bwd;
};

bool qualifies(const ConvShape& s) {
  return s.kh >= 4 && s.kh <= 6 && s.kw >= 4 && s.kw <= 6 && s.p.sh == 1 && s.p.sw == 1 && s.c % kBlock == 0 &&
         conv_algorithm_setting() != "direct";
}

bool is_winograd(const ConvFwd& f) { return std::strstr(f.pd.impl_info_str(), "wino") != nullptr; }

std::shared_ptr<StackedPlan> stacked_plan(const ConvShape& s, bool bias, bool relu) {
  return cached<StackedPlan>("conv5|" + s.key + (bias ? "|b" : "|") + (relu ? "r" : ""), [&] {
    auto plan = std::make_shared<StackedPlan>();
    if (!qualifies(s)) return plan;
    const int64_t sh = s.oh + 2, sw = s.ow + 2;
    plan->s3 = conv_shape({s.n, 4 * s.c, sh, sw}, {s.o, 4 * s.c, 3, 3}, ConvParams{1, 1, 0, 0});
    plan->x_md = blocked_md({s.n, s.c, s.h, s.w});
    plan->x4_md = blocked_md({s.n, 4 * s.c, sh, sw});
    // "auto" takes Winograd only where oneDNN's heuristic expects it to win; otherwise direct 5x5 is better.
    std::vector<algorithm> algs = {conv_algorithm_setting() == "winograd" ? algorithm::convolution_winograd
                                                                           : algorithm::convolution_auto};
    try {
      plan->fwd = make_conv_fwd(plan->s3, bias, relu, algs);
    } catch (const dnnl::error&) {
      return plan;
    }
    plan->ok = is_winograd(*plan->fwd) && plan->fwd->pd.src_desc() == plan->x4_md;
    return plan;
  });
}

// X4[n, q*C + c, t, s] = x[n, c, t+3a-ph, s+3b-pw] for q = 2a+b, zero outside x; both nChw16c.
void stack_input(const float* x, float* x4, const ConvShape& s) {
  const int64_t cb_count = s.c / kBlock, sh = s.oh + 2, sw = s.ow + 2;
#pragma omp parallel for collapse(3) schedule(static)
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t q = 0; q < 4; ++q) {
      for (int64_t cb = 0; cb < cb_count; ++cb) {
        const int64_t di = 3 * (q >> 1) - s.p.ph, dj = 3 * (q & 1) - s.p.pw;
        const float* src = x + (n * cb_count + cb) * s.h * s.w * kBlock;
        float* dst = x4 + ((n * 4 + q) * cb_count + cb) * sh * sw * kBlock;
        const int64_t j0 = std::clamp<int64_t>(-dj, 0, sw), j1 = std::clamp<int64_t>(s.w - dj, j0, sw);
        for (int64_t t = 0; t < sh; ++t) {
          float* row = dst + t * sw * kBlock;
          const int64_t si = t + di;
          if (si < 0 || si >= s.h) {
            std::memset(row, 0, sizeof(float) * sw * kBlock);
            continue;
          }
          std::memset(row, 0, sizeof(float) * j0 * kBlock);
          std::memcpy(row + j0 * kBlock, src + (si * s.w + j0 + dj) * kBlock, sizeof(float) * (j1 - j0) * kBlock);
          std::memset(row + j1 * kBlock, 0, sizeof(float) * (sw - j1) * kBlock);
        }
      }
    }
  }
}

// dx[n, c, t+3a-ph, s+3b-pw] += dX4[n, q*C + c, t, s] over the four q: the transpose of stack_input.
void fold_input_grad(const float* dx4, float* dx, const ConvShape& s) {
  const int64_t cb_count = s.c / kBlock, sh = s.oh + 2, sw = s.ow + 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t cb = 0; cb < cb_count; ++cb) {
      float* d = dx + (n * cb_count + cb) * s.h * s.w * kBlock;
      std::memset(d, 0, sizeof(float) * s.h * s.w * kBlock);
      for (int64_t q = 0; q < 4; ++q) {
        const int64_t di = 3 * (q >> 1) - s.p.ph, dj = 3 * (q & 1) - s.p.pw;
        const float* g = dx4 + ((n * 4 + q) * cb_count + cb) * sh * sw * kBlock;
        const int64_t j0 = std::clamp<int64_t>(-dj, 0, sw), j1 = std::clamp<int64_t>(s.w - dj, j0, sw);
        const int64_t len = (j1 - j0) * kBlock;
        for (int64_t t = 0; t < sh; ++t) {
          const int64_t si = t + di;
          if (si < 0 || si >= s.h) continue;
          float* out = d + (si * s.w + j0 + dj) * kBlock;
          const float* in = g + (t * sw + j0) * kBlock;
#pragma omp simd
          for (int64_t k = 0; k < len; ++k) out[k] += in[k];
        }
      }
    }
  }
}

// W4[o, q*C + c, u, v] = W[o, c, 3a+u, 3b+v], zero past the kernel's edge; both row-major.
void stack_weights(const float* w, float* w4, const ConvShape& s) {
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < s.o; ++o) {
    for (int64_t q = 0; q < 4; ++q) {
      for (int64_t c = 0; c < s.c; ++c) {
        float* dst = w4 + ((o * 4 + q) * s.c + c) * 9;
        const float* src = w + (o * s.c + c) * s.kh * s.kw;
        for (int64_t u = 0; u < 3; ++u) {
          for (int64_t v = 0; v < 3; ++v) {
            const int64_t ku = 3 * (q >> 1) + u, kv = 3 * (q & 1) + v;
            dst[u * 3 + v] = ku < s.kh && kv < s.kw ? src[ku * s.kw + kv] : 0.0f;
          }
        }
      }
    }
  }
}

// dW[o, c, ku, kv] = dW4[o, q*C + c, ku-3a, kv-3b] with a = ku/3, b = kv/3.
void fold_weight_grad(const float* dw4, float* dw, const ConvShape& s) {
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < s.o; ++o) {
    for (int64_t c = 0; c < s.c; ++c) {
      for (int64_t ku = 0; ku < s.kh; ++ku) {
        for (int64_t kv = 0; kv < s.kw; ++kv) {
          const int64_t q = 2 * (ku / 3) + kv / 3;
          dw[((o * s.c + c) * s.kh + ku) * s.kw + kv] = dw4[((o * 4 + q) * s.c + c) * 9 + (ku % 3) * 3 + kv % 3];
        }
      }
    }
  }
}

// W4 in the layout the primitive wants (built row-major, then reordered when needed).
const float* stacked_weights(Tensor& w, const ConvShape& s, const memory::desc& want, TempBuf& plain, TempBuf& stacked,
                             TempBuf& wanted) {
  const float* wp = plain_data(w, plain);
  const memory::desc w4_md = plain_md({s.o, 4 * s.c, 3, 3});
  float* w4 = stacked.reset(w4_md.get_size());
  stack_weights(wp, w4, s);
  if (want == w4_md) return w4;
  float* out = wanted.reset(want.get_size());
  reorder(w4_md, w4, want, out);
  return out;
}

}  // namespace

namespace v2 {

std::unique_ptr<Tensor> stacked_conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvShape& s, bool relu) {
  // x is (N,C,H,W) -> X4 (N,4C,OH+2,OW+2) -> y (N,O,OH,OW)
  auto plan = stacked_plan(s, b != nullptr, relu);
  if (!plan->ok) return nullptr;
  const auto& pd = plan->fwd->pd;
  set_last_conv_impl(std::string("stacked 3x3 ") + pd.impl_info_str());
  TempBuf tx, tx4, tw1, tw2, tw3, tb;
  const float* xp = in_layout(x, plan->x_md, true, tx);
  float* x4 = tx4.reset(plan->x4_md.get_size());
  stack_input(xp, x4, s);
  const float* w4 = stacked_weights(w, s, pd.weights_desc(), tw1, tw2, tw3);
  const float* bp = bias_data(b, s.o, tb);
  auto y = std::make_unique<Tensor>(Dims{s.n, s.o, s.oh, s.ow}, pd.dst_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(plan->x4_md, x4)},
                                          {DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), w4)},
                                          {DNNL_ARG_DST, mem(y->md, y->data)},
                                          {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}};
  if (bp != nullptr) args.emplace(DNNL_ARG_BIAS, mem(plain_md({s.o}), bp));
  run(plan->fwd->prim, args);
  return y;
}

bool stacked_conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvShape& s, bool need_dx, Grads& g) {
  // dy is (N,O,OH,OW) -> dX4 (N,4C,OH+2,OW+2) -> dx (N,C,H,W); dW4 (O,4C,3,3) -> dw (O,C,KH,KW)
  auto plan = stacked_plan(s, has_bias, false);
  if (!plan->ok) return false;
  if (!plan->bwd) {
    try {
      plan->bwd = make_conv_bwd(plan->fwd, plan->s3, has_bias);
      make_conv_bwd_data(*plan->bwd, plan->s3);
    } catch (const dnnl::error&) {
      plan->ok = false;
      return false;
    }
  }
  ConvBwd& e = *plan->bwd;
  // X4 is rebuilt rather than kept from the forward: a few ms of copying against 4x x's memory held
  // across the whole step.
  TempBuf tx, tx4, tx4b, tdy, tdy2, tw1, tw2, tw3, tdx4, tdx4b, tdw4, tdw4p;
  const float* xp = in_layout(x, plan->x_md, true, tx);
  float* x4 = tx4.reset(plan->x4_md.get_size());
  stack_input(xp, x4, s);
  if (need_dx) {
    const auto& pd = e.data_pd;
    const float* dyp = in_layout(dy, pd.diff_dst_desc(), true, tdy);
    const float* w4 = stacked_weights(w, s, pd.weights_desc(), tw1, tw2, tw3);
    float* dx4 = tdx4.reset(pd.diff_src_desc().get_size());
    run(e.data, {{DNNL_ARG_DIFF_DST, mem(pd.diff_dst_desc(), dyp)},
                 {DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), w4)},
                 {DNNL_ARG_DIFF_SRC, mem(pd.diff_src_desc(), dx4)},
                 {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}});
    if (pd.diff_src_desc() != plan->x4_md) {
      float* blocked = tdx4b.reset(plan->x4_md.get_size());
      reorder(pd.diff_src_desc(), dx4, plan->x4_md, blocked);
      dx4 = blocked;
    }
    g.dx = std::make_unique<Tensor>(x.dims, plan->x_md);
    fold_input_grad(dx4, g.dx->data, s);
  }
  const auto& pd = e.weights_pd;
  const float* dyp = in_layout(dy, pd.diff_dst_desc(), true, tdy2);
  const float* x4p = x4;
  if (pd.src_desc() != plan->x4_md) {
    float* other = tx4b.reset(pd.src_desc().get_size());
    reorder(plan->x4_md, x4, pd.src_desc(), other);
    x4p = other;
  }
  float* dw4 = tdw4.reset(pd.diff_weights_desc().get_size());
  std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, mem(pd.diff_dst_desc(), dyp)},
                                          {DNNL_ARG_SRC, mem(pd.src_desc(), x4p)},
                                          {DNNL_ARG_DIFF_WEIGHTS, mem(pd.diff_weights_desc(), dw4)},
                                          {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}};
  if (has_bias) {
    g.db = new_plain({s.o});
    args.emplace(DNNL_ARG_DIFF_BIAS, mem(g.db->md, g.db->data));
  }
  run(e.weights, args);
  const memory::desc w4_md = plain_md({s.o, 4 * s.c, 3, 3});
  const float* dw4p = dw4;
  if (pd.diff_weights_desc() != w4_md) {
    float* p = tdw4p.reset(w4_md.get_size());
    reorder(pd.diff_weights_desc(), dw4, w4_md, p);
    dw4p = p;
  }
  g.dw = new_plain(w.dims);
  fold_weight_grad(dw4p, g.dw->data, s);
  return true;
}

}  // namespace v2

}  // namespace nat

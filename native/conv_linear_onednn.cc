// oneDNN 2.x: convolution and inner product (fully connected), forward and backward, with the layouts
// oneDNN picks (format_tag::any). Weights arrive as OIHW / (out,in) and are adopted into the blocked layout
// the forward wants on first use, so later steps (and the SGD update, which works on the raw bytes) find
// them ready.
#include "onednn_internal.h"

#include <cstring>
#include <stdexcept>
#include <vector>

namespace nat {

using namespace v2;
using dnnl::algorithm;
using dnnl::prop_kind;

namespace {

std::string conv_algo = "auto";
std::string last_impl;

}  // namespace

namespace v2 {

const std::string& conv_algorithm_setting() { return conv_algo; }
void set_last_conv_impl(const std::string& impl) { last_impl = impl; }

// Winograd F(4x4,3x3) does a 3x3 stride-1 convolution with ~2.7x fewer multiplies; "auto" lets oneDNN
// use it where its heuristic expects a gain (large batches). Both fall back to direct when unavailable.
std::vector<algorithm> conv_algorithms(dt act) {
  // oneDNN's Winograd kernels are fp32 only.
  if (conv_algo == "direct" || act != dt::f32) return {algorithm::convolution_direct};
  if (conv_algo == "winograd") return {algorithm::convolution_winograd, algorithm::convolution_direct};
  return {algorithm::convolution_auto, algorithm::convolution_direct};
}

ConvShape conv_shape(const Dims& x, const Dims& wt, const ConvParams& p) {
  if (x.size() != 4 || wt.size() != 4) throw nat::shape_error("conv2d: x must be (N,C,H,W) and w (O,C,KH,KW)");
  ConvShape s{};
  s.n = x[0], s.c = x[1], s.h = x[2], s.w = x[3];
  s.o = wt[0], s.kh = wt[2], s.kw = wt[3];
  s.p = p;
  if (wt[1] != s.c) throw nat::shape_error("conv2d: channels of x and w differ");
  s.oh = (s.h + 2 * p.ph - s.kh) / p.sh + 1;
  s.ow = (s.w + 2 * p.pw - s.kw) / p.sw + 1;
  if (s.oh <= 0 || s.ow <= 0) throw std::invalid_argument("conv2d: kernel larger than the padded input");
  s.strides = {p.sh, p.sw};
  s.pad_l = {p.ph, p.pw};
  // Right padding that makes oneDNN's output size PyTorch's floor-mode size (may be negative).
  s.pad_r = {(s.oh - 1) * p.sh + s.kh - s.h - p.ph, (s.ow - 1) * p.sw + s.kw - s.w - p.pw};
  s.act = dt::f32;
  s.key = dims_key({s.n, s.c, s.h, s.w, s.o, s.kh, s.kw, p.sh, p.sw, p.ph, p.pw}) + conv_algo;
  return s;
}

// Mixed precision computes a conv layer in bf16 unless an fp32 Winograd is faster for it. Where bf16
// runs on AVX512-BF16 without AMX, a bf16 dot product only doubles fp32 throughput, while Winograd saves
// more multiplies than that: AlexNet-28's three 3x3 layers (batch 128, this EPYC) take 553 ms
// forward+backward in oneDNN's fp32 F(4x4,3x3) against 754 ms in bf16 direct, and the 5x5 conv2 takes
// ~540 ms in our fp32 F(4x4,5x5) (conv_winograd_5x5.cc) against ~695 ms in bf16 direct. (Winograd in bf16
// is not an option: F(4x4,5x5) with bf16 products is off by 3-8% of the output's range.) With AMX, bf16
// is ~8x fp32 and always wins. --conv-algorithm direct (no Winograd) computes every layer in bf16.
ConvShape with_conv_type(ConvShape s) {
  if (precision() == Precision::F32) return s;
  static std::unordered_map<std::string, bool> winograd_wins;
  auto it = winograd_wins.find(s.key);
  if (it == winograd_wins.end()) {
    bool wins = false;
    if (cpu_isa() != "avx512_core_amx" && conv_algo != "direct") {
      if (winograd_qualifies(s)) {
        wins = true;
      } else {
        try {
          auto fwd = make_conv_fwd(s, false, false, conv_algorithms(dt::f32));
          wins = std::strstr(fwd->pd.impl_info_str(), "wino") != nullptr;
        } catch (const dnnl::error&) {
          wins = false;
        }
      }
    }
    it = winograd_wins.emplace(s.key, wins).first;
  }
  if (it->second) return s;
  s.act = dt::bf16;
  s.key += "|bf16";
  return s;
}

namespace {

struct ConvMds {
  memory::desc src, wei, bias, dst;
};

// Activations and weights in the compute type; weights_type f32 gives the weights backward fp32 gradients.
ConvMds conv_mds(const ConvShape& s, dt weights_type) {
  const dt act = s.act;
  return {memory::desc({s.n, s.c, s.h, s.w}, act, tag::any), memory::desc({s.o, s.c, s.kh, s.kw}, weights_type, tag::any),
          memory::desc({s.o}, dt::f32, tag::x), memory::desc({s.n, s.o, s.oh, s.ow}, act, tag::any)};
}

}  // namespace

std::shared_ptr<ConvFwd> make_conv_fwd(const ConvShape& s, bool bias, bool relu, const std::vector<algorithm>& algs) {
  ConvMds m = conv_mds(s, s.act);
  dnnl::primitive_attr attr = scratchpad_attr();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  for (size_t i = 0; i < algs.size(); ++i) {
    try {
      auto d = bias ? dnnl::convolution_forward::desc(prop_kind::forward_training, algs[i], m.src, m.wei, m.bias, m.dst,
                                                      s.strides, s.pad_l, s.pad_r)
                    : dnnl::convolution_forward::desc(prop_kind::forward_training, algs[i], m.src, m.wei, m.dst,
                                                      s.strides, s.pad_l, s.pad_r);
      auto e = std::make_shared<ConvFwd>();
      e->pd = dnnl::convolution_forward::primitive_desc(d, attr, engine());
      e->prim = dnnl::convolution_forward(e->pd);
      e->alg = algs[i];
      return e;
    } catch (const dnnl::error&) {
      if (i + 1 == algs.size()) throw;
    }
  }
  throw std::logic_error("no convolution algorithm to try");
}

void make_conv_bwd_data(ConvBwd& e, const ConvShape& s) {
  ConvMds m = conv_mds(s, s.act);
  algorithm algs[2] = {e.hint->alg, algorithm::convolution_direct};
  for (int i = 0; i < 2; ++i) {
    try {
      dnnl::convolution_backward_data::desc d(algs[i], m.src, m.wei, m.dst, s.strides, s.pad_l, s.pad_r);
      e.data_pd = dnnl::convolution_backward_data::primitive_desc(d, scratchpad_attr(), engine(), e.hint->pd);
      e.data = dnnl::convolution_backward_data(e.data_pd);
      e.has_data = true;
      return;
    } catch (const dnnl::error&) {
      if (i == 1) throw;
    }
  }
}

std::shared_ptr<ConvBwd> make_conv_bwd(std::shared_ptr<ConvFwd> hint, const ConvShape& s, bool bias) {
  auto e = std::make_shared<ConvBwd>();
  e->hint = std::move(hint);
  ConvMds m = conv_mds(s, dt::f32);
  algorithm algs[2] = {e->hint->alg, algorithm::convolution_direct};
  for (int i = 0; i < 2; ++i) {
    try {
      auto d = bias ? dnnl::convolution_backward_weights::desc(algs[i], m.src, m.wei, m.bias, m.dst, s.strides, s.pad_l, s.pad_r)
                    : dnnl::convolution_backward_weights::desc(algs[i], m.src, m.wei, m.dst, s.strides, s.pad_l, s.pad_r);
      e->weights_pd = dnnl::convolution_backward_weights::primitive_desc(d, scratchpad_attr(), engine(), e->hint->pd);
      e->weights = dnnl::convolution_backward_weights(e->weights_pd);
      break;
    } catch (const dnnl::error&) {
      if (i == 1) throw;
    }
  }
  return e;
}

const float* bias_data(Tensor* b, int64_t o, TempBuf& tmp) {
  if (b == nullptr) return nullptr;
  if (b->numel() != o) throw nat::shape_error("bias length differs from the number of output channels");
  return in_layout(*b, plain_md({o}), false, tmp);
}

}  // namespace v2

void set_conv_algorithm(const std::string& name) {
  if (name != "auto" && name != "direct" && name != "winograd") {
    throw std::invalid_argument("conv algorithm must be auto, direct or winograd, not '" + name + "'");
  }
  conv_algo = name;
}

std::string conv_algorithm() { return conv_algo; }
std::string last_conv_impl() { return last_impl; }

// ---- convolution --------------------------------------------------------------------------------------

// The forward of a convolution or an inner product: the same steps for both. x and w are adopted where
// only the layout differs: x is read again by the weights backward, w by the next step.
template <typename Entry>
std::unique_ptr<Tensor> layer_forward(Entry& e, Tensor& x, Tensor& w, Tensor* b, const Dims& y_dims) {
  TempBuf tx, tw, tb;
  const void* xp = activation_in(x, e.pd.src_desc(), tx);
  const void* wp = weights_in(w, e.pd.weights_desc(), true, tw);
  const float* bp = bias_data(b, y_dims[1], tb);
  auto y = std::make_unique<Tensor>(y_dims, e.pd.dst_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(e.pd.src_desc(), xp)},
                                          {DNNL_ARG_WEIGHTS, mem(e.pd.weights_desc(), wp)},
                                          {DNNL_ARG_DST, mem(y->md, y->data)},
                                          {DNNL_ARG_SCRATCHPAD, scratchpad(e.pd.scratchpad_desc())}};
  if (bp != nullptr) args.emplace(DNNL_ARG_BIAS, mem(plain_md({y_dims[1]}), bp));
  run(e.prim, args);
  return y;
}

std::unique_ptr<Tensor> conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvParams& p, bool relu) {
  // x is (N,C,H,W), w (O,C,KH,KW) -> y (N,O,OH,OW), all three in oneDNN's chosen layouts.
  ConvShape s = with_conv_type(conv_shape(x.dims, w.dims, p));
  if (auto y = winograd_conv_forward(x, w, b, s, relu)) return y;
  if (precision() == Precision::F32) {
    if (auto y = stacked_conv_forward(x, w, b, s, relu)) return y;
  }
  auto e = cached<ConvFwd>("conv_fwd|" + s.key + (b ? "|b" : "|") + (relu ? "r" : ""),
                           [&] { return make_conv_fwd(s, b != nullptr, relu, conv_algorithms(s.act)); });
  set_last_conv_impl(e->pd.impl_info_str());
  return layer_forward(*e, x, w, b, Dims{s.n, s.o, s.oh, s.ow});
}

// The data and weights backward of a convolution or an inner product: the same steps for both. dy is
// adopted: the data and weights backward want the same layout (the forward's dst layout). The data
// backward of a direct conv wants the weights transposed-blocked: a temporary, so that w keeps the
// forward's layout. `e` has its data primitive when need_dx.
template <typename Entry>
Grads layer_backward(Entry& e, Tensor& dy, Tensor& x, Tensor& w, int64_t out_channels, bool has_bias, bool need_dx) {
  Grads g;
  TempBuf tdy, tw, tx, tdy2;
  if (need_dx) {
    const auto& pd = e.data_pd;
    const float* dyp = in_layout(dy, pd.diff_dst_desc(), true, tdy);
    const void* wp = weights_in(w, pd.weights_desc(), false, tw);
    g.dx = std::make_unique<Tensor>(x.dims, pd.diff_src_desc());
    run(e.data, {{DNNL_ARG_DIFF_DST, mem(pd.diff_dst_desc(), dyp)},
                 {DNNL_ARG_WEIGHTS, mem(pd.weights_desc(), wp)},
                 {DNNL_ARG_DIFF_SRC, mem(g.dx->md, g.dx->data)},
                 {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}});
  }
  const auto& pd = e.weights_pd;
  const float* dyp = in_layout(dy, pd.diff_dst_desc(), true, tdy2);
  const void* xp = activation_in(x, pd.src_desc(), tx);
  g.dw = std::make_unique<Tensor>(w.dims, pd.diff_weights_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, mem(pd.diff_dst_desc(), dyp)},
                                          {DNNL_ARG_SRC, mem(pd.src_desc(), xp)},
                                          {DNNL_ARG_DIFF_WEIGHTS, mem(g.dw->md, g.dw->data)},
                                          {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc())}};
  if (has_bias) {
    g.db = new_plain({out_channels});
    args.emplace(DNNL_ARG_DIFF_BIAS, mem(g.db->md, g.db->data));
  }
  run(e.weights, args);
  return g;
}

Grads conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvParams& p, bool need_dx) {
  // dy is (N,O,OH,OW) -> dx (N,C,H,W), dw (O,C,KH,KW), db (O).
  ConvShape s = with_conv_type(conv_shape(x.dims, w.dims, p));
  if (dy.dims != Dims{s.n, s.o, s.oh, s.ow}) throw nat::shape_error("conv2dBackward: dy has the wrong shape");
  Grads fast;
  if (winograd_conv_backward(dy, x, w, has_bias, s, need_dx, fast)) return fast;
  if (precision() == Precision::F32 && stacked_conv_backward(dy, x, w, has_bias, s, need_dx, fast)) return fast;
  auto e = cached<ConvBwd>("conv_bwd|" + s.key + (has_bias ? "|b" : "|"), [&] { return make_conv_bwd(make_conv_fwd(s, has_bias, false, conv_algorithms(s.act)), s, has_bias); });
  if (need_dx && !e->has_data) make_conv_bwd_data(*e, s);
  return layer_backward(*e, dy, x, w, s.o, has_bias, need_dx);
}

// ---- inner product ------------------------------------------------------------------------------------

namespace {

struct IpShape {
  int64_t n, i, o;
  std::string key;
};

IpShape ip_shape(const Tensor& x, const Tensor& w) {
  if (x.dims.size() != 2 || w.dims.size() != 2) throw nat::shape_error("linear: x must be (N,I) and w (O,I)");
  if (x.dims[1] != w.dims[1]) throw nat::shape_error("linear: features of x and w differ");
  return IpShape{x.dims[0], x.dims[1], w.dims[0], dims_key({x.dims[0], x.dims[1], w.dims[0]}) + precision_key()};
}

struct IpMds {
  memory::desc src, wei, bias, dst;
};

IpMds ip_mds(const IpShape& s, dt weights_type) {
  const dt act = compute_dt();
  return {memory::desc({s.n, s.i}, act, tag::any), memory::desc({s.o, s.i}, weights_type, tag::any),
          memory::desc({s.o}, dt::f32, tag::x), memory::desc({s.n, s.o}, act, tag::any)};
}

struct IpFwd {
  dnnl::inner_product_forward::primitive_desc pd;
  dnnl::inner_product_forward prim;
};

std::shared_ptr<IpFwd> make_ip_fwd(const IpShape& s, bool bias, bool relu) {
  IpMds m = ip_mds(s, compute_dt());
  dnnl::primitive_attr attr = scratchpad_attr();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  auto d = bias ? dnnl::inner_product_forward::desc(prop_kind::forward_training, m.src, m.wei, m.bias, m.dst)
                : dnnl::inner_product_forward::desc(prop_kind::forward_training, m.src, m.wei, m.dst);
  auto e = std::make_shared<IpFwd>();
  e->pd = dnnl::inner_product_forward::primitive_desc(d, attr, engine());
  e->prim = dnnl::inner_product_forward(e->pd);
  return e;
}

using IpBwd = LayerBwd<IpFwd, dnnl::inner_product_backward_data, dnnl::inner_product_backward_weights>;

std::shared_ptr<IpBwd> make_ip_bwd(const IpShape& s, bool bias) {
  auto e = std::make_shared<IpBwd>();
  e->hint = make_ip_fwd(s, bias, false);
  IpMds m = ip_mds(s, dt::f32);
  auto d = bias ? dnnl::inner_product_backward_weights::desc(m.src, m.wei, m.bias, m.dst)
                : dnnl::inner_product_backward_weights::desc(m.src, m.wei, m.dst);
  e->weights_pd = dnnl::inner_product_backward_weights::primitive_desc(d, scratchpad_attr(), engine(), e->hint->pd);
  e->weights = dnnl::inner_product_backward_weights(e->weights_pd);
  return e;
}

}  // namespace

std::unique_ptr<Tensor> linear_forward(Tensor& x, Tensor& w, Tensor* b, bool relu) {
  // x is (N,I), w (O,I) -> y (N,O).
  IpShape s = ip_shape(x, w);
  auto e = cached<IpFwd>("ip_fwd|" + s.key + (b ? "|b" : "|") + (relu ? "r" : ""),
                         [&] { return make_ip_fwd(s, b != nullptr, relu); });
  return layer_forward(*e, x, w, b, Dims{s.n, s.o});
}

Grads linear_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, bool need_dx) {
  // dy is (N,O) -> dx (N,I), dw (O,I), db (O).
  IpShape s = ip_shape(x, w);
  if (dy.dims != Dims{s.n, s.o}) throw nat::shape_error("linearBackward: dy has the wrong shape");
  auto e = cached<IpBwd>("ip_bwd|" + s.key + (has_bias ? "|b" : "|"), [&] { return make_ip_bwd(s, has_bias); });
  if (need_dx && !e->has_data) {
    IpMds m = ip_mds(s, compute_dt());
    dnnl::inner_product_backward_data::desc d(m.src, m.wei, m.dst);
    e->data_pd = dnnl::inner_product_backward_data::primitive_desc(d, scratchpad_attr(), engine(), e->hint->pd);
    e->data = dnnl::inner_product_backward_data(e->data_pd);
    e->has_data = true;
  }
  return layer_backward(*e, dy, x, w, s.o, has_bias, need_dx);
}

}  // namespace nat

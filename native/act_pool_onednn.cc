// oneDNN 2.x: sigmoid and tanh (eltwise, the "use dst" flavours, so the backward reads y as the interface
// hands it), sqrt (eltwise), average pooling with padded zeros counted (pooling_avg_include_padding,
// forward and backward) and PyTorch's adaptive average pooling: the same pooling primitive where the bins
// are uniform (H % OH == 0 and W % OW == 0), an OpenMP loop over (N*C) planes otherwise. Every op keeps
// its input's layout family (blocked nChw16c stays blocked) and element type (bf16 stays bf16); the
// loops read and write row-major fp32. The reference kernels are in src/backend/reference/.
#include "onednn_internal.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace nat {

using namespace v2;
using dnnl::algorithm;
using dnnl::prop_kind;

namespace v2 {

tag layout_tag(const memory::desc& md, const Dims& dims) {
  static const tag plain_tags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  if (dims.empty() || dims.size() > 5) return tag::undef;
  const dt type = md.data_type();
  if (md == plain_md(dims, type) || md_is_plain(md, dims)) return plain_tags[dims.size()];
  if (dims.size() == 4) {
    for (tag t : {tag::nhwc, tag::nChw16c, tag::nChw8c}) {
      if (memory::desc(dims, type, t) == md) return t;
    }
  }
  return tag::undef;
}

const void* with_type(Tensor& x, dt type, memory::desc& md, TempBuf& tmp) {
  if (x.dtype() == type) {
    md = x.md;
    return x.data;
  }
  const tag t = layout_tag(x.md, x.dims);
  md = t == tag::undef ? plain_md(x.dims, type) : memory::desc(x.dims, type, t);
  return in_layout(x, md, false, tmp);
}

}  // namespace v2

// ---- sigmoid, tanh ------------------------------------------------------------------------------------

namespace {

using EltEntry = ForwardBackward<dnnl::eltwise_forward, dnnl::eltwise_backward>;

algorithm activation_alg(Activation a) {
  return a == Activation::Sigmoid ? algorithm::eltwise_logistic_use_dst_for_bwd : algorithm::eltwise_tanh_use_dst_for_bwd;
}

std::shared_ptr<EltEntry> activation_entry(Activation a, const memory::desc& md) {
  return cached<EltEntry>(std::string(a == Activation::Sigmoid ? "sigmoid|" : "tanh|") + md_key(md), [&] {
    auto e = std::make_shared<EltEntry>();
    dnnl::eltwise_forward::desc d(prop_kind::forward_training, activation_alg(a), md, 0.0f, 0.0f);
    e->fwd_pd = dnnl::eltwise_forward::primitive_desc(d, scratchpad_attr(), engine());
    e->fwd = dnnl::eltwise_forward(e->fwd_pd);
    return e;
  });
}

// Channels per block when md is nChw16c / nChw8c with padded channels (C not a multiple of the block), else 0.
int64_t padded_channel_block(const memory::desc& md, const Dims& dims) {
  const tag t = layout_tag(md, dims);
  const int64_t block = t == tag::nChw16c ? 16 : t == tag::nChw8c ? 8 : 0;
  return block != 0 && dims[1] % block != 0 ? block : 0;
}

// Sets the padded channels of an nChw<block>c buffer back to zero (oneDNN expects zeros there).
template <typename T>
void zero_channel_padding(T* data, const Dims& dims, int64_t block) {
  const int64_t n = dims[0], c = dims[1], hw = dims[2] * dims[3], blocks = (c + block - 1) / block;
  const int64_t first = c % block;
#pragma omp parallel for collapse(2) schedule(static) if (n * hw >= 4096)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t s = 0; s < hw; ++s) {
      T* lanes = data + ((i * blocks + blocks - 1) * hw + s) * block;
      std::memset(static_cast<void*>(lanes + first), 0, sizeof(T) * (block - first));
    }
  }
}

}  // namespace

std::unique_ptr<Tensor> activation_forward(Activation a, Tensor& x) {
  // x is any shape, layout and type; y gets all three.
  auto y = std::make_unique<Tensor>(x.dims, x.md);
  if (x.numel() == 0) return y;
  // oneDNN 2.6 has no JIT sigmoid for channel-padded blocked layouts (sigmoid(0) != 0 would spoil the
  // padding) and falls back to a reference loop 2-3x slower (LeNet's 6-channel convs). Here the JIT kernel
  // runs over the whole buffer as a flat array and the padded lanes are zeroed afterwards.
  const int64_t block = a == Activation::Sigmoid ? padded_channel_block(x.md, x.dims) : 0;
  const size_t elem = x.dtype() == dt::bf16 ? 2 : 4;
  const memory::desc md = block != 0 ? memory::desc({static_cast<int64_t>(x.bytes / elem)}, x.dtype(), tag::a) : x.md;
  auto e = activation_entry(a, md);
  run(e->fwd, {{DNNL_ARG_SRC, mem(md, x.data)},
               {DNNL_ARG_DST, mem(md, y->data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->fwd_pd.scratchpad_desc())}});
  if (block != 0 && elem == 2) zero_channel_padding(reinterpret_cast<uint16_t*>(y->data), x.dims, block);
  if (block != 0 && elem == 4) zero_channel_padding(y->data, x.dims, block);
  return y;
}

std::unique_ptr<Tensor> activation_backward(Activation a, Tensor& dy, Tensor& y) {
  // dy and y have the same logical shape; dx gets y's layout and type (dy is converted to it: adopted
  // where that loses nothing, a temporary where it would round fp32 to bf16).
  if (dy.dims != y.dims) throw nat::shape_error("activation backward: dy and y differ in shape");
  auto dx = std::make_unique<Tensor>(y.dims, y.md);
  if (y.numel() == 0) return dx;
  auto e = activation_entry(a, y.md);
  if (!e->has_bwd) {
    dnnl::eltwise_backward::desc d(activation_alg(a), y.md, y.md, 0.0f, 0.0f);
    e->bwd_pd = dnnl::eltwise_backward::primitive_desc(d, scratchpad_attr(), engine(), e->fwd_pd);
    e->bwd = dnnl::eltwise_backward(e->bwd_pd);
    e->has_bwd = true;
  }
  TempBuf tdy;
  const void* dyp = activation_in(dy, y.md, tdy);
  run(e->bwd, {{DNNL_ARG_DST, mem(y.md, y.data)},
               {DNNL_ARG_DIFF_DST, mem(y.md, dyp)},
               {DNNL_ARG_DIFF_SRC, mem(dx->md, dx->data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->bwd_pd.scratchpad_desc())}});
  return dx;
}

// ---- sqrt ---------------------------------------------------------------------------------------------

std::unique_ptr<Tensor> sqrt_forward(Tensor& x) {
  // Element-wise ops read fp32: a bf16 input is widened (same layout); y is fp32 in that layout.
  TempBuf tx;
  memory::desc md;
  const void* xp = with_type(x, dt::f32, md, tx);
  auto y = std::make_unique<Tensor>(x.dims, md);
  if (x.numel() == 0) return y;
  auto prim = cached<dnnl::eltwise_forward>("sqrt|" + md_key(md), [&] {
    dnnl::eltwise_forward::desc d(prop_kind::forward_inference, algorithm::eltwise_sqrt, md, 0.0f, 0.0f);
    return std::make_shared<dnnl::eltwise_forward>(dnnl::eltwise_forward::primitive_desc(d, engine()));
  });
  run(*prim, {{DNNL_ARG_SRC, mem(md, xp)}, {DNNL_ARG_DST, mem(y->md, y->data)}});
  return y;
}

// ---- average pooling ----------------------------------------------------------------------------------

namespace {

struct AvgPoolFwd {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
};

struct AvgPoolBwd {
  dnnl::pooling_backward::primitive_desc pd;
  dnnl::pooling_backward prim;
};

Dims pool_out_dims(const Dims& x, const PoolParams& p) {
  if (x.size() != 4) throw nat::shape_error("avgPool2d: x must be (N,C,H,W)");
  const int64_t oh = (x[2] + 2 * p.ph - p.kh) / p.sh + 1, ow = (x[3] + 2 * p.pw - p.kw) / p.sw + 1;
  if (p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1 || oh <= 0 || ow <= 0 || 2 * p.ph > p.kh || 2 * p.pw > p.kw) {
    throw nat::shape_error("avgPool2d: window does not fit the padded input");
  }
  return {x[0], x[1], oh, ow};
}

memory::dims pool_pad_r(const Dims& x, const Dims& y, const PoolParams& p) {
  return {pool_right_pad(x[2], y[2], p.kh, p.sh, p.ph), pool_right_pad(x[3], y[3], p.kw, p.sw, p.pw)};
}

std::string pool_key(const PoolParams& p) { return dims_key({p.kh, p.kw, p.sh, p.sw, p.ph, p.pw}); }

}  // namespace

std::unique_ptr<Tensor> avgpool_forward(Tensor& x, const PoolParams& p) {
  // x is (N,C,H,W); y is (N,C,OH,OW) in the layout oneDNN picks for x's layout, in x's type.
  const Dims yd = pool_out_dims(x.dims, p);
  if (x.numel() == 0 || numel_of(yd) == 0) return std::make_unique<Tensor>(yd, plain_md(yd, x.dtype()));
  auto e = cached<AvgPoolFwd>("avgpool|" + md_key(x.md) + "|" + pool_key(p), [&] {
    auto entry = std::make_shared<AvgPoolFwd>();
    memory::desc dst(yd, x.dtype(), tag::any);
    dnnl::pooling_forward::desc d(prop_kind::forward_training, algorithm::pooling_avg_include_padding, x.md, dst,
                                  {p.sh, p.sw}, {p.kh, p.kw}, {p.ph, p.pw}, pool_pad_r(x.dims, yd, p));
    entry->pd = dnnl::pooling_forward::primitive_desc(d, scratchpad_attr(), engine());
    entry->prim = dnnl::pooling_forward(entry->pd);
    return entry;
  });
  auto y = std::make_unique<Tensor>(yd, e->pd.dst_desc());
  run(e->prim, {{DNNL_ARG_SRC, mem(x.md, x.data)},
                {DNNL_ARG_DST, mem(y->md, y->data)},
                {DNNL_ARG_SCRATCHPAD, scratchpad(e->pd.scratchpad_desc())}});
  return y;
}

std::unique_ptr<Tensor> avgpool_backward(Tensor& dy, const Dims& x_dims, const PoolParams& p) {
  // dy is (N,C,OH,OW) -> dx (N,C,H,W). Average pooling reads no forward values, so the backward is made
  // from shapes alone: dx in dy's layout family (nChw16c, nhwc, ...) and type; a dy in another layout is
  // converted to row-major first.
  const Dims yd = pool_out_dims(x_dims, p);
  if (dy.dims != yd) throw nat::shape_error("avgPool2dBackward: dy has the wrong shape");
  tag t = layout_tag(dy.md, dy.dims);
  if (t == tag::undef) t = tag::nchw;
  const memory::desc dmd(yd, dy.dtype(), t), smd(x_dims, dy.dtype(), t);
  auto dx = std::make_unique<Tensor>(x_dims, smd);
  if (dx->numel() == 0) return dx;
  if (dy.numel() == 0) {
    std::memset(dx->data, 0, dx->bytes);
    return dx;
  }
  auto e = cached<AvgPoolBwd>("avgpool_bwd|" + md_key(smd) + "|" + md_key(dmd) + "|" + pool_key(p), [&] {
    auto entry = std::make_shared<AvgPoolBwd>();
    const memory::dims strides{p.sh, p.sw}, kernel{p.kh, p.kw}, pad_l{p.ph, p.pw}, pad_r = pool_pad_r(x_dims, yd, p);
    dnnl::pooling_forward::desc fd(prop_kind::forward_training, algorithm::pooling_avg_include_padding, smd, dmd,
                                   strides, kernel, pad_l, pad_r);
    dnnl::pooling_forward::primitive_desc hint(fd, engine());
    dnnl::pooling_backward::desc bd(algorithm::pooling_avg_include_padding, smd, dmd, strides, kernel, pad_l, pad_r);
    entry->pd = dnnl::pooling_backward::primitive_desc(bd, scratchpad_attr(), engine(), hint);
    entry->prim = dnnl::pooling_backward(entry->pd);
    return entry;
  });
  TempBuf tdy;
  const void* dyp = in_layout(dy, e->pd.diff_dst_desc(), true, tdy);
  run(e->prim, {{DNNL_ARG_DIFF_DST, mem(e->pd.diff_dst_desc(), dyp)},
                {DNNL_ARG_DIFF_SRC, mem(dx->md, dx->data)},
                {DNNL_ARG_SCRATCHPAD, scratchpad(e->pd.scratchpad_desc())}});
  return dx;
}

// ---- adaptive average pooling -------------------------------------------------------------------------

namespace {

// PyTorch's bin: output index i covers input indices [floor(i*in/out), ceil((i+1)*in/out)).
inline int64_t bin_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t bin_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

bool uniform_bins(const Dims& x, int64_t oh, int64_t ow) { return x[2] % oh == 0 && x[3] % ow == 0; }

PoolParams uniform_params(const Dims& x, int64_t oh, int64_t ow) {
  const int64_t kh = x[2] / oh, kw = x[3] / ow;
  return PoolParams{kh, kw, kh, kw, 0, 0};
}

}  // namespace

std::unique_ptr<Tensor> adaptive_avgpool_forward(Tensor& x, int64_t oh, int64_t ow) {
  if (x.dims.size() != 4 || oh < 1 || ow < 1 || x.dims[2] < 1 || x.dims[3] < 1) {
    throw nat::shape_error("adaptiveAvgPool2d: x must be (N,C,H,W) with H, W >= 1 and the output size positive");
  }
  if (uniform_bins(x.dims, oh, ow)) return avgpool_forward(x, uniform_params(x.dims, oh, ow));
  // Overlapping or uneven bins: a loop over row-major fp32 planes, summed in double, rounded once.
  const int64_t planes = x.dims[0] * x.dims[1], h = x.dims[2], w = x.dims[3];
  TempBuf tx;
  const float* xp = in_layout(x, plain_md(x.dims), false, tx);
  auto y = new_plain({x.dims[0], x.dims[1], oh, ow});
#pragma omp parallel for schedule(static) if (planes * h * w >= (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xi = xp + pl * h * w;
    float* yo = y->data + pl * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
        double s = 0;
        for (int64_t r = h0; r < h1; ++r)
          for (int64_t c = w0; c < w1; ++c) s += xi[r * w + c];
        yo[i * ow + j] = static_cast<float>(s / static_cast<double>((h1 - h0) * (w1 - w0)));
      }
    }
  }
  return y;
}

std::unique_ptr<Tensor> adaptive_avgpool_backward(Tensor& dy, const Dims& x_dims) {
  if (x_dims.size() != 4 || dy.dims.size() != 4 || dy.dims[0] != x_dims[0] || dy.dims[1] != x_dims[1] ||
      dy.dims[2] < 1 || dy.dims[3] < 1 || x_dims[2] < 1 || x_dims[3] < 1) {
    throw nat::shape_error("adaptiveAvgPool2dBackward: dy must be (N,C,OH,OW) for x (N,C,H,W)");
  }
  const int64_t oh = dy.dims[2], ow = dy.dims[3];
  if (uniform_bins(x_dims, oh, ow)) return avgpool_backward(dy, x_dims, uniform_params(x_dims, oh, ow));
  // Each output's gradient spread evenly over its bin; overlapping bins add up (in double, per plane).
  const int64_t planes = x_dims[0] * x_dims[1], h = x_dims[2], w = x_dims[3];
  TempBuf tdy;
  const float* dyp = in_layout(dy, plain_md(dy.dims), false, tdy);
  auto dx = new_plain(x_dims);
#pragma omp parallel if (planes * h * w >= (1 << 15))
  {
    std::vector<double> acc(static_cast<size_t>(h * w));
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* g = dyp + pl * oh * ow;
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
        for (int64_t j = 0; j < ow; ++j) {
          const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
          const double share = static_cast<double>(g[i * ow + j]) / static_cast<double>((h1 - h0) * (w1 - w0));
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t c = w0; c < w1; ++c) acc[static_cast<size_t>(r * w + c)] += share;
        }
      }
      float* out = dx->data + pl * h * w;
      for (int64_t k = 0; k < h * w; ++k) out[k] = static_cast<float>(acc[static_cast<size_t>(k)]);
    }
  }
  return dx;
}

}  // namespace nat

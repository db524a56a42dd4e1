// oneDNN 2.x: batch normalization (batch_normalization forward training / inference and backward, with
// use_scale | use_shift, use_global_stats in eval mode and fuse_norm_relu for the ReLU epilogue), the
// running-statistics update (a loop over C), concatenation (the concat primitive) and its inverse, split
// (reorders out of sub-memory views). BatchNorm runs in its input's layout and type: oneDNN computes the
// statistics of bf16 inputs in fp32; mean, variance, scale, shift and their gradients are fp32. The
// reference kernels are in src/backend/reference/.
#include "onednn_internal.h"

#include <cstring>
#include <stdexcept>

namespace nat {

using namespace v2;
using dnnl::normalization_flags;
using dnnl::prop_kind;

// ---- batch normalization ------------------------------------------------------------------------------

namespace {

// What the forward leaves on its stats tensor for the backward: the mode and the epsilon it ran with.
struct BnMode {
  bool training;
  float eps;
};

struct BnFwd {
  dnnl::batch_normalization_forward::primitive_desc pd;
  dnnl::batch_normalization_forward prim;
};

struct BnBwd {
  dnnl::batch_normalization_backward::primitive_desc pd;
  dnnl::batch_normalization_backward prim;
};

normalization_flags bn_flags(bool training, bool relu) {
  normalization_flags f = normalization_flags::use_scale | normalization_flags::use_shift;
  if (!training) f = f | normalization_flags::use_global_stats;
  if (relu) f = f | normalization_flags::fuse_norm_relu;
  return f;
}

std::string bn_key(const memory::desc& md, bool training, bool relu, float eps) {
  uint32_t bits;
  std::memcpy(&bits, &eps, sizeof bits);
  return md_key(md) + (training ? "|t" : "|e") + (relu ? "r|" : "|") + std::to_string(bits);
}

int64_t bn_channels(const Dims& x) {
  if (x.size() != 2 && x.size() != 4) throw nat::shape_error("batchNorm: x must be (N,C) or (N,C,H,W)");
  return x[1];
}

// A (C) fp32 parameter or statistic as a row-major vector (adopted: these live as long as the model).
float* channel_vector(Tensor& t, int64_t c, const char* what) {
  if (t.numel() != c || t.dims.size() != 1) throw nat::shape_error(std::string("batchNorm: ") + what + " must be (C)");
  if (t.dtype() != dt::f32) throw std::invalid_argument(std::string("batchNorm: ") + what + " must be fp32");
  TempBuf unused;
  return const_cast<float*>(in_layout(t, plain_md({c}), true, unused));
}

}  // namespace

std::unique_ptr<Tensor> batchnorm_forward(Tensor& x, Tensor& weight, Tensor& bias, Tensor& running_mean,
                                          Tensor& running_var, const BatchNormParams& p, std::unique_ptr<Tensor>& stats) {
  // x is (N,C) or (N,C,H,W) in any layout and type; y gets x's layout and type.
  const int64_t c = bn_channels(x.dims);
  const int64_t count = c == 0 ? 0 : x.numel() / c;
  if (p.training && count <= 1) throw nat::shape_error("batchNorm: training needs more than 1 value per channel");
  const float* wp = channel_vector(weight, c, "weight");
  const float* bp = channel_vector(bias, c, "bias");
  float* rmp = channel_vector(running_mean, c, "running_mean");
  float* rvp = channel_vector(running_var, c, "running_var");
  const float eps = static_cast<float>(p.eps);
  auto st = new_plain({2, c});
  st->aux = std::make_shared<BnMode>(BnMode{p.training, eps});
  float* mean = st->data;
  float* var = st->data + c;
  if (!p.training) {
    // Eval: normalize with (a copy of) the running statistics, which the backward then reads.
    std::memcpy(mean, rmp, sizeof(float) * c);
    std::memcpy(var, rvp, sizeof(float) * c);
  }
  auto y = std::make_unique<Tensor>(x.dims, x.md);
  if (x.numel() > 0) {
    auto e = cached<BnFwd>("bn_fwd|" + bn_key(x.md, p.training, p.relu, eps), [&] {
      auto entry = std::make_shared<BnFwd>();
      dnnl::batch_normalization_forward::desc d(p.training ? prop_kind::forward_training : prop_kind::forward_inference,
                                                x.md, eps, bn_flags(p.training, p.relu));
      entry->pd = dnnl::batch_normalization_forward::primitive_desc(d, scratchpad_attr(), engine());
      entry->prim = dnnl::batch_normalization_forward(entry->pd);
      return entry;
    });
    const memory::desc vec = plain_md({c});
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(x.md, x.data)},
                                            {DNNL_ARG_DST, mem(y->md, y->data)},
                                            {DNNL_ARG_SCALE, mem(vec, wp)},
                                            {DNNL_ARG_SHIFT, mem(vec, bp)},
                                            {DNNL_ARG_MEAN, mem(e->pd.mean_desc(), mean)},
                                            {DNNL_ARG_VARIANCE, mem(e->pd.variance_desc(), var)},
                                            {DNNL_ARG_SCRATCHPAD, scratchpad(e->pd.scratchpad_desc())}};
    // The ReLU mask fuse_norm_relu keeps for its own backward is not needed: the front end's backward
    // runs reluBackward(dy, y) first.
    TempBuf ws;
    const memory::desc ws_md = e->pd.workspace_desc();
    if (ws_md.get_size() > 0) args.emplace(DNNL_ARG_WORKSPACE, mem(ws_md, ws.reset(ws_md.get_size())));
    run(e->prim, args);
  }
  if (p.training) {
    // running = (1 - momentum) * running + momentum * batch, the variance unbiased (n / (n - 1)).
    const double m = p.momentum, unbias = static_cast<double>(count) / static_cast<double>(count - 1);
    for (int64_t k = 0; k < c; ++k) {
      rmp[k] = static_cast<float>((1 - m) * rmp[k] + m * mean[k]);
      rvp[k] = static_cast<float>((1 - m) * rvp[k] + m * (static_cast<double>(var[k]) * unbias));
    }
    running_mean.version += 1;
    running_var.version += 1;
  }
  stats = std::move(st);
  return y;
}

Grads batchnorm_backward(Tensor& dy, Tensor& x, Tensor& weight, Tensor& stats) {
  // dy like x -> dx like x, dweight and dbias (C). Computed in bf16 only when x and dy both are bf16;
  // otherwise the bf16 one is widened (exact), so no gradient is rounded here.
  auto mode = std::static_pointer_cast<BnMode>(stats.aux);
  const int64_t c = bn_channels(x.dims);
  if (!mode || stats.dims != Dims{2, c}) throw std::invalid_argument("batchNormBackward: the context does not come from batchNorm");
  if (dy.dims != x.dims) throw nat::shape_error("batchNormBackward: dy and x differ in shape");
  const float* wp = channel_vector(weight, c, "weight");
  Grads g;
  g.dw = new_plain({c});
  g.db = new_plain({c});
  const dt type = x.dtype() == dt::bf16 && dy.dtype() == dt::bf16 ? dt::bf16 : dt::f32;
  TempBuf tx, tdy;
  memory::desc md;
  const void* xp = with_type(x, type, md, tx);
  g.dx = std::make_unique<Tensor>(x.dims, md);
  if (x.numel() == 0) {
    std::memset(g.dw->data, 0, g.dw->bytes);
    std::memset(g.db->data, 0, g.db->bytes);
    return g;
  }
  auto e = cached<BnBwd>("bn_bwd|" + bn_key(md, mode->training, false, mode->eps), [&] {
    auto entry = std::make_shared<BnBwd>();
    const normalization_flags flags = bn_flags(mode->training, false);
    dnnl::batch_normalization_forward::desc fd(prop_kind::forward_training, md, mode->eps, flags);
    dnnl::batch_normalization_forward::primitive_desc hint(fd, engine());
    dnnl::batch_normalization_backward::desc d(prop_kind::backward, md, md, mode->eps, flags);
    entry->pd = dnnl::batch_normalization_backward::primitive_desc(d, scratchpad_attr(), engine(), hint);
    entry->prim = dnnl::batch_normalization_backward(entry->pd);
    return entry;
  });
  const void* dyp = activation_in(dy, e->pd.diff_dst_desc(), tdy);
  const memory::desc vec = plain_md({c});
  // oneDNN 2.6 refuses to execute the backward without a shift argument, though no gradient depends on it.
  TempBuf tshift;
  float* shift = tshift.reset(sizeof(float) * c);
  std::memset(shift, 0, sizeof(float) * c);
  run(e->prim, {{DNNL_ARG_SRC, mem(md, xp)},
                {DNNL_ARG_MEAN, mem(e->pd.mean_desc(), stats.data)},
                {DNNL_ARG_VARIANCE, mem(e->pd.variance_desc(), stats.data + c)},
                {DNNL_ARG_DIFF_DST, mem(e->pd.diff_dst_desc(), dyp)},
                {DNNL_ARG_SCALE, mem(vec, wp)},
                {DNNL_ARG_SHIFT, mem(vec, shift)},
                {DNNL_ARG_DIFF_SRC, mem(g.dx->md, g.dx->data)},
                {DNNL_ARG_DIFF_SCALE, mem(vec, g.dw->data)},
                {DNNL_ARG_DIFF_SHIFT, mem(vec, g.db->data)},
                {DNNL_ARG_SCRATCHPAD, scratchpad(e->pd.scratchpad_desc())}});
  return g;
}

// ---- concat -------------------------------------------------------------------------------------------

namespace {

struct ConcatEntry {
  dnnl::concat::primitive_desc pd;
  dnnl::concat prim;
};

Dims concat_dims(const std::vector<Tensor*>& xs, int64_t axis) {
  if (xs.empty()) throw nat::shape_error("cat needs at least one tensor");
  Dims out = xs[0]->dims;
  if (axis < 0 || axis >= static_cast<int64_t>(out.size())) throw nat::shape_error("cat: axis out of range");
  out[axis] = 0;
  for (Tensor* t : xs) {
    if (t->dims.size() != out.size()) throw nat::shape_error("cat: ranks differ");
    for (size_t d = 0; d < out.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && t->dims[d] != out[d]) throw nat::shape_error("cat: shapes differ outside the axis");
    }
    out[axis] += t->dims[axis];
  }
  return out;
}

}  // namespace

std::unique_ptr<Tensor> concat(const std::vector<Tensor*>& xs, int64_t axis) {
  const Dims out = concat_dims(xs, axis);
  // One element type for all: the inputs' own when they agree, else fp32 (bf16 widens exactly).
  dt type = xs[0]->dtype();
  for (Tensor* t : xs) {
    if (t->dtype() != type) type = dt::f32;
  }
  std::vector<TempBuf> temps(xs.size());
  std::vector<memory::desc> mds;
  std::vector<const void*> ptrs;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i]->numel() == 0) continue;  // oneDNN refuses empty sources; they add nothing
    memory::desc md;
    ptrs.push_back(with_type(*xs[i], type, md, temps[i]));
    mds.push_back(md);
  }
  if (mds.empty()) return std::make_unique<Tensor>(out, plain_md(out, type));
  if (mds.size() == 1) {
    auto y = std::make_unique<Tensor>(out, mds[0]);
    std::memcpy(y->data, ptrs[0], y->bytes);
    return y;
  }
  std::string key = "concat|" + std::to_string(axis);
  for (const auto& md : mds) key += "|" + md_key(md);
  auto e = cached<ConcatEntry>(key, [&] {
    auto entry = std::make_shared<ConcatEntry>();
    try {
      // oneDNN picks the output layout from the inputs' (blocked inputs give a blocked output).
      entry->pd = dnnl::concat::primitive_desc(static_cast<int>(axis), mds, engine(), scratchpad_attr());
    } catch (const dnnl::error&) {
      entry->pd = dnnl::concat::primitive_desc(plain_md(out, type), static_cast<int>(axis), mds, engine(), scratchpad_attr());
    }
    entry->prim = dnnl::concat(entry->pd);
    return entry;
  });
  auto y = std::make_unique<Tensor>(out, e->pd.dst_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_DST, mem(y->md, y->data)},
                                          {DNNL_ARG_SCRATCHPAD, scratchpad(e->pd.scratchpad_desc())}};
  for (size_t i = 0; i < mds.size(); ++i) args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i), mem(mds[i], ptrs[i]));
  run(e->prim, args);
  return y;
}

// ---- split --------------------------------------------------------------------------------------------

std::vector<std::unique_ptr<Tensor>> split(Tensor& x, int64_t axis, const Dims& sizes) {
  if (axis < 0 || axis >= static_cast<int64_t>(x.dims.size())) throw nat::shape_error("split: axis out of range");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw nat::shape_error("split: negative size");
    total += s;
  }
  if (total != x.dims[axis]) throw nat::shape_error("split: sizes do not add up to the axis' length");
  // Each part is a sub-memory view of x, copied out by a reorder. Views of a blocked layout must start
  // and end on block boundaries; when one does not, the views are taken of a row-major copy instead.
  const tag t = layout_tag(x.md, x.dims);
  auto views = [&](const memory::desc& src) {
    std::vector<memory::desc> v;
    Dims offsets(x.dims.size(), 0);
    for (int64_t s : sizes) {
      Dims part = x.dims;
      part[axis] = s;
      v.push_back(s == 0 || x.numel() == 0 ? memory::desc() : src.submemory_desc(part, offsets));
      offsets[axis] += s;
    }
    return v;
  };
  TempBuf tmp;
  const void* src = x.data;
  std::vector<memory::desc> subs;
  try {
    subs = views(x.md);
  } catch (const dnnl::error&) {
    const memory::desc plain = plain_md(x.dims, x.dtype());
    src = in_layout(x, plain, false, tmp);
    subs = views(plain);
  }
  std::vector<std::unique_ptr<Tensor>> parts;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Dims part = x.dims;
    part[axis] = sizes[i];
    auto y = std::make_unique<Tensor>(part, t == tag::undef ? plain_md(part, x.dtype()) : memory::desc(part, x.dtype(), t));
    if (y->numel() > 0) reorder(subs[i], src, y->md, y->data);
    parts.push_back(std::move(y));
  }
  return parts;
}

}  // namespace nat

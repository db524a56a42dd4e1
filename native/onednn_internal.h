// Helpers shared by the oneDNN 2.x files: the primitive cache, the user-mode scratchpad and memory
// descriptor keys. Only the oneDNN 2.x files (*_onednn.cc, conv_stacked_3x3.cc, conv_winograd_5x5.cc) include this.
#pragma once

#include "onednn_ops.h"
#include "threads.h"

#include <omp.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace nat::v2 {

using dnnl::memory;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// A compact, exact description of a memory descriptor (shape, padding, blocking) for cache keys.
std::string md_key(const memory::desc& md);
// True when md is row-major over dims (sizes of 1 may have any stride).
bool md_is_plain(const memory::desc& md, const Dims& dims);

// Primitive attributes that hand the scratchpad to us: one shared, grow-only buffer instead of an
// allocation inside every execution.
dnnl::primitive_attr scratchpad_attr();
memory scratchpad(const memory::desc& md);
void scratchpad_release();

// Primitives are created once per shape (and layout) and kept; creating a primitive descriptor costs
// from tens of microseconds to milliseconds, executing a small op less.
std::unordered_map<std::string, std::shared_ptr<void>>& primitive_cache();

// The cache entry for key under the current OpenMP thread count (threads.h: an op's count depends on its
// size, and oneDNN sizes a primitive for the count it was made under, so it must run under that count).
template <class T, class Make>
std::shared_ptr<T> cached(const std::string& key, Make make) {
  auto& cache = primitive_cache();
  const std::string full = key + "|t" + std::to_string(omp_get_max_threads());
  auto it = cache.find(full);
  if (it != cache.end()) return std::static_pointer_cast<T>(it->second);
  std::shared_ptr<T> value = make();
  cache.emplace(full, value);
  return value;
}

// Wraps a buffer as a oneDNN memory object (no copy, no ownership).
inline memory mem(const memory::desc& md, const void* data) {
  return memory(md, engine(), const_cast<void*>(data));
}

// Runs a primitive and waits (the OpenMP runtime executes synchronously anyway).
void run(const dnnl::primitive& p, const std::unordered_map<int, memory>& args);

std::string dims_key(const Dims& dims);

// The element type convolutions and inner products compute in (f32, or bf16 in mixed precision), and
// the suffix that keeps their cached primitives apart.
dt compute_dt();
std::string precision_key();
// A weight tensor's values in layout (and type) md for the duration of an op. Same type: as in_layout.
// Another type: a cast kept on the tensor and remade only after the tensor was updated.
const void* weights_in(Tensor& w, const memory::desc& md, bool adopt, TempBuf& tmp);
// An activation's values in md: adopted when the conversion loses nothing (a layout change, or bf16 to
// f32), since the backward reads the tensor again; a temporary when it would round (f32 to bf16), so the
// caller's tensor keeps its precision.
const void* activation_in(Tensor& x, const memory::desc& md, TempBuf& tmp);

// A cached forward primitive and, made on first use, its backward (pooling, ReLU, sigmoid, tanh, ...).
template <typename Fwd, typename Bwd>
struct ForwardBackward {
  typename Fwd::primitive_desc fwd_pd;
  Fwd fwd;
  bool has_bwd = false;
  int bwd_threads = 0;  // the OpenMP thread count bwd was made under
  typename Bwd::primitive_desc bwd_pd;
  Bwd bwd;
};

// oneDNN wants explicit right padding; this one makes its output size PyTorch's floor-mode size (it is
// negative when the last rows do not fill a window, which oneDNN accepts).
inline int64_t pool_right_pad(int64_t in, int64_t out, int64_t k, int64_t s, int64_t pl) { return (out - 1) * s + k - in - pl; }

// The plain format tag whose layout md has for a tensor of `dims` (nchw, nhwc, nChw16c, nChw8c for 4-D;
// row-major otherwise), or format_tag::undef when md is none of them. Lets an op make another tensor
// (a gradient of another shape, a part of a split) in the same layout family.
tag layout_tag(const memory::desc& md, const Dims& dims);

// x's values in element type `type`: x's own bytes (md = x.md) when x has that type, else converted into
// tmp in the same layout family (md receives the descriptor used).
const void* with_type(Tensor& x, dt type, memory::desc& md, TempBuf& tmp);

// ---- convolution pieces shared by conv_linear_onednn.cc and conv_stacked_3x3.cc -----------------------------------

struct ConvShape {
  int64_t n, c, h, w, o, kh, kw, oh, ow;
  ConvParams p;
  memory::dims strides, pad_l, pad_r;
  dt act;  // the type this layer computes in (its activations and weights; gradients of weights are f32)
  std::string key;
};
// Channels per block of nChw16c, the fp32 layout the hand-written conv paths (stacked 3x3 in
// conv_stacked_3x3.cc, Winograd F(4x4,5x5) in conv_winograd_5x5.cc) read and write.
constexpr int64_t kChannelBlock = 16;
inline memory::desc blocked_md(const memory::dims& nchw) { return memory::desc(nchw, dt::f32, tag::nChw16c); }

// An fp32 shape; in mixed precision conv_forward/backward retype it with conv_type().
ConvShape conv_shape(const Dims& x, const Dims& w, const ConvParams& p);
// The type a layer computes in under the current precision (see conv_linear_onednn.cc for the choice).
ConvShape with_conv_type(ConvShape s);

// The forward pd (also the hint every backward pd needs) and the algorithm it ended up with.
struct ConvFwd {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  dnnl::algorithm alg;
};
// A layer's backward primitives, for convolution and inner product alike: the forward pd they were made
// against (the hint), the weights backward, and the data backward, made on first need (has_data).
template <class Fwd, class BwdData, class BwdWeights>
struct LayerBwd {
  std::shared_ptr<Fwd> hint;
  bool has_data = false;
  typename BwdData::primitive_desc data_pd;
  BwdData data;
  typename BwdWeights::primitive_desc weights_pd;
  BwdWeights weights;
};
using ConvBwd = LayerBwd<ConvFwd, dnnl::convolution_backward_data, dnnl::convolution_backward_weights>;

const std::string& conv_algorithm_setting();
void set_last_conv_impl(const std::string& impl);
// Algorithms to try in order for the current setting and a layer's type (the last one is always direct).
std::vector<dnnl::algorithm> conv_algorithms(dt act);
// Primitive descriptors with format_tag::any for src, weights and dst; the first algorithm that works.
std::shared_ptr<ConvFwd> make_conv_fwd(const ConvShape& s, bool bias, bool relu, const std::vector<dnnl::algorithm>& algs);
std::shared_ptr<ConvBwd> make_conv_bwd(std::shared_ptr<ConvFwd> hint, const ConvShape& s, bool bias);
void make_conv_bwd_data(ConvBwd& e, const ConvShape& s);
// A bias as a plain (O) vector.
const float* bias_data(Tensor* b, int64_t o, TempBuf& tmp);

// ---- 5x5 (4x4..6x6) stride-1 convolutions as one stacked 3x3 Winograd convolution (conv_stacked_3x3.cc) ----
// Returns null when the shape does not qualify or oneDNN would not use Winograd for the stacked conv.
std::unique_ptr<Tensor> stacked_conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvShape& s, bool relu);
// Returns false when the shape does not qualify (the caller then runs the direct backward).
bool stacked_conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvShape& s, bool need_dx, Grads& g);

// ---- 5x5 stride-1 convolutions by Winograd F(4x4,5x5) in fp32 (conv_winograd_5x5.cc) -----------------------
// True when s is a 5x5 stride-1 fp32 conv with channel counts in multiples of 16, padding <= 4, and enough
// tiles for the transforms to pay (any count under --conv-algorithm winograd; never under direct).
bool winograd_qualifies(const ConvShape& s);
// Null / false when s does not qualify (the caller then takes another path).
std::unique_ptr<Tensor> winograd_conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvShape& s, bool relu);
bool winograd_conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvShape& s, bool need_dx, Grads& g);

}  // namespace nat::v2

// The ops the native backend runs through oneDNN, declared independently of the oneDNN API version.
// The *_onednn.cc and conv_*.cc files implement them with the oneDNN 2.x API (op descs + primitive_desc(desc, engine)); a 3.x
// implementation (primitive descriptors made directly) can live beside them and be chosen in binding.gyp.
//
// Layout policy: every input may come in any layout. An op asks its primitive which layout it wants and
// converts an input only when it differs. "Adopting" a layout converts the tensor's own buffer (same
// values, new layout), so that the next step (same weights, same activations for the backward) finds it
// ready; inputs whose conversion is only needed once go to a temporary buffer instead.
#pragma once

#include "tensor.h"

#include <memory>
#include <string>

namespace nat {

// ---- engine, layouts, reorders (pool_relu_gemm_onednn.cc) ---------------------------------------------------
dnnl::engine& engine();
dnnl::stream& stream();
// Row-major descriptor of a logical shape (a scalar is {1}).
dnnl::memory::desc plain_md(const Dims& dims, dnnl::memory::data_type type = dnnl::memory::data_type::f32);
bool is_plain(const Tensor& t);
// Copies src (layout smd) to dst (layout dmd); both describe the same logical tensor.
void reorder(const dnnl::memory::desc& smd, const void* src, const dnnl::memory::desc& dmd, void* dst);
// t's values in layout md: t's own bytes when they already are, else converted, either into t itself
// (adopt) or into tmp for the duration of the op.
const float* in_layout(Tensor& t, const dnnl::memory::desc& md, bool adopt, TempBuf& tmp);
// Row-major values of t (converted into tmp when t is blocked).
const float* plain_data(Tensor& t, TempBuf& tmp);
// A new row-major tensor.
std::unique_ptr<Tensor> new_plain(const Dims& dims);
// Drops every cached primitive (they depend on the thread count).
void clear_primitive_cache();
size_t primitive_cache_size();
// "auto" (oneDNN picks Winograd where it is faster), "direct" or "winograd" (falls back to direct).
void set_conv_algorithm(const std::string& name);
std::string conv_algorithm();
// Which implementation oneDNN picked for the last conv forward, e.g. "jit_wino_4x3:avx512_core".
std::string last_conv_impl();

// ---- precision (pool_relu_gemm_onednn.cc) ------------------------------------------------------------------
// Mixed precision as PyTorch's CPU autocast: in Bf16 mode convolutions and inner products read bf16
// activations and bf16 copies of the fp32 master weights, accumulate in fp32 and write bf16 activations;
// weight and bias gradients come out fp32 for the SGD update. Pooling, ReLU and dropout keep whatever
// type their input has; loss, softmax and everything element-wise read fp32.
enum class Precision { F32, Bf16 };
void set_precision(Precision p);
Precision precision();
// The instruction set oneDNN dispatches to, e.g. "avx512_core_bf16", "avx512_core_amx", "avx2".
std::string cpu_isa();
// How bf16 runs here: "native" (AVX512-BF16 or AMX instructions), "emulated" (AVX-512 without them:
// oneDNN converts in software, slower than fp32) or "unsupported" (no bf16 kernels for this CPU).
std::string bf16_support();

// Seconds spent in reorders (layout and type conversions) since the process started; the addon's op
// timers subtract it from the op that asked for the conversion.
double conversion_seconds();

// ---- matmul (pool_relu_gemm_onednn.cc): op(a) (M,K) @ op(b) (K,N) -> c (M,N), row-major; op transposes -----
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c);

// ---- convolution and inner product (conv_linear_onednn.cc) -------------------------------------------------
struct ConvParams {
  int64_t sh, sw, ph, pw;
};
struct Grads {
  std::unique_ptr<Tensor> dx, dw, db;
};
// x (N,C,H,W), w (O,C,KH,KW), b (O) or null -> y (N,O,OH,OW); relu fuses max(y,0) as a post-op.
std::unique_ptr<Tensor> conv_forward(Tensor& x, Tensor& w, Tensor* b, const ConvParams& p, bool relu);
// dy (N,O,OH,OW) -> dx (N,C,H,W) when need_dx, dw (O,C,KH,KW), db (O) when has_bias. dw comes in the
// layout the weights backward picks (in practice the forward's weights layout).
Grads conv_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, const ConvParams& p, bool need_dx);
// x (N,I), w (O,I), b (O) or null -> y (N,O) = x w^T + b.
std::unique_ptr<Tensor> linear_forward(Tensor& x, Tensor& w, Tensor* b, bool relu);
// dy (N,O) -> dx (N,I) when need_dx, dw (O,I), db (O) when has_bias.
Grads linear_backward(Tensor& dy, Tensor& x, Tensor& w, bool has_bias, bool need_dx);

// ---- pooling and ReLU (pool_relu_gemm_onednn.cc) -----------------------------------------------------------
struct PoolParams {
  int64_t kh, kw, sh, sw, ph, pw;
};
// x (N,C,H,W) -> y (N,C,OH,OW) and the workspace (argmax) the backward needs.
std::unique_ptr<Tensor> maxpool_forward(Tensor& x, const PoolParams& p, std::unique_ptr<Tensor>& workspace);
// dy (N,C,OH,OW) -> dx (N,C,H,W) in x's layout.
std::unique_ptr<Tensor> maxpool_backward(Tensor& dy, Tensor& x, Tensor& workspace, const PoolParams& p);
// y = max(x, 0) in x's layout.
std::unique_ptr<Tensor> relu_forward(Tensor& x);
// dx = dy where y > 0, in y's layout.
std::unique_ptr<Tensor> relu_backward(Tensor& dy, Tensor& y);

}  // namespace nat

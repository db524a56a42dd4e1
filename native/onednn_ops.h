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
#include <vector>

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

// ---- sigmoid, tanh, sqrt, average pooling (act_pool_onednn.cc) --------------------------------------------
// Activations and pooling keep their input's layout family and element type (bf16 stays bf16).
enum class Activation { Sigmoid, Tanh };
// y = sigmoid(x) or tanh(x) in x's layout.
std::unique_ptr<Tensor> activation_forward(Activation a, Tensor& x);
// dx = dy * y * (1 - y) (sigmoid) or dy * (1 - y^2) (tanh), in y's layout.
std::unique_ptr<Tensor> activation_backward(Activation a, Tensor& dy, Tensor& y);
// y = sqrt(x), fp32 (a bf16 input is widened first), in x's layout.
std::unique_ptr<Tensor> sqrt_forward(Tensor& x);
// Average pooling with padded zeros counted (divisor KH*KW), floor mode: x (N,C,H,W) -> y (N,C,OH,OW).
std::unique_ptr<Tensor> avgpool_forward(Tensor& x, const PoolParams& p);
// dy (N,C,OH,OW) -> dx (N,C,H,W) = x_dims, in dy's layout family.
std::unique_ptr<Tensor> avgpool_backward(Tensor& dy, const Dims& x_dims, const PoolParams& p);
// PyTorch's adaptive average pooling: pooling when the bins are uniform (H % OH == 0, W % OW == 0), else a loop.
std::unique_ptr<Tensor> adaptive_avgpool_forward(Tensor& x, int64_t oh, int64_t ow);
std::unique_ptr<Tensor> adaptive_avgpool_backward(Tensor& dy, const Dims& x_dims);

// ---- batch normalization, concat, split (bnorm_concat_onednn.cc) ----------------------------------------
struct BatchNormParams {
  bool training;
  double momentum, eps;
  bool relu;
};
// x (N,C) or (N,C,H,W), weight and bias (C) -> y in x's layout and type. Training: batch statistics, and
// running_mean / running_var (C, fp32) updated in place (the variance with the unbiased n/(n-1) factor);
// eval: the running statistics. `stats` receives what the backward needs: a (2,C) fp32 tensor of the mean
// and the (biased) variance used, with the mode in its aux.
std::unique_ptr<Tensor> batchnorm_forward(Tensor& x, Tensor& weight, Tensor& bias, Tensor& running_mean,
                                          Tensor& running_var, const BatchNormParams& p, std::unique_ptr<Tensor>& stats);
// dy like x -> dx like x (x's layout and type), dweight and dbias (C, fp32) as Grads{dx, dw, db}.
Grads batchnorm_backward(Tensor& dy, Tensor& x, Tensor& weight, Tensor& stats);
// torch.cat along `axis`: every input in its own layout; the output in the layout oneDNN picks.
std::unique_ptr<Tensor> concat(const std::vector<Tensor*>& xs, int64_t axis);
// The inverse of concat: consecutive parts of x along `axis`, each in x's layout family and type.
std::vector<std::unique_ptr<Tensor>> split(Tensor& x, int64_t axis, const Dims& sizes);

}  // namespace nat

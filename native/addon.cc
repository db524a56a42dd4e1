// N-API entry points of alexnet_native.node: argument unpacking, handle bookkeeping and the choice of
// fast paths; the work itself is in dnnl_v2_*.cc (oneDNN) and cpu_ops.cc (own loops). Every function
// takes and returns integer handles (see tensor.h); src/backend/native/index.ts is the only caller.
#include <napi.h>
#include <omp.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cpu_ops.h"
#include "dnnl_ops.h"

namespace {

using nat::Dims;
using nat::Tensor;
using nat::TempBuf;

// The addon keeps global state (handle table, caches, scratchpad); a lock keeps it consistent should
// two JS threads ever load it. It is uncontended in the usual single-thread use.
std::mutex global_lock;

int64_t handle_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i) { return nat::get(handle_arg(info, i)); }
// -1 stands for "no tensor" (absent bias, absent velocity).
Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i) {
  int64_t h = handle_arg(info, i);
  return h < 0 ? nullptr : &nat::get(h);
}
int64_t int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
double num_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
bool bool_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Boolean>().Value(); }

Dims dims_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Array a = info[i].As<Napi::Array>();
  Dims d(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    d[k] = a.Get(k).As<Napi::Number>().Int64Value();
    if (d[k] < 0) throw std::invalid_argument("negative dimension in shape");
  }
  return d;
}

Napi::Value handle_value(Napi::Env env, std::unique_ptr<Tensor> t) {
  if (!t) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, static_cast<double>(nat::put(std::move(t))));
}

// A tensor whose layout is blocked without padding can be treated as a flat array by element-wise ops.
bool flat(const Tensor& t) { return t.bytes == static_cast<size_t>(t.numel()) * sizeof(float); }

// ---- memory -----------------------------------------------------------------------------------------

Napi::Value Create(const Napi::CallbackInfo& info) {
  Dims dims = dims_arg(info, 0);
  auto t = nat::new_plain(dims);
  if (info[1].IsTypedArray()) {
    Napi::Float32Array data = info[1].As<Napi::Float32Array>();
    if (static_cast<int64_t>(data.ElementLength()) != t->numel()) throw std::invalid_argument("data length does not match the shape");
    if (t->bytes > 0) std::memcpy(t->data, data.Data(), t->bytes);
  } else if (t->bytes > 0) {
    std::memset(t->data, 0, t->bytes);
  }
  return handle_value(info.Env(), std::move(t));
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Tensor& t = tensor_arg(info, 0);
  Napi::Float32Array out = info[1].As<Napi::Float32Array>();
  if (static_cast<int64_t>(out.ElementLength()) != t.numel()) throw std::invalid_argument("read: output length mismatch");
  if (t.numel() == 0) return info.Env().Undefined();
  if (nat::is_plain(t)) std::memcpy(out.Data(), t.data, sizeof(float) * t.numel());
  else nat::reorder(t.md, t.data, nat::plain_md(t.dims), out.Data());
  return info.Env().Undefined();
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  nat::drop(handle_arg(info, 0));
  return info.Env().Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  nat::Stats s = nat::stats();
  Napi::Array a = Napi::Array::New(info.Env(), 4);
  a.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(s.live_buffers)));
  a.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(s.live_bytes)));
  a.Set(2u, Napi::Number::New(info.Env(), static_cast<double>(nat::pool_cached_bytes())));
  a.Set(3u, Napi::Number::New(info.Env(), static_cast<double>(s.peak_bytes)));
  return a;
}

Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  nat::reset_peak();
  return info.Env().Undefined();
}

Napi::Value IsPlain(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), nat::is_plain(tensor_arg(info, 0))); }

Napi::Value Trim(const Napi::CallbackInfo& info) {
  nat::pool_trim();
  return info.Env().Undefined();
}

Napi::Value SetPoolLimit(const Napi::CallbackInfo& info) {
  nat::pool_set_limit(static_cast<size_t>(num_arg(info, 0)));
  return info.Env().Undefined();
}

// ---- configuration ------------------------------------------------------------------------------------

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = static_cast<int>(int_arg(info, 0));
  if (n < 1) throw std::invalid_argument("thread count must be at least 1");
  omp_set_num_threads(n);
  // oneDNN sizes some kernels and scratchpads for the thread count at creation time.
  nat::clear_primitive_cache();
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), omp_get_max_threads()); }

Napi::Value SetConvAlgorithm(const Napi::CallbackInfo& info) {
  nat::set_conv_algorithm(info[0].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

// setPrecision("fp32" | "bf16")
Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name == "fp32") nat::set_precision(nat::Precision::F32);
  else if (name == "bf16") nat::set_precision(nat::Precision::Bf16);
  else throw std::invalid_argument("precision must be fp32 or bf16, not '" + name + "'");
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  o.Set("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  o.Set("convAlgorithm", nat::conv_algorithm());
  o.Set("precision", nat::precision() == nat::Precision::Bf16 ? "bf16" : "fp32");
  o.Set("cpuIsa", nat::cpu_isa());
  o.Set("bf16", nat::bf16_support());
  o.Set("lastConvImpl", nat::last_conv_impl());
  o.Set("threads", omp_get_max_threads());
  o.Set("cachedPrimitives", static_cast<double>(nat::primitive_cache_size()));
  o.Set("freshAllocations", static_cast<double>(nat::pool_fresh_allocations()));
  o.Set("pooledBytes", static_cast<double>(nat::pool_cached_bytes()));
  return o;
}

// ---- layer ops ----------------------------------------------------------------------------------------

nat::ConvParams conv_params(const Napi::CallbackInfo& info, size_t i) {
  return nat::ConvParams{int_arg(info, i), int_arg(info, i + 1), int_arg(info, i + 2), int_arg(info, i + 3)};
}

Napi::Value GradsValue(Napi::Env env, nat::Grads g) {
  Napi::Array a = Napi::Array::New(env, 3);
  a.Set(0u, handle_value(env, std::move(g.dx)));
  a.Set(1u, handle_value(env, std::move(g.dw)));
  a.Set(2u, handle_value(env, std::move(g.db)));
  return a;
}

// conv2d(x, w, b|-1, sh, sw, ph, pw, relu)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::conv_forward(tensor_arg(info, 0), tensor_arg(info, 1), optional_tensor_arg(info, 2),
                                                    conv_params(info, 3), bool_arg(info, 7)));
}

// conv2dBackward(dy, x, w, hasBias, sh, sw, ph, pw, needDx) -> [dx|-1, dw, db|-1]
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info) {
  return GradsValue(info.Env(), nat::conv_backward(tensor_arg(info, 0), tensor_arg(info, 1), tensor_arg(info, 2),
                                                   bool_arg(info, 3), conv_params(info, 4), bool_arg(info, 8)));
}

nat::PoolParams pool_params(const Napi::CallbackInfo& info, size_t i) {
  return nat::PoolParams{int_arg(info, i),     int_arg(info, i + 1), int_arg(info, i + 2),
                         int_arg(info, i + 3), int_arg(info, i + 4), int_arg(info, i + 5)};
}

// maxPool2d(x, kh, kw, sh, sw, ph, pw) -> [y, workspace]
Napi::Value MaxPool2d(const Napi::CallbackInfo& info) {
  std::unique_ptr<Tensor> ws;
  auto y = nat::maxpool_forward(tensor_arg(info, 0), pool_params(info, 1), ws);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, handle_value(info.Env(), std::move(y)));
  a.Set(1u, handle_value(info.Env(), std::move(ws)));
  return a;
}

// maxPool2dBackward(dy, x, workspace, kh, kw, sh, sw, ph, pw)
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::maxpool_backward(tensor_arg(info, 0), tensor_arg(info, 1), tensor_arg(info, 2),
                                                        pool_params(info, 3)));
}

Napi::Value Relu(const Napi::CallbackInfo& info) { return handle_value(info.Env(), nat::relu_forward(tensor_arg(info, 0))); }

Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::relu_backward(tensor_arg(info, 0), tensor_arg(info, 1)));
}

// linear(x, w, b|-1, relu)
Napi::Value Linear(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::linear_forward(tensor_arg(info, 0), tensor_arg(info, 1), optional_tensor_arg(info, 2),
                                                      bool_arg(info, 3)));
}

// linearBackward(dy, x, w, hasBias, needDx) -> [dx|-1, dw, db|-1]
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  return GradsValue(info.Env(), nat::linear_backward(tensor_arg(info, 0), tensor_arg(info, 1), tensor_arg(info, 2),
                                                     bool_arg(info, 3), bool_arg(info, 4)));
}

// dropout(x, p, seed[, offset]): the mask is a function of offset + the row-major index, so x is read
// row-major, in its own element type (bf16 activations stay bf16). The backward is the same call on dy.
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Tensor& x = tensor_arg(info, 0);
  const double p = num_arg(info, 1);
  const auto seed = static_cast<uint32_t>(int_arg(info, 2));
  const auto offset = info.Length() > 3 ? static_cast<uint64_t>(int_arg(info, 3)) : 0;
  TempBuf tmp;
  if (x.dtype() == dnnl::memory::data_type::bf16) {
    const auto md = nat::plain_md(x.dims, x.dtype());
    const void* xp = nat::in_layout(x, md, false, tmp);
    auto y = std::make_unique<Tensor>(x.dims, md);
    nat::dropout_bf16(static_cast<const uint16_t*>(xp), reinterpret_cast<uint16_t*>(y->data), x.numel(), p, seed, offset);
    return handle_value(info.Env(), std::move(y));
  }
  const float* xp = nat::plain_data(x, tmp);
  auto y = nat::new_plain(x.dims);
  nat::dropout(xp, y->data, x.numel(), p, seed, offset);
  return handle_value(info.Env(), std::move(y));
}

// reshape(x, shape): a row-major copy under the new shape (blocked layouts cannot be reinterpreted), in
// x's element type.
Napi::Value Reshape(const Napi::CallbackInfo& info) {
  Tensor& x = tensor_arg(info, 0);
  Dims dims = dims_arg(info, 1);
  if (nat::numel_of(dims) != x.numel()) throw std::invalid_argument("reshape: element count differs");
  auto y = std::make_unique<Tensor>(dims, nat::plain_md(dims, x.dtype()));
  if (x.numel() > 0) nat::reorder(x.md, x.data, nat::plain_md(x.dims, x.dtype()), y->data);
  return handle_value(info.Env(), std::move(y));
}

// crossEntropy(logits, labels) -> [loss, probs]
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Tensor& logits = tensor_arg(info, 0);
  Napi::Int32Array labels = info[1].As<Napi::Int32Array>();
  if (logits.dims.size() != 2) throw std::invalid_argument("crossEntropy: logits must be (N,K)");
  const int64_t n = logits.dims[0], k = logits.dims[1];
  if (static_cast<int64_t>(labels.ElementLength()) != n) throw std::invalid_argument("crossEntropy: one label per row needed");
  TempBuf tmp;
  const float* lp = nat::plain_data(logits, tmp);
  auto probs = nat::new_plain({n, k});
  auto loss = nat::new_plain({});
  loss->data[0] = nat::cross_entropy(lp, labels.Data(), n, k, probs->data);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, handle_value(info.Env(), std::move(loss)));
  a.Set(1u, handle_value(info.Env(), std::move(probs)));
  return a;
}

// crossEntropyBackward(dloss, probs, labels)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Tensor& dloss = tensor_arg(info, 0);
  Tensor& probs = tensor_arg(info, 1);
  Napi::Int32Array labels = info[2].As<Napi::Int32Array>();
  if (dloss.numel() != 1) throw std::invalid_argument("crossEntropyBackward: dloss must be a scalar");
  TempBuf tmp;
  const float dl = nat::plain_data(dloss, tmp)[0];
  auto d = nat::new_plain(probs.dims);
  nat::cross_entropy_backward(dl, probs.data, labels.Data(), probs.dims[0], probs.dims[1], d->data);
  return handle_value(info.Env(), std::move(d));
}

// sgdUpdate(param, grad, velocity|-1, lr, momentum, dampening, weightDecay, nesterov, firstStep). The
// update is element-wise, so it runs over param's raw bytes in whatever layout param has; grad is
// converted to it when needed and velocity adopts it (it lives as long as param).
Napi::Value SgdUpdate(const Napi::CallbackInfo& info) {
  Tensor& param = tensor_arg(info, 0);
  Tensor& grad = tensor_arg(info, 1);
  Tensor* vel = optional_tensor_arg(info, 2);
  nat::Sgd s{num_arg(info, 3), num_arg(info, 4), num_arg(info, 5), num_arg(info, 6), bool_arg(info, 7)};
  if (grad.dims != param.dims || (vel != nullptr && vel->dims != param.dims)) {
    throw std::invalid_argument("sgdUpdate: param, grad and velocity shapes differ");
  }
  // A parameter still in row-major layout (mixed precision: the layers read bf16 casts of it, never it)
  // takes its gradient's layout once, so that later updates need no conversion.
  if (nat::precision() == nat::Precision::Bf16 && nat::is_plain(param) && grad.dtype() == param.dtype() && !nat::is_plain(grad)) {
    TempBuf unused;
    nat::in_layout(param, grad.md, true, unused);
  }
  TempBuf tg, tv;
  const float* gp = nat::in_layout(grad, param.md, false, tg);
  float* vp = nullptr;
  if (vel != nullptr && s.momentum != 0) vp = const_cast<float*>(nat::in_layout(*vel, param.md, true, tv));
  nat::sgd_update(param.data, gp, vp, static_cast<int64_t>(param.bytes / sizeof(float)), s, bool_arg(info, 8));
  param.version += 1;
  return info.Env().Undefined();
}

// ---- small general ops --------------------------------------------------------------------------------

// binary(op, a, b, outShape); op: 0 add, 1 sub, 2 mul, 3 div
Napi::Value Binary(const Napi::CallbackInfo& info) {
  const int64_t code = int_arg(info, 0);
  if (code < 0 || code > 3) throw std::invalid_argument("binary: unknown op code");
  auto op = static_cast<nat::Binary>(code);
  Tensor& a = tensor_arg(info, 1);
  Tensor& b = tensor_arg(info, 2);
  Dims out_dims = dims_arg(info, 3);
  if (a.dims == b.dims && a.md == b.md && flat(a)) {
    // Same layout, no padding: the flat arrays line up element for element whatever the layout.
    auto out = std::make_unique<Tensor>(a.dims, a.md);
    Dims flat_dims{a.numel()};
    nat::binary(op, a.data, flat_dims, b.data, flat_dims, out->data, flat_dims);
    return handle_value(info.Env(), std::move(out));
  }
  TempBuf ta, tb;
  const float* ap = nat::plain_data(a, ta);
  const float* bp = nat::plain_data(b, tb);
  auto out = nat::new_plain(out_dims);
  nat::binary(op, ap, a.dims, bp, b.dims, out->data, out_dims);
  return handle_value(info.Env(), std::move(out));
}

// unary(op, a); op: 0 neg, 1 exp, 2 log
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int64_t code = int_arg(info, 0);
  if (code < 0 || code > 2) throw std::invalid_argument("unary: unknown op code");
  auto op = static_cast<nat::Unary>(code);
  Tensor& a = tensor_arg(info, 1);
  TempBuf ta;
  const bool keep = flat(a);
  const float* ap = keep ? a.data : nat::plain_data(a, ta);
  auto out = keep ? std::make_unique<Tensor>(a.dims, a.md) : nat::new_plain(a.dims);
  nat::unary(op, ap, out->data, a.numel());
  return handle_value(info.Env(), std::move(out));
}

// affine(a, alpha, beta)
Napi::Value Affine(const Napi::CallbackInfo& info) {
  Tensor& a = tensor_arg(info, 0);
  TempBuf ta;
  const bool keep = flat(a);
  const float* ap = keep ? a.data : nat::plain_data(a, ta);
  auto out = keep ? std::make_unique<Tensor>(a.dims, a.md) : nat::new_plain(a.dims);
  nat::affine(ap, out->data, a.numel(), num_arg(info, 1), num_arg(info, 2));
  return handle_value(info.Env(), std::move(out));
}

// sum(a, reduceFlags: boolean[], outShape)
Napi::Value Sum(const Napi::CallbackInfo& info) {
  Tensor& a = tensor_arg(info, 0);
  Napi::Array flags = info[1].As<Napi::Array>();
  std::vector<bool> reduce(a.dims.size(), false);
  for (uint32_t i = 0; i < flags.Length() && i < reduce.size(); ++i) reduce[i] = flags.Get(i).As<Napi::Boolean>().Value();
  TempBuf ta;
  const float* ap = nat::plain_data(a, ta);
  auto out = nat::new_plain(dims_arg(info, 2));
  nat::sum(ap, a.dims, reduce, out->data);
  return handle_value(info.Env(), std::move(out));
}

// matmul(a, b, transA, transB): op(a) (M,K) @ op(b) (K,N)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Tensor& a = tensor_arg(info, 0);
  Tensor& b = tensor_arg(info, 1);
  const bool ta_ = bool_arg(info, 2), tb_ = bool_arg(info, 3);
  if (a.dims.size() != 2 || b.dims.size() != 2) throw std::invalid_argument("matmul needs 2-D operands");
  const int64_t m = ta_ ? a.dims[1] : a.dims[0], k = ta_ ? a.dims[0] : a.dims[1];
  const int64_t k2 = tb_ ? b.dims[1] : b.dims[0], n = tb_ ? b.dims[0] : b.dims[1];
  if (k != k2) throw std::invalid_argument("matmul inner sizes differ");
  TempBuf tmp_a, tmp_b;
  const float* ap = nat::plain_data(a, tmp_a);
  const float* bp = nat::plain_data(b, tmp_b);
  auto out = nat::new_plain({m, n});
  nat::sgemm(ta_, tb_, m, n, k, ap, bp, out->data);
  return handle_value(info.Env(), std::move(out));
}

// ---- registration ---------------------------------------------------------------------------------------

// Seconds spent per kind of op since start (reorders counted apart, as "conversion"), for the time
// shares `alexnet bench` reports. Two clock reads per call: ~50 ns against ops of 0.1-500 ms.
enum Kind { kConv, kPool, kLinear, kRelu, kDropout, kLoss, kSgd, kOther, kKinds };
const char* const kKindNames[kKinds] = {"conv", "pool", "linear", "relu", "dropout", "loss", "sgd", "other"};
double kind_seconds[kKinds] = {};

Napi::Value OpSeconds(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  for (int k = 0; k < kKinds; ++k) o.Set(kKindNames[k], kind_seconds[k]);
  o.Set("conversion", nat::conversion_seconds());
  return o;
}

// Every entry point: under the lock, timed, with C++ and oneDNN errors turned into JS exceptions.
template <Napi::Value (*F)(const Napi::CallbackInfo&), Kind K>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(global_lock);
  struct Timer {
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    double conv0 = nat::conversion_seconds();
    ~Timer() {
      const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      kind_seconds[K] += all - (nat::conversion_seconds() - conv0);
    }
  } timer;
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN error: ") + e.what() + " (status " + std::to_string(e.status) + ")");
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "native backend: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

#define EXPORT_AS(name, kind) exports.Set(#name, Napi::Function::New<guarded<name, kind>>(env, #name))
#define EXPORT(name) EXPORT_AS(name, kOther)

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EXPORT(Create);
  EXPORT(Read);
  EXPORT(Dispose);
  EXPORT(Stats);
  EXPORT(ResetPeak);
  EXPORT(IsPlain);
  EXPORT(Trim);
  EXPORT(SetPoolLimit);
  EXPORT(SetThreads);
  EXPORT(Threads);
  EXPORT(SetConvAlgorithm);
  EXPORT(SetPrecision);
  EXPORT(Info);
  EXPORT(OpSeconds);
  EXPORT_AS(Conv2d, kConv);
  EXPORT_AS(Conv2dBackward, kConv);
  EXPORT_AS(MaxPool2d, kPool);
  EXPORT_AS(MaxPool2dBackward, kPool);
  EXPORT_AS(Relu, kRelu);
  EXPORT_AS(ReluBackward, kRelu);
  EXPORT_AS(Linear, kLinear);
  EXPORT_AS(LinearBackward, kLinear);
  EXPORT_AS(Dropout, kDropout);
  EXPORT(Reshape);
  EXPORT_AS(CrossEntropy, kLoss);
  EXPORT_AS(CrossEntropyBackward, kLoss);
  EXPORT_AS(SgdUpdate, kSgd);
  EXPORT(Binary);
  EXPORT(Unary);
  EXPORT(Affine);
  EXPORT(Sum);
  EXPORT(Matmul);
  return exports;
}

}  // namespace

NODE_API_MODULE(alexnet_native, Init)

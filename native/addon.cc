// The registration of alexnet_native.node's N-API entry points (declared in addon.h, defined in
// addon_memory.cc, addon_ops.cc and addon_layers2.cc): each runs under one lock, timed per kind of op, with C++ and oneDNN
// errors turned into JS exceptions, and each compute op on as many OpenMP threads as its work pays for
// (threads.h). src/backend/native/index.ts is the only caller.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>

#include "addon.h"
#include "onednn_ops.h"
#include "threads.h"

namespace {

using namespace api;

// The addon keeps global state (handle table, caches, scratchpad); a lock keeps it consistent should
// two JS threads ever load it. It is uncontended in the usual single-thread use.
std::mutex global_lock;

// ---- registration ---------------------------------------------------------------------------------------

// Seconds spent per kind of op since start (reorders counted apart, as "conversion"), for the time
// shares `alexnet bench` reports. Two clock reads per call: ~50 ns against ops of 0.1-500 ms.
enum Kind { kConv, kPool, kLinear, kRelu, kDropout, kLoss, kSgd, kNorm, kActivation, kConcat, kOther, kKinds };
const char* const kKindNames[kKinds] = {"conv", "pool",  "linear",     "relu",   "dropout", "loss",
                                        "sgd",  "norm", "activation", "concat", "other"};
double kind_seconds[kKinds] = {};

Napi::Value OpSeconds(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  for (int k = 0; k < kKinds; ++k) o.Set(kKindNames[k], kind_seconds[k]);
  o.Set("conversion", nat::conversion_seconds());
  return o;
}

// ---- the work of an op, for its thread count -------------------------------------------------------------
// Each estimate is the op's single-core time in nanoseconds (threads.h: nat::cost), from its arguments as
// documented in addon_ops.cc and addon_layers2.cc. A negative estimate leaves the user's thread count
// (entries that compute nothing, or only reorders, which choose their own). The estimate runs before the op,
// so a bad handle throws here with the op's own message.

using Estimate = double (*)(const Napi::CallbackInfo&);
namespace cost = nat::cost;

double numel_at(const Napi::CallbackInfo& info, size_t i) { return static_cast<double>(tensor_arg(info, i).numel()); }

double no_estimate(const Napi::CallbackInfo&) { return -1; }
// An element-wise op over the tensor at argument 0 (or 1), `passes` reads and writes per element.
template <int Passes>
double elementwise0(const Napi::CallbackInfo& info) { return Passes * cost::kElement * numel_at(info, 0); }
template <int Passes>
double elementwise1(const Napi::CallbackInfo& info) { return Passes * cost::kElement * numel_at(info, 1); }
// conv2d(x, w, b, sh, sw, ph, pw, relu): N*O*OH*OW*C*KH*KW multiply-adds.
double conv_forward_work(const Napi::CallbackInfo& info) {
  const Dims& x = tensor_arg(info, 0).dims;
  const Dims& w = tensor_arg(info, 1).dims;
  if (x.size() != 4 || w.size() != 4) return -1;
  const int64_t sh = std::max<int64_t>(1, int_arg(info, 3)), sw = std::max<int64_t>(1, int_arg(info, 4));
  const double oh = std::max<int64_t>(0, (x[2] + 2 * int_arg(info, 5) - w[2]) / sh + 1);
  const double ow = std::max<int64_t>(0, (x[3] + 2 * int_arg(info, 6) - w[3]) / sw + 1);
  return cost::kMac * static_cast<double>(x[0]) * oh * ow * static_cast<double>(w[0] * w[1] * w[2] * w[3]);
}
// conv2dBackward(dy, x, w, hasBias, sh, sw, ph, pw, needDx): the weights backward and the data backward
// each cost the forward's multiply-adds.
double conv_backward_work(const Napi::CallbackInfo& info) {
  const Dims& w = tensor_arg(info, 2).dims;
  if (w.size() != 4 || w[0] == 0) return -1;
  const double per_output = static_cast<double>(w[1] * w[2] * w[3]);
  return cost::kMac * numel_at(info, 0) * per_output * (bool_arg(info, 8) ? 2 : 1);
}
// linear(x, w, b, relu): N*I*O multiply-adds.
double linear_forward_work(const Napi::CallbackInfo& info) {
  const Dims& w = tensor_arg(info, 1).dims;
  return w.empty() ? -1 : cost::kMac * numel_at(info, 0) * static_cast<double>(w[0]);
}
// linearBackward(dy, x, w, hasBias, needDx).
double linear_backward_work(const Napi::CallbackInfo& info) {
  const Dims& w = tensor_arg(info, 2).dims;
  return w.size() != 2 ? -1 : cost::kMac * numel_at(info, 0) * static_cast<double>(w[1]) * (bool_arg(info, 4) ? 2 : 1);
}
// matmul(a, b, transA, transB): M*N*K.
double matmul_work(const Napi::CallbackInfo& info) {
  const Dims& b = tensor_arg(info, 1).dims;
  if (b.size() != 2) return -1;
  return cost::kMac * numel_at(info, 0) * static_cast<double>(bool_arg(info, 3) ? b[0] : b[1]);
}
// Pooling forward (x, kh, kw, sh, sw, ...): every output reads a KH*KW window, plus x read once.
double pool_forward_work(const Napi::CallbackInfo& info) {
  const double kh = static_cast<double>(int_arg(info, 1)), kw = static_cast<double>(int_arg(info, 2));
  const double s = static_cast<double>(std::max<int64_t>(1, int_arg(info, 3)) * std::max<int64_t>(1, int_arg(info, 4)));
  return cost::kElement * numel_at(info, 0) * (1 + kh * kw / s);
}
// maxPool2dBackward(dy, x, workspace, ...): dx written, dy and the workspace read.
double maxpool_backward_work(const Napi::CallbackInfo& info) { return cost::kElement * (numel_at(info, 1) + 2 * numel_at(info, 0)); }
// avgPool2dBackward(dy, xShape, kh, kw, ...): dx written, each dy spread over its window.
double avgpool_backward_work(const Napi::CallbackInfo& info) {
  const double kh = static_cast<double>(int_arg(info, 2)), kw = static_cast<double>(int_arg(info, 3));
  return cost::kElement * (static_cast<double>(nat::numel_of(dims_arg(info, 1))) + numel_at(info, 0) * kh * kw);
}
// adaptiveAvgPool2dBackward(dy, xShape).
double adaptive_backward_work(const Napi::CallbackInfo& info) {
  return cost::kElement * (static_cast<double>(nat::numel_of(dims_arg(info, 1))) + numel_at(info, 0));
}
double batchnorm_work(const Napi::CallbackInfo& info) { return cost::kNorm * numel_at(info, 0); }
// concat(handles, axis): every input read, the output written.
double concat_work(const Napi::CallbackInfo& info) {
  Napi::Array hs = info[0].As<Napi::Array>();
  double n = 0;
  for (uint32_t i = 0; i < hs.Length(); ++i) n += static_cast<double>(nat::get(hs.Get(i).As<Napi::Number>().Int64Value()).numel());
  return 2 * cost::kElement * n;
}
// binary(op, a, b, outShape): a, b read, out written.
double binary_work(const Napi::CallbackInfo& info) {
  return cost::kElement * (numel_at(info, 1) + numel_at(info, 2) + static_cast<double>(nat::numel_of(dims_arg(info, 3))));
}

// Every entry point: under the lock, on the threads its work pays for, timed, with C++ and oneDNN errors
// turned into JS exceptions.
template <Napi::Value (*F)(const Napi::CallbackInfo&), Kind K, Estimate W>
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
    const double work = W(info);
    nat::OpThreads threads(work < 0 ? nat::user_threads() : nat::threads_for(work));
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

#define EXPORT_WORK(name, kind, work) exports.Set(#name, Napi::Function::New<guarded<name, kind, work>>(env, #name))
#define EXPORT_AS(name, kind) EXPORT_WORK(name, kind, no_estimate)
#define EXPORT(name) EXPORT_AS(name, kOther)

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nat::user_threads();  // records OpenMP's default count before any op narrows it
  nat::ns_per_thread();
  EXPORT(Create);
  EXPORT(Fill);
  EXPORT(Copy);
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
  EXPORT_WORK(Conv2d, kConv, conv_forward_work);
  EXPORT_WORK(Conv2dBackward, kConv, conv_backward_work);
  EXPORT_WORK(MaxPool2d, kPool, pool_forward_work);
  EXPORT_WORK(MaxPool2dBackward, kPool, maxpool_backward_work);
  EXPORT_WORK(Relu, kRelu, elementwise0<2>);
  EXPORT_WORK(ReluBackward, kRelu, elementwise0<3>);
  EXPORT_WORK(Linear, kLinear, linear_forward_work);
  EXPORT_WORK(LinearBackward, kLinear, linear_backward_work);
  EXPORT_WORK(Dropout, kDropout, elementwise0<3>);
  EXPORT(Reshape);
  EXPORT_WORK(CrossEntropy, kLoss, elementwise0<4>);
  EXPORT_WORK(CrossEntropyBackward, kLoss, elementwise1<2>);
  EXPORT_WORK(SgdUpdate, kSgd, elementwise0<5>);
  EXPORT_WORK(Binary, kOther, binary_work);
  EXPORT_WORK(Unary, kOther, elementwise1<3>);
  EXPORT_WORK(Affine, kOther, elementwise0<2>);
  EXPORT_WORK(Sum, kOther, elementwise0<1>);
  EXPORT_WORK(Matmul, kOther, matmul_work);
  EXPORT_WORK(Transpose, kOther, elementwise0<2>);
  EXPORT_WORK(Sigmoid, kActivation, elementwise0<4>);
  EXPORT_WORK(SigmoidBackward, kActivation, elementwise0<3>);
  EXPORT_WORK(Tanh, kActivation, elementwise0<4>);
  EXPORT_WORK(TanhBackward, kActivation, elementwise0<3>);
  EXPORT_WORK(AvgPool2d, kPool, pool_forward_work);
  EXPORT_WORK(AvgPool2dBackward, kPool, avgpool_backward_work);
  EXPORT_WORK(AdaptiveAvgPool2d, kPool, elementwise0<2>);
  EXPORT_WORK(AdaptiveAvgPool2dBackward, kPool, adaptive_backward_work);
  EXPORT_WORK(BatchNorm, kNorm, batchnorm_work);
  EXPORT_WORK(BatchNormBackward, kNorm, batchnorm_work);
  EXPORT_WORK(Concat, kConcat, concat_work);
  EXPORT_WORK(Split, kConcat, elementwise0<2>);
  EXPORT_WORK(Max, kOther, elementwise0<1>);
  return exports;
}

}  // namespace

NODE_API_MODULE(alexnet_native, Init)

// The registration of alexnet_native.node's N-API entry points (declared in addon.h, defined in
// addon_memory.cc, addon_ops.cc and addon_layers2.cc): each runs under one lock, timed per kind of op, with C++ and oneDNN
// errors turned into JS exceptions. src/backend/native/index.ts is the only caller.
#include <napi.h>

#include <chrono>
#include <mutex>
#include <string>

#include "addon.h"
#include "onednn_ops.h"

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
  EXPORT(Transpose);
  EXPORT_AS(Sigmoid, kActivation);
  EXPORT_AS(SigmoidBackward, kActivation);
  EXPORT_AS(Tanh, kActivation);
  EXPORT_AS(TanhBackward, kActivation);
  EXPORT_AS(AvgPool2d, kPool);
  EXPORT_AS(AvgPool2dBackward, kPool);
  EXPORT_AS(AdaptiveAvgPool2d, kPool);
  EXPORT_AS(AdaptiveAvgPool2dBackward, kPool);
  EXPORT_AS(BatchNorm, kNorm);
  EXPORT_AS(BatchNormBackward, kNorm);
  EXPORT_AS(Concat, kConcat);
  EXPORT_AS(Split, kConcat);
  EXPORT(Max);
  return exports;
}

}  // namespace

NODE_API_MODULE(alexnet_native, Init)

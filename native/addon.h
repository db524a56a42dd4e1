// Argument unpacking shared by the N-API entry points (addon_memory.cc, addon_ops.cc, addon_layers2.cc) and the list of
// those entry points, which addon.cc registers. Handles are integers (see tensor.h); -1 means none.
#pragma once

#include <napi.h>

#include <memory>
#include <stdexcept>

#include "tensor.h"

namespace api {

using nat::Dims;
using nat::Tensor;
using nat::TempBuf;

inline int64_t handle_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
inline Tensor& tensor_arg(const Napi::CallbackInfo& info, size_t i) { return nat::get(handle_arg(info, i)); }
// -1 stands for "no tensor" (absent bias, absent velocity).
inline Tensor* optional_tensor_arg(const Napi::CallbackInfo& info, size_t i) {
  int64_t h = handle_arg(info, i);
  return h < 0 ? nullptr : &nat::get(h);
}
inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }
inline double num_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }
inline bool bool_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Boolean>().Value(); }

inline Dims dims_arg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Array a = info[i].As<Napi::Array>();
  Dims d(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    d[k] = a.Get(k).As<Napi::Number>().Int64Value();
    if (d[k] < 0) throw std::invalid_argument("negative dimension in shape");
  }
  return d;
}

inline Napi::Value handle_value(Napi::Env env, std::unique_ptr<Tensor> t) {
  if (!t) return Napi::Number::New(env, -1);
  return Napi::Number::New(env, static_cast<double>(nat::put(std::move(t))));
}

// A tensor whose layout is blocked without padding can be treated as a flat array by element-wise ops.
inline bool flat(const Tensor& t) { return t.bytes == static_cast<size_t>(t.numel()) * sizeof(float); }

#define ALEXNET_MEMORY_ENTRIES(X) \
  X(Create) X(Fill) X(Copy) X(Read) X(Dispose) X(Stats) X(ResetPeak) X(IsPlain) X(Trim) X(SetPoolLimit) \
  X(SetThreads) X(Threads) X(SetConvAlgorithm) X(SetPrecision) X(Info) X(Reshape)

#define ALEXNET_DECLARE_ENTRY(name) Napi::Value name(const Napi::CallbackInfo& info);
ALEXNET_MEMORY_ENTRIES(ALEXNET_DECLARE_ENTRY)
Napi::Value Conv2d(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackward(const Napi::CallbackInfo& info);
Napi::Value MaxPool2d(const Napi::CallbackInfo& info);
Napi::Value MaxPool2dBackward(const Napi::CallbackInfo& info);
Napi::Value Relu(const Napi::CallbackInfo& info);
Napi::Value ReluBackward(const Napi::CallbackInfo& info);
Napi::Value Linear(const Napi::CallbackInfo& info);
Napi::Value LinearBackward(const Napi::CallbackInfo& info);
Napi::Value Dropout(const Napi::CallbackInfo& info);
Napi::Value CrossEntropy(const Napi::CallbackInfo& info);
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info);
Napi::Value SgdUpdate(const Napi::CallbackInfo& info);
Napi::Value Binary(const Napi::CallbackInfo& info);
Napi::Value Unary(const Napi::CallbackInfo& info);
Napi::Value Affine(const Napi::CallbackInfo& info);
Napi::Value Sum(const Napi::CallbackInfo& info);
Napi::Value Matmul(const Napi::CallbackInfo& info);
Napi::Value Transpose(const Napi::CallbackInfo& info);
// addon_layers2.cc
Napi::Value Sigmoid(const Napi::CallbackInfo& info);
Napi::Value SigmoidBackward(const Napi::CallbackInfo& info);
Napi::Value Tanh(const Napi::CallbackInfo& info);
Napi::Value TanhBackward(const Napi::CallbackInfo& info);
Napi::Value AvgPool2d(const Napi::CallbackInfo& info);
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info);
Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info);
Napi::Value AdaptiveAvgPool2dBackward(const Napi::CallbackInfo& info);
Napi::Value BatchNorm(const Napi::CallbackInfo& info);
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info);
Napi::Value Concat(const Napi::CallbackInfo& info);
Napi::Value Split(const Napi::CallbackInfo& info);
Napi::Value Max(const Napi::CallbackInfo& info);

}  // namespace api

// N-API entry points for the layer ops d2l's later chapters add: sigmoid, tanh, average and adaptive
// average pooling, batch normalization, concat / split and max. Argument unpacking only; the work is in
// act_pool_onednn.cc, bnorm_concat_onednn.cc and cpu_ops.cc (max). Shapes were checked in TypeScript
// (src/backend/shapes.ts); here only what memory safety needs. Registered by addon.cc.
#include <string>
#include <vector>

#include "addon.h"
#include "cpu_ops.h"
#include "onednn_ops.h"

namespace api {

namespace {

nat::PoolParams pool_args(const Napi::CallbackInfo& info, size_t i) {
  return nat::PoolParams{int_arg(info, i),     int_arg(info, i + 1), int_arg(info, i + 2),
                         int_arg(info, i + 3), int_arg(info, i + 4), int_arg(info, i + 5)};
}

Napi::Value handles_value(Napi::Env env, std::vector<std::unique_ptr<Tensor>> ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); ++i) a.Set(static_cast<uint32_t>(i), handle_value(env, std::move(ts[i])));
  return a;
}

}  // namespace

// ---- activations --------------------------------------------------------------------------------------

Napi::Value Sigmoid(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::activation_forward(nat::Activation::Sigmoid, tensor_arg(info, 0)));
}

// sigmoidBackward(dy, y)
Napi::Value SigmoidBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::activation_backward(nat::Activation::Sigmoid, tensor_arg(info, 0), tensor_arg(info, 1)));
}

Napi::Value Tanh(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::activation_forward(nat::Activation::Tanh, tensor_arg(info, 0)));
}

// tanhBackward(dy, y)
Napi::Value TanhBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::activation_backward(nat::Activation::Tanh, tensor_arg(info, 0), tensor_arg(info, 1)));
}

// ---- pooling ------------------------------------------------------------------------------------------

// avgPool2d(x, kh, kw, sh, sw, ph, pw)
Napi::Value AvgPool2d(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::avgpool_forward(tensor_arg(info, 0), pool_args(info, 1)));
}

// avgPool2dBackward(dy, xShape, kh, kw, sh, sw, ph, pw)
Napi::Value AvgPool2dBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::avgpool_backward(tensor_arg(info, 0), dims_arg(info, 1), pool_args(info, 2)));
}

// adaptiveAvgPool2d(x, oh, ow)
Napi::Value AdaptiveAvgPool2d(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::adaptive_avgpool_forward(tensor_arg(info, 0), int_arg(info, 1), int_arg(info, 2)));
}

// adaptiveAvgPool2dBackward(dy, xShape)
Napi::Value AdaptiveAvgPool2dBackward(const Napi::CallbackInfo& info) {
  return handle_value(info.Env(), nat::adaptive_avgpool_backward(tensor_arg(info, 0), dims_arg(info, 1)));
}

// ---- batch normalization ------------------------------------------------------------------------------

// batchNorm(x, weight, bias, runningMean, runningVar, training, momentum, eps, relu) -> [y, stats]
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  nat::BatchNormParams p{bool_arg(info, 5), num_arg(info, 6), num_arg(info, 7), bool_arg(info, 8)};
  std::unique_ptr<Tensor> stats;
  auto y = nat::batchnorm_forward(tensor_arg(info, 0), tensor_arg(info, 1), tensor_arg(info, 2), tensor_arg(info, 3),
                                  tensor_arg(info, 4), p, stats);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, handle_value(info.Env(), std::move(y)));
  a.Set(1u, handle_value(info.Env(), std::move(stats)));
  return a;
}

// batchNormBackward(dy, x, weight, stats) -> [dx, dweight, dbias]
Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  nat::Grads g = nat::batchnorm_backward(tensor_arg(info, 0), tensor_arg(info, 1), tensor_arg(info, 2), tensor_arg(info, 3));
  Napi::Array a = Napi::Array::New(info.Env(), 3);
  a.Set(0u, handle_value(info.Env(), std::move(g.dx)));
  a.Set(1u, handle_value(info.Env(), std::move(g.dw)));
  a.Set(2u, handle_value(info.Env(), std::move(g.db)));
  return a;
}

// ---- concat, split ------------------------------------------------------------------------------------

// concat(handles, axis)
Napi::Value Concat(const Napi::CallbackInfo& info) {
  Napi::Array hs = info[0].As<Napi::Array>();
  std::vector<Tensor*> xs;
  for (uint32_t i = 0; i < hs.Length(); ++i) xs.push_back(&nat::get(hs.Get(i).As<Napi::Number>().Int64Value()));
  return handle_value(info.Env(), nat::concat(xs, int_arg(info, 1)));
}

// split(x, axis, sizes) -> handles
Napi::Value Split(const Napi::CallbackInfo& info) {
  return handles_value(info.Env(), nat::split(tensor_arg(info, 0), int_arg(info, 1), dims_arg(info, 2)));
}

// ---- max ----------------------------------------------------------------------------------------------

// max(a, reduceFlags: boolean[], outShape), as Sum.
Napi::Value Max(const Napi::CallbackInfo& info) {
  Tensor& a = tensor_arg(info, 0);
  Napi::Array flags = info[1].As<Napi::Array>();
  std::vector<bool> reduce(a.dims.size(), false);
  for (uint32_t i = 0; i < flags.Length() && i < reduce.size(); ++i) reduce[i] = flags.Get(i).As<Napi::Boolean>().Value();
  Dims out_dims = dims_arg(info, 2);
  int64_t kept = 1;
  for (size_t d = 0; d < reduce.size(); ++d) kept *= reduce[d] ? 1 : a.dims[d];
  if (kept != nat::numel_of(out_dims)) throw nat::shape_error("max: output shape does not match the kept axes");
  TempBuf ta;
  const float* ap = nat::plain_data(a, ta);
  auto out = nat::new_plain(out_dims);
  nat::max_reduce(ap, a.dims, reduce, out->data);
  return handle_value(info.Env(), std::move(out));
}

}  // namespace api

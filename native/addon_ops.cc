// N-API entry points for the compute ops: argument unpacking and the choice of fast paths; the work itself
// is in the oneDNN files (conv_linear_onednn.cc, pool_relu_gemm_onednn.cc, conv_*.cc) and cpu_ops.cc (own
// loops). Shapes were checked in TypeScript (src/backend/shapes.ts); here only what memory safety needs.
#include <cstring>
#include <string>

#include "addon.h"
#include "cpu_ops.h"
#include "onednn_ops.h"

namespace api {

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

// dropout(x, p, seed, offset): the mask is a function of offset + the row-major index, so x is read
// row-major, in its own element type (bf16 activations stay bf16). The backward is the same call on dy.
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  Tensor& x = tensor_arg(info, 0);
  const double p = num_arg(info, 1);
  const auto seed = static_cast<uint32_t>(int_arg(info, 2));
  const auto offset = static_cast<uint64_t>(int_arg(info, 3));
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

// crossEntropy(logits, labels) -> [loss, probs]
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Tensor& logits = tensor_arg(info, 0);
  Napi::Int32Array labels = info[1].As<Napi::Int32Array>();
  if (logits.dims.size() != 2) throw nat::shape_error("crossEntropy: logits must be (N,K)");
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
    throw nat::shape_error("sgdUpdate: param, grad and velocity shapes differ");
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

// unary(op, a); op: 0 neg, 1 exp, 2 log, 3 sqrt (oneDNN eltwise, in a's layout)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const int64_t code = int_arg(info, 0);
  if (code < 0 || code > 3) throw std::invalid_argument("unary: unknown op code");
  Tensor& a = tensor_arg(info, 1);
  if (code == 3) return handle_value(info.Env(), nat::sqrt_forward(a));
  auto op = static_cast<nat::Unary>(code);
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
  if (a.dims.size() != 2 || b.dims.size() != 2) throw nat::shape_error("matmul needs 2-D operands");
  const int64_t m = ta_ ? a.dims[1] : a.dims[0], k = ta_ ? a.dims[0] : a.dims[1];
  const int64_t k2 = tb_ ? b.dims[1] : b.dims[0], n = tb_ ? b.dims[0] : b.dims[1];
  if (k != k2) throw nat::shape_error("matmul inner sizes differ");
  TempBuf tmp_a, tmp_b;
  const float* ap = nat::plain_data(a, tmp_a);
  const float* bp = nat::plain_data(b, tmp_b);
  auto out = nat::new_plain({m, n});
  nat::sgemm(ta_, tb_, m, n, k, ap, bp, out->data);
  return handle_value(info.Env(), std::move(out));
}

// transpose(a): (M,N) -> (N,M), row-major.
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Tensor& a = tensor_arg(info, 0);
  if (a.dims.size() != 2) throw nat::shape_error("transpose needs a 2-D tensor");
  TempBuf ta;
  const float* ap = nat::plain_data(a, ta);
  auto out = nat::new_plain({a.dims[1], a.dims[0]});
  nat::transpose(ap, a.dims[0], a.dims[1], out->data);
  return handle_value(info.Env(), std::move(out));
}

}  // namespace api

// N-API entry points for memory and configuration: create, fill, copy, read and free buffers, the pool and
// live-buffer counters, threads, conv algorithm, precision and the addon's info. Registered by addon.cc.
#include <algorithm>
#include <cstring>
#include <string>

#include "addon.h"
#include "onednn_ops.h"
#include "threads.h"

namespace api {

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

// fill(shape, value): a row-major buffer with every element set.
Napi::Value Fill(const Napi::CallbackInfo& info) {
  auto t = nat::new_plain(dims_arg(info, 0));
  std::fill(t->data, t->data + t->numel(), static_cast<float>(num_arg(info, 1)));
  return handle_value(info.Env(), std::move(t));
}

// copy(x): the same bytes in the same layout and element type.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Tensor& x = tensor_arg(info, 0);
  auto y = std::make_unique<Tensor>(x.dims, x.md);
  if (x.bytes > 0) std::memcpy(y->data, x.data, x.bytes);
  return handle_value(info.Env(), std::move(y));
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
  nat::set_user_threads(n);
  // oneDNN sizes some kernels and scratchpads for the thread count at creation time.
  nat::clear_primitive_cache();
  return info.Env().Undefined();
}

Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nat::user_threads()); }

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
  o.Set("threads", nat::user_threads());
  o.Set("cachedPrimitives", static_cast<double>(nat::primitive_cache_size()));
  o.Set("freshAllocations", static_cast<double>(nat::pool_fresh_allocations()));
  o.Set("pooledBytes", static_cast<double>(nat::pool_cached_bytes()));
  return o;
}

// reshape(x, shape): a row-major copy under the new shape (blocked layouts cannot be reinterpreted), in
// x's element type.
Napi::Value Reshape(const Napi::CallbackInfo& info) {
  Tensor& x = tensor_arg(info, 0);
  Dims dims = dims_arg(info, 1);
  if (nat::numel_of(dims) != x.numel()) throw nat::shape_error("reshape: element count differs");
  auto y = std::make_unique<Tensor>(dims, nat::plain_md(dims, x.dtype()));
  if (x.numel() > 0) nat::reorder(x.md, x.data, nat::plain_md(x.dims, x.dtype()), y->data);
  return handle_value(info.Env(), std::move(y));
}

}  // namespace api

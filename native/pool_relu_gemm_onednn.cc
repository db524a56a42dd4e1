// oneDNN 2.x: engine, layout conversion (reorder), the primitive cache and scratchpad, max pooling,
// ReLU and sgemm. Convolution and inner product are in conv_linear_onednn.cc.
#include "onednn_internal.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace nat {

using namespace v2;

// ---- engine and stream --------------------------------------------------------------------------------

dnnl::engine& engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

namespace v2 {

std::string dims_key(const Dims& dims) {
  std::string k;
  for (int64_t d : dims) k += std::to_string(d) + ",";
  return k;
}

std::string md_key(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  std::string k = std::to_string(d.ndims) + "t" + std::to_string(d.data_type) + "f" + std::to_string(d.format_kind) + "[";
  for (int i = 0; i < d.ndims; ++i) {
    k += std::to_string(d.dims[i]) + "/" + std::to_string(d.padded_dims[i]) + "/" +
         std::to_string(d.padded_offsets[i]) + ",";
  }
  k += "]o" + std::to_string(d.offset0);
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    k += "s";
    for (int i = 0; i < d.ndims; ++i) k += std::to_string(b.strides[i]) + ",";
    k += "b";
    for (int i = 0; i < b.inner_nblks; ++i) k += std::to_string(b.inner_blks[i]) + ":" + std::to_string(b.inner_idxs[i]) + ",";
  }
  k += "x" + std::to_string(d.extra.flags);
  return k;
}

bool md_is_plain(const memory::desc& md, const Dims& dims) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.format_kind != dnnl_blocked || d.data_type != dnnl_f32 || d.offset0 != 0 || d.extra.flags != 0) return false;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  if (b.inner_nblks != 0) return false;
  Dims logical = dims.empty() ? Dims{1} : dims;
  if (d.ndims != static_cast<int>(logical.size())) return false;
  int64_t stride = 1;
  for (int i = d.ndims - 1; i >= 0; --i) {
    if (d.dims[i] != logical[i] || d.padded_dims[i] != logical[i]) return false;
    if (logical[i] != 1 && b.strides[i] != stride) return false;
    stride *= logical[i];
  }
  return true;
}

// ---- scratchpad and cache ---------------------------------------------------------------------------

namespace {
void* scratch_ptr = nullptr;
size_t scratch_bytes = 0;
}  // namespace

dnnl::primitive_attr scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory scratchpad(const memory::desc& md) {
  size_t need = md.get_size();
  if (need > scratch_bytes) {
    std::free(scratch_ptr);
    scratch_ptr = std::aligned_alloc(64, (need + 63) / 64 * 64);
    if (scratch_ptr == nullptr) {
      scratch_bytes = 0;
      throw std::bad_alloc();
    }
    scratch_bytes = need;
  }
  return memory(md, engine(), scratch_ptr);
}

void scratchpad_release() {
  std::free(scratch_ptr);
  scratch_ptr = nullptr;
  scratch_bytes = 0;
}

std::unordered_map<std::string, std::shared_ptr<void>>& primitive_cache() {
  static std::unordered_map<std::string, std::shared_ptr<void>> cache;
  return cache;
}

void run(const dnnl::primitive& p, const std::unordered_map<int, memory>& args) {
  p.execute(stream(), args);
  stream().wait();
}

}  // namespace v2

void clear_primitive_cache() {
  primitive_cache().clear();
  scratchpad_release();
}

size_t primitive_cache_size() { return primitive_cache().size(); }

// ---- layouts ----------------------------------------------------------------------------------------

memory::desc plain_md(const Dims& dims, dt type) {
  Dims d = dims.empty() ? Dims{1} : dims;
  Dims strides(d.size());
  int64_t s = 1;
  for (size_t i = d.size(); i-- > 0;) {
    strides[i] = s;
    s *= d[i];
  }
  return memory::desc(d, type, strides);
}

bool is_plain(const Tensor& t) { return md_is_plain(t.md, t.dims); }

std::unique_ptr<Tensor> new_plain(const Dims& dims) { return std::make_unique<Tensor>(dims, plain_md(dims)); }

namespace {
double reorder_seconds = 0;
}  // namespace

double conversion_seconds() { return reorder_seconds; }

void reorder(const memory::desc& smd, const void* src, const memory::desc& dmd, void* dst) {
  const auto t0 = std::chrono::steady_clock::now();
  struct Timer {
    std::chrono::steady_clock::time_point t0;
    ~Timer() { reorder_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  } timer{t0};
  if (smd == dmd) {
    std::memcpy(dst, src, smd.get_size());
    return;
  }
  // Its own thread count (threads.h): a reorder inside a small op may convert a large tensor, and the
  // same cached reorder serves every op that needs it.
  OpThreads threads(threads_for(cost::kElement * static_cast<double>(smd.get_size() + dmd.get_size()) / sizeof(float)));
  auto prim = cached<dnnl::reorder>("reorder|" + md_key(smd) + "|" + md_key(dmd), [&] {
    return std::make_shared<dnnl::reorder>(dnnl::reorder::primitive_desc(engine(), smd, engine(), dmd));
  });
  run(*prim, {{DNNL_ARG_FROM, mem(smd, src)}, {DNNL_ARG_TO, mem(dmd, dst)}});
}

const float* in_layout(Tensor& t, const memory::desc& md, bool adopt, TempBuf& tmp) {
  if (t.md == md) return t.data;
  if (md_is_plain(md, t.dims) && is_plain(t)) return t.data;  // same bytes, strides of size-1 dims differ
  size_t bytes = md.get_size();
  if (!adopt) {
    float* p = tmp.reset(bytes);
    reorder(t.md, t.data, md, p);
    return p;
  }
  float* p = static_cast<float*>(pool_alloc(bytes));
  try {
    reorder(t.md, t.data, md, p);
  } catch (...) {
    pool_free(p, bytes);
    throw;
  }
  t.replace(md, p, bytes);
  return t.data;
}

const float* plain_data(Tensor& t, TempBuf& tmp) {
  if (is_plain(t)) return t.data;
  return in_layout(t, plain_md(t.dims), false, tmp);
}

// ---- precision ------------------------------------------------------------------------------------

namespace {
Precision current_precision = Precision::F32;
}  // namespace

void set_precision(Precision p) { current_precision = p; }
Precision precision() { return current_precision; }

std::string cpu_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

std::string bf16_support() {
  const std::string isa = cpu_isa();
  if (isa == "avx512_core_bf16" || isa == "avx512_core_amx") return "native";
  // oneDNN 2.6 has bf16 convolution kernels for AVX-512 CPUs only (emulating the bf16 dot product);
  // below that only its reference loops remain, hundreds of times slower than fp32.
  if (isa == "avx512_core" || isa == "avx512_core_vnni") return "emulated";
  return "unsupported";
}

namespace v2 {

dt compute_dt() { return current_precision == Precision::Bf16 ? dt::bf16 : dt::f32; }
std::string precision_key() { return current_precision == Precision::Bf16 ? "|bf16" : "|f32"; }

const void* weights_in(Tensor& w, const memory::desc& md, bool adopt, TempBuf& tmp) {
  if (md.data_type() == w.dtype()) return in_layout(w, md, adopt, tmp);
  for (Tensor::Cast& c : w.casts) {
    if (c.copy->md != md) continue;
    if (c.version != w.version) {
      reorder(w.md, w.data, md, c.copy->data);
      c.version = w.version;
    }
    return c.copy->data;
  }
  auto copy = std::make_unique<Tensor>(w.dims, md);
  reorder(w.md, w.data, md, copy->data);
  w.casts.push_back(Tensor::Cast{std::move(copy), w.version});
  return w.casts.back().copy->data;
}

const void* activation_in(Tensor& x, const memory::desc& md, TempBuf& tmp) {
  // bf16 -> f32 is exact, so widening may be adopted too; narrowing would round the caller's values.
  const bool lossless = md.data_type() == x.dtype() || (x.dtype() == dt::bf16 && md.data_type() == dt::f32);
  return in_layout(x, md, lossless, tmp);
}

}  // namespace v2

// ---- matmul -----------------------------------------------------------------------------------------

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::memset(c, 0, sizeof(float) * m * n);
    return;
  }
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.0f, a, trans_a ? m : k, b,
                              trans_b ? k : n, 0.0f, c, n);
  if (st != dnnl_success) throw std::runtime_error("oneDNN sgemm failed (status " + std::to_string(st) + ")");
}

// ---- max pooling --------------------------------------------------------------------------------------

namespace {

using PoolEntry = ForwardBackward<dnnl::pooling_forward, dnnl::pooling_backward>;

}  // namespace

std::unique_ptr<Tensor> maxpool_forward(Tensor& x, const PoolParams& p, std::unique_ptr<Tensor>& workspace) {
  if (x.dims.size() != 4) throw nat::shape_error("maxPool2d: x must be (N,C,H,W)");
  // x is (N,C,H,W); y is (N,C,OH,OW) in the layout oneDNN picks for x's layout (nChw16c stays nChw16c).
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
  const int64_t oh = (h + 2 * p.ph - p.kh) / p.sh + 1, ow = (w + 2 * p.pw - p.kw) / p.sw + 1;
  if (oh <= 0 || ow <= 0) throw std::invalid_argument("maxPool2d: window larger than the padded input");
  std::string key = "pool|" + md_key(x.md) + "|" + dims_key({p.kh, p.kw, p.sh, p.sw, p.ph, p.pw});
  auto e = cached<PoolEntry>(key, [&] {
    auto entry = std::make_shared<PoolEntry>();
    memory::desc dst({n, c, oh, ow}, x.dtype(), tag::any);
    dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max, x.md, dst,
                                  {p.sh, p.sw}, {p.kh, p.kw}, {p.ph, p.pw},
                                  {pool_right_pad(h, oh, p.kh, p.sh, p.ph), pool_right_pad(w, ow, p.kw, p.sw, p.pw)});
    entry->fwd_pd = dnnl::pooling_forward::primitive_desc(d, scratchpad_attr(), engine());
    entry->fwd = dnnl::pooling_forward(entry->fwd_pd);
    return entry;
  });
  auto y = std::make_unique<Tensor>(Dims{n, c, oh, ow}, e->fwd_pd.dst_desc());
  workspace = std::make_unique<Tensor>(Dims{static_cast<int64_t>(e->fwd_pd.workspace_desc().get_size())},
                                       e->fwd_pd.workspace_desc());
  workspace->aux = e;  // the backward needs this exact forward pd as its hint
  run(e->fwd, {{DNNL_ARG_SRC, mem(x.md, x.data)},
               {DNNL_ARG_DST, mem(y->md, y->data)},
               {DNNL_ARG_WORKSPACE, mem(workspace->md, workspace->data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->fwd_pd.scratchpad_desc())}});
  return y;
}

std::unique_ptr<Tensor> maxpool_backward(Tensor& dy, Tensor& x, Tensor& workspace, const PoolParams& p) {
  auto e = std::static_pointer_cast<PoolEntry>(workspace.aux);
  if (!e) throw std::invalid_argument("maxPool2dBackward: the context does not come from maxPool2d");
  // dy is (N,C,OH,OW) -> dx (N,C,H,W) in the layout x had in the forward. Only the workspace is read,
  // x's values are not needed.
  // The forward's entry lives on in the workspace, also past a SetThreads that emptied the cache: the
  // backward primitive is remade when the thread count it was made for is no longer the current one.
  if (!e->has_bwd || e->bwd_threads != omp_get_max_threads()) {
    const auto& fwd = e->fwd_pd;
    const int64_t h = x.dims[2], w = x.dims[3], oh = dy.dims[2], ow = dy.dims[3];
    dnnl::pooling_backward::desc d(dnnl::algorithm::pooling_max, fwd.src_desc(), fwd.dst_desc(), {p.sh, p.sw},
                                   {p.kh, p.kw}, {p.ph, p.pw},
                                   {pool_right_pad(h, oh, p.kh, p.sh, p.ph), pool_right_pad(w, ow, p.kw, p.sw, p.pw)});
    e->bwd_pd = dnnl::pooling_backward::primitive_desc(d, scratchpad_attr(), engine(), fwd);
    e->bwd = dnnl::pooling_backward(e->bwd_pd);
    e->has_bwd = true;
    e->bwd_threads = omp_get_max_threads();
  }
  TempBuf tdy;
  const float* dyp = in_layout(dy, e->bwd_pd.diff_dst_desc(), true, tdy);
  auto dx = std::make_unique<Tensor>(x.dims, e->bwd_pd.diff_src_desc());
  run(e->bwd, {{DNNL_ARG_DIFF_DST, mem(e->bwd_pd.diff_dst_desc(), dyp)},
               {DNNL_ARG_DIFF_SRC, mem(dx->md, dx->data)},
               {DNNL_ARG_WORKSPACE, mem(workspace.md, workspace.data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->bwd_pd.scratchpad_desc())}});
  return dx;
}

// ---- ReLU -------------------------------------------------------------------------------------------

namespace {

using ReluEntry = ForwardBackward<dnnl::eltwise_forward, dnnl::eltwise_backward>;

// The "use dst" flavour lets the backward read y instead of x, which is what the interface hands us.
std::shared_ptr<ReluEntry> relu_entry(const memory::desc& md) {
  return cached<ReluEntry>("relu|" + md_key(md), [&] {
    auto e = std::make_shared<ReluEntry>();
    dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd,
                                  md, 0.0f, 0.0f);
    e->fwd_pd = dnnl::eltwise_forward::primitive_desc(d, scratchpad_attr(), engine());
    e->fwd = dnnl::eltwise_forward(e->fwd_pd);
    return e;
  });
}

}  // namespace

std::unique_ptr<Tensor> relu_forward(Tensor& x) {
  // x is any shape and layout; y gets x's layout.
  auto e = relu_entry(x.md);
  auto y = std::make_unique<Tensor>(x.dims, x.md);
  run(e->fwd, {{DNNL_ARG_SRC, mem(x.md, x.data)},
               {DNNL_ARG_DST, mem(y->md, y->data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->fwd_pd.scratchpad_desc())}});
  return y;
}

std::unique_ptr<Tensor> relu_backward(Tensor& dy, Tensor& y) {
  // dy and y have the same logical shape; dx gets y's layout.
  auto e = relu_entry(y.md);
  if (!e->has_bwd) {
    dnnl::eltwise_backward::desc d(dnnl::algorithm::eltwise_relu_use_dst_for_bwd, y.md, y.md, 0.0f, 0.0f);
    e->bwd_pd = dnnl::eltwise_backward::primitive_desc(d, scratchpad_attr(), engine(), e->fwd_pd);
    e->bwd = dnnl::eltwise_backward(e->bwd_pd);
    e->has_bwd = true;
  }
  TempBuf tdy;
  const float* dyp = in_layout(dy, y.md, true, tdy);
  auto dx = std::make_unique<Tensor>(y.dims, y.md);
  run(e->bwd, {{DNNL_ARG_DST, mem(y.md, y.data)},
               {DNNL_ARG_DIFF_DST, mem(y.md, dyp)},
               {DNNL_ARG_DIFF_SRC, mem(dx->md, dx->data)},
               {DNNL_ARG_SCRATCHPAD, scratchpad(e->bwd_pd.scratchpad_desc())}});
  return dx;
}

}  // namespace nat

// Pool, tensor lifetime and handle table of the native backend (see tensor.h).
#include "tensor.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace nat {

namespace {

std::multimap<size_t, void*> free_blocks;  // exact size -> cached block
size_t cached_bytes = 0;
int64_t fresh_allocations = 0;
size_t cache_limit = size_t(2) << 30;  // 2 GiB; ALEXNET_NATIVE_POOL_MB overrides (see addon.cc)

int64_t live_buffers = 0;
int64_t live_bytes = 0;
int64_t peak_bytes = 0;

std::unordered_map<int64_t, std::unique_ptr<Tensor>> table;
int64_t next_handle = 1;

size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

void* pool_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  auto it = free_blocks.find(bytes);
  if (it != free_blocks.end()) {
    void* p = it->second;
    free_blocks.erase(it);
    cached_bytes -= bytes;
    return p;
  }
  fresh_allocations += 1;
  void* p = std::aligned_alloc(64, round_up(bytes));
  if (p == nullptr) {
    // Memory is tight: give the cache back and try once more before failing.
    pool_trim();
    p = std::aligned_alloc(64, round_up(bytes));
    if (p == nullptr) throw std::bad_alloc();
  }
  return p;
}

void pool_free(void* p, size_t bytes) {
  if (p == nullptr) return;
  if (cached_bytes + bytes > cache_limit) {
    std::free(p);
    return;
  }
  free_blocks.emplace(bytes, p);
  cached_bytes += bytes;
}

void pool_trim() {
  for (auto& kv : free_blocks) std::free(kv.second);
  free_blocks.clear();
  cached_bytes = 0;
}

size_t pool_cached_bytes() { return cached_bytes; }

int64_t pool_fresh_allocations() { return fresh_allocations; }

void pool_set_limit(size_t bytes) {
  cache_limit = bytes;
  if (cached_bytes > cache_limit) pool_trim();
}

TempBuf::~TempBuf() { pool_free(p_, bytes_); }

float* TempBuf::reset(size_t bytes) {
  pool_free(p_, bytes_);
  p_ = nullptr;
  bytes_ = 0;
  p_ = static_cast<float*>(pool_alloc(bytes));
  bytes_ = bytes;
  return p_;
}

int64_t numel_of(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

Tensor::Tensor(Dims d, const dnnl::memory::desc& m) : dims(std::move(d)), md(m) {
  bytes = md.get_size();
  data = static_cast<float*>(pool_alloc(bytes));
  live_buffers += 1;
  live_bytes += static_cast<int64_t>(bytes);
  peak_bytes = std::max(peak_bytes, live_bytes);
}

Tensor::~Tensor() {
  pool_free(data, bytes);
  live_buffers -= 1;
  live_bytes -= static_cast<int64_t>(bytes);
}

int64_t Tensor::numel() const { return numel_of(dims); }

void Tensor::replace(const dnnl::memory::desc& new_md, float* new_data, size_t new_bytes) {
  pool_free(data, bytes);
  live_bytes += static_cast<int64_t>(new_bytes) - static_cast<int64_t>(bytes);
  peak_bytes = std::max(peak_bytes, live_bytes);
  md = new_md;
  data = new_data;
  bytes = new_bytes;
}

Stats stats() { return Stats{live_buffers, live_bytes, peak_bytes}; }

void reset_peak() { peak_bytes = live_bytes; }

int64_t put(std::unique_ptr<Tensor> t) {
  int64_t h = next_handle++;
  table.emplace(h, std::move(t));
  return h;
}

Tensor& get(int64_t handle) {
  auto it = table.find(handle);
  if (it == table.end()) throw std::invalid_argument("native backend: unknown or disposed buffer handle " + std::to_string(handle));
  return *it->second;
}

void drop(int64_t handle) { table.erase(handle); }

}  // namespace nat

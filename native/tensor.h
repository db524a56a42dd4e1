// Native buffers of the alexnet-ts CPU backend. A tensor is a logical shape, a oneDNN memory descriptor
// (its physical layout, e.g. blocked nChw16c, which the front end never sees) and bytes taken from a
// size-keyed pool. JavaScript holds integer handles; the handle table maps them to tensors, and the
// live counters behind memoryStats() are kept here. No oneDNN primitive is called from this file.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nat {

// A shape the TypeScript side should have refused: the rule and its user-facing message live in
// src/backend/shapes.ts; here the check only keeps memory safe.
inline std::invalid_argument shape_error(const std::string& what) {
  return std::invalid_argument(what + " (shape rules: src/backend/shapes.ts)");
}

using Dims = std::vector<int64_t>;

// ---- pooled bytes ---------------------------------------------------------------------------------
// A training loop asks for the same sizes every step; keeping freed blocks (by exact size) avoids the
// page faults a fresh 100 MB allocation pays on first touch. Blocks are 64-byte aligned (AVX-512 lines).
void* pool_alloc(size_t bytes);
void pool_free(void* p, size_t bytes);
// Gives every cached (free) block back to the system.
void pool_trim();
size_t pool_cached_bytes();
// How many blocks were ever taken from the system (not from the cache): flat across steady-state steps.
int64_t pool_fresh_allocations();
// Cached free bytes above this limit are released instead of kept.
void pool_set_limit(size_t bytes);

// Scratch bytes for the duration of one op; returned to the pool by the destructor.
class TempBuf {
 public:
  TempBuf() = default;
  ~TempBuf();
  TempBuf(const TempBuf&) = delete;
  TempBuf& operator=(const TempBuf&) = delete;
  float* reset(size_t bytes);
  float* data() const { return p_; }

 private:
  float* p_ = nullptr;
  size_t bytes_ = 0;
};

// ---- tensors --------------------------------------------------------------------------------------
struct Tensor {
  Dims dims;                  // logical shape; empty for a scalar
  dnnl::memory::desc md;      // physical layout; a scalar is described as dims {1}
  float* data = nullptr;      // md.get_size() bytes (the element type may differ for workspaces)
  size_t bytes = 0;
  std::shared_ptr<void> aux;  // what a backward op needs besides the bytes, e.g. the pooling forward pd
  // Bumped by every in-place write (the SGD update); a cast made from an older version is stale.
  uint64_t version = 0;
  // Copies of these values in other layouts or element types (bf16 weights for the forward and for the
  // data backward), each remade at most once per version: converted once per step, not once per use.
  struct Cast {
    std::unique_ptr<Tensor> copy;
    uint64_t version;
  };
  std::vector<Cast> casts;

  // Allocates md.get_size() uninitialised bytes and counts the tensor as live.
  Tensor(Dims dims, const dnnl::memory::desc& md);
  ~Tensor();
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  int64_t numel() const;
  dnnl::memory::data_type dtype() const { return md.data_type(); }
  // Swaps in a buffer holding the same logical values in another layout (from pool_alloc); frees the old.
  void replace(const dnnl::memory::desc& new_md, float* new_data, size_t new_bytes);
};

int64_t numel_of(const Dims& dims);

struct Stats {
  int64_t live_buffers;
  int64_t live_bytes;
  // Highest live_bytes since start or reset_peak() (tensors only; oneDNN's scratchpad is not counted).
  int64_t peak_bytes;
};
Stats stats();
void reset_peak();

// ---- handle table ---------------------------------------------------------------------------------
// Handles are never reused, so a stale handle fails loudly instead of touching another tensor.
int64_t put(std::unique_ptr<Tensor> t);
Tensor& get(int64_t handle);
void drop(int64_t handle);

}  // namespace nat

// Plain OpenMP loops for the ops without a oneDNN primitive (see cpu_ops.h). Arithmetic follows the
// reference backend (double intermediates, one rounding to float at the store) so that results match it
// to the last bit where the operations are the same.
#include "cpu_ops.h"

#include <algorithm>

#include <cstring>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace nat {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

// ---- cross-entropy ------------------------------------------------------------------------------------

float cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float* probs) {
  // logits is (n,k); loss = mean over rows of logsumexp(row) - row[label]
  for (int64_t r = 0; r < n; ++r) {
    if (labels[r] < 0 || labels[r] >= k) {
      throw std::invalid_argument("cross-entropy: label " + std::to_string(labels[r]) + " at row " + std::to_string(r) +
                                  " is outside [0, " + std::to_string(k) + ")");
    }
  }
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n * k >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits + r * k;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < k; ++j) mx = std::fmax(mx, static_cast<double>(row[j]));
    double sum_exp = 0;
    for (int64_t j = 0; j < k; ++j) sum_exp += std::exp(static_cast<double>(row[j]) - mx);
    const double lse = mx + std::log(sum_exp);
    for (int64_t j = 0; j < k; ++j) probs[r * k + j] = static_cast<float>(std::exp(static_cast<double>(row[j]) - lse));
    total += lse - static_cast<double>(row[labels[r]]);
  }
  return static_cast<float>(total / static_cast<double>(n));
}

void cross_entropy_backward(float dloss, const float* probs, const int32_t* labels, int64_t n, int64_t k, float* dlogits) {
  // dlogits (n,k) = dloss/n * (softmax - onehot)
  const double s = static_cast<double>(dloss) / static_cast<double>(n);
#pragma omp parallel for schedule(static) if (n * k >= kParallelMin)
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      const double onehot = j == labels[r] ? 1.0 : 0.0;
      dlogits[r * k + j] = static_cast<float>(s * (static_cast<double>(probs[r * k + j]) - onehot));
    }
  }
}

// ---- dropout ------------------------------------------------------------------------------------------

void dropout(const float* x, float* y, int64_t count, double p, uint32_t seed, uint64_t offset) {
  // The reference multiplies by a float32 mask holding 1/(1-p); a float product of the same two floats
  // rounds identically.
  const float scale = p < 1 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    y[i] = dropout_uniform(seed, offset + static_cast<uint64_t>(i)) >= p ? x[i] * scale : x[i] * 0.0f;
  }
}

namespace {

float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even, as oneDNN's conversions do; NaN stays NaN.
uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace

void dropout_bf16(const uint16_t* x, uint16_t* y, int64_t count, double p, uint32_t seed, uint64_t offset) {
  const float scale = p < 1 ? static_cast<float>(1.0 / (1.0 - p)) : 0.0f;
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const float v = bf16_to_float(x[i]);
    y[i] = float_to_bf16(dropout_uniform(seed, offset + static_cast<uint64_t>(i)) >= p ? v * scale : v * 0.0f);
  }
}

// ---- SGD ----------------------------------------------------------------------------------------------

void sgd_update(float* param, const float* grad, float* velocity, int64_t count, const Sgd& s, bool first_step) {
  // d = g + wd*w; v = momentum*v + (1-dampening)*d (v = d on the first step);
  // d = nesterov ? d + momentum*v : v; w -= lr*d   (torch.optim.SGD)
  const bool momentum = s.momentum != 0;
  if (momentum && velocity == nullptr) throw std::invalid_argument("sgdUpdate with momentum needs a velocity buffer");
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    double d = static_cast<double>(grad[i]) + s.weight_decay * static_cast<double>(param[i]);
    if (momentum) {
      const double v = first_step ? d : s.momentum * static_cast<double>(velocity[i]) + (1 - s.dampening) * d;
      velocity[i] = static_cast<float>(v);
      d = s.nesterov ? d + s.momentum * v : v;
    }
    param[i] = static_cast<float>(static_cast<double>(param[i]) - s.lr * d);
  }
}

// ---- element-wise ---------------------------------------------------------------------------------------

namespace {

template <class F>
void broadcast_apply(const float* a, const Dims& a_dims, const float* b, const Dims& b_dims, float* out,
                     const Dims& out_dims, F f) {
  const size_t rank = out_dims.size();
  // Strides of a and b over out's axes, 0 where an operand is broadcast.
  std::vector<int64_t> sa(rank, 0), sb(rank, 0);
  int64_t s = 1;
  for (size_t i = a_dims.size(); i-- > 0;) {
    sa[i + rank - a_dims.size()] = a_dims[i] == 1 ? 0 : s;
    s *= a_dims[i];
  }
  s = 1;
  for (size_t i = b_dims.size(); i-- > 0;) {
    sb[i + rank - b_dims.size()] = b_dims[i] == 1 ? 0 : s;
    s *= b_dims[i];
  }
  const int64_t inner = rank == 0 ? 1 : out_dims[rank - 1];
  const int64_t ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1];
  const int64_t rows = inner == 0 ? 0 : numel_of(out_dims) / inner;
#pragma omp parallel for schedule(static) if (rows * inner >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    // Offsets of this output row in a and b, from its coordinates over the outer axes.
    int64_t rem = r, oa = 0, ob = 0;
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      const int64_t c = rem % out_dims[d];
      rem /= out_dims[d];
      oa += c * sa[d];
      ob += c * sb[d];
    }
    float* o = out + r * inner;
    for (int64_t j = 0; j < inner; ++j) o[j] = f(a[oa + j * ia], b[ob + j * ib]);
  }
}

}  // namespace

void binary(Binary op, const float* a, const Dims& a_dims, const float* b, const Dims& b_dims, float* out,
            const Dims& out_dims) {
  switch (op) {
    case Binary::Add: return broadcast_apply(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x + y; });
    case Binary::Sub: return broadcast_apply(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x - y; });
    case Binary::Mul: return broadcast_apply(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x * y; });
    case Binary::Div: return broadcast_apply(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x / y; });
  }
}

void unary(Unary op, const float* a, float* out, int64_t count) {
  switch (op) {
    case Unary::Neg:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (int64_t i = 0; i < count; ++i) out[i] = -a[i];
      return;
    case Unary::Exp:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(std::exp(static_cast<double>(a[i])));
      return;
    case Unary::Log:
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(std::log(static_cast<double>(a[i])));
      return;
  }
}

void affine(const float* a, float* out, int64_t count, double alpha, double beta) {
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(static_cast<double>(a[i]) * alpha + beta);
}

// ---- sum ------------------------------------------------------------------------------------------------

void sum(const float* a, const Dims& dims, const std::vector<bool>& reduce, float* out) {
  const size_t rank = dims.size();
  const int64_t count = numel_of(dims);
  bool all = true;
  for (size_t d = 0; d < rank; ++d) all = all && reduce[d];
  if (all) {
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static) if (count >= kParallelMin)
    for (int64_t i = 0; i < count; ++i) acc += a[i];
    out[0] = static_cast<float>(acc);
    return;
  }
  // Stride of each input axis in the output (0 for reduced axes); accumulate in double, then round once.
  std::vector<int64_t> so(rank, 0);
  int64_t s = 1;
  for (size_t d = rank; d-- > 0;) {
    if (!reduce[d]) {
      so[d] = s;
      s *= dims[d];
    }
  }
  std::vector<double> acc(static_cast<size_t>(s), 0.0);
  std::vector<int64_t> coord(rank, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < count; ++i) {
    acc[static_cast<size_t>(o)] += a[i];
    for (size_t d = rank; d-- > 0;) {
      ++coord[d];
      o += so[d];
      if (coord[d] < dims[d]) break;
      o -= so[d] * dims[d];
      coord[d] = 0;
    }
  }
  for (int64_t j = 0; j < s; ++j) out[j] = static_cast<float>(acc[static_cast<size_t>(j)]);
}

// ---- max ------------------------------------------------------------------------------------------------

void max_reduce(const float* a, const Dims& dims, const std::vector<bool>& reduce, float* out) {
  // The same walk as sum; a NaN, once met, stays (v > NaN is false, so it is never replaced).
  const size_t rank = dims.size();
  const int64_t count = numel_of(dims);
  std::vector<int64_t> so(rank, 0);
  int64_t s = 1;
  for (size_t d = rank; d-- > 0;) {
    if (!reduce[d]) {
      so[d] = s;
      s *= dims[d];
    }
  }
  for (int64_t j = 0; j < s; ++j) out[j] = -std::numeric_limits<float>::infinity();
  std::vector<int64_t> coord(rank, 0);
  int64_t o = 0;
  for (int64_t i = 0; i < count; ++i) {
    const float v = a[i];
    if (v > out[o] || std::isnan(v)) {
      if (!std::isnan(out[o])) out[o] = v;
    }
    for (size_t d = rank; d-- > 0;) {
      ++coord[d];
      o += so[d];
      if (coord[d] < dims[d]) break;
      o -= so[d] * dims[d];
      coord[d] = 0;
    }
  }
}

// ---- transpose --------------------------------------------------------------------------------------

void transpose(const float* a, int64_t m, int64_t n, float* out) {
  // 32x32 blocks keep both the reads and the writes within a few cache lines.
  constexpr int64_t kBlock = 32;
#pragma omp parallel for collapse(2) schedule(static) if (m * n >= kParallelMin)
  for (int64_t i0 = 0; i0 < m; i0 += kBlock) {
    for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
      for (int64_t i = i0; i < std::min(i0 + kBlock, m); ++i)
        for (int64_t j = j0; j < std::min(j0 + kBlock, n); ++j) out[j * m + i] = a[i * n + j];
    }
  }
}

}  // namespace nat

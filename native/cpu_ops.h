// The ops oneDNN 2.6 has no primitive for (or none worth a primitive), as plain OpenMP loops over
// row-major fp32: cross-entropy, dropout, SGD, element-wise arithmetic with broadcasting, sums, maxima,
// transpose.
#pragma once

#include "tensor.h"

#include <cstdint>

namespace nat {

// The dropout hash of backend.ts (lowbias32 of seed and the row-major index), bit for bit.
inline double dropout_uniform(uint32_t seed, uint64_t index) {
  uint32_t h = static_cast<uint32_t>(index) * 0x9e3779b9u ^ seed;
  h ^= h >> 16;
  h *= 0x21f0aaadu;
  h ^= h >> 15;
  h *= 0x735a2d97u;
  h ^= h >> 15;
  return static_cast<double>(h) / 4294967296.0;
}

// logits (n,k) -> mean over rows of -log softmax[label]; probs (n,k) receives softmax for the backward.
float cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float* probs);
// dlogits (n,k) = dloss * (probs - onehot(labels)) / n.
void cross_entropy_backward(float dloss, const float* probs, const int32_t* labels, int64_t n, int64_t k, float* dlogits);

// y[i] = x[i] / (1-p) when dropout_uniform(seed, offset + i) >= p, else 0 (x and y row-major). The backward is
// the same map applied to dy, so it recomputes the mask instead of storing it.
void dropout(const float* x, float* y, int64_t count, double p, uint32_t seed, uint64_t offset);
// The same over bf16 values (mixed precision keeps activations bf16): computed in fp32, rounded back.
void dropout_bf16(const uint16_t* x, uint16_t* y, int64_t count, double p, uint32_t seed, uint64_t offset);

struct Sgd {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
};
// torch.optim.SGD's update in place over count raw elements (param, grad and velocity share a layout).
void sgd_update(float* param, const float* grad, float* velocity, int64_t count, const Sgd& s, bool first_step);

enum class Binary { Add, Sub, Mul, Div };
enum class Unary { Neg, Exp, Log };
// out (out_dims) = a op b with NumPy broadcasting; a, b and out row-major.
void binary(Binary op, const float* a, const Dims& a_dims, const float* b, const Dims& b_dims, float* out, const Dims& out_dims);
void unary(Unary op, const float* a, float* out, int64_t count);
void affine(const float* a, float* out, int64_t count, double alpha, double beta);
// Sums a (row-major, dims) over the axes flagged in reduce; out holds the kept axes in order.
void sum(const float* a, const Dims& dims, const std::vector<bool>& reduce, float* out);
// Maximum of a (row-major, dims) over the axes flagged in reduce, NaN propagating; out as for sum.
void max_reduce(const float* a, const Dims& dims, const std::vector<bool>& reduce, float* out);
// out (n,m) = a (m,n) transposed, row-major.
void transpose(const float* a, int64_t m, int64_t n, float* out);

}  // namespace nat

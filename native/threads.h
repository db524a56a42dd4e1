// How many OpenMP threads an op runs with. The user picks a count (SetThreads, --threads, OMP_NUM_THREADS);
// an op whose work is too small to pay for a parallel region runs on fewer, down to one. Every op runs
// inside an OpThreads scope (addon.cc, from the op's estimated work; reorders take their own in
// nat::reorder), which sets OpenMP's nthreads-var for the op's duration: oneDNN 2.6 with OpenMP sizes a
// primitive for omp_get_max_threads() when it is created (jit kernels fix their thread count and per-thread
// scratchpad then) and splits its work over omp_get_max_threads() when it runs, and our own
// `#pragma omp parallel` loops take the same count. Primitives are therefore cached per thread count
// (nat::v2::cached adds it to the key), so one is never run with more threads than it was made for.
//
// Why (issue 26.11, measured with bench/threads.ts on a 2-core AMD EPYC VM shared with other work): a
// small network's ops take microseconds to a millisecond (LeNet's sigmoid on 32x84 values, its 84->10
// linear layer); split over 2 threads they made a step up to ~1.6x faster while the other core was free,
// and lost milliseconds per op while it was not: an op whose second thread must first get a core waited for the scheduler,
// ~4 ms (one tick) per op with passive waiting, and the whole spin (~7.5 ms) with libgomp's default active
// one (src/backend/native/load.ts). LeNet, BN-LeNet and AlexNet at width 1/8 trained 2-10x slower on 2
// threads than on 1. An op now takes a second thread only for enough work per thread (kDefaultNsPerThread
// below: 1 ms then, 150 us since measured again), where AlexNet's layers (tens to hundreds of ms) keep both.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdlib>

namespace nat {

// The count the user asked for (OpenMP's default until SetThreads: OMP_NUM_THREADS or all cores).
inline int& user_threads_ref() {
  static int n = omp_get_max_threads();
  return n;
}
inline int user_threads() { return user_threads_ref(); }
inline void set_user_threads(int n) {
  user_threads_ref() = n;
  omp_set_num_threads(n);
}

// Estimated single-core nanoseconds of work per unit, for the thread choice only. Measured on one core of
// an AMD EPYC (Zen 5, AVX-512) through oneDNN 2.6: convolutions take 0.005 (AlexNet's conv2 by Winograd)
// to 0.03 ns (LeNet's 1-channel conv1) per multiply-add, inner products ~0.012; a sigmoid ~0.3 ns per
// element, a ReLU or copy less. Off by a few times either way only moves the size where an op's choice
// changes by as much.
namespace cost {
constexpr double kMac = 0.015;    // a multiply-add of a convolution, inner product or matmul
constexpr double kElement = 0.1;  // an element read or written once by an element-wise op, a pooling or a reorder
constexpr double kNorm = 1.0;     // an element of batch normalization (several passes over the data)
}  // namespace cost

// Estimated single-thread work each thread of an op must get: one thread per this many nanoseconds, so an
// op of under twice this runs on one thread. A 2-thread parallel region costs ~10 us when the other core is
// free (passive wait: a futex wake-up) and up to a scheduler tick (1-4 ms) when it is busy. Issue 26.11 set
// 1 ms per thread to bound that loss on a busy machine; measured again on a quiet one (bench/threads.js, 3
// alternated rounds, 2 threads: 1 ms against 150 us), 150 us trained LeNet at batch 256 at 24,778 examples/s
// against 17,118 (PyTorch 1.13: about 22,000), AlexNet-28 at width 1/8 at 2,085 against 1,967, the CLI's
// narrow training run with its loader at 1,940 against 1,781, and LeNet at batch 32 the same (14,393 and
// 13,909). The choice stays a pure function of the op's size, so a run's bytes do not depend on timing
// (a resumed run ends on the uninterrupted one's weights). ALEXNET_NATIVE_GRAIN_US overrides it (read once,
// when the addon loads; 1000 on a machine whose cores are busy with other work); 0 gives every op the
// user's count, as before issue 26.11.
constexpr double kDefaultNsPerThread = 1.5e5;
inline double ns_per_thread() {
  static const double ns = [] {
    const char* env = std::getenv("ALEXNET_NATIVE_GRAIN_US");
    if (env == nullptr || *env == '\0') return kDefaultNsPerThread;
    char* end = nullptr;
    const double us = std::strtod(env, &end);
    return end != env && *end == '\0' && us >= 0 ? us * 1e3 : kDefaultNsPerThread;
  }();
  return ns;
}

// The threads for an op of `ns` estimated single-thread nanoseconds: 1 .. user_threads().
inline int threads_for(double ns) {
  const int user = user_threads();
  const double grain = ns_per_thread();
  if (user <= 1) return 1;
  if (grain <= 0) return user;
  if (!(ns >= 2 * grain)) return 1;
  const double n = std::floor(ns / grain);
  return n >= user ? user : static_cast<int>(n);
}

// Sets OpenMP's thread count for a scope (an op, a reorder inside it) and restores the previous one.
class OpThreads {
 public:
  explicit OpThreads(int n) : saved_(omp_get_max_threads()) {
    if (n != saved_) omp_set_num_threads(n);
  }
  ~OpThreads() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  OpThreads(const OpThreads&) = delete;
  OpThreads& operator=(const OpThreads&) = delete;

 private:
  int saved_;
};

}  // namespace nat

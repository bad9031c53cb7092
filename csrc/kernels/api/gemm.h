// Dense convolution kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

namespace fmaconv {

template <typename T>
struct GemmKernels {
  // Register tile of the GEMM microkernel: MR output channels x NR output positions.
  int mr, nr;
  // C[0:mr_valid, 0:nr_valid] (+)= A[kc x MR packed] * B[kc rows, stride ldb, NR wide].
  // A and B are zero-padded to the full tile. first: C = bias + AB (bias may be null), else C += AB.
  void (*gemm)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc, int mr_valid,
               int nr_valid, const T* bias, bool first);
  // FMA throughput probe: runs `iters` rounds of independent vector FMAs; returns the flop count.
  double (*fma_probe)(int64_t iters);
};

}  // namespace fmaconv

// Dense convolution kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

namespace fmaconv {

// The direct-convolution tile kernel: acc[MR][NR] = bias + sum over k < kc of
// a[k*MR + i] * b[boff[k] + j], written to tile (MR x NR, row-major, 64-byte aligned).
// b + boff[k] + j must be readable for every j < NR (callers keep slack past their buffers).
template <typename T>
using ConvTileFn = void (*)(int64_t kc, const T* a, const T* b, const int64_t* boff, const T* bias, T* tile);

template <typename T>
struct ConvTile {
  int mr, nr;
  ConvTileFn<T> fn;
};

constexpr int kMaxConvTiles = 4;

template <typename T>
struct GemmKernels {
  // Register tile of the GEMM microkernel: MR output channels x NR output positions.
  int mr, nr;
  // C[0:mr_valid, 0:nr_valid] (+)= A[kc x MR packed] * B[kc rows, stride ldb, NR wide].
  // A and B are zero-padded to the full tile. first: C = bias + AB (bias may be null), else C += AB.
  void (*gemm)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc, int mr_valid,
               int nr_valid, const T* bias, bool first);
  // Direct-convolution tile kernels, in order of preference; n_tiles of them.
  int n_tiles;
  ConvTile<T> tiles[kMaxConvTiles];
  // FMA throughput probe: runs `iters` rounds of independent vector FMAs; returns the flop count.
  double (*fma_probe)(int64_t iters);
};

}  // namespace fmaconv

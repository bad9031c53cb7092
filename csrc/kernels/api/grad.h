// Gradient kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

namespace fmaconv {

// Dot-product tile for reductions along contiguous rows (the weight gradient's long sum over
// positions): c[i * ldc + j] += sum_{p < len} a[i * lda + p] * b[j * ldb + p], i < ma <= MA,
// j < nb <= NB. len is a multiple of GradKernels::vl; rows are vl-aligned and zero past the data.
// Each accumulator sums vl lanes, added up in a fixed order at the end (deterministic).
template <typename T>
using DotTileFn = void (*)(int64_t len, const T* a, int64_t lda, int ma, const T* b, int64_t ldb, int nb, T* c,
                           int64_t ldc);

template <typename T>
struct DotTile {
  int ma, nb;
  DotTileFn<T> fn;
};

constexpr int kMaxDotTiles = 10;

template <typename T>
struct GradKernels {
  int vl;  // vector length in elements
  int n_tiles;
  DotTile<T> tiles[kMaxDotTiles];
};

}  // namespace fmaconv

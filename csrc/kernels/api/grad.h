// Gradient kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

namespace fmaconv {

// Dot-product tile for reductions along contiguous rows (the weight gradient's long sum over
// positions), kept as vl lane sums: for i < ma <= MA, j < nb <= NB, l < vl,
//   c[(i * ldc + j) * vl + l] (+)= sum_{p < len, p % vl == l} a[i * lda + p] * b[j][p]  (= when first).
// len is a multiple of GradKernels::vl; a's rows and c are vl-aligned, b's rows need not be.
template <typename T>
using DotTileFn = void (*)(int64_t len, const T* a, int64_t lda, int ma, const T* const* b, int nb, T* c,
                           int64_t ldc, bool first);

template <typename T>
struct DotTile {
  int ma, nb;
  DotTileFn<T> fn;
};

constexpr int kMaxDotTiles = 10;

template <typename T>
struct GradKernels {
  int vl;  // vector length in elements
  // out[i] = sum over l < vl of lanes[i * vl + l] (lanes vl-aligned), in a fixed order.
  void (*lane_sums)(const T* lanes, int64_t n, T* out);
  int n_tiles;
  DotTile<T> tiles[kMaxDotTiles];
};

}  // namespace fmaconv

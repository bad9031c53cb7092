// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

template <typename T, int MA, int NB>
void dot_tile(int64_t len, const T* __restrict a, int64_t lda, int ma, const T* __restrict b, int64_t ldb, int nb,
              T* __restrict c, int64_t ldc) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VA __attribute__((vector_size(VB), may_alias));
  // Rows past ma / nb repeat the last valid one (computed, never stored): no branches inside.
  const T* ar[MA];
  const T* br[NB];
#pragma GCC unroll 32
  for (int i = 0; i < MA; ++i) ar[i] = a + (i < ma ? i : ma - 1) * lda;
#pragma GCC unroll 32
  for (int j = 0; j < NB; ++j) br[j] = b + (j < nb ? j : nb - 1) * ldb;
  V acc[MA][NB];
#pragma GCC unroll 32
  for (int i = 0; i < MA; ++i)
#pragma GCC unroll 32
    for (int j = 0; j < NB; ++j) acc[i][j] = V{};
  for (int64_t p = 0; p < len; p += VL) {
    // Hold the shorter side in registers, stream the longer one.
    if constexpr (MA <= NB) {
      V av[MA];
#pragma GCC unroll 32
      for (int i = 0; i < MA; ++i) av[i] = *(const VA*)(ar[i] + p);
#pragma GCC unroll 32
      for (int j = 0; j < NB; ++j) {
        const V bv = *(const VA*)(br[j] + p);
#pragma GCC unroll 32
        for (int i = 0; i < MA; ++i) acc[i][j] += av[i] * bv;
      }
    } else {
      V bv[NB];
#pragma GCC unroll 32
      for (int j = 0; j < NB; ++j) bv[j] = *(const VA*)(br[j] + p);
#pragma GCC unroll 32
      for (int i = 0; i < MA; ++i) {
        const V av = *(const VA*)(ar[i] + p);
#pragma GCC unroll 32
        for (int j = 0; j < NB; ++j) acc[i][j] += av * bv[j];
      }
    }
  }
  for (int i = 0; i < ma; ++i)
    for (int j = 0; j < nb; ++j) {
      alignas(VB) T lanes[VL];
      *(VA*)lanes = acc[i][j];
      // pairwise, fixed order
      for (int w = VL / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
      c[i * ldc + j] += lanes[0];
    }
}

template <typename T, int MA, int NB>
constexpr DotTile<T> dot_of() {
  return DotTile<T>{MA, NB, &dot_tile<T, MA, NB>};
}

template <typename T>
constexpr GradKernels<T> make_grad_kernels() {
  constexpr int VL = VB / (int)sizeof(T);
#if FMACONV_VEC_REGS >= 32
  return GradKernels<T>{VL, 9,
                        {dot_of<T, 4, 6>(), dot_of<T, 6, 4>(), dot_of<T, 3, 8>(), dot_of<T, 8, 3>(),
                         dot_of<T, 2, 12>(), dot_of<T, 12, 2>(), dot_of<T, 1, 16>(), dot_of<T, 1, 9>(),
                         dot_of<T, 5, 5>()}};
#else
  return GradKernels<T>{VL, 8,
                        {dot_of<T, 3, 4>(), dot_of<T, 4, 3>(), dot_of<T, 2, 6>(), dot_of<T, 6, 2>(),
                         dot_of<T, 1, 12>(), dot_of<T, 1, 9>(), dot_of<T, 2, 5>(), dot_of<T, 5, 2>()}};
#endif
}

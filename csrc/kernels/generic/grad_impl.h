// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

template <typename T, int MA, int NB>
void dot_tile(int64_t len, const T* __restrict a, int64_t lda, int ma, const T* const* __restrict b, int nb,
              T* __restrict c, int64_t ldc, bool first) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VA __attribute__((vector_size(VB), may_alias));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  // Rows past ma / nb repeat the last valid one (computed, never stored): no branches inside.
  const T* ar[MA];
  const T* br[NB];
#pragma GCC unroll 32
  for (int i = 0; i < MA; ++i) ar[i] = a + (i < ma ? i : ma - 1) * lda;
#pragma GCC unroll 32
  for (int j = 0; j < NB; ++j) br[j] = b[j < nb ? j : nb - 1];
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
        const V bv = *(const VU*)(br[j] + p);
#pragma GCC unroll 32
        for (int i = 0; i < MA; ++i) acc[i][j] += av[i] * bv;
      }
    } else {
      V bv[NB];
#pragma GCC unroll 32
      for (int j = 0; j < NB; ++j) bv[j] = *(const VU*)(br[j] + p);
#pragma GCC unroll 32
      for (int i = 0; i < MA; ++i) {
        const V av = *(const VA*)(ar[i] + p);
#pragma GCC unroll 32
        for (int j = 0; j < NB; ++j) acc[i][j] += av * bv[j];
      }
    }
  }
  // Lane sums stay vectors: the caller adds the lanes up once, after the last chunk.
  if (ma == MA && nb == NB) {
#pragma GCC unroll 32
    for (int i = 0; i < MA; ++i)
#pragma GCC unroll 32
      for (int j = 0; j < NB; ++j) {
        VA* cv = (VA*)(c + (i * ldc + j) * VL);
        *cv = first ? acc[i][j] : *cv + acc[i][j];
      }
    return;
  }
  for (int i = 0; i < ma; ++i)
    for (int j = 0; j < nb; ++j) {
      VA* cv = (VA*)(c + (i * ldc + j) * VL);
      *cv = first ? acc[i][j] : *cv + acc[i][j];
    }
}

template <int Bytes>
struct LaneIndex;
template <>
struct LaneIndex<4> {
  typedef int32_t type;
};
template <>
struct LaneIndex<8> {
  typedef int64_t type;
};

// out[i] = the vl lanes of lanes[i * vl ...] added up (a fixed tree of adjacent pairs): groups of
// vl rows are reduced together by shuffles, one vector add per row.
template <typename T>
void lane_sums(const T* __restrict lanes, int64_t n, T* __restrict out) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VA __attribute__((vector_size(VB), may_alias));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef typename LaneIndex<sizeof(T)>::type I;
  typedef I VK __attribute__((vector_size(VB)));
  VK me, mo;
  for (int l = 0; l < VL; ++l) {
    me[l] = (I)(2 * l);
    mo[l] = (I)(2 * l + 1);
  }
  int64_t i0 = 0;
  for (; i0 + VL <= n; i0 += VL) {
    V acc[VL];
#pragma GCC unroll 64
    for (int q = 0; q < VL; ++q) acc[q] = *(const VA*)(lanes + (i0 + q) * VL);
#pragma GCC unroll 8
    for (int w = VL; w > 1; w /= 2)
#pragma GCC unroll 64
      for (int q = 0; q < w / 2; ++q)
        acc[q] = __builtin_shuffle(acc[2 * q], acc[2 * q + 1], me) + __builtin_shuffle(acc[2 * q], acc[2 * q + 1], mo);
    *(VU*)(out + i0) = acc[0];
  }
  // the last rows: the same tree with zero lanes for the missing rows
  if (i0 < n) {
    V acc[VL];
#pragma GCC unroll 64
    for (int q = 0; q < VL; ++q) acc[q] = i0 + q < n ? *(const VA*)(lanes + (i0 + q) * VL) : V{};
#pragma GCC unroll 8
    for (int w = VL; w > 1; w /= 2)
#pragma GCC unroll 64
      for (int q = 0; q < w / 2; ++q)
        acc[q] = __builtin_shuffle(acc[2 * q], acc[2 * q + 1], me) + __builtin_shuffle(acc[2 * q], acc[2 * q + 1], mo);
    alignas(VB) T tmp[VL];
    *(VA*)tmp = acc[0];
    for (int64_t q = 0; i0 + q < n; ++q) out[i0 + q] = tmp[q];
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
  return GradKernels<T>{VL, &lane_sums<T>, 9,
                        {dot_of<T, 4, 6>(), dot_of<T, 6, 4>(), dot_of<T, 3, 8>(), dot_of<T, 8, 3>(),
                         dot_of<T, 2, 12>(), dot_of<T, 12, 2>(), dot_of<T, 1, 16>(), dot_of<T, 1, 9>(),
                         dot_of<T, 5, 5>()}};
#else
  return GradKernels<T>{VL, &lane_sums<T>, 8,
                        {dot_of<T, 3, 4>(), dot_of<T, 4, 3>(), dot_of<T, 2, 6>(), dot_of<T, 6, 2>(),
                         dot_of<T, 1, 12>(), dot_of<T, 1, 9>(), dot_of<T, 2, 5>(), dot_of<T, 5, 2>()}};
#endif
}

// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

constexpr int VB = FMACONV_VEC_BYTES;

// Output columns [lo, hi) whose tap ow*s + off lands inside [0, W).
inline void valid_cols(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t* lo, int64_t* hi) {
  int64_t l = max64(0, ceil_div(-off, s));
  int64_t h = min64(OW, ceil_div(W - off, s));
  *lo = min64(l, OW);
  *hi = max64(h, *lo);
}

// Kernel taps [j0, j1) that land inside [0, W) for at least one output column: tap j reads
// column o*s + j*d - p. Keeps huge padded kernels from looping over taps that read nothing.
inline void live_taps(int64_t K, int64_t d, int64_t p, int64_t s, int64_t W, int64_t OW, int64_t* j0, int64_t* j1) {
  *j0 = max64(0, ceil_div(p - (OW - 1) * s, d));
  *j1 = min64(K, ceil_div(W + p, d));
}

// Stores the first n (< lanes) elements of v to y: a masked store with AVX-512, else element
// by element.
template <typename T, typename V>
inline void store_part(T* __restrict y, V v, int64_t n) {
#if defined(__AVX512F__)
  // the builtins behind _mm512_mask_storeu_ps/pd (this header cannot include immintrin.h)
  if constexpr (sizeof(V) == 64) {
    const unsigned m = (1u << n) - 1u;
    if constexpr (sizeof(T) == 4) {
      typedef float V16 __attribute__((vector_size(64)));
      __builtin_ia32_storeups512_mask((float*)y, (V16)v, (unsigned short)m);
    } else {
      typedef double V8 __attribute__((vector_size(64)));
      __builtin_ia32_storeupd512_mask((double*)y, (V8)v, (unsigned char)m);
    }
    return;
  }
#endif
  constexpr int L = (int)(sizeof(V) / sizeof(T));
  T tmp[L];
  typedef T VU __attribute__((vector_size(sizeof(V)), aligned(sizeof(T)), may_alias));
  *(VU*)tmp = v;
  for (int64_t i = 0; i < n; ++i) y[i] = tmp[i];
}

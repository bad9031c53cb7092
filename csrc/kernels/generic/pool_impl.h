// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
//
// Pooling, row-first (see kernels/api/pool.h), NCHW with no reorder pass. Per output row (one
// (plane, od, oh)), the window's live input rows (from a per-call window-row table) are reduced
// column by column with full-width vector max/add into "cells": cell q holds input column q - pw,
// cells outside [0, W) hold the padding value (-inf or 0), so padding and the ceil_mode overhang
// need no branches. The kw taps then read cell ow*s + j*d along the output width:
//  - AVX-512, strides 1 and 2, every tap shift below a vector (the common kernels): fused in
//    registers. Cell chunk q+1 (stride 2: its even/odd phases, split with permutes) is reduced
//    right before output chunk q, whose taps are permutes of two registers; edge chunks come
//    from the nearest in-bounds vector through a permute that brings in the padding value.
//  - otherwise: the cells go through an aligned row buffer (de-interleaved into stride phases for
//    strides > 1) and the taps are vector loads at constant offsets (AVX-512: aligned loads and a
//    permute; other sets, where run-time two-source permutes are expanded lane by lane:
//    unaligned loads).
// Stride-1 rows (AVX-512 fused kernels): consecutive output rows are done in pairs, the window
// rows they share reduced once per cell chunk (fused_pair).
// Windows that tile the input (kernel = stride, no padding; pool_is_tiled) skip the cells: each
// segment of output rows reduces its input rows kw at a time as one contiguous run, then kd * kh
// rows of that per output row (tiled_pool_k).
// Row and tap counts up to 3 are compile-time constants. Average pooling multiplies by a
// per-column reciprocal of the divisor (count_include_pad / divisor_override handled per column
// and per row factor once), so it is within an ulp of PyTorch's quotient, and sums rows then
// columns (PyTorch sums in window order): results match to allclose, not bit for bit.
//
// Max-pool indices: PyTorch scans each window in (depth, row, column) order and takes v when
// v > best or isnan(v): the result is the first maximum, or the LAST NaN. Flat in-plane offsets
// grow with that scan order, so the result is the maximum of (value, offset) pairs under the
// total order: NaN above everything (larger offset wins among NaNs), then value, then smaller
// offset on ties. That order does not depend on the visiting order, so rows can be reduced first
// and columns after. Padding cells are (-inf, KEY_MAX): they never win a tie. A window whose
// maximum is -inf keeps PyTorch's initial index (first tap at or after 0 on each axis).
// Keys are int32 for float (int64 for double), widened to int64 on the store; float planes of
// 2**31 - 1 elements or more, and windows far wider than the input, use a plain scan in
// PyTorch's order instead. The tap pass compares (greater, or equal with a smaller key) and
// redoes a chunk in the full order only when one of its taps is NaN. Windows with one live row
// need no keys at all: their taps come in scan order, so PyTorch's rule applies directly.
#pragma once

// First tap index >= 0 of a window starting at `start` (PyTorch's initial argmax position).
inline int64_t first_tap(int64_t start, int64_t d) { return start < 0 ? start + ceil_div(-start, d) * d : start; }

template <typename T>
struct PoolKey;
template <>
struct PoolKey<float> {
  typedef int32_t type;
  typedef uint32_t utype;
  static constexpr int64_t max = 0x7fffffff;
};
template <>
struct PoolKey<double> {
  typedef int64_t type;
  typedef uint64_t utype;
  static constexpr int64_t max = 0x7fffffffffffffffLL;
};

template <typename T>
struct PV {
  static constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef typename PoolKey<T>::type K;
  typedef K VK __attribute__((vector_size(VB)));
};

// Unaligned vector of E (typed, so stores into value buffers are known not to touch the plan's
// pointers and offsets).
template <typename E>
struct VT {
  typedef E U __attribute__((vector_size(VB), aligned(sizeof(E))));
};
template <typename V, typename E>
inline V pld(const E* p) {
  return (V) * (const typename VT<E>::U*)p;
}
template <typename V, typename E>
inline void pst(E* p, const V& v) {
  *(typename VT<E>::U*)p = (typename VT<E>::U)v;
}

template <int N>
struct IC {
  static constexpr int value = N;
};

// max(a, b) where a NaN in either propagates; a (the earlier in scan order) wins ties, so the
// first of +0 and -0 is kept, as in PyTorch.
template <typename V>
inline V vmax_nan(V a, V b) {
  const V m = (b > a) ? b : a;  // maxps: a when unordered, so only b's NaN needs the blend
  return (b != b) ? b : m;
}
// max(a, b) without NaN propagation (maxps): the fast max paths check for NaN on the side.
// a wins ties, as in vmax_nan.
template <typename V>
inline __attribute__((always_inline)) V pmax(V a, V b) {
  return b > a ? b : a;
}
// One reduction step of a window: the sum (AVG), else the maximum, NaN-propagating (NANP) or
// plain (the caller checks for NaN on the side); a, the earlier operand, wins ties.
template <bool AVG, bool NANP, typename V>
inline __attribute__((always_inline)) V pool_red(V a, V b) {
  if constexpr (AVG)
    return a + b;
  else if constexpr (NANP)
    return vmax_nan(a, b);
  else
    return pmax(a, b);
}
template <typename T>
inline T smax_nan(T a, T b) {
  return (b > a || b != b) ? b : a;
}

// Does (v, vk) beat (b, bk) in the index order above (vector lanes or scalars)?
template <typename V, typename VK>
inline VK vbeats(V v, VK vk, V b, VK bk) {
  const VK vn = v != v, bn = b != b;
  return (v > b) | (vn & (~bn | (vk > bk))) | ((v == b) & (vk < bk));
}
template <typename T, typename K>
inline bool sbeats(T v, K vk, T b, K bk) {
  const bool vn = v != v, bn = b != b;
  return (v > b) || (vn && (!bn || vk > bk)) || (v == b && vk < bk);
}

inline char* align64(void* p) { return (char*)(((uintptr_t)p + 63) & ~(uintptr_t)63); }
template <typename E>
inline E* carve(char*& sp, int64_t n) {
  E* r = (E*)sp;
  sp += ((int64_t)sizeof(E) * n + 63) / 64 * 64;
  return r;
}

// Runs f(c) for vector chunks c covering [0, n): the last chunk overlaps the one before (same
// values written twice) instead of a scalar tail. Needs n >= VL.
template <int VL, typename F>
inline void for_chunks(int64_t n, const F& f) {
  for (int64_t c = 0;; c += VL) {
    if (c + VL > n) c = n - VL;
    f(c);
    if (c + VL >= n) break;
  }
}

// ---- row passes: reduce n rows column-wise into out[0, W) ----------------------------------

template <typename T>
void rows_max(const T* const* rows, int64_t n, int64_t W, T* __restrict out) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  if (n == 0) {
    for (int64_t i = 0; i < W; ++i) out[i] = -__builtin_inf();
    return;
  }
  if (W >= VL) {
    for_chunks<VL>(W, [&](int64_t i) {
      V a = pld<V>(rows[0] + i);
      for (int64_t r = 1; r < n; ++r) a = vmax_nan(a, pld<V>(rows[r] + i));
      pst(out + i, a);
    });
  } else {
    for (int64_t i = 0; i < W; ++i) {
      T a = rows[0][i];
      for (int64_t r = 1; r < n; ++r) a = smax_nan(a, rows[r][i]);
      out[i] = a;
    }
  }
}

// Same with the flat offset (key) of each column's winner; rows come in scan order.
template <typename T>
void rows_max_idx(const T* const* rows, const int64_t* bases, int64_t n, int64_t W, T* __restrict out,
                  typename PV<T>::K* __restrict kout) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  if (n == 0) {
    for (int64_t i = 0; i < W; ++i) {
      out[i] = -__builtin_inf();
      kout[i] = (K)PoolKey<T>::max;
    }
    return;
  }
  if (W >= VL) {
    VK iota;
    for (int l = 0; l < VL; ++l) iota[l] = (K)l;
    for_chunks<VL>(W, [&](int64_t i) {
      V a = pld<V>(rows[0] + i);
      VK k = (K)(bases[0] + i) + iota;
      for (int64_t r = 1; r < n; ++r) {
        const V v = pld<V>(rows[r] + i);
        const VK m = (v > a) | (v != v);  // later row: strictly greater, or NaN (last NaN wins)
        a = m ? v : a;
        k = m ? (K)(bases[r] + i) + iota : k;
      }
      pst(out + i, a);
      pst(kout + i, k);
    });
  } else {
    for (int64_t i = 0; i < W; ++i) {
      T a = rows[0][i];
      K k = (K)(bases[0] + i);
      for (int64_t r = 1; r < n; ++r) {
        const T v = rows[r][i];
        if (v > a || v != v) {
          a = v;
          k = (K)(bases[r] + i);
        }
      }
      out[i] = a;
      kout[i] = k;
    }
  }
}

template <typename T>
void rows_sum(const T* const* rows, int64_t n, int64_t W, T* __restrict out) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  if (W >= VL) {
    for_chunks<VL>(W, [&](int64_t i) {
      V a = V{};
      for (int64_t r = 0; r < n; ++r) a += pld<V>(rows[r] + i);
      pst(out + i, a);
    });
  } else {
    for (int64_t i = 0; i < W; ++i) {
      T a = 0;
      for (int64_t r = 0; r < n; ++r) a += rows[r][i];
      out[i] = a;
    }
  }
}

// ---- stride phases: ph[r * ne + i] = buf[i * s + r] for i in [0, n) -------------------------

// Constant strides: the vectorizer turns the interleaved group into vector loads and permutes.
template <int S, typename E>
void deinterleave_const(const E* __restrict buf, int64_t n, int64_t ne, E* __restrict ph) {
  E* __restrict p[S];
  for (int r = 0; r < S; ++r) p[r] = ph + r * ne;
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < S; ++r) p[r][i] = buf[i * S + r];
}

template <typename T, typename E>
void deinterleave(const E* __restrict buf, int64_t s, int64_t n, int64_t ne, E* __restrict ph) {
  constexpr int VL = PV<T>::VL;
  if (s == 2) {
    typedef E VE __attribute__((vector_size(VB)));
    typedef typename PV<T>::VK VK;
    VK me, mo;
    for (int l = 0; l < VL; ++l) {
      me[l] = 2 * l;
      mo[l] = 2 * l + 1;
    }
    for (int64_t i = 0; i < n; i += VL) {
      const VE a = pld<VE>(buf + 2 * i), b = pld<VE>(buf + 2 * i + VL);
      pst(ph + i, (VE)__builtin_shuffle(a, b, me));
      pst(ph + ne + i, (VE)__builtin_shuffle(a, b, mo));
    }
    return;
  }
  if (s == 3) return deinterleave_const<3>(buf, n, ne, ph);
  if (s == 4) return deinterleave_const<4>(buf, n, ne, ph);
  for (int64_t r = 0; r < s; ++r)
    for (int64_t i = 0; i < n; ++i) ph[r * ne + i] = buf[i * s + r];
}

// ---- the window kernels ---------------------------------------------------------------------

// Live input rows of output row (od, oh), in scan order; returns their count.
inline int64_t window_rows(const PoolShape& s, int64_t od, int64_t oh, int64_t* bases) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2];
  const int64_t d0 = od * s.s[0] - s.p[0], h0 = oh * s.s[1] - s.p[1];
  int64_t n = 0;
  for (int64_t jd = d0 < 0 ? ceil_div(-d0, s.d[0]) : 0; jd < s.k[0]; ++jd) {
    const int64_t id = d0 + jd * s.d[0];
    if (id >= D) break;
    for (int64_t jh = h0 < 0 ? ceil_div(-h0, s.d[1]) : 0; jh < s.k[1]; ++jh) {
      const int64_t ih = h0 + jh * s.d[1];
      if (ih >= H) break;
      bases[n++] = (id * H + ih) * W;
    }
  }
  return n;
}

// Windows far wider than the input (pool_is_huge), or planes too large for 32-bit keys (float
// indices): scan each output's live taps in PyTorch's order.

template <typename T>
void max_pool_scan(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end, int64_t* bases) {
  const int64_t OD = s.out[0], OH = s.out[1], OW = s.out[2], W = s.in[2], H = s.in[1];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t p = row / (OD * OH), r = row % (OD * OH), od = r / OH, oh = r % OH;
    const T* xp = x + p * s.in_plane();
    const int64_t n = window_rows(s, od, oh, bases);
    const int64_t first_base =
        (first_tap(od * s.s[0] - s.p[0], s.d[0]) * H + first_tap(oh * s.s[1] - s.p[1], s.d[1])) * W;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t st = ow * s.s[2] - s.p[2];
      T best = -__builtin_inf();
      int64_t arg = first_base + first_tap(st, s.d[2]);
      const int64_t j0 = st < 0 ? ceil_div(-st, s.d[2]) : 0, j1 = min64(s.k[2], max64(0, ceil_div(W - st, s.d[2])));
      for (int64_t r2 = 0; r2 < n; ++r2)
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t iw = st + j * s.d[2];
          const T v = xp[bases[r2] + iw];
          if (v > best || v != v) {
            best = v;
            arg = bases[r2] + iw;
          }
        }
      y[row * OW + ow] = best;
      if (idx) idx[row * OW + ow] = arg;
    }
  }
}

template <typename T>
void avg_pool_scan(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                   int64_t begin, int64_t end, int64_t* bases) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  for (int64_t row = begin; row < end; ++row) {
    const int64_t p = row / (OD * OH), r = row % (OD * OH), od = r / OH, oh = r % OH;
    const T* xp = x + p * s.in_plane();
    const int64_t n = window_rows(s, od, oh, bases);
    const int64_t d0 = od * s.s[0] - s.p[0], h0 = oh * s.s[1] - s.p[1];
    const int64_t d1 = min64(d0 + s.k[0], D + s.p[0]), h1 = min64(h0 + s.k[1], H + s.p[1]);
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t st = ow * s.s[2] - s.p[2], en = min64(st + s.k[2], W + s.p[2]);
      const int64_t a = max64(st, 0), b = min64(en, W);
      T sum = 0;
      for (int64_t r2 = 0; r2 < n; ++r2)
        for (int64_t iw = a; iw < b; ++iw) sum += xp[bases[r2] + iw];
      const int64_t div = divisor_override ? divisor_override
                          : count_include_pad ? (d1 - d0) * (h1 - h0) * (en - st)
                                              : (min64(d1, D) - max64(d0, 0)) * (min64(h1, H) - max64(h0, 0)) * (b - a);
      y[row * OW + ow] = sum / (T)div;
    }
  }
}

// Two-source permutes with run-time indices are one instruction on AVX-512 (vpermt2ps/d/pd/q)
// and two vpermps/vpermd and a blend on AVX2 (the index work hoisted out of loops: the AVX2 set
// on the suite's pooling shapes, up to 5.6x faster than without); elsewhere GCC would expand them
// lane by lane, so those sets use unaligned loads and stores.
#if defined(__AVX512F__) || defined(__AVX2__)
constexpr bool kPermute = true;
#else
constexpr bool kPermute = false;
#endif

#if defined(__AVX2__)
// operand types of the AVX2 mask builtins
typedef float F8 __attribute__((vector_size(32)));
typedef double D4 __attribute__((vector_size(32)));
typedef int I8 __attribute__((vector_size(32)));
typedef long long L4 __attribute__((vector_size(32)));
#endif

// All ones in lane l where bit l of m is set: what an AVX-512 mask register does, for the narrower
// sets (a broadcast, an and and a compare).
template <typename V>
inline auto lane_mask(unsigned m) {
  typedef std::remove_cv_t<std::remove_reference_t<decltype(V{}[0])>> E;
  typedef std::conditional_t<sizeof(E) == 4, int32_t, int64_t> I;
  typedef I VI __attribute__((vector_size(sizeof(V))));
  constexpr int L = (int)(sizeof(V) / sizeof(E));
  VI bit{};
  for (int l = 0; l < L; ++l) bit[l] = (I)1 << l;
  return ((VI{} + (I)m) & bit) != 0;
}

// Stores the lanes of v selected by the mask m.
template <typename T, typename V>
inline void store_mask(T* p, const V& v, unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64 && sizeof(T) == 4) return __builtin_ia32_storeups512_mask(p, v, (unsigned short)m);
  if constexpr (sizeof(V) == 64 && sizeof(T) == 8) return __builtin_ia32_storeupd512_mask(p, v, (unsigned char)m);
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    if constexpr (sizeof(T) == 4) return __builtin_ia32_maskstoreps256((F8*)p, (I8)lane_mask<V>(m), (F8)v);
    if constexpr (sizeof(T) == 8) return __builtin_ia32_maskstorepd256((D4*)p, (L4)lane_mask<V>(m), (D4)v);
  }
#endif
  for (int l = 0; l < (int)(sizeof(V) / sizeof(T)); ++l)
    if (m >> l & 1) p[l] = v[l];
}

// Stores the first n (< VL) lanes of v.
template <typename T, typename V>
inline void store_n(T* p, const V& v, int64_t n) {
  store_mask(p, v, (1u << n) - 1);
}

// Output chunk ow of a row OW long: a whole vector, or the row's last OW - ow lanes.
template <typename T, typename V>
inline __attribute__((always_inline)) void store_chunk(T* yr, int64_t ow, int64_t OW, const V& v) {
  if (ow + (int64_t)(sizeof(V) / sizeof(T)) <= OW)
    pst(yr + ow, v);
  else
    store_n(yr + ow, v, OW - ow);
}

// Is any lane of the mask set?
template <typename VK>
inline bool any_lane(const VK& m) {
#if defined(__AVX512F__)
  typedef int VI __attribute__((vector_size(64)));
  typedef long long VL8 __attribute__((vector_size(64)));
  if constexpr (sizeof(VK) == 64 && sizeof(m[0]) == 4) return __builtin_ia32_ptestmd512((VI)m, (VI)m, 0xffff) != 0;
  if constexpr (sizeof(VK) == 64 && sizeof(m[0]) == 8) return __builtin_ia32_ptestmq512((VL8)m, (VL8)m, 0xff) != 0;
#endif
  typedef int64_t L __attribute__((vector_size(VB)));
  const L x = (L)m;
  int64_t r = 0;
  for (int i = 0; i < VB / 8; ++i) r |= x[i];
  return r != 0;
}

// Bit l set where lane l of the compare result m is true (AVX-512's mask bits; a movemask on AVX2).
template <typename VK>
inline unsigned mask_bits(const VK& m) {
#if defined(__AVX2__)
  if constexpr (sizeof(VK) == 32 && sizeof(m[0]) == 4) return (unsigned)__builtin_ia32_movmskps256((F8)m);
  if constexpr (sizeof(VK) == 32 && sizeof(m[0]) == 8) return (unsigned)__builtin_ia32_movmskpd256((D4)m);
#endif
#if defined(__SSE2__)
  typedef float F4 __attribute__((vector_size(16)));
  typedef double D2 __attribute__((vector_size(16)));
  if constexpr (sizeof(VK) == 16 && sizeof(m[0]) == 4) return (unsigned)__builtin_ia32_movmskps((F4)m);
  if constexpr (sizeof(VK) == 16 && sizeof(m[0]) == 8) return (unsigned)__builtin_ia32_movmskpd((D2)m);
#endif
  unsigned r = 0;
  for (int l = 0; l < (int)(sizeof(VK) / sizeof(m[0])); ++l) r |= (m[l] != 0 ? 1u : 0u) << l;
  return r;
}

// Bit l set where lane l of a or b is NaN (one compare on AVX-512).
template <typename V>
inline unsigned unord_bits(const V& a, const V& b) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64 && sizeof(a[0]) == 4) return __builtin_ia32_cmpps512_mask(a, b, 3, (unsigned short)-1, 4);
  if constexpr (sizeof(V) == 64 && sizeof(a[0]) == 8) return __builtin_ia32_cmppd512_mask(a, b, 3, (unsigned char)-1, 4);
#endif
  return mask_bits((a != a) | (b != b));
}

// Bit l set where lane l of a (float) is NaN or -0 (two compares on AVX-512).
template <typename V>
inline unsigned nan_negzero_bits(const V& a) {
  static_assert(sizeof(a[0]) == 4, "float lanes");
  typedef int32_t VI __attribute__((vector_size(VB)));
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64)
    return __builtin_ia32_cmpps512_mask(a, a, 3, (unsigned short)-1, 4) |
           __builtin_ia32_pcmpeqd512_mask((VI)a, VI{} + INT32_MIN, (unsigned short)-1);
#endif
  return mask_bits((a != a) | ((VI)a == INT32_MIN));
}
// Bit l set where lane l of a is zero (either sign).
template <typename V>
inline unsigned zero_bits(const V& a) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64 && sizeof(a[0]) == 4) return __builtin_ia32_cmpps512_mask(a, V{}, 0, (unsigned short)-1, 4);
  if constexpr (sizeof(V) == 64 && sizeof(a[0]) == 8) return __builtin_ia32_cmppd512_mask(a, V{}, 0, (unsigned char)-1, 4);
#endif
  return mask_bits(a == 0);
}

// Stores the first n (<= lanes) keys of k as int64 indices: 32-bit keys are widened in registers,
// half a vector at a time.
template <typename K, typename VK>
inline void store_idx(int64_t* p, const VK& k, int64_t n) {
  constexpr int L = (int)(sizeof(VK) / sizeof(K));
  if constexpr (sizeof(K) == 8) {
    if (n == L) return pst(p, k);
  } else if constexpr (L >= 2) {
    static_assert(sizeof(VK) == VB, "one vector of keys");
    typedef int32_t H __attribute__((vector_size(VB / 2)));
    typedef int64_t W __attribute__((vector_size(VB)));
    H lo, hi;
    if constexpr (L == 16) {  // halves in registers (a memcpy goes through the stack)
      lo = __builtin_shufflevector(k, k, 0, 1, 2, 3, 4, 5, 6, 7);
      hi = __builtin_shufflevector(k, k, 8, 9, 10, 11, 12, 13, 14, 15);
    } else if constexpr (L == 8) {
      lo = __builtin_shufflevector(k, k, 0, 1, 2, 3);
      hi = __builtin_shufflevector(k, k, 4, 5, 6, 7);
    } else {
      __builtin_memcpy(&lo, &k, sizeof(H));
      __builtin_memcpy(&hi, (const char*)&k + sizeof(H), sizeof(H));
    }
#if defined(__AVX512F__)
    if constexpr (L == 16) {
      // one vpmovsxdq zmm per half (the generic conversion goes through ymm halves); a partial
      // vector stores its lanes with masks instead of a scalar loop
      typedef long long Q __attribute__((vector_size(64)));
      const Q wl = __builtin_ia32_pmovsxdq512_mask(lo, Q{}, (unsigned char)-1);
      const Q wh = __builtin_ia32_pmovsxdq512_mask(hi, Q{}, (unsigned char)-1);
      if (n == L) {
        pst(p, wl);
        return pst(p + 8, wh);
      }
      const unsigned bits = (1u << n) - 1;
      __builtin_ia32_storedqudi512_mask((long long*)p, wl, (unsigned char)bits);
      if (n > 8) __builtin_ia32_storedqudi512_mask((long long*)p + 8, wh, (unsigned char)(bits >> 8));
      return;
    }
#endif
    if (n >= L / 2) {
      pst(p, __builtin_convertvector(lo, W));
      if (n == L) return pst(p + L / 2, __builtin_convertvector(hi, W));
      for (int64_t l = L / 2; l < n; ++l) p[l] = (int64_t)k[l];
      return;
    }
  }
  for (int64_t l = 0; l < n; ++l) p[l] = (int64_t)k[l];
}

// One call's plan for the row-first window kernels. Buffer coordinates: cell q holds input
// column q - pw (padding value outside [0, W)), so output ow's tap j reads cell ow*s + j*d. The
// row pass fills whole aligned vector chunks of cells: interior chunks straight from the input
// rows, edge chunks from the nearest in-bounds vector through a permute that brings in the
// padding value. Stride 2 splits each pair of chunks into even/odd phase chunks on the fly; the
// tap pass then reads phase (j*d) % s at shift (j*d) / s with aligned loads (two loads and a
// permute for shifts that are not whole vectors). Every load of a buffer matches one earlier
// store exactly, so nothing waits on a store that only partly covers it.
template <typename T>
struct RowPlan {
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  int64_t W, OW, KW, sw, pw, dw, n_ph, ne, nck;
  bool chunked;           // W >= VL: the vector row pass (else scalar into buf + pw)
  int64_t* coff;          // per chunk: input column of its load
  int8_t* ckind;          // 0 interior, 1 edge (permute), 2 padding only
  VK* cidx;               // per chunk: permute indices (lane VL = the padding value)
  const T** tp;           // per tap: first aligned source vector
  const K** tk;
  int64_t* tr;            // per tap: shift within the vector
  int8_t* tph;            // per tap: stride phase
  VK* tmask;              // per tap: permute indices for that shift
  T* buf;                 // cells (s != 2, or the scalar row pass)
  T* ph;                  // phases (s > 1)
  K* kbuf;
  K* kph;
};

template <typename T>
RowPlan<T> make_plan(const PoolShape& s, char*& sp, bool keys, T fill) {
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  RowPlan<T> c;
  c.W = s.in[2], c.OW = s.out[2], c.KW = s.k[2], c.sw = s.s[2], c.pw = s.p[2], c.dw = s.d[2];
  const int64_t L = pool_buf_len(s, 64 / (int64_t)sizeof(T));
  const int64_t shift_max = (c.KW - 1) * c.dw / c.sw;
  // phase (or cell, s == 1) elements the tap pass reads: aligned output chunks plus the shift
  c.n_ph = (c.OW - 1) / VL * VL + VL + (shift_max + VL - 1) / VL * VL;
  c.ne = L / c.sw / VL * VL;
  c.nck = c.n_ph * c.sw / VL;
  c.chunked = c.W >= VL;
  c.coff = carve<int64_t>(sp, c.nck);
  c.ckind = carve<int8_t>(sp, c.nck);
  c.cidx = carve<VK>(sp, c.nck);
  c.tp = carve<const T*>(sp, c.KW);
  c.tk = carve<const K*>(sp, c.KW);
  c.tr = carve<int64_t>(sp, c.KW);
  c.tph = carve<int8_t>(sp, c.KW);
  c.tmask = carve<VK>(sp, c.KW);
  c.buf = carve<T>(sp, L);
  c.ph = carve<T>(sp, L);
  c.kbuf = carve<K>(sp, keys ? L : 0);
  c.kph = carve<K>(sp, keys ? L : 0);
  for (int64_t i = 0; i < L; ++i) c.buf[i] = fill;
  if (keys)
    for (int64_t i = 0; i < L; ++i) c.kbuf[i] = (K)PoolKey<T>::max;
  for (int64_t k = 0; k < c.nck; ++k) {
    const int64_t off = k * VL - c.pw;
    if (off >= 0 && off + VL <= c.W) {
      c.ckind[k] = 0, c.coff[k] = off;
      continue;
    }
    const int64_t o = c.chunked ? min64(max64(off, 0), c.W - VL) : 0;
    c.coff[k] = o;
    c.ckind[k] = (off >= c.W || off + VL <= 0) ? 2 : 1;
    for (int l = 0; l < VL; ++l) {
      const int64_t col = off + l;
      c.cidx[k][l] = (K)((col >= 0 && col < c.W) ? col - o : VL);
    }
  }
  const T* vsrc = c.sw == 1 ? c.buf : c.ph;
  const K* ksrc = c.sw == 1 ? c.kbuf : c.kph;
  for (int64_t j = 0; j < c.KW; ++j) {
    const int64_t t = j * c.dw, phase = t % c.sw, shift = t / c.sw;
    const int64_t o = phase * c.ne + (kPermute ? shift / VL * VL : shift);
    c.tp[j] = vsrc + o;
    c.tk[j] = ksrc + o;
    c.tr[j] = kPermute ? shift % VL : 0;
    c.tph[j] = (int8_t)(phase & 1);
    for (int l = 0; l < VL; ++l) c.tmask[j][l] = (K)(l + c.tr[j]);
  }
  return c;
}

// Iterates output rows [begin, end) as (plane, od, oh) without divisions per row.
struct RowIter {
  int64_t p, od, oh, OD, OH;
  RowIter(int64_t row, int64_t OD_, int64_t OH_) : OD(OD_), OH(OH_) {
    p = row / (OD * OH);
    const int64_t r = row % (OD * OH);
    od = r / OH, oh = r % OH;
  }
  void next() {
    if (++oh == OH) {
      oh = 0;
      if (++od == OD) od = 0, ++p;
    }
  }
};

// Per window row (od, oh) of a plane, filled on first use: {n, aux, bases[n]} at stride
// pool_nrows(s) + 2, so rows of later planes reuse it (no per-row window arithmetic).
struct WinTable {
  int64_t* t;
  int64_t stride;
  bool full;  // one entry per window row; else one entry recomputed per output row
  template <typename Aux>
  const int64_t* get(const PoolShape& s, int64_t od, int64_t oh, const Aux& aux) {
    int64_t* e = full ? t + (od * s.out[1] + oh) * stride : t;
    if (!full || e[0] < 0) {
      e[0] = window_rows(s, od, oh, e + 2);
      e[1] = aux(od, oh);
    }
    return e;
  }
};

inline WinTable make_win_table(const PoolShape& s, char*& sp) {
  WinTable w;
  w.stride = pool_nrows(s) + 2;
  w.full = pool_win_table_len(s) > 0;
  w.t = carve<int64_t>(sp, w.full ? pool_win_table_len(s) : w.stride);
  if (w.full)
    for (int64_t i = 0; i < s.out[0] * s.out[1]; ++i) w.t[i * w.stride] = -1;
  return w;
}

#define FMACONV_POOL_INLINE inline __attribute__((always_inline))

// Sum a times reciprocal divisor r, a -0 sum made +0 (PyTorch's sums start at +0): one FMA with a
// zero addend, the same bits as (a + 0) * r, one operation fewer (5% of a 3-D 3x3x3 average).
template <typename V, typename R>
FMACONV_POOL_INLINE V mul_pz(const V& a, const R& r) {
  return a * r + V{};
}

// Values b and keys k of output columns [ow, min(ow + VL, OW)) of one row, indices widened.
template <typename K, typename T, typename V, typename VK>
FMACONV_POOL_INLINE void store_vals_keys(T* yr, int64_t* ir, int64_t ow, int64_t OW, const V& b, const VK& k) {
  constexpr int64_t VL = (int64_t)(sizeof(V) / sizeof(T));
  if (ow + VL <= OW) {
    pst(yr + ow, b);
    store_idx<K>(ir + ow, k, VL);
  } else {
    store_n(yr + ow, b, OW - ow);
    store_idx<K>(ir + ow, k, OW - ow);
  }
}

// The row pass: reduces n rows into the plan's cells (or phases, s == 2). Red(a, v) folds row
// v into a; keys (flat offsets) are tracked when KEYS.
template <typename T, bool KEYS, int NR, typename Red>
FMACONV_POOL_INLINE void row_pass(const RowPlan<T>& c, const T* const* rows_in, const int64_t* bases_in, int64_t n, T fill,
                     const Red& red) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const V fillv = V{} + fill;
  const VK kmaxv = VK{} + (K)PoolKey<T>::max;
  VK iota;
  for (int l = 0; l < VL; ++l) iota[l] = (K)l;
  // NR > 0: that many rows, known at compile time (loops unrolled, pointers in registers)
  const T* rl[NR > 0 ? NR : 1];
  int64_t bl[NR > 0 ? NR : 1];
  for (int r = 0; r < NR; ++r) rl[r] = rows_in[r], bl[r] = bases_in[r];
  const T* const* rows = NR > 0 ? rl : rows_in;
  const int64_t* bases = NR > 0 ? bl : bases_in;
  if (NR > 0) n = NR;
  if (!c.chunked) {  // narrow rows: scalar into the cells, then the phases
    for (int64_t i = 0; i < c.W; ++i) {
      if (n == 0) break;
      T a = rows[0][i];
      K k = KEYS ? (K)(bases[0] + i) : 0;
      for (int64_t r = 1; r < n; ++r) {
        if (KEYS) {
          const T v = rows[r][i];
          if (v > a || v != v) a = v, k = (K)(bases[r] + i);
        } else {
          a = red(a, rows[r][i]);
        }
      }
      c.buf[c.pw + i] = a;
      if (KEYS) c.kbuf[c.pw + i] = k;
    }
    if (c.sw > 1) {
      deinterleave<T>(c.buf, c.sw, c.n_ph, c.ne, c.ph);
      if (KEYS) deinterleave<T>(c.kbuf, c.sw, c.n_ph, c.ne, c.kph);
    }
    return;
  }
  // keys of row r at chunk offset o: with NR rows, (base + lane) per row is kept in registers
  VK brl[NR > 0 ? NR : 1];
  if (KEYS)
    for (int r = 0; r < NR; ++r) brl[r] = (K)bases[r] + iota;
  auto rowkey = [&](int64_t r, int64_t o, VK ov) __attribute__((always_inline)) {
    if (NR > 0) return brl[r] + ov;
    return (K)(bases[r] + o) + iota;
  };
  auto chunk = [&](int64_t k, V& a, VK& kk) __attribute__((always_inline)) {
    const int kind = c.ckind[k];
    if (kind == 2 || n == 0) {
      a = fillv;
      if (KEYS) kk = kmaxv;
      return;
    }
    const int64_t o = c.coff[k];
    const VK ov = VK{} + (K)o;
    a = pld<V>(rows[0] + o);
    if (KEYS) kk = rowkey(0, o, ov);
    for (int64_t r = 1; r < n; ++r) {
      const V v = pld<V>(rows[r] + o);
      if (KEYS) {
        const VK m = (v > a) | (v != v);  // later row: strictly greater, or NaN (last NaN wins)
        a = m ? v : a;
        kk = m ? rowkey(r, o, ov) : kk;
      } else {
        a = red(a, v);
      }
    }
    if (kPermute && kind == 1) {
      a = __builtin_shuffle(a, fillv, c.cidx[k]);
      if (KEYS) kk = __builtin_shuffle(kk, kmaxv, c.cidx[k]);
    }
  };
  if (kPermute && c.sw == 2) {
    VK me, mo;
    for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
    for (int64_t k = 0; k < c.nck; k += 2) {
      V a, b;
      VK ka, kb;
      chunk(k, a, ka);
      chunk(k + 1, b, kb);
      pst(c.ph + k / 2 * VL, (V)__builtin_shuffle(a, b, me));
      pst(c.ph + c.ne + k / 2 * VL, (V)__builtin_shuffle(a, b, mo));
      if (KEYS) {
        pst(c.kph + k / 2 * VL, (VK)__builtin_shuffle(ka, kb, me));
        pst(c.kph + c.ne + k / 2 * VL, (VK)__builtin_shuffle(ka, kb, mo));
      }
    }
    return;
  }
  for (int64_t k = 0; k < c.nck; ++k) {
    V a;
    VK kk;
    chunk(k, a, kk);
    if (kPermute || c.ckind[k] == 0) {
      pst(c.buf + k * VL, a);
      if (KEYS) pst(c.kbuf + k * VL, kk);
    } else if (c.ckind[k] == 1) {  // the in-bounds vector at its own cells; padding cells keep the fill
      pst(c.buf + c.pw + c.coff[k], a);
      if (KEYS) pst(c.kbuf + c.pw + c.coff[k], kk);
    }
  }
  if (c.sw > 1) {
    deinterleave<T>(c.buf, c.sw, c.n_ph, c.ne, c.ph);
    if (KEYS) deinterleave<T>(c.kbuf, c.sw, c.n_ph, c.ne, c.kph);
  }
}

template <typename T, bool KEYS, typename Red>
FMACONV_POOL_INLINE void row_pass_n_inl(const RowPlan<T>& c, const T* const* rows, const int64_t* bases, int64_t n,
                                        T fill, const Red& red) {
  switch (n) {
    case 1: return row_pass<T, KEYS, 1>(c, rows, bases, n, fill, red);
    case 2: return row_pass<T, KEYS, 2>(c, rows, bases, n, fill, red);
    case 3: return row_pass<T, KEYS, 3>(c, rows, bases, n, fill, red);
    default: return row_pass<T, KEYS, 0>(c, rows, bases, n, fill, red);
  }
}
// The same as a call (keeps the max kernels' row loops small; measured faster there).
template <typename T, bool KEYS, typename Red>
__attribute__((noinline)) void row_pass_n(const RowPlan<T>& c, const T* const* rows, const int64_t* bases, int64_t n,
                                          T fill, const Red& red) {
  row_pass_n_inl<T, KEYS>(c, rows, bases, n, fill, red);
}

// Tap j's source vector for output chunk ow (SHIFT: some tap shift is not whole vectors; the
// permute then takes lanes [r, r + VL) of two aligned vectors).
template <typename T, bool SHIFT>
FMACONV_POOL_INLINE typename PV<T>::V tap_v(const RowPlan<T>& c, int64_t j, int64_t ow) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const V lo = pld<V>(c.tp[j] + ow);
  if (!SHIFT || c.tr[j] == 0) return lo;  // (a predictable branch: skips a vector permute)
  return __builtin_shuffle(lo, pld<V>(c.tp[j] + ow + VL), c.tmask[j]);
}
template <typename T, bool SHIFT>
FMACONV_POOL_INLINE typename PV<T>::VK tap_k(const RowPlan<T>& c, int64_t j, int64_t ow) {
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const VK lo = pld<VK>(c.tk[j] + ow);
  if (!SHIFT || c.tr[j] == 0) return lo;
  return __builtin_shuffle(lo, pld<VK>(c.tk[j] + ow + VL), c.tmask[j]);
}

// Calls f(IC<taps>, IC<shift>) with the tap count as a constant for the common kernels.
template <typename T, typename F>
inline void tap_dispatch(const RowPlan<T>& c, const F& f) {
  bool shift = false;
  for (int64_t j = 0; j < c.KW; ++j) shift |= c.tr[j] != 0;
  if (shift) {
    if (c.KW == 2) return f(IC<2>{}, IC<1>{});
    if (c.KW == 3) return f(IC<3>{}, IC<1>{});
    return f(IC<0>{}, IC<1>{});
  }
  if (c.KW == 1) return f(IC<1>{}, IC<0>{});
  if (c.KW == 2) return f(IC<2>{}, IC<0>{});
  if (c.KW == 3) return f(IC<3>{}, IC<0>{});
  return f(IC<0>{}, IC<0>{});
}

// ---- fused row (AVX-512, strides 1 and 2, every tap shift below a vector) -------------------
// The cells never go through memory: output chunk q needs cell chunks q and q + 1 (stride 2:
// their even/odd phases), so the row pass of chunk q + 1 feeds the taps of chunk q directly and
// each tap is one permute of two registers.

// Cell chunk k of the row (padding outside the input; chunks past the plan are padding).
template <typename T, int NR, typename Red>
FMACONV_POOL_INLINE typename PV<T>::V cell_chunk(const RowPlan<T>& c, const T* const* rows, int64_t n, int64_t k,
                                                 typename PV<T>::V fillv, const Red& red) {
  typedef typename PV<T>::V V;
  if (k >= c.nck || n == 0 || c.ckind[k] == 2) return fillv;
  const int64_t o = c.coff[k];
  const int64_t nr = NR > 0 ? NR : n;
  V a = pld<V>(rows[0] + o);
  for (int64_t r = 1; r < nr; ++r) a = red(a, pld<V>(rows[r] + o));
  if (c.ckind[k] == 1) a = __builtin_shuffle(a, fillv, c.cidx[k]);
  return a;
}

// Can this call use the fused rows? (values only)
template <typename T>
inline bool fused_ok(const RowPlan<T>& c) {
  return kPermute && c.chunked && (c.sw == 1 || c.sw == 2) && (c.KW - 1) * c.dw / c.sw < PV<T>::VL;
}

// Consecutive output rows share window rows (stride 1 along the rows, whole dilation steps):
// the fused path can reduce them in pairs.
template <typename T>
inline bool row_pairs_ok(const RowPlan<T>& c, const PoolShape& s) {
  return fused_ok(c) && c.sw == 1 && s.s[1] % s.d[1] == 0 && s.s[1] < s.k[1] * s.d[1];
}

// The column taps of one output row over its reduced cells: cell(i) is the row's input chunk i
// (VL columns) reduced over the window rows; fin(ow, acc) takes output chunk ow. Stride 1 shifts
// neighbouring chunks into place; stride 2 splits them into even and odd columns first.
template <typename T, typename Cell, typename Red, typename Fin>
FMACONV_POOL_INLINE void sweep_cells(const RowPlan<T>& c, int64_t KW, const Cell& cell, const Red& red,
                                     const Fin& fin) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t nq = (c.OW + VL - 1) / VL;
  if (c.sw == 1) {
    V A = cell(0);
    for (int64_t q = 0; q < nq; ++q) {
      const V B = cell(q + 1);
      V acc = c.tr[0] ? __builtin_shuffle(A, B, c.tmask[0]) : A;
      for (int64_t j = 1; j < KW; ++j) acc = red(acc, __builtin_shuffle(A, B, c.tmask[j]));
      fin(q * VL, acc);
      A = B;
    }
    return;
  }
  VK me, mo;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
  V a0 = cell(0), a1 = cell(1);
  V E = __builtin_shuffle(a0, a1, me), O = __builtin_shuffle(a0, a1, mo);
  for (int64_t q = 0; q < nq; ++q) {
    const V b0 = cell(2 * q + 2), b1 = cell(2 * q + 3);
    const V E2 = __builtin_shuffle(b0, b1, me), O2 = __builtin_shuffle(b0, b1, mo);
    auto tap = [&](int64_t j) __attribute__((always_inline)) {
      const V lo = c.tph[j] ? O : E;
      return c.tr[j] ? __builtin_shuffle(lo, c.tph[j] ? O2 : E2, c.tmask[j]) : lo;
    };
    V acc = tap(0);
    for (int64_t j = 1; j < KW; ++j) acc = red(acc, tap(j));
    fin(q * VL, acc);
    E = E2, O = O2;
  }
}

// Reduces one output row: fin(ow, acc) stores output chunk ow.
template <typename T, int NR, int NT, typename Red, typename Fin>
FMACONV_POOL_INLINE void fused_row(const RowPlan<T>& c, const T* const* rows_in, int64_t n, T fill, const Red& red,
                                   const Fin& fin) {
  typedef typename PV<T>::V V;
  const T* rl[NR > 0 ? NR : 1];
  for (int r = 0; r < NR; ++r) rl[r] = rows_in[r];
  const T* const* rows = NR > 0 ? rl : rows_in;
  const V fillv = V{} + fill;
  sweep_cells<T>(c, NT > 0 ? NT : c.KW, [&](int64_t i) __attribute__((always_inline)) {
    return cell_chunk<T, NR>(c, rows, n, i, fillv, red);
  }, red, fin);
}

// fused_row's cells and taps for one live row, handing fin(ow, tap) an accessor tap(j) to the
// taps (in scan order) instead of reducing them: the index kernels compare them in order.
template <typename T, typename Fin>
FMACONV_POOL_INLINE void fused_row_taps(const RowPlan<T>& c, const T* row, T fill, const Fin& fin) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const T* rows[1] = {row};
  const V fillv = V{} + fill;
  auto id = [](V a, V) { return a; };
  const int64_t nq = (c.OW + VL - 1) / VL;
  if (c.sw == 1) {
    V A = cell_chunk<T, 1>(c, rows, 1, 0, fillv, id);
    for (int64_t q = 0; q < nq; ++q) {
      const V B = cell_chunk<T, 1>(c, rows, 1, q + 1, fillv, id);
      auto tap = [&](int64_t j) __attribute__((always_inline)) {
        return c.tr[j] ? (V)__builtin_shuffle(A, B, c.tmask[j]) : A;
      };
      fin(q * VL, tap);
      A = B;
    }
    return;
  }
  VK me, mo;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
  V a0 = cell_chunk<T, 1>(c, rows, 1, 0, fillv, id), a1 = cell_chunk<T, 1>(c, rows, 1, 1, fillv, id);
  V E = __builtin_shuffle(a0, a1, me), O = __builtin_shuffle(a0, a1, mo);
  for (int64_t q = 0; q < nq; ++q) {
    const V b0 = cell_chunk<T, 1>(c, rows, 1, 2 * q + 2, fillv, id);
    const V b1 = cell_chunk<T, 1>(c, rows, 1, 2 * q + 3, fillv, id);
    const V E2 = __builtin_shuffle(b0, b1, me), O2 = __builtin_shuffle(b0, b1, mo);
    auto tap = [&](int64_t j) __attribute__((always_inline)) {
      const V lo = c.tph[j] ? O : E;
      return c.tr[j] ? (V)__builtin_shuffle(lo, c.tph[j] ? O2 : E2, c.tmask[j]) : lo;
    };
    fin(q * VL, tap);
    E = E2, O = O2;
  }
}

// fused_row_taps with keys, for NR (2 or 3) live rows in scan order: each cell keeps the flat
// offset of its winner (a later row takes the cell when strictly greater, or NaN); padding cells
// are (-inf, KEY_MAX). fin(ow, tapv, tapk) gets accessors to tap j's values and keys.
// FAST: the cells ignore NaN (a later row takes the cell only when strictly greater) and keep
// keys relative to the chunk, offset once per cell; *nan gets a nonzero bit when any row value
// the cells read is NaN, and the caller then redoes the row without FAST.
template <typename T, int NR, bool FAST = false, typename Fin>
FMACONV_POOL_INLINE void fused_row_keys(const RowPlan<T>& c, const T* const* rows_in, const int64_t* bases, T fill,
                                        const Fin& fin, unsigned* nan = nullptr) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const V fillv = V{} + fill;
  const VK kmaxv = VK{} + (K)PoolKey<T>::max;
  VK iota;
  for (int l = 0; l < VL; ++l) iota[l] = (K)l;
  const T* rows[NR];
  VK brk[NR];
  for (int r = 0; r < NR; ++r) rows[r] = rows_in[r], brk[r] = (K)bases[r] + iota;
  auto cell = [&](int64_t k, V& a, VK& kk) __attribute__((always_inline)) {
    if (k >= c.nck || c.ckind[k] == 2) {
      a = fillv, kk = kmaxv;
      return;
    }
    const int64_t o = c.coff[k];
    const VK ov = VK{} + (K)o;
    a = pld<V>(rows[0] + o);
    if (FAST) {
      V v[NR];
      v[0] = a;
      for (int r = 1; r < NR; ++r) v[r] = pld<V>(rows[r] + o);
      for (int r = 0; r < NR; r += 2) *nan |= unord_bits(v[r], v[r + 1 < NR ? r + 1 : r]);
      kk = brk[0];
      for (int r = 1; r < NR; ++r) {
        const VK m = v[r] > a;
        a = m ? v[r] : a;
        kk = m ? brk[r] : kk;
      }
      kk += ov;
    } else {
      kk = brk[0] + ov;
      for (int r = 1; r < NR; ++r) {
        const V v = pld<V>(rows[r] + o);
        const VK m = (v > a) | (v != v);
        a = m ? v : a;
        kk = m ? brk[r] + ov : kk;
      }
    }
    if (c.ckind[k] == 1) {
      a = __builtin_shuffle(a, fillv, c.cidx[k]);
      kk = __builtin_shuffle(kk, kmaxv, c.cidx[k]);
    }
  };
  const int64_t nq = (c.OW + VL - 1) / VL;
  if (c.sw == 1) {
    V A, B;
    VK AK, BK;
    cell(0, A, AK);
    for (int64_t q = 0; q < nq; ++q) {
      cell(q + 1, B, BK);
      auto tapv = [&](int64_t j) __attribute__((always_inline)) {
        return c.tr[j] ? (V)__builtin_shuffle(A, B, c.tmask[j]) : A;
      };
      auto tapk = [&](int64_t j) __attribute__((always_inline)) {
        return c.tr[j] ? (VK)__builtin_shuffle(AK, BK, c.tmask[j]) : AK;
      };
      fin(q * VL, tapv, tapk);
      A = B, AK = BK;
    }
    return;
  }
  VK me, mo;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
  V a0, a1;
  VK k0, k1;
  cell(0, a0, k0);
  cell(1, a1, k1);
  V E = __builtin_shuffle(a0, a1, me), O = __builtin_shuffle(a0, a1, mo);
  VK EK = __builtin_shuffle(k0, k1, me), OK = __builtin_shuffle(k0, k1, mo);
  for (int64_t q = 0; q < nq; ++q) {
    V b0, b1;
    VK l0, l1;
    cell(2 * q + 2, b0, l0);
    cell(2 * q + 3, b1, l1);
    const V E2 = __builtin_shuffle(b0, b1, me), O2 = __builtin_shuffle(b0, b1, mo);
    const VK EK2 = __builtin_shuffle(l0, l1, me), OK2 = __builtin_shuffle(l0, l1, mo);
    auto tapv = [&](int64_t j) __attribute__((always_inline)) {
      const V lo = c.tph[j] ? O : E;
      return c.tr[j] ? (V)__builtin_shuffle(lo, c.tph[j] ? O2 : E2, c.tmask[j]) : lo;
    };
    auto tapk = [&](int64_t j) __attribute__((always_inline)) {
      const VK lo = c.tph[j] ? OK : EK;
      return c.tr[j] ? (VK)__builtin_shuffle(lo, c.tph[j] ? OK2 : EK2, c.tmask[j]) : lo;
    };
    fin(q * VL, tapv, tapk);
    E = E2, O = O2, EK = EK2, OK = OK2;
  }
}

// Max with indices for 3-wide windows at stride 2 without dilation (the 3x3 s2 pool after a
// stem convolution), NR (1 to 3) live rows in scan order: fused_row_keys<FAST> with the taps
// fixed at compile time (even phase, odd phase, even phase one lane on). The maximum comes
// first (plain max), then the smallest key among the taps equal to it (masked min); a zero
// maximum takes its sign from the winning tap. Windows with no live tap (dead) get PyTorch's
// initial index first_base + initc[ow]. Returns nonzero when a row value read is NaN: the
// caller then redoes the row in the full order.
template <typename T, int NR>
FMACONV_POOL_INLINE unsigned s2k3_keys_row(const RowPlan<T>& c, const T* const* rows_in, const int64_t* bases, T* yr,
                                           int64_t* ir, bool dead, int64_t first_base,
                                           const typename PV<T>::K* initc) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const V fillv = V{} - __builtin_inf();
  const VK kmaxv = VK{} + (K)PoolKey<T>::max;
  VK iota, me, mo, m1;
  for (int l = 0; l < VL; ++l) iota[l] = (K)l, me[l] = (K)(2 * l), mo[l] = (K)(2 * l + 1), m1[l] = (K)(l + 1);
  const T* rows[NR];
  VK brk[NR];
  for (int r = 0; r < NR; ++r) rows[r] = rows_in[r], brk[r] = (K)bases[r] + iota;
  unsigned nan = 0;
  auto cell = [&](int64_t k, V& a, VK& kk) __attribute__((always_inline)) {
    if (k >= c.nck || c.ckind[k] == 2) {
      a = fillv, kk = kmaxv;
      return;
    }
    const int64_t o = c.coff[k];
    V v[NR];
    for (int r = 0; r < NR; ++r) v[r] = pld<V>(rows[r] + o);
    for (int r = 0; r < NR; r += 2) nan |= unord_bits(v[r], v[r + 1 < NR ? r + 1 : r]);
    a = v[0], kk = brk[0];
    for (int r = 1; r < NR; ++r) {
      const VK m = v[r] > a;  // later row: strictly greater (NaN: the row is redone)
      a = m ? v[r] : a;
      kk = m ? brk[r] : kk;
    }
    kk += (K)o;
    if (c.ckind[k] == 1) {
      a = __builtin_shuffle(a, fillv, c.cidx[k]);
      kk = __builtin_shuffle(kk, kmaxv, c.cidx[k]);
    }
  };
  V a0, a1;
  VK k0, k1;
  cell(0, a0, k0);
  cell(1, a1, k1);
  V E = __builtin_shuffle(a0, a1, me), O = __builtin_shuffle(a0, a1, mo);
  VK EK = __builtin_shuffle(k0, k1, me), OK = __builtin_shuffle(k0, k1, mo);
  const int64_t OW = c.OW;
  for (int64_t ow = 0; ow < OW; ow += VL) {
    cell(ow / VL * 2 + 2, a0, k0);
    cell(ow / VL * 2 + 3, a1, k1);
    const V E2 = __builtin_shuffle(a0, a1, me), O2 = __builtin_shuffle(a0, a1, mo);
    const VK EK2 = __builtin_shuffle(k0, k1, me), OK2 = __builtin_shuffle(k0, k1, mo);
    const V t2 = __builtin_shuffle(E, E2, m1);
    const VK t2k = __builtin_shuffle(EK, EK2, m1);
    V b = O > E ? O : E;
    b = t2 > b ? t2 : b;
    VK k = E == b ? EK : kmaxv;
    k = O == b ? (OK < k ? OK : k) : k;
    k = t2 == b ? (t2k < k ? t2k : k) : k;
    if (zero_bits(b)) {
      b = EK == k ? E : b;
      b = OK == k ? O : b;
      b = t2k == k ? t2 : b;
    }
    if (dead) k = k == kmaxv ? (K)first_base + pld<VK>(initc + ow) : k;
    store_vals_keys<K>(yr, ir, ow, OW, b, k);
    E = E2, O = O2, EK = EK2, OK = OK2;
  }
  return nan;
}

// The lanes of p selected by the mask m, `fill` in the others; reads nothing else.
template <typename V, typename T>
FMACONV_POOL_INLINE V load_mask(const T* p, const V& fill, unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64 && sizeof(T) == 4)
    return __builtin_ia32_loadups512_mask(p, fill, (unsigned short)m);
  else if constexpr (sizeof(V) == 64 && sizeof(T) == 8)
    return __builtin_ia32_loadupd512_mask(p, fill, (unsigned char)m);
#endif
#if defined(__AVX2__)
  if constexpr (sizeof(V) == 32) {
    const auto k = lane_mask<V>(m);
    if constexpr (sizeof(T) == 4) return k ? (V)__builtin_ia32_maskloadps256((const F8*)p, (I8)k) : fill;
    if constexpr (sizeof(T) == 8) return k ? (V)__builtin_ia32_maskloadpd256((const D4*)p, (L4)k) : fill;
  }
#endif
  V a = fill;
  for (int l = 0; l < (int)(sizeof(V) / sizeof(T)); ++l)
    if (m >> l & 1) a[l] = p[l];
  return a;
}

// The first n (1..lanes) elements at p, `fill` (default zero) beyond; reads nothing past them.
template <typename V, typename T>
FMACONV_POOL_INLINE V load_first(const T* p, int64_t n, const V& fill = V{}) {
  return load_mask<V>(p, fill, (1u << n) - 1);
}

// Permute masks of the 3-tap stride-2 row kernels: even lanes, odd lanes, one lane on, and one
// lane back (lane 0 from the second operand: the padding column).
template <typename T>
struct S2K3Masks {
  typename PV<T>::VK me, mo, m1, r1;
};
template <typename T>
inline S2K3Masks<T> s2k3_masks() {
  typedef typename PV<T>::K K;
  constexpr int VL = PV<T>::VL;
  S2K3Masks<T> m;
  for (int l = 0; l < VL; ++l)
    m.me[l] = (K)(2 * l), m.mo[l] = (K)(2 * l + 1), m.m1[l] = (K)(l + 1), m.r1[l] = (K)(l == 0 ? VL : l - 1);
  return m;
}

// Plain max (no indices) for 3 taps at stride 2 along the row without dilation, pw <= 1 (AVX-512
// fused plans), output rows [a, b) of one 2-D slice xp, each with 1 to 3 live window rows (fewer
// rows repeat one: max is idempotent). Per output row: the rows' maximum per cell chunk, then the
// taps (even and odd phases by two permutes, the third tap the even phase one lane on). Same
// operations as maxf_row, but the chunk's kind comes from compares on its column (no plan
// tables) and the row's edges are masked loads: about half maxf_row's time per row on 112-wide
// planes. Returns nonzero when a value read is NaN, or a window has no live row (the caller then
// redoes the rows). (Not inlined, as s2k3_idx_rows.)
template <typename T>
__attribute__((noinline)) unsigned s2k3_plain(const RowPlan<T>& c, const PoolShape& s, const T* xp, int64_t a, int64_t b,
                                        T* y) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = c.W, OW = c.OW, pw = c.pw;
  const int64_t kh = s.k[1], sh = s.s[1], ph = s.p[1], dh = s.d[1];
  const V fillv = V{} - __builtin_inf();
  const S2K3Masks<T> mk = s2k3_masks<T>();
  const VK me = mk.me, mo = mk.mo, m1 = mk.m1, r1 = mk.r1;
  unsigned nan = 0;
  const int64_t nq = (OW + VL - 1) / VL;
  for (int64_t oh = a; oh < b; ++oh, y += OW) {
    const int64_t h0 = oh * sh - ph;
    int64_t j0, j1;
    if (dh == 1) {
      j0 = max64(0, -h0), j1 = min64(kh, H - h0);
    } else {
      j0 = h0 < 0 ? ceil_div(-h0, dh) : 0, j1 = min64(kh, max64(0, ceil_div(H - h0, dh)));
    }
    const int64_t nr = j1 - j0;
    if (nr <= 0) return 1u;
    const T* p0 = xp + (h0 + j0 * dh) * W;
    const T* p1 = p0 + (nr > 1 ? dh * W : 0);
    const T* p2 = p0 + (nr > 2 ? 2 * dh * W : nr > 1 ? dh * W : 0);
    auto cell = [&](int64_t k) __attribute__((always_inline)) {  // k >= 1
      const int64_t off = k * VL - pw;
      V v0, v1, v2;
      if (off + VL <= W) {
        v0 = pld<V>(p0 + off), v1 = pld<V>(p1 + off), v2 = pld<V>(p2 + off);
      } else if (off >= W) {
        return fillv;
      } else {
        const unsigned m = (1u << (W - off)) - 1;
        v0 = load_mask<V>(p0 + off, fillv, m), v1 = load_mask<V>(p1 + off, fillv, m);
        v2 = load_mask<V>(p2 + off, fillv, m);
      }
      nan |= unord_bits(v0, v1) | unord_bits(v2, v2);
      return pmax(pmax(v0, v1), v2);
    };
    // cell chunk 0 (pw = 1: the columns from 0, one lane on, padding in lane 0; W >= VL)
    const V u0 = pld<V>(p0), u1 = pld<V>(p1), u2 = pld<V>(p2);
    nan |= unord_bits(u0, u1) | unord_bits(u2, u2);
    V c0 = pmax(pmax(u0, u1), u2);
    if (pw) c0 = __builtin_shuffle(c0, fillv, r1);
    const V c1 = cell(1);
    V E = __builtin_shuffle(c0, c1, me), O = __builtin_shuffle(c0, c1, mo);
    for (int64_t q = 0; q < nq; ++q) {
      const V d0 = cell(2 * q + 2), d1 = cell(2 * q + 3);
      const V E2 = __builtin_shuffle(d0, d1, me);
      const V t2 = __builtin_shuffle(E, E2, m1);
      store_chunk(y, q * VL, OW, pmax(pmax(E, O), t2));  // taps in column order: the first wins ties
      E = E2, O = __builtin_shuffle(d0, d1, mo);
    }
  }
  return nan;
}

// Max with indices for 3 taps at stride 2 without dilation along the row, pw <= 1 (AVX-512 fused
// plans), output rows [a, b) of one 2-D slice xp (in-plane offset kb: a depth slice when kd = 1),
// row by row. Each live input row is reduced along the row first (its taps in column order, a
// later tap taking a lane when strictly greater), then the window's rows in scan order (a later
// row taking a lane when strictly greater). Both steps visit the window in PyTorch's scan order,
// so without NaN that is its rule exactly: first maximum; a -inf window keeps the first live tap
// (the first tap's key is the first live column, initc). Keys are only blended, never compared.
// The last window row's reduction is kept (cv, ck: values and in-plane keys per output column)
// for the next output row, which shares it (3 rows at stride 2): 2 new rows per output row.
// Returns nonzero when a value read is NaN, or a window has no live row (the caller then redoes
// the rows in the full order). (Not inlined: inside max_pool_k's dispatch its registers spill.)
template <typename T>
__attribute__((noinline)) unsigned s2k3_idx_rows(const RowPlan<T>& c, const PoolShape& s, const T* xp, int64_t kb,
                                           int64_t a, int64_t b, T* y, int64_t* idx,
                                           const typename PV<T>::K* initc, T* cv, typename PV<T>::K* ck) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = c.W, OW = c.OW, pw = c.pw;
  const int64_t kh = s.k[1], sh = s.s[1], ph = s.p[1], dh = s.d[1];
  const V fillv = V{} - __builtin_inf();
  const S2K3Masks<T> mk = s2k3_masks<T>();
  const VK me = mk.me, mo = mk.mo, m1 = mk.m1, r1 = mk.r1;
  VK iota2;
  for (int l = 0; l < VL; ++l) iota2[l] = (K)(2 * l);
  unsigned nan = 0;
  const int64_t nq = (OW + VL - 1) / VL;
  // A later candidate takes a lane only when strictly greater (the first maximum wins); its key
  // is ck0 + off.
  auto take = [](V& v, VK& k, const V& cand, const VK& ck0, K off) __attribute__((always_inline)) {
    const VK m = cand > v;
    v = m ? cand : v;
    k = m ? ck0 + off : k;
  };
  // cell chunk k >= 1 of row rp: input columns [k VL - pw, + VL), padding outside [0, W) (a
  // plain load inside the row: merge-masked loads cost more; plain loads in a loop of their own
  // measured slower)
  auto cell = [&](const T* rp, int64_t k) __attribute__((always_inline)) {
    const int64_t off = k * VL - pw;
    if (off + VL <= W) return pld<V>(rp + off);
    if (off >= W) return fillv;
    return load_mask<V>(rp + off, fillv, (1u << (W - off)) - 1);
  };
  // row rp's reduction along the row for output chunk q (a0: its cell chunk 2q, replaced by 2q + 2):
  // values v, keys k relative to the row
  auto hr = [&](const T* rp, int64_t q, V& a0, V& v, VK& k) __attribute__((always_inline)) {
    const V a1 = cell(rp, 2 * q + 1), a2 = cell(rp, 2 * q + 2);
    nan |= unord_bits(a1, a2);
    const V E = __builtin_shuffle(a0, a1, me), O = __builtin_shuffle(a0, a1, mo);
    const V t2 = __builtin_shuffle(E, a2, m1);
    const K c0 = (K)(2 * q * VL - pw);
    v = E, k = pld<VK>(initc + q * VL);
    take(v, k, O, iota2, c0 + 1);
    take(v, k, t2, iota2, c0 + 2);
    a0 = a2;
  };
  auto first = [&](const T* rp) __attribute__((always_inline)) {  // cell chunk 0 (W >= VL)
    V a0 = pld<V>(rp);
    if (pw) a0 = __builtin_shuffle(a0, fillv, r1);
    nan |= unord_bits(a0, a0);
    return a0;
  };
  int64_t ch = -1;  // the carried row
  for (int64_t oh = a; oh < b; ++oh, y += OW, idx += OW) {
    const int64_t h0 = oh * sh - ph;
    int64_t j0, j1;
    if (dh == 1) {  // (no divisions: they cost as much as a chunk)
      j0 = max64(0, -h0), j1 = min64(kh, H - h0);
    } else {
      j0 = h0 < 0 ? ceil_div(-h0, dh) : 0, j1 = min64(kh, max64(0, ceil_div(H - h0, dh)));
    }
    const int64_t hf = h0 + j0 * dh, nr = j1 - j0;
    if (nr <= 0) return 1u;  // a window with no live row (dilation): the full order handles it
    if (nr == 3 && hf == ch && oh + 1 < b && (oh + 1) * sh - ph == hf + 2 * dh && hf + 4 * dh < H) {
      // two usual rows (3 x 3 windows, stride 2, the second's first row the first's last): four
      // new rows, the shared one carried in registers
      const T* p1 = xp + (hf + dh) * W;
      const T* p2 = xp + (hf + 2 * dh) * W;
      const T* p3 = xp + (hf + 3 * dh) * W;
      const T* p4 = xp + (hf + 4 * dh) * W;
      const K b1 = (K)(kb + (hf + dh) * W), b2 = (K)(kb + (hf + 2 * dh) * W);
      const K b3 = (K)(kb + (hf + 3 * dh) * W), b4 = (K)(kb + (hf + 4 * dh) * W);
      V x1 = first(p1), x2 = first(p2), x3 = first(p3), x4 = first(p4);
      for (int64_t q = 0; q < nq; ++q) {
        // (each row taken right after its reduction: fewer live registers, no spills)
        V v, B = pld<V>(cv + q * VL);
        VK k, KK = pld<VK>(ck + q * VL);
        hr(p1, q, x1, v, k);
        take(B, KK, v, k, b1);
        hr(p2, q, x2, v, k);
        take(B, KK, v, k, b2);
        V B2 = v;
        VK K2 = k + b2;
        hr(p3, q, x3, v, k);
        take(B2, K2, v, k, b3);
        V v4;
        VK k4;
        hr(p4, q, x4, v4, k4);
        take(B2, K2, v4, k4, b4);
        pst(cv + q * VL, v4);
        pst(ck + q * VL, (VK)(k4 + b4));
        store_vals_keys<K>(y, idx, q * VL, OW, B, KK);
        store_vals_keys<K>(y + OW, idx + OW, q * VL, OW, B2, K2);
      }
      ch = hf + 4 * dh;
      ++oh, y += OW, idx += OW;
      continue;
    }
    if (nr == 3 && hf == ch) {  // the usual row (3 x 3 window, stride 2): two new rows
      const T* p1 = xp + (hf + dh) * W;
      const T* p2 = xp + (hf + 2 * dh) * W;
      const K b1 = (K)(kb + (hf + dh) * W), b2 = (K)(kb + (hf + 2 * dh) * W);
      V x1 = first(p1), x2 = first(p2);
      for (int64_t q = 0; q < nq; ++q) {
        V v1, v2;
        VK k1, k2;
        hr(p1, q, x1, v1, k1);
        hr(p2, q, x2, v2, k2);
        V B = pld<V>(cv + q * VL);
        VK KK = pld<VK>(ck + q * VL);
        take(B, KK, v1, k1, b1);
        take(B, KK, v2, k2, b2);
        pst(cv + q * VL, v2);
        pst(ck + q * VL, (VK)(k2 + b2));
        store_vals_keys<K>(y, idx, q * VL, OW, B, KK);
      }
      ch = hf + 2 * dh;
      continue;
    }
    // any other row: up to kh live rows (the first maybe carried)
    const bool carried = hf == ch;
    for (int64_t q = 0; q < nq; ++q) {
      V B;
      VK KK;
      if (carried) {
        B = pld<V>(cv + q * VL), KK = pld<VK>(ck + q * VL);
      } else {
        const T* rp = xp + hf * W;
        V x0 = q == 0 ? first(rp) : cell(rp, 2 * q);  // (cell 2q: checked as the chunk before's a2)
        hr(rp, q, x0, B, KK);
        KK += (K)(kb + hf * W);
      }
      V v = B;
      VK k = KK;
      for (int64_t j = 1; j < nr; ++j) {
        const int64_t h = hf + j * dh;
        const T* rp = xp + h * W;
        V x0 = q == 0 ? first(rp) : cell(rp, 2 * q);
        hr(rp, q, x0, v, k);
        take(B, KK, v, k, (K)(kb + h * W));
        k += (K)(kb + h * W);
      }
      pst(cv + q * VL, v);
      pst(ck + q * VL, k);
      store_vals_keys<K>(y, idx, q * VL, OW, B, KK);
    }
    ch = hf + (nr - 1) * dh;
  }
  return nan;
}

// Max with indices for 3 taps at stride 2 without dilation along one live row (1-D pooling, kh =
// 1, or a plane edge), pw <= 1, W >= VL (AVX-512 fused plans): the row's cells (column c - pw,
// -inf outside the row) split into even / odd phases, taps E (cell 2ow), O (2ow + 1) and E one
// lane on (2ow + 2) in column order, a later tap taking a lane when strictly greater: PyTorch's
// rule when nothing is NaN (first maximum, so -0 / +0 keep the first), and a -inf window keeps its
// first live column (the padding cell before column 0 always loses). No plan tables and no keys
// in registers per cell: a tap's key is the first tap's plus its column offset (masked adds).
// (s2k3_keys_row<1>, which did these rows before, took ~0.4 ns per output in cache, this ~0.22;
// 1-D max_pool1d (8, 64, 4095) k3 s2 p1: 480 -> 350 us.) Returns nonzero when a value read is
// NaN (the caller then redoes the row exactly).
template <typename T>
__attribute__((noinline)) unsigned s2k3_idx_row1(const T* rp, int64_t kb, int64_t W, int64_t OW, int64_t pw, T* y,
                                           int64_t* idx) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const V fillv = V{} - __builtin_inf();
  const S2K3Masks<T> mk = s2k3_masks<T>();
  const VK me = mk.me, mo = mk.mo, m1 = mk.m1, r1 = mk.r1;
  VK kc;  // the first tap's key per lane (in-plane offset of column 2 ow - pw)
  for (int l = 0; l < VL; ++l) kc[l] = (K)(2 * l);
  kc += (K)(kb - pw);
  VK lane0 = VK{};  // chunk 0 with pw = 1: lane 0's first tap is the padding cell
  lane0[0] = pw ? (K)-1 : 0;
  unsigned nan = 0;
  auto cell = [&](int64_t k) __attribute__((always_inline)) {  // cells [k VL, + VL), k >= 1
    const int64_t off = k * VL - pw;
    if (off + VL <= W) return pld<V>(rp + off);
    if (off >= W) return fillv;
    return load_mask<V>(rp + off, fillv, (1u << (W - off)) - 1);
  };
  V c0 = pld<V>(rp);
  if (pw) c0 = __builtin_shuffle(c0, fillv, r1);
  const V c1 = cell(1);
  nan |= unord_bits(c0, c1);
  V E = __builtin_shuffle(c0, c1, me), O = __builtin_shuffle(c0, c1, mo);
  // output chunk q from the next cell pair d0, d1 (cells [(2q + 2) VL, (2q + 4) VL))
  auto step = [&](int64_t q, const V& d0, const V& d1, bool first) __attribute__((always_inline)) {
    nan |= unord_bits(d0, d1);
    const V E2 = __builtin_shuffle(d0, d1, me);
    const V t2 = __builtin_shuffle(E, E2, m1);
    VK m = O > E;
    if (first) m |= lane0;
    V b = m ? O : E;
    VK k = m ? kc + 1 : kc;
    m = t2 > b;
    b = m ? t2 : b;
    k = m ? kc + 2 : k;
    store_vals_keys<K>(y, idx, q * VL, OW, b, k);
    kc += (K)(2 * VL);
    E = E2, O = __builtin_shuffle(d0, d1, mo);
  };
  const int64_t nq = (OW + VL - 1) / VL;
  step(0, cell(2), cell(3), true);
  // chunks whose cell pair lies inside the row: plain loads, whole output vectors
  const int64_t qe = min64(nq, max64(1, (W + pw - 4 * VL) / (2 * VL) + 1));
  for (int64_t q = 1; q < qe; ++q)
    step(q, pld<V>(rp + (2 * q + 2) * VL - pw), pld<V>(rp + (2 * q + 3) * VL - pw), false);
  for (int64_t q = qe; q < nq; ++q) step(q, cell(2 * q + 2), cell(2 * q + 3), false);
  return nan;
}

template <typename T, int NT, typename Red, typename Fin>
FMACONV_POOL_INLINE void fused_row_n(const RowPlan<T>& c, const T* const* rows, int64_t n, T fill, const Red& red,
                                     const Fin& fin) {
  switch (n) {
    case 1: return fused_row<T, 1, NT>(c, rows, n, fill, red, fin);
    case 2: return fused_row<T, 2, NT>(c, rows, n, fill, red, fin);
    case 3: return fused_row<T, 3, NT>(c, rows, n, fill, red, fin);
    default: return fused_row<T, 0, NT>(c, rows, n, fill, red, fin);
  }
}

// VL windows of kw <= 8 consecutive elements from g (tap j of lane m: g[m * kw + j]), each
// reduced in tap order by red(earlier, later), with two-source permutes: the windows span kw
// vectors, and a tap's lanes come from vector pair p where sel[j][p] is set. (kPermute only.)
constexpr int kWinTapsMax = 8;
// The widest window the vector tap gather takes. With AVX2's three-instruction permutes scalar
// sums win at any width in double (8x512x28x28 k7 avg, AVX2: 750 vs 418 us).
template <typename T>
constexpr int win_taps_vec() {
  return !kPermute ? 0 : VB >= 64 || sizeof(T) == 4 ? kWinTapsMax : 0;
}
template <typename T>
struct WinTaps {
  typename PV<T>::VK idx[kWinTapsMax][kWinTapsMax / 2], sel[kWinTapsMax][kWinTapsMax / 2];
};
template <typename T>
const WinTaps<T>& win_taps(int64_t kw) {
  constexpr int VL = PV<T>::VL;
  struct All {
    WinTaps<T> w[kWinTapsMax + 1];
  };
  static const All all = [] {
    All a{};
    for (int w = 1; w <= kWinTapsMax; ++w)
      for (int j = 0; j < w; ++j)
        for (int p = 0; p < kWinTapsMax / 2; ++p)
          for (int m = 0; m < VL; ++m) {
            const int e = m * w + j;
            a.w[w].idx[j][p][m] = (typename PV<T>::K)(e % (2 * VL));
            a.w[w].sel[j][p][m] = e / (2 * VL) == p ? (typename PV<T>::K)-1 : 0;
          }
    return a;
  }();
  return all.w[kw];
}
template <typename T, int KW, typename Red>
FMACONV_POOL_INLINE typename PV<T>::V win_reduce(const T* g, const WinTaps<T>& wt, const Red& red) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  V v[KW + 1];
#pragma GCC unroll 8
  for (int i = 0; i < KW; ++i) v[i] = pld<V>(g + i * VL);
  v[KW] = v[KW - 1];  // (the second source of an odd kw's last pair: never selected)
  V a = V{};
#pragma GCC unroll 8
  for (int j = 0; j < KW; ++j) {
    V tap = __builtin_shuffle(v[0], v[1], wt.idx[j][0]);
#pragma GCC unroll 4
    for (int p = 1; 2 * p < KW; ++p) tap = wt.sel[j][p] ? __builtin_shuffle(v[2 * p], v[2 * p + 1], wt.idx[j][p]) : tap;
    a = j ? red(a, tap) : tap;
  }
  return a;
}
// f(IC<kw>{}) for kw in [3, kWinTapsMax].
template <typename F>
FMACONV_POOL_INLINE void with_kw(int64_t kw, const F& f) {
  switch (kw) {
    case 3: return f(IC<3>{});
    case 4: return f(IC<4>{});
    case 5: return f(IC<5>{});
    case 6: return f(IC<6>{});
    case 7: return f(IC<7>{});
    default: return f(IC<8>{});
  }
}

// zo[m] = the sum (AVG) or NaN-propagating max of xs[m * kw + j] over j < kw, m < n: windows
// that tile a run of input. kw = 1, 2 and 4 use full vectors (even/odd shuffles), kw <= 8
// permutes (AVX-512), others scalars.
template <typename T, bool AVG>
inline void reduce_tiled_cols(const T* __restrict xs, int64_t n, int64_t kw, T* __restrict zo) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  auto red = [](V a, V b) { return pool_red<AVG, true>(a, b); };
  auto sred = [](T a, T b) { return pool_red<AVG, true>(a, b); };
  VK me, mo;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
  int64_t m = 0;
  if (kw == 1) {
    for (; m + VL <= n; m += VL) pst(zo + m, pld<V>(xs + m));
  } else if (kw == 2) {
    for (; m + VL <= n; m += VL) {
      const V a = pld<V>(xs + 2 * m), b = pld<V>(xs + 2 * m + VL);
      pst(zo + m, red(__builtin_shuffle(a, b, me), __builtin_shuffle(a, b, mo)));
    }
  } else if (kw == 4) {
    for (; m + VL <= n; m += VL) {
      const T* q = xs + 4 * m;
      const V a = pld<V>(q), b = pld<V>(q + VL), c = pld<V>(q + 2 * VL), d = pld<V>(q + 3 * VL);
      const V ab = red(__builtin_shuffle(a, b, me), __builtin_shuffle(a, b, mo));
      const V cd = red(__builtin_shuffle(c, d, me), __builtin_shuffle(c, d, mo));
      pst(zo + m, red(__builtin_shuffle(ab, cd, me), __builtin_shuffle(ab, cd, mo)));
    }
  } else if (kw <= win_taps_vec<T>()) {
    if constexpr (kPermute) {  // (elsewhere the scalar loop below: no permutes compiled lane by lane)
      const WinTaps<T>& wt = win_taps<T>(kw);
      with_kw(kw, [&](auto KW) {
        for (; m + VL <= n; m += VL) pst(zo + m, win_reduce<T, decltype(KW)::value>(xs + m * kw, wt, red));
      });
    }
  }
  for (; m < n; ++m) {
    T a = xs[m * kw];
    for (int64_t j = 1; j < kw; ++j) a = sred(a, xs[m * kw + j]);
    zo[m] = a;
  }
}

// Average over windows that tile the input, for window widths the column pass has no vector
// form for (kw not 1, 2 or 4): one output row's kd x kh input rows (kd slices dstride apart,
// kh rows W apart) are summed first, full vectors of the OW * kw columns in use, into t; then
// each window sums its kw sums. Columns first took kw scalar adds per input element
// (avg_pool2d(3) on 24x24: 8.8x a copy of the input; avg_pool3d(3): 7.2x, as slow as PyTorch).
// With two-source permutes (kw <= 8), VL windows at a time: tap j of lane m is t[m * kw + j],
// taken from the pair of vectors holding it.
constexpr int64_t kRowsFirstMax = 1024;  // t's length (wider rows keep the column pass)

inline bool avg_rows_first_ok(const PoolShape& s) {
  return s.k[2] != 1 && s.k[2] != 2 && s.k[2] != 4 && s.out[2] * s.k[2] <= kRowsFirstMax;
}

template <typename T>
struct RowsFirst {
  static constexpr int VL = PV<T>::VL;
  alignas(64) T t[kRowsFirstMax + kWinTapsMax * VL];  // whole groups of VL windows read past the rows
  int64_t kd, dstride, kh, W, OW, kw;
  T div, inv;
  bool pow2, vec;
  RowsFirst(const PoolShape& s, int64_t dstride_, T div_)
      : kd(s.k[0]), dstride(dstride_), kh(s.k[1]), W(s.in[2]), OW(s.out[2]), kw(s.k[2]), div(div_) {
    for (auto& v : t) v = T(0);
    pow2 = ((int64_t)div & ((int64_t)div - 1)) == 0;  // then the reciprocal rounds the same quotient
    inv = T(1) / div;
    vec = kw <= win_taps_vec<T>();
  }

  // Output rows [r0, r1), stored flat from y (row r's input rows start at base(r)): batches of
  // rows summed into t one after another, then their windows as one flat run (VL at a time
  // across row ends: rows of a few windows fill whole vectors).
  template <typename Base>
  void rows(int64_t r0, int64_t r1, const Base& base, T* __restrict y) {
    typedef typename PV<T>::V V;
    const int64_t n = OW * kw, B = max64(1, kRowsFirstMax / n);
    for (int64_t b0 = r0; b0 < r1; b0 += B) {
      const int64_t b1 = min64(r1, b0 + B);
      for (int64_t r = b0; r < b1; ++r) {
        const T* xb = base(r);
        T* tr = t + (r - b0) * n;
        auto col = [&](int64_t c, auto load) __attribute__((always_inline)) {
          V a = V{};
          for (int64_t jd = 0; jd < kd; ++jd)
            for (int64_t jh = 0; jh < kh; ++jh) {
              const V v = load(xb + jd * dstride + jh * W + c);
              a = jd || jh ? a + v : v;
            }
          return a;
        };
        if (n >= VL) {
          for_chunks<VL>(n, [&](int64_t c) { pst(tr + c, col(c, [](const T* p) { return pld<V>(p); })); });
        } else {
          const unsigned m = (1u << n) - 1;
          store_n(tr, col(0, [&](const T* p) { return load_mask<V>(p, V{}, m); }), n);
        }
      }
      const int64_t cnt = (b1 - b0) * OW;  // windows of the batch
      T* yb = y + b0 * OW;
      int64_t o = 0;
      if constexpr (kPermute) {
        if (vec) {
          const WinTaps<T>& wt = win_taps<T>(kw);
          with_kw(kw, [&](auto KW) {
            for (; o < cnt; o += VL) {
              V a = win_reduce<T, decltype(KW)::value>(t + o * kw, wt, [](V x, V y) { return x + y; });
              a += V{};  // a sum of -0 is +0, as PyTorch's
              a = pow2 ? a * inv : a / div;
              if (o + VL <= cnt)
                pst(yb + o, a);
              else
                store_n(yb + o, a, cnt - o);
            }
          });
        }
      }
      for (; o < cnt; ++o) {
        const T* w = t + o * kw;
        T a = w[0];
        for (int64_t j = 1; j < kw; ++j) a += w[j];
        a += T(0);
        yb[o] = pow2 ? a * inv : a / div;
      }
    }
  }
};

// Windows that tile the input (pool_is_tiled): every input row belongs to one output row, so a
// segment of output rows is pooled in two flat passes with no edges: the columns of its input
// rows (each depth band in turn) are reduced kw at a time into z, one contiguous run across
// row ends (input rows hold whole windows), then each output row reduces its kd * kh rows of z
// with full vectors. Rows narrower than a vector are stored whole, later rows of the range
// overwriting the extra lanes; the rows within a vector of the range's end store their own lanes.
template <typename T, bool AVG>
void tiled_pool_k(const PoolShape& s, const T* x, T* y, T div, int64_t begin, int64_t end, void* scratch) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kd = s.k[0], kh = s.k[1], kw = s.k[2];
  const int64_t B = pool_tile_rows(s), ZS = B * kh * OW;
  T* z = (T*)align64(scratch);
  auto red = [](V a, V b) { return pool_red<AVG, true>(a, b); };
  auto hred = [&](const T* xs, int64_t n, T* zo) { reduce_tiled_cols<T, AVG>(xs, n, kw, zo); };
  // a power-of-two divisor: multiplying by its reciprocal rounds the same exact quotient
  const bool pow2 = ((int64_t)div & ((int64_t)div - 1)) == 0;
  const T inv = T(1) / div;
  int64_t offs[64];
  const int64_t no = kd * kh <= 64 ? kd * kh : 0;
  for (int64_t jd = 0; jd < kd && no; ++jd)
    for (int64_t jh = 0; jh < kh; ++jh) offs[jd * kh + jh] = jd * ZS + jh * OW;
  auto vred = [&](const T* zr) __attribute__((always_inline)) {
    V a;
    if (no && !AVG) {
      // max: last row first, each earlier row as red's first operand (the one that wins ties):
      // it comes from memory, which vmaxps takes only as its second source
      a = pld<V>(zr + offs[no - 1]);
      for (int64_t i = no - 2; i >= 0; --i) a = red(pld<V>(zr + offs[i]), a);
    } else if (no) {
      a = pld<V>(zr);
      for (int64_t i = 1; i < no; ++i) a = red(a, pld<V>(zr + offs[i]));
    } else {
      a = pld<V>(zr);
      for (int64_t jd = 0; jd < kd; ++jd)
        for (int64_t jh = jd ? 0 : 1; jh < kh; ++jh) a = red(a, pld<V>(zr + jd * ZS + jh * OW));
    }
    if constexpr (AVG) a = pow2 ? mul_pz(a, inv) : (a + V{}) / div;  // (+0: a sum of -0 is +0, as PyTorch's)
    return a;
  };
  RowIter it(begin, s.out[0], OH);
  if constexpr (AVG) {
    if (avg_rows_first_ok(s)) {
      RowsFirst<T> rf(s, H * W, div);
      const int64_t OD = s.out[0];
      rf.rows(begin, end, [&](int64_t r) {
        const int64_t p = r / (OD * OH), od = r / OH % OD, oh = r % OH;
        return x + p * s.in_plane() + (od * kd * H + oh * kh) * W;
      }, y);
      return;
    }
  }
  for (int64_t row = begin; row < end;) {
    const int64_t a = it.oh, b = min64(min64(OH, a + B), a + (end - row));
    for (int64_t jd = 0; jd < kd; ++jd)
      hred(x + it.p * s.in_plane() + ((it.od * kd + jd) * H + a * kh) * W, (b - a) * kh * OW, z + jd * ZS);
    for (int64_t oh = a; oh < b; ++oh, ++row, it.next()) {
      const T* zr = z + (oh - a) * kh * OW;
      T* yr = y + row * OW;
      if (OW >= VL)
        for_chunks<VL>(OW, [&](int64_t o) { pst(yr + o, vred(zr + o)); });
      else if ((end - row) * OW >= VL)  // the lanes past this row are later rows of the range
        pst(yr, vred(zr));
      else
        store_n(yr, vred(zr), OW);
    }
  }
}

// tiled_pool_k for max pooling with indices. The same two passes carry keys (flat in-plane
// offsets): the column pass takes tap jw + 1 over the best so far when strictly greater or NaN
// (taps come in scan order), and cell q of a band (input offset S + q * kw) keys its winner as
// S + q * kw + jw, a linear function of q (no per-row or per-plane arithmetic). The row pass
// then folds the kd * kh rows in scan order with the same rule: a later row's offsets are all
// larger, so the result is PyTorch's (first maximum, last NaN). Windows tile the input, so the
// first tap is PyTorch's initial index too (an all -inf window keeps it).
template <typename T>
void tiled_max_idx_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end, void* scratch) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kd = s.k[0], kh = s.k[1], kw = s.k[2];
  const int64_t B = pool_tile_rows(s), ZS = B * kh * OW;
  char* sp = align64(scratch);
  T* z = carve<T>(sp, kd * ZS + 4 * VL);
  K* zk = carve<K>(sp, kd * ZS + 4 * VL);
  VK me, mo, iota;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1, iota[l] = (K)l;
  // (zo, zko)[m] = best of xs[m * kw + j] for m in [0, n); keys from S (the offset of xs[0])
  auto hred = [&](const T* __restrict xs, int64_t n, int64_t S, T* __restrict zo, K* __restrict zko) {
    int64_t m = 0;
    if (kw == 1) {
      VK k = (K)S + iota;
      for (; m + VL <= n; m += VL, k += (K)VL) pst(zo + m, pld<V>(xs + m)), pst(zko + m, k);
    } else if (kw == 2) {
      VK k = (K)S + 2 * iota;
      for (; m + VL <= n; m += VL, k += (K)(2 * VL)) {
        const V a = pld<V>(xs + 2 * m), b = pld<V>(xs + 2 * m + VL);
        const V e = __builtin_shuffle(a, b, me), o = __builtin_shuffle(a, b, mo);
        const VK t = (o > e) | (o != o);
        pst(zo + m, t ? o : e);
        pst(zko + m, k - t);  // t is -1 where the second tap wins
      }
    }
    for (; m < n; ++m) {
      T a = xs[m * kw];
      int64_t j = 0;
      for (int64_t i = 1; i < kw; ++i) {
        const T v = xs[m * kw + i];
        if (v > a || v != v) a = v, j = i;
      }
      zo[m] = a;
      zko[m] = (K)(S + m * kw + j);
    }
  };
  int64_t offs[64];
  const int64_t no = kd * kh <= 64 ? kd * kh : 0;
  for (int64_t jd = 0; jd < kd && no; ++jd)
    for (int64_t jh = 0; jh < kh; ++jh) offs[jd * kh + jh] = jd * ZS + jh * OW;
  auto vred = [&](int64_t o, V& a, VK& k) __attribute__((always_inline)) {
    a = pld<V>(z + o);
    k = pld<VK>(zk + o);
    auto fold = [&](int64_t off) __attribute__((always_inline)) {
      const V v = pld<V>(z + o + off);
      const VK m = (v > a) | (v != v);
      a = m ? v : a;
      k = m ? pld<VK>(zk + o + off) : k;
    };
    if (no) {
      for (int64_t i = 1; i < no; ++i) fold(offs[i]);
    } else {
      for (int64_t jd = 0; jd < kd; ++jd)
        for (int64_t jh = jd ? 0 : 1; jh < kh; ++jh) fold(jd * ZS + jh * OW);
    }
  };
  // Rows narrower than half a vector (AVX-512, 2-D): R output rows per vector, their kh taps
  // permuted out of the two z vectors that hold the group's kh * R column-reduced rows.
  const int64_t R = kPermute && kd == 1 && 2 * OW <= VL ? min64(VL / OW, 2 * VL / (kh * OW)) : 0;
  VK gp[8];
  const bool grouped = R >= 2 && kh <= 8;
  if (grouped)
    for (int64_t jh = 0; jh < kh; ++jh)
      for (int l = 0; l < VL; ++l) gp[jh][l] = (K)(l < R * OW ? (l / OW) * kh * OW + jh * OW + l % OW : 0);
  RowIter it(begin, s.out[0], OH);
  if (kd == 1 && kh == 2 && kw == 2 && !grouped) {
    // 2x2 windows: each output row straight from its two input rows, in registers (no z). A
    // chunk reads 2 * VL elements from each row: rows narrower than that read into the next
    // rows, so the last rows of the tensor (where that would pass its end) go scalar.
    const int64_t total = s.planes * s.in_plane();
    const VK k0 = 2 * iota;
    for (int64_t row = begin; row < end; ++row, it.next()) {
      const int64_t rb = (it.od * H + 2 * it.oh) * W;  // in-plane offset of the window's first row (kd = 1)
      const T* r0 = x + it.p * s.in_plane() + rb;
      const T* r1 = r0 + W;
      T* yr = y + row * OW;
      int64_t* ir = idx + row * OW;
      if (OW < VL && (r1 - x) + 2 * VL > total) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          T v = r0[2 * ow];
          int64_t k = 0;
          const T t[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
          const int64_t o[3] = {1, W, W + 1};
          for (int j = 0; j < 3; ++j)
            if (t[j] > v || t[j] != t[j]) v = t[j], k = o[j];
          yr[ow] = v;
          ir[ow] = rb + 2 * ow + k;
        }
        continue;
      }
      auto chunk = [&](int64_t o, V& v, VK& k) __attribute__((always_inline)) {
        const V a0 = pld<V>(r0 + 2 * o), a1 = pld<V>(r0 + 2 * o + VL);
        const V b0 = pld<V>(r1 + 2 * o), b1 = pld<V>(r1 + 2 * o + VL);
        const V e0 = __builtin_shuffle(a0, a1, me), o0 = __builtin_shuffle(a0, a1, mo);
        const V e1 = __builtin_shuffle(b0, b1, me), o1 = __builtin_shuffle(b0, b1, mo);
        const VK m0 = (o0 > e0) | (o0 != o0), m1 = (o1 > e1) | (o1 != o1);
        const V v0 = m0 ? o0 : e0, v1 = m1 ? o1 : e1;
        const VK m = (v1 > v0) | (v1 != v1);  // the later row: strictly greater, or NaN
        v = m ? v1 : v0;
        // winner's offset in the window: m0 / m1 are -1 where the odd column won
        k = (K)(rb + 2 * o) + k0 + (m ? (K)W - m1 : -m0);
      };
      V v;
      VK k;
      if (OW >= VL) {
        for_chunks<VL>(OW, [&](int64_t o) {
          chunk(o, v, k);
          pst(yr + o, v);
          store_idx<K>(ir + o, k, VL);
        });
      } else {
        chunk(0, v, k);
        if ((end - row) * OW >= VL) {  // the lanes past this row are later rows of the range
          pst(yr, v);
          store_idx<K>(ir, k, VL);
        } else {
          store_n(yr, v, OW);
          store_idx<K>(ir, k, OW);
        }
      }
    }
    return;
  }
  for (int64_t row = begin; row < end;) {
    const int64_t a = it.oh, b = min64(min64(OH, a + B), a + (end - row));
    for (int64_t jd = 0; jd < kd; ++jd) {
      const int64_t S = ((it.od * kd + jd) * H + a * kh) * W;
      hred(x + it.p * s.in_plane() + S, (b - a) * kh * OW, S, z + jd * ZS, zk + jd * ZS);
    }
    if (grouped) {
      for (int64_t oh = a; oh < b;) {
        const int64_t g0 = (oh - a) * kh * OW, nr = min64(R, b - oh);
        const V A = pld<V>(z + g0), Bv = pld<V>(z + g0 + VL);
        const VK AK = pld<VK>(zk + g0), BK = pld<VK>(zk + g0 + VL);
        V v = __builtin_shuffle(A, Bv, gp[0]);
        VK k = __builtin_shuffle(AK, BK, gp[0]);
        for (int64_t jh = 1; jh < kh; ++jh) {
          const V u = __builtin_shuffle(A, Bv, gp[jh]);
          const VK m = (u > v) | (u != u);
          v = m ? u : v;
          k = m ? (VK)__builtin_shuffle(AK, BK, gp[jh]) : k;
        }
        T* yr = y + row * OW;
        int64_t* ir = idx + row * OW;
        if ((end - row) * OW >= VL) {  // lanes past the group: later rows of the range rewrite them
          pst(yr, v);
          store_idx<K>(ir, k, VL);
        } else {
          store_n(yr, v, nr * OW);
          store_idx<K>(ir, k, nr * OW);
        }
        oh += nr, row += nr;
        for (int64_t i = 0; i < nr; ++i) it.next();
      }
      continue;
    }
    for (int64_t oh = a; oh < b; ++oh, ++row, it.next()) {
      const int64_t zr = (oh - a) * kh * OW;
      T* yr = y + row * OW;
      int64_t* ir = idx + row * OW;
      V v;
      VK k;
      if (OW >= VL) {
        for_chunks<VL>(OW, [&](int64_t o) {
          vred(zr + o, v, k);
          pst(yr + o, v);
          store_idx<K>(ir + o, k, VL);
        });
      } else {
        vred(zr, v, k);
        if ((end - row) * OW >= VL) {  // the lanes past this row are later rows of the range
          pst(yr, v);
          store_idx<K>(ir, k, VL);
        } else {
          store_n(yr, v, OW);
          store_idx<K>(ir, k, OW);
        }
      }
    }
  }
}

// Two consecutive output rows of a plane that share window rows (stride 1 along the rows, or
// along depth): split their rows (ascending pointers) into shared rows and each one's own.
// True when both have own rows, as many, and some are shared.
template <typename T>
inline bool split_pair(const T* const* r1, const T* const* r2, int64_t n, const T** sh, const T** u1, const T** u2,
                       int64_t* ns, int64_t* nu) {
  int64_t i = 0, j = 0, a = 0, b = 0, m = 0;
  while (i < n && j < n) {
    if (r1[i] == r2[j])
      sh[m++] = r1[i++], ++j;
    else if (r1[i] < r2[j])
      u1[a++] = r1[i++];
    else
      u2[b++] = r2[j++];
  }
  while (i < n) u1[a++] = r1[i++];
  while (j < n) u2[b++] = r2[j++];
  *ns = m, *nu = a;
  return m > 0 && a > 0 && a == b;
}

// fused_row (stride 1) for such a pair: each cell chunk reduces the shared rows once, then
// folds in each row's own rows (own rows before shared ones for the first, after for the
// second: for max the result is the same value, and NaN still propagates). fin(ow, a1, a2).
template <typename T, int NS, int NT, typename Red, typename Fin>
FMACONV_POOL_INLINE void fused_pair(const RowPlan<T>& c, const T* const* sh_in, int64_t ns, const T* const* u1_in,
                                    const T* const* u2_in, int64_t nu, T fill, const Red& red, const Fin& fin) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  // NS > 0: NS shared rows and one own row each, in registers
  const T* shl[NS > 0 ? NS : 1];
  const T *u1l = u1_in[0], *u2l = u2_in[0];
  for (int r = 0; r < NS; ++r) shl[r] = sh_in[r];
  const T* const* shr = NS > 0 ? shl : sh_in;
  const int64_t nsl = NS > 0 ? NS : ns, nul = NS > 0 ? 1 : nu;
  const V fillv = V{} + fill;
  const int64_t KW = NT > 0 ? NT : c.KW;
  const int64_t nq = (c.OW + VL - 1) / VL;
  auto cells = [&](int64_t k, V& a1, V& a2) __attribute__((always_inline)) {
    if (k >= c.nck || c.ckind[k] == 2) {
      a1 = a2 = fillv;
      return;
    }
    const int64_t o = c.coff[k];
    V m = pld<V>(shr[0] + o);
    for (int64_t i = 1; i < nsl; ++i) m = red(m, pld<V>(shr[i] + o));
    V p = pld<V>((NS > 0 ? u1l : u1_in[0]) + o), q = pld<V>((NS > 0 ? u2l : u2_in[0]) + o);
    for (int64_t i = 1; i < nul; ++i) p = red(p, pld<V>(u1_in[i] + o)), q = red(q, pld<V>(u2_in[i] + o));
    a1 = red(p, m);
    a2 = red(m, q);
    if (c.ckind[k] == 1) {
      a1 = __builtin_shuffle(a1, fillv, c.cidx[k]);
      a2 = __builtin_shuffle(a2, fillv, c.cidx[k]);
    }
  };
  V A1, A2;
  cells(0, A1, A2);
  for (int64_t q = 0; q < nq; ++q) {
    V B1, B2;
    cells(q + 1, B1, B2);
    V acc1 = c.tr[0] ? __builtin_shuffle(A1, B1, c.tmask[0]) : A1;
    V acc2 = c.tr[0] ? __builtin_shuffle(A2, B2, c.tmask[0]) : A2;
    for (int64_t j = 1; j < KW; ++j) {
      acc1 = red(acc1, __builtin_shuffle(A1, B1, c.tmask[j]));
      acc2 = red(acc2, __builtin_shuffle(A2, B2, c.tmask[j]));
    }
    fin(q * VL, acc1, acc2);
    A1 = B1, A2 = B2;
  }
}

template <typename T, int NT, typename Red, typename Fin>
FMACONV_POOL_INLINE void fused_pair_n(const RowPlan<T>& c, const T* const* sh, int64_t ns, const T* const* u1,
                                      const T* const* u2, int64_t nu, T fill, const Red& red, const Fin& fin) {
  if (ns == 2 && nu == 1) return fused_pair<T, 2, NT>(c, sh, ns, u1, u2, nu, fill, red, fin);
  if (ns == 1 && nu == 1) return fused_pair<T, 1, NT>(c, sh, ns, u1, u2, nu, fill, red, fin);
  return fused_pair<T, 0, NT>(c, sh, ns, u1, u2, nu, fill, red, fin);
}

// Flat kernels (pool_is_flat: stride 1 both ways, OW == W, 2-D). Output row oh lines up with
// input row oh, so a block of output rows is pooled as one run across row ends: the live input
// rows of each output row are reduced into vb (rows whose kh taps are all live in one flat loop),
// then vb's taps are unaligned vector loads at constant offsets, each lane whose column plus the
// tap offset leaves [0, W) blended with the padding value (a running column vector, no per-row
// work). Average pooling multiplies by a per-column reciprocal of the divisor, recomputed only
// when the row factor changes (the first and last rows without count_include_pad).
// FAST (max only): plain max (maxps) in both passes, every input vector the rows pass reads
// checked for NaN on the side; a block that read a NaN is redone with vmax_nan (FAST = false).
template <typename T, bool AVG, bool FAST = false>
void flat_s1_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override, int64_t dfac,
               int64_t begin, int64_t end, void* scratch) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  typedef typename PoolKey<T>::utype UKs;
  typedef UKs UVK __attribute__((vector_size(VB)));
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kh = s.k[1], ph = s.p[1], dh = s.d[1], kw = s.k[2], pw = s.p[2], dw = s.d[2];
  const int64_t BR = pool_flat_rows(s), margin = pw + 2 * VL;
  // else the taps pass goes row by row (FAST, rows of 2 vectors or more: then only the edge
  // chunks need the per-lane column masks)
  const bool flat = OW == W && (!FAST || W < 2 * VL);
  const T fill = AVG ? T(0) : T(-__builtin_inf());
  const V fillv = V{} + fill;
  char* sp = align64(scratch);
  T* vb = carve<T>(sp, BR * W + 2 * margin) + margin;
  T* rcpx = carve<T>(sp, OW + VL);
  T* cw = carve<T>(sp, OW);
  static_assert(!(AVG && FAST), "FAST is for max pooling");
  auto red = [](auto a, auto b) { return pool_red<AVG, !FAST>(a, b); };
  unsigned nan = 0;  // FAST: nonzero once the block's rows pass read a NaN
  // taps: offset, and the output columns [lo, lo + span) where the tap is live
  int64_t toff[8], tlo[8], tspan[8];
  bool tall[8];
  for (int64_t j = 0; j < kw; ++j) {
    const int64_t t = j * dw - pw, lo = max64(0, -t), hi = min64(OW, W - t);
    toff[j] = t, tlo[j] = lo, tspan[j] = max64(0, hi - lo), tall[j] = lo == 0 && hi == OW;
  }
  for (int64_t c = 0; c < OW; ++c) {
    const int64_t st = c - pw, en = min64(st + kw, W + pw);
    cw[c] = divisor_override ? T(1) : count_include_pad ? T(en - st) : T(min64(en, W) - max64(st, 0));
  }
  VK col0;
  for (int64_t l = 0, c = 0; l < VL; ++l, c = c + 1 == OW ? 0 : c + 1) col0[l] = (K)c;
  const K step = (K)(OW >= VL ? VL : VL % OW);
  auto row_factor = [&](int64_t oh) -> int64_t {
    if (divisor_override) return divisor_override;
    const int64_t h0 = oh - ph, h1 = min64(h0 + kh, H + ph);
    return dfac * (count_include_pad ? h1 - h0 : min64(h1, H) - max64(h0, 0));
  };
  // output rows [oi0, oi1) have all kh taps live (the rest: a division or two per row)
  const int64_t oi0 = min64(ph, OH), oi1 = max64(oi0, min64(OH, H - (kh - 1) * dh + ph));
  auto live_rows = [&](int64_t oh, int64_t* j0, int64_t* j1) {
    if (oh >= oi0 && oh < oi1) {
      *j0 = 0, *j1 = kh;
      return;
    }
    const int64_t h0 = oh - ph;
    *j0 = h0 < 0 ? ceil_div(-h0, dh) : 0;
    *j1 = min64(kh, max64(0, ceil_div(H - h0, dh)));
  };
  // vb[0, n) = reduce over taps of src + off[t] (n elements, flat)
  auto vreduce = [&](const T* src, const int64_t* off, int64_t nt, T* __restrict dst, int64_t n) {
    if (nt == 0) {
      for (int64_t i = 0; i < n; ++i) dst[i] = fill;
      return;
    }
    if (n >= VL) {
      // 2 or 3 rows (the usual windows): row pointers in registers
      auto go = [&](auto NR) __attribute__((always_inline)) {
        constexpr int nr = decltype(NR)::value;
        const T* rp[nr > 0 ? nr : 1];
        for (int t = 0; t < nr; ++t) rp[t] = src + off[t];
        for_chunks<VL>(n, [&](int64_t i) __attribute__((always_inline)) {
          if constexpr (nr > 0) {
            V v[nr];
            for (int t = 0; t < nr; ++t) v[t] = pld<V>(rp[t] + i);
            if constexpr (FAST)
              for (int t = 0; t < nr; t += 2) nan |= unord_bits(v[t], v[t + 1 < nr ? t + 1 : t]);
            V a = v[0];
            for (int t = 1; t < nr; ++t) a = red(a, v[t]);
            pst(dst + i, a);
          } else {
            V a = pld<V>(src + off[0] + i);
            if constexpr (FAST) nan |= unord_bits(a, a);
            for (int64_t t = 1; t < nt; ++t) {
              const V v = pld<V>(src + off[t] + i);
              if constexpr (FAST) nan |= unord_bits(v, v);
              a = red(a, v);
            }
            pst(dst + i, a);
          }
        });
      };
      if (nt == 1) return go(IC<1>{});
      if (nt == 2) return go(IC<2>{});
      if (nt == 3) return go(IC<3>{});
      return go(IC<0>{});
    } else {
      for (int64_t i = 0; i < n; ++i) {
        T a = src[off[0] + i];
        if constexpr (FAST) nan |= a != a;
        for (int64_t t = 1; t < nt; ++t) {
          if constexpr (FAST) nan |= src[off[t] + i] != src[off[t] + i];
          a = red(a, src[off[t] + i]);
        }
        dst[i] = a;
      }
    }
  };
  // taps pass over n outputs of one segment: tap count and per-tap constants in registers for
  // the usual windows
  // (FAST, rows of 2+ vectors: nrows rows of n == OW outputs, src rows at stride W)
  auto taps_nt = [&](auto NT, const T* src, T* dst, int64_t n, int64_t nrows) __attribute__((always_inline)) {
    constexpr int nt = decltype(NT)::value;
    constexpr int NA = nt > 0 ? nt : 8;
    const int64_t kt = nt > 0 ? nt : kw;
    VK lov[NA], spv[NA];
    const T* tp[NA];
    bool all[NA];
    for (int64_t j = 0; j < kt; ++j)
      lov[j] = VK{} + (K)tlo[j], spv[j] = VK{} + (K)tspan[j], tp[j] = src + toff[j], all[j] = tall[j];
    const VK stepv = VK{} + step, owv = VK{} + (K)OW;
    if (FAST && !flat) {  // row by row: chunks at [ilo, ihi] read no column outside [0, W)
      const int64_t ilo = -toff[0], ihi = W - VL - toff[kt - 1];
      VK iota;
      for (int l = 0; l < VL; ++l) iota[l] = (K)l;
      for (int64_t rr = 0; rr < nrows; ++rr, dst += OW) {
        if (rr)
          for (int64_t j = 0; j < kt; ++j) tp[j] += W;
        for (int64_t i = 0; i < n; i += VL) {
          V acc;
          if (i >= ilo && i <= ihi) {
            acc = pld<V>(tp[0] + i);
            for (int64_t j = 1; j < kt; ++j) acc = red(acc, pld<V>(tp[j] + i));
          } else {
            const VK col = iota + (K)i;
            acc = fillv;
            for (int64_t j = 0; j < kt; ++j) {
              V v = pld<V>(tp[j] + i);
              if (!all[j]) v = (VK)((UVK)(col - lov[j]) < (UVK)spv[j]) ? v : fillv;
              acc = j ? red(acc, v) : v;
            }
          }
          store_chunk(dst, i, n, acc);
        }
      }
      return;
    }
    VK col = col0;
    int64_t r = 0;
    for (int64_t i = 0; i < n; i += VL) {
      V acc = fillv;
      for (int64_t j = 0; j < kt; ++j) {
        V v = pld<V>(tp[j] + i);
        if (!all[j]) v = (VK)((UVK)(col - lov[j]) < (UVK)spv[j]) ? v : fillv;
        acc = j ? red(acc, v) : v;
      }
      if constexpr (AVG) acc = mul_pz(acc, pld<V>(rcpx + r));
      store_chunk(dst, i, n, acc);
      col += stepv;
      col = col >= owv ? col - owv : col;
      r += step;
      if (r >= OW) r -= OW;
    }
  };
  auto taps = [&](const T* src, T* dst, int64_t n, int64_t nrows) {
    switch (kw) {
      case 1: return taps_nt(IC<1>{}, src, dst, n, nrows);
      case 2: return taps_nt(IC<2>{}, src, dst, n, nrows);
      case 3: return taps_nt(IC<3>{}, src, dst, n, nrows);
      default: return taps_nt(IC<0>{}, src, dst, n, nrows);
    }
  };
  T rcp_f = T(0);
  int64_t off[64];
  int64_t row = begin;
  while (row < end) {
    const int64_t p = row / OH, a = row % OH, b = min64(min64(OH, a + BR), a + (end - row));
    const T* xp = x + p * s.in_plane();
    // rows pass: runs of output rows with all kh taps live go flat
    for (int64_t oh = a; oh < b;) {
      int64_t j0, j1;
      live_rows(oh, &j0, &j1);
      const int64_t o2 = oh >= oi0 && oh < oi1 ? min64(b, oi1) : oh + 1;
      // taps in batches of 64 (deeper windows fold the later batches into vb)
      const int64_t n = (o2 - oh) * W;
      T* dst = vb + (oh - a) * W;
      if (j1 <= j0) vreduce(xp, off, 0, dst, n);
      for (int64_t jb = j0; jb < j1; jb += 64) {
        const int64_t nt = min64(64, j1 - jb);
        for (int64_t t = 0; t < nt; ++t) off[t] = (oh - ph + (jb + t) * dh) * W;
        if (jb == j0) {
          vreduce(xp, off, nt, dst, n);
        } else {
          for (int64_t i = 0; i < n; ++i) {
            T acc = dst[i];
            for (int64_t t = 0; t < nt; ++t) {
              if constexpr (FAST) nan |= xp[off[t] + i] != xp[off[t] + i];
              acc = red(acc, xp[off[t] + i]);
            }
            dst[i] = acc;
          }
        }
      }
      oh = o2;
    }
    if constexpr (FAST) {
      if (nan) {  // this block again with the NaN-propagating max (it reuses the scratch)
        flat_s1_k<T, false, false>(s, x, y, false, 0, 1, row, row + (b - a), scratch);
        nan = 0;
        row += b - a;
        continue;
      }
    }
    // taps pass: runs of rows with one row factor
    for (int64_t oh = a; oh < b;) {
      int64_t o2 = oh + 1;
      if constexpr (AVG) {
        const int64_t f = row_factor(oh);
        if (oh >= oi0 && oh < oi1) o2 = min64(b, oi1);  // interior rows share the factor
        while (o2 < b && row_factor(o2) == f) ++o2;
        if ((T)f != rcp_f) {
          rcp_f = (T)f;
          for (int64_t c = 0; c < OW; ++c) rcpx[c] = T(1) / (rcp_f * cw[c]);
          for (int64_t c = 0; c < VL; ++c) rcpx[OW + c] = rcpx[c < OW ? c : c % OW];
        }
      } else {
        o2 = b;
      }
      // flat: one segment of the whole run (columns wrap at row ends); else one per row (FAST:
      // the row loop inside, the tap constants set once)
      for (int64_t seg = oh; seg < o2; seg = flat || FAST ? o2 : seg + 1) {
      const int64_t n = flat ? (o2 - oh) * W : OW;
      const T* src = vb + (seg - a) * W;
      T* dst = y + (p * OH + seg) * OW;
      taps(src, dst, n, flat || !FAST ? 1 : o2 - seg);
      }
      oh = o2;
    }
    row += b - a;
  }
}

// ---- max pooling without indices: plain max, NaN checked on the side -------------------------
// The fused rows with vmaxps alone (a > b ? a : b, the same value as vmax_nan when nothing is
// NaN) instead of vmax_nan's three operations; every row vector a cell reads goes through one
// unordered compare (two vectors each), OR-ed into *nan. A row (or pair) that read a NaN is
// redone by the caller with vmax_nan, so NaN still propagates; only NaN costs that second pass.
// Cell chunk k: the maximum of NR rows (NR > 0) at the chunk's columns.
template <typename T, int NR>
FMACONV_POOL_INLINE typename PV<T>::V maxf_cell(const RowPlan<T>& c, const T* const* rows, int64_t n, int64_t k,
                                                typename PV<T>::V fillv, unsigned& nan) {
  typedef typename PV<T>::V V;
  if (k >= c.nck || c.ckind[k] == 2) return fillv;
  const int64_t o = c.coff[k];
  V a;
  if constexpr (NR > 0) {
    V v[NR];
    for (int r = 0; r < NR; ++r) v[r] = pld<V>(rows[r] + o);
    for (int r = 0; r < NR; r += 2) nan |= unord_bits(v[r], v[r + 1 < NR ? r + 1 : r]);
    a = v[0];
    for (int r = 1; r < NR; ++r) a = pmax(a, v[r]);
  } else {  // (a NaN in a reaches a, so each compare with a sees the rows before too)
    a = pld<V>(rows[0] + o);
    nan |= unord_bits(a, a);
    for (int64_t r = 1; r < n; ++r) {
      const V v = pld<V>(rows[r] + o);
      nan |= unord_bits(v, a);
      a = pmax(a, v);
    }
  }
  if (c.ckind[k] == 1) a = __builtin_shuffle(a, fillv, c.cidx[k]);
  return a;
}

// fused_row for max with the n live rows at xp + bases[r] (NR > 0: n == NR, in registers) and
// NT taps (0: c.KW). Returns nonzero when a value read is NaN (the row's stores are then not
// final).
template <typename T, int NR, int NT>
FMACONV_POOL_INLINE unsigned maxf_row(const RowPlan<T>& c, const T* xp, const int64_t* bases, int64_t n,
                                      const T** rows_buf, T* yr) {
  typedef typename PV<T>::V V;
  const T* rl[NR > 0 ? NR : 1];
  for (int r = 0; r < NR; ++r) rl[r] = xp + bases[r];
  if (NR == 0)
    for (int64_t r = 0; r < n; ++r) rows_buf[r] = xp + bases[r];
  const T* const* rows = NR > 0 ? rl : rows_buf;
  const V fillv = V{} - __builtin_inf();
  const int64_t KW = NT > 0 ? NT : c.KW, OW = c.OW;
  unsigned nan = 0;
  sweep_cells<T>(c, KW, [&](int64_t i) __attribute__((always_inline)) {
    return maxf_cell<T, NR>(c, rows, n, i, fillv, nan);
  }, [](V x, V y) __attribute__((always_inline)) { return pmax(x, y); },
     [&](int64_t ow, V a) __attribute__((always_inline)) { store_chunk(yr, ow, OW, a); });
  return nan;
}

// fused_pair for max (stride 1) over rows oh and oh + gap of a plane whose window rows are
// xp + b1[0..NS] and xp + b1[1..NS], xp + b2last: NS shared rows and one own row each. Stores at
// y1 and y2; returns nonzero when a value read is NaN.
template <typename T, int NS, int NT>
FMACONV_POOL_INLINE unsigned maxf_pair(const RowPlan<T>& c, const T* xp, const int64_t* b1, int64_t b2last, T* y1,
                                       T* y2) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const T* sh[NS];
  for (int r = 0; r < NS; ++r) sh[r] = xp + b1[r + 1];
  const T *u1 = xp + b1[0], *u2 = xp + b2last;
  const V fillv = V{} - __builtin_inf();
  const int64_t KW = NT > 0 ? NT : c.KW, OW = c.OW;
  unsigned nan = 0;
  auto cells = [&](int64_t k, V& a1, V& a2) __attribute__((always_inline)) {
    if (k >= c.nck || c.ckind[k] == 2) {
      a1 = a2 = fillv;
      return;
    }
    const int64_t o = c.coff[k];
    V v[NS + 2];
    for (int r = 0; r < NS; ++r) v[r] = pld<V>(sh[r] + o);
    v[NS] = pld<V>(u1 + o), v[NS + 1] = pld<V>(u2 + o);
    for (int r = 0; r < NS + 2; r += 2) nan |= unord_bits(v[r], v[r + 1 < NS + 2 ? r + 1 : r]);
    V m = v[0];
    for (int r = 1; r < NS; ++r) m = pmax(m, v[r]);
    a1 = pmax(v[NS], m);
    a2 = pmax(m, v[NS + 1]);
    if (c.ckind[k] == 1) {
      a1 = __builtin_shuffle(a1, fillv, c.cidx[k]);
      a2 = __builtin_shuffle(a2, fillv, c.cidx[k]);
    }
  };
  V A1, A2;
  cells(0, A1, A2);
  for (int64_t ow = 0; ow < OW; ow += VL) {
    V B1, B2;
    cells(ow / VL + 1, B1, B2);
    V acc1 = c.tr[0] ? __builtin_shuffle(A1, B1, c.tmask[0]) : A1;
    V acc2 = c.tr[0] ? __builtin_shuffle(A2, B2, c.tmask[0]) : A2;
    for (int64_t j = 1; j < KW; ++j) {
      acc1 = pmax(acc1, __builtin_shuffle(A1, B1, c.tmask[j]));
      acc2 = pmax(acc2, __builtin_shuffle(A2, B2, c.tmask[j]));
    }
    store_chunk(y1, ow, OW, acc1);
    store_chunk(y2, ow, OW, acc2);
    A1 = B1, A2 = B2;
  }
  return nan;
}

// Row gap of the output rows the max fast path pairs (0: none): rows oh and oh + g of a plane
// share window rows when g * stride is a whole number of dilation steps below the window.
template <typename T>
inline int64_t max_pair_gap(const RowPlan<T>& c, const PoolShape& s) {
  if (!fused_ok(c) || c.sw != 1) return 0;
  int64_t a = s.s[1], b = s.d[1];
  while (b) {
    const int64_t t = a % b;
    a = b, b = t;
  }
  const int64_t g = s.d[1] / a;  // (at most 4: the loop's ring of paired rows)
  return g <= 4 && g * s.s[1] < s.k[1] * s.d[1] ? g : 0;
}

// ---- 3x3 and 5x5 max pooling, stride 1, on narrow rows (AVX-512, values only) ---------------
// Rows of at most 4 vectors stay in registers. The output rows of one residue class modulo the
// row dilation slide along the input rows (oh + dh reads oh's rows 1 .. K-1 plus one new row),
// so each input row is loaded once per class; the column taps are two-register permutes of the
// row's chunk maxima (lanes outside the row are -inf). Plain max throughout, every loaded row
// checked for NaN once: an output row whose window read a NaN is done again with vmax_nan from
// the same registers. (64 planes of 56x56, 3x3 dilation 2, 1 thread: the flat kernel's row
// buffer and unaligned tap loads took 48 us, the general fused rows' per-chunk plan tables 64 us,
// this 29. 5x5 stride 1 (SPPF) on 20x20 planes: the general kernels ~9x a copy.)
template <typename T>
inline int max_narrow_taps(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  const int64_t k = s.k[2];
  const bool ok = kPermute && pool_is_flat(s) && (k == 3 || k == 5) && s.k[1] == k && (k - 1) * s.d[2] < VL &&
                  s.p[2] < VL && s.p[2] <= (k - 1) / 2 * s.d[2] && s.in[2] >= (k == 3 ? VL : 8) && s.in[2] <= 4 * VL && s.out[2] <= s.in[2];
  return ok ? (int)k : 0;
}

template <typename T, int NC, int K>
void max_narrow_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K_;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t ph = s.p[1], dh = s.d[1], pw = s.p[2], dw = s.d[2];
  const V fillv = V{} - __builtin_inf();
  const int64_t wl = W - (NC - 1) * VL, nq = (OW + VL - 1) / VL;  // last chunk's lanes; output chunks
  // tap j of output chunk q shifts by j * dw - pw: from chunks (q - 1, q) when negative, else
  // from (q, q + 1)
  // (pw <= (K - 1) / 2 * dw: only tap 0, and tap 1 of 5, can shift left; the side of each tap is
  // a compile-time register index, or m[] would live in memory)
  const bool left1 = dw - pw < 0;
  VK pm[K];
  for (int j = 0; j < K; ++j) {
    const int64_t sh = j * dw - pw;
    const bool left = j == 0 || (j == 1 && left1);  // from (q - 1, q); else from (q, q + 1)
    for (int l = 0; l < VL; ++l) pm[j][l] = (K_)(left ? l + VL + sh : l + sh);
  }
  auto load = [&](const T* xp, int64_t h, V* v) __attribute__((always_inline)) {
    if (h < 0 || h >= H) {
      for (int c = 0; c < NC; ++c) v[c] = fillv;
      return 0u;
    }
    const T* r = xp + h * W;
    for (int c = 0; c < NC - 1; ++c) v[c] = pld<V>(r + c * VL);
    v[NC - 1] = load_first<V>(r + (NC - 1) * VL, wl, fillv);
    unsigned nan = 0;
    for (int c = 0; c < NC; c += 2) nan |= unord_bits(v[c], v[c + 1 < NC ? c + 1 : c]);
    return nan;
  };
  auto emit = [&](const V (*w)[NC], T* yr, auto red) __attribute__((always_inline)) {
    V m[NC + 2];
    m[0] = m[NC + 1] = fillv;
    for (int c = 0; c < NC; ++c) {
      V a = w[0][c];
      for (int i = 1; i < K; ++i) a = red(a, w[i][c]);
      m[c + 1] = a;
    }
    for (int q = 0; q < NC; ++q) {
      if (q >= nq) break;
      V acc = __builtin_shuffle(m[q], m[q + 1], pm[0]);
      for (int j = 1; j < K; ++j) {
        const bool left = K == 5 && j == 1 && left1;
        acc = red(acc, left ? __builtin_shuffle(m[q], m[q + 1], pm[j]) : __builtin_shuffle(m[q + 1], m[q + 2], pm[j]));
      }
      store_chunk(yr, q * VL, OW, acc);
    }
  };
  int64_t row = begin;
  while (row < end) {
    const int64_t p = row / OH, a = row % OH, b = min64(OH, a + (end - row));
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (int64_t r = 0; r < dh && a + r < b; ++r) {
      V w[K][NC];
      unsigned n[K];
      int64_t oh = a + r;
      for (int i = 0; i < K - 1; ++i) n[i] = load(xp, oh - ph + i * dh, w[i]);
      for (; oh < b; oh += dh) {
        n[K - 1] = load(xp, oh - ph + (K - 1) * dh, w[K - 1]);
        unsigned any = 0;
        for (int i = 0; i < K; ++i) any |= n[i];
        if (__builtin_expect(any != 0, 0))
          emit(w, yp + oh * OW, [](V u, V v) __attribute__((always_inline)) { return vmax_nan(u, v); });
        else
          emit(w, yp + oh * OW, [](V u, V v) __attribute__((always_inline)) { return pmax(u, v); });
        for (int i = 0; i + 1 < K; ++i) {
          for (int c = 0; c < NC; ++c) w[i][c] = w[i + 1][c];
          n[i] = n[i + 1];
        }
      }
    }
    row += b - a;
  }
}

// Adaptive window [floor(o*i/O), ceil((o+1)*i/O)) along one axis.
inline int64_t ad_start(int64_t o, int64_t i, int64_t O) { return (o * i) / O; }
inline int64_t ad_end(int64_t o, int64_t i, int64_t O) { return ((o + 1) * i + O - 1) / O; }

#include "kernels/generic/pool_adaptive.h"
#include "kernels/generic/pool_sliding.h"
#include "kernels/generic/pool_flat_planes.h"
#include "kernels/generic/pool_rows_small.h"

template <typename T>
void max_pool_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end, void* scratch,
                bool no_fit = false) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  if constexpr (kPermute && sizeof(T) == 4) {
    // planes of whole vectors (8x8, 16x16); blocks with a NaN or -0 take the kernels below
    if (!idx && !no_fit && flat_fit_max_ok<T>(s))
      return flat_fit_max<T>(s, x, y, begin, end, [&](int64_t r0, int64_t r1) {
        max_pool_k<T>(s, x, y, nullptr, r0, r1, scratch, true);
      });
  }
  if constexpr (kPermute) {  // small 2-D planes, whole planes at a time (pool_small_win.h)
    if (window_tiny_ok<T>(s))
      return idx ? window_tiny_k<T, 1>(s, x, y, idx, begin, end, true, 0) : window_tiny_k<T, 0>(s, x, y, nullptr, begin, end, true, 0);
    // (8 lanes: tiled windows are faster in tiled_pool_k, 32x128x8x8 2x2: 81 vs 65 us)
    if (!idx && rows_small_ok<T>(s) && (VB >= 64 || !pool_is_tiled(s))) return rows_small_max<T>(s, x, y, begin, end);
    if (!idx && window_small_ok<T>(s, false)) return window_small_k<T, 0>(s, x, y, begin, end, true, 0);
  }
  // (tiled_pool_k's column pass is vectorized for 1, 2 and 4 columns, and with permutes up to
  // 8; its scalar loop for wider windows branches on the data and loses to the window kernels)
  // (8 lanes: wider windows are faster in the kernels below, 8x512x28x28 k7: 458 vs 608 us)
  if (!idx && pool_is_tiled(s) &&
      (s.k[2] <= 2 || s.k[2] == 4 || (s.k[2] <= win_taps_vec<T>() && (VB >= 64 || s.k[2] <= 6))))
    return tiled_pool_k<T, false>(s, x, y, T(1), begin, end, scratch);
  // (dilated columns: the fused rows below, with plain max, beat the flat kernel's masked taps)
  const bool fusable = kPermute && s.in[2] >= VL && (s.k[2] - 1) * s.d[2] < VL;
  if constexpr (kPermute) {
    if constexpr (sizeof(T) == 4) {
      if (!idx && flat_planes_ok<T>(s, false))
        return s.k[1] == 3 ? flat_planes_max<T, 3>(s, x, y, begin, end) : flat_planes_max<T, 5>(s, x, y, begin, end);
      if (!idx && flat_slide_ok<T>(s)) return flat_slide_k<T>(s, x, y, begin, end);
    }
    if (!idx && sliding_max_ok<T>(s)) return sliding_k<T, false>(s, x, y, false, 0, begin, end);
    // 3x3 and 5x5 stride 1 on rows of up to 4 vectors: whole rows in registers
    if (const int k = idx ? 0 : max_narrow_taps<T>(s)) {
      const int nc = (int)((s.in[2] + VL - 1) / VL);
      auto go = [&](auto KT) {
        constexpr int kt = decltype(KT)::value;
        switch (nc) {
          case 1: return max_narrow_k<T, 1, kt>(s, x, y, begin, end);
          case 2: return max_narrow_k<T, 2, kt>(s, x, y, begin, end);
          case 3: return max_narrow_k<T, 3, kt>(s, x, y, begin, end);
          default: return max_narrow_k<T, 4, kt>(s, x, y, begin, end);
        }
      };
      return k == 3 ? go(IC<3>{}) : go(IC<5>{});
    }
    if (idx && max_idx_small_ok<T>(s)) {  // 2-D with indices on rows of at most two vectors (pool_small.h)
      if (s.k[1] == 3 && s.k[2] == 3)
        return s.in[2] > VL ? max_idx_small_k<T, 2, true>(s, x, y, idx, begin, end) : max_idx_small_k<T, 1, true>(s, x, y, idx, begin, end);
      return s.in[2] > VL ? max_idx_small_k<T, 2, false>(s, x, y, idx, begin, end) : max_idx_small_k<T, 1, false>(s, x, y, idx, begin, end);
    }
    // other windows on rows of at most two vectors: the window kernels below pay per output row
    // (not the 3-tap stride-2 rows: their own kernels below)
    if ((idx || !pool_depth_first(s)) && !(s.s[2] == 2 && s.k[2] == 3 && s.d[2] == 1) && window_narrow_ok<T>(s))
      return idx ? adaptive_narrow_k<T, 1, false>(s, x, y, idx, begin, end)
                 : adaptive_narrow_k<T, 0, false>(s, x, y, nullptr, begin, end);
  }
  if (!idx && pool_is_flat(s) && s.k[1] <= 3 && s.k[2] <= 3 && (s.d[2] == 1 || !fusable || s.in[2] * (int64_t)sizeof(T) <= 256))
    return flat_s1_k<T, false, true>(s, x, y, false, 0, 1, begin, end, scratch);
  if (!idx && pool_is_flat(s) && !(s.d[2] > 1 && fusable))
    return flat_s1_k<T, false>(s, x, y, false, 0, 1, begin, end, scratch);
  if (!idx && pool_depth_first(s))
    return depth_first(
        s, x, y, begin, end, scratch, T(-__builtin_inf()), [](auto a, auto b) { return vmax_nan(a, b); },
        [&](const PoolShape& s2, const T* z, T* y2, int64_t a, int64_t b, void* sc, int64_t, int64_t) {
          max_pool_k(s2, z, y2, nullptr, a, b, sc);
        });
  char* sp = align64(scratch);
  const T** rows = carve<const T*>(sp, pool_nrows(s));
  int64_t* bases = carve<int64_t>(sp, pool_nrows(s));
  const T** rows2 = carve<const T*>(sp, pool_nrows(s));
  if (pool_is_huge(s) || (idx && s.in_plane() >= PoolKey<T>::max))
    return max_pool_scan(s, x, y, idx, begin, end, bases);
  // (tiled windows up to 2 columns wide: their column pass is vectorized with keys; wider ones
  // are faster in the window kernels below)
  if (pool_is_tiled(s) && s.k[2] <= 2) return tiled_max_idx_k(s, x, y, idx, begin, end, scratch);
  const T ninf = -__builtin_inf();
  const RowPlan<T> c = make_plan<T>(s, sp, idx != nullptr, ninf);
  VK colk;  // lane l: its output's first column, relative to the chunk's (l * stride)
  for (int l = 0; l < VL; ++l) colk[l] = (K)(l * c.sw);
  K* initc = carve<K>(sp, c.n_ph);  // PyTorch's initial index column per output
  for (int64_t ow = 0; ow < c.n_ph; ++ow) initc[ow] = (K)min64(first_tap(ow * c.sw - c.pw, c.dw), PoolKey<T>::max);
  const int64_t OW = c.OW, H = s.in[1], W = s.in[2];
  // Some output column's taps all fall outside [0, W) (dilation or ceil_mode overhang): its
  // window has no live tap, and the fast index paths must supply PyTorch's initial index.
  bool dead = false;
  for (int64_t ow = 0; ow < OW && !dead; ++ow) {
    const int64_t st = ow * c.sw - c.pw;
    bool live = false;
    for (int64_t j = 0; j < c.KW && !live; ++j) live = st + j * c.dw >= 0 && st + j * c.dw < W;
    dead = !live;
  }
  const VK kmaxv = VK{} + (K)PoolKey<T>::max;
  auto red = [](auto a, auto v) { return vmax_nan(a, v); };
  WinTable wt = make_win_table(s, sp);
  auto first_base_of = [&](int64_t od, int64_t oh) {
    return (first_tap(od * s.s[0] - s.p[0], s.d[0]) * H + first_tap(oh * s.s[1] - s.p[1], s.d[1])) * W;
  };
  // 3 taps at stride 2 along the row, 2-D or 1-D: blocks of output rows go through s2k3_idx_rows
  // (rows before `exact_to` are a block that read a NaN: redone row by row below)
  const bool strips = idx && fused_ok(c) && c.sw == 2 && c.dw == 1 && c.KW == 3 && !dead && s.k[0] == 1 && s.in[1] > 1;
  // the same taps without indices, up to 3 window rows: blocks of rows through s2k3_plain
  const bool pstrips = !idx && fused_ok(c) && c.sw == 2 && c.dw == 1 && c.KW == 3 && c.pw <= 1 && s.k[0] == 1 && s.k[1] <= 3;
  T* carry_v = carve<T>(sp, strips ? c.n_ph : 0);  // s2k3_idx_rows' carried row
  K* carry_k = carve<K>(sp, strips ? c.n_ph : 0);
  int64_t exact_to = begin;
  tap_dispatch(c, [&](auto NT, auto SH) {
  constexpr int nt = decltype(NT)::value;
  constexpr bool sh = decltype(SH)::value != 0;
  const int64_t KW = nt > 0 ? nt : c.KW;
  const bool fused = fused_ok(c);
  const int64_t gap = idx ? 0 : max_pair_gap(c, s);
  // second rows of pairs already done (row numbers, by row % 8)
  int64_t paired[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  RowIter it(begin, s.out[0], s.out[1]);
  for (int64_t row = begin; row < end; ++row, it.next()) {
    if (paired[row & 7] == row) continue;  // done with the first row of its pair
    if (strips && row >= exact_to) {
      // a block of up to 64 output rows of the plane (a NaN redoes the block)
      const int64_t nb = min64(min64(64, s.out[1] - it.oh), end - row);
      // (kd == 1: no depth padding, the window's depth slice is od * sd)
      const T* xs = x + it.p * s.in_plane() + it.od * s.s[0] * H * W;
      if (!s2k3_idx_rows(c, s, xs, it.od * s.s[0] * H * W, it.oh, it.oh + nb, y + row * OW, idx + row * OW, initc,
                         carry_v, carry_k)) {
        for (int64_t i = 1; i < nb; ++i) ++row, it.next();
        continue;
      }
      exact_to = row + nb;
    }
    if (pstrips && row >= exact_to) {
      const int64_t nb = min64(min64(64, s.out[1] - it.oh), end - row);
      const T* xs = x + it.p * s.in_plane() + it.od * s.s[0] * H * W;
      if (!s2k3_plain(c, s, xs, it.oh, it.oh + nb, y + row * OW)) {
        for (int64_t i = 1; i < nb; ++i) ++row, it.next();
        continue;
      }
      exact_to = row + nb;
    }
    const T* xp = x + it.p * s.in_plane();
    const int64_t* e = wt.get(s, it.od, it.oh, first_base_of);
    const int64_t n = e[0], first_base = e[1];
    const int64_t* bases = e + 2;
    T* yr = y + row * OW;
    if (!idx && fused) {
      auto exact = [&](const int64_t* bs, int64_t nr, T* yo) {
        for (int64_t i = 0; i < nr; ++i) rows2[i] = xp + bs[i];
        fused_row_n<T, nt>(c, rows2, nr, ninf, red, [&](int64_t ow, V a) {
          store_chunk(yo, ow, OW, a);
        });
      };
      // Rows oh and oh + gap (oh % (2 gap) < gap) as a pair when the second's window rows are
      // the first's shifted by one (NS = n - 1 shared rows).
      if (gap > 0 && (n == 2 || n == 3) && it.oh % (2 * gap) < gap && it.oh + gap < s.out[1] && row + gap < end) {
        const int64_t* e2 = wt.get(s, it.od, it.oh + gap, first_base_of);
        bool ok = e2[0] == n;
        for (int64_t i = 0; ok && i + 1 < n; ++i) ok = e2[2 + i] == bases[i + 1];
        if (ok) {
          T* y2 = yr + gap * OW;
          const int64_t b2 = e2[1 + n];
          const unsigned nan = n == 2 ? maxf_pair<T, 1, nt>(c, xp, bases, b2, yr, y2)
                                      : maxf_pair<T, 2, nt>(c, xp, bases, b2, yr, y2);
          if (nan) exact(bases, n, yr), exact(e2 + 2, n, y2);
          paired[(row + gap) & 7] = row + gap;
          continue;
        }
      }
      const unsigned nan = n == 1   ? maxf_row<T, 1, nt>(c, xp, bases, n, rows, yr)
                           : n == 2 ? maxf_row<T, 2, nt>(c, xp, bases, n, rows, yr)
                           : n == 3 ? maxf_row<T, 3, nt>(c, xp, bases, n, rows, yr)
                           : n > 3  ? maxf_row<T, 0, nt>(c, xp, bases, n, rows, yr)
                                    : 1u;  // no live row: exact() writes the padding value
      if (nan) exact(bases, n, yr);
      continue;
    }
    for (int64_t i = 0; i < n; ++i) rows[i] = xp + bases[i];
    if (!idx) {
      row_pass_n<T, false>(c, rows, bases, n, ninf, red);
      for (int64_t ow = 0; ow < OW; ow += VL) {
        V a = tap_v<T, sh>(c, 0, ow);
        for (int64_t j = 1; j < KW; ++j) a = vmax_nan(a, tap_v<T, sh>(c, j, ow));
        store_chunk(yr, ow, OW, a);
      }
      continue;
    }
    int64_t* ir = idx + row * OW;
    if constexpr (nt == 3 && sh) {
      // (one live row without dead windows: s2k3_idx_row1 below)
      if (fused && c.sw == 2 && c.dw == 1 && n >= (dead ? 1 : 2) && n <= 3) {
        const unsigned nan = n == 1   ? s2k3_keys_row<T, 1>(c, rows, bases, yr, ir, dead, first_base, initc)
                             : n == 2 ? s2k3_keys_row<T, 2>(c, rows, bases, yr, ir, dead, first_base, initc)
                                      : s2k3_keys_row<T, 3>(c, rows, bases, yr, ir, dead, first_base, initc);
        if (!nan) continue;  // else redone below in the full order
      }
    }
    if (n == 1) {
      // One live row (1-D pooling, kh = 1, or a plane edge): the taps visit the window in
      // PyTorch's order, so its rule applies as is (greater, or NaN) and each tap's key is its
      // column: no keys in the buffers.
      auto fin1 = [&](int64_t ow, const auto& tap) __attribute__((always_inline)) {
        const VK kc = colk + (K)(bases[0] + ow * c.sw - c.pw);
        V b = tap(0);
        VK bk = kc;
        for (int64_t j = 1; j < KW; ++j) {
          const V v = tap(j);
          const VK m = (v > b) | (v != v);
          b = m ? v : b;
          bk = m ? kc + (K)(j * c.dw) : bk;
        }
        const VK res = (b == ninf) ? (K)first_base + pld<VK>(initc + ow) : bk;
        store_vals_keys<K>(yr, ir, ow, OW, b, res);
      };
      if (fused) {  // taps straight from registers
        if constexpr (nt == 3 && sh) {
          if (c.sw == 2 && c.dw == 1 && c.pw <= 1 && !dead) {  // a NaN: redone with fin1
            if (s2k3_idx_row1(rows[0], bases[0], W, OW, c.pw, yr, ir)) fused_row_taps<T>(c, rows[0], ninf, fin1);
            continue;
          }
        }
        // Fast: the maximum first (plain max), then the first tap equal to it; rows with a NaN
        // tap are redone with fin1.
        unsigned nan = 0;
        auto fin1f = [&](int64_t ow, const auto& tap) __attribute__((always_inline)) {
          const VK kc = colk + (K)(bases[0] + ow * c.sw - c.pw);
          V b = tap(0);
          for (int64_t j = 1; j < KW; ++j) {
            const V v = tap(j);
            b = v > b ? v : b;
          }
          for (int64_t j = 0; j < KW; j += 2) nan |= unord_bits(tap(j), tap(j + 1 < KW ? j + 1 : j));
          VK k = kc + (K)((KW - 1) * c.dw);
          for (int64_t j = KW - 2; j >= 0; --j) k = tap(j) == b ? kc + (K)(j * c.dw) : k;
          const VK z = b == 0;
          if (any_lane(z))  // a zero maximum takes its sign from the first zero
            for (int64_t j = KW - 1; j >= 0; --j) b = (z & (tap(j) == 0)) ? tap(j) : b;
          const VK res = (b == ninf) ? (K)first_base + pld<VK>(initc + ow) : k;
          store_vals_keys<K>(yr, ir, ow, OW, b, res);
        };
        fused_row_taps<T>(c, rows[0], ninf, fin1f);
        if (nan) fused_row_taps<T>(c, rows[0], ninf, fin1);
        continue;
      }
      row_pass_n<T, false>(c, rows, bases, n, ninf, red);
      for (int64_t ow = 0; ow < OW; ow += VL)
        fin1(ow, [&](int64_t j) __attribute__((always_inline)) { return tap_v<T, sh>(c, j, ow); });
      continue;
    }
    auto finm = [&](int64_t ow, const auto& tapv, const auto& tapk) __attribute__((always_inline)) {
      V b = tapv(0);
      VK bk = tapk(0);
      // no NaN among the taps (the usual case): greater, or equal with a smaller key
      VK nan = b != b;
      for (int64_t j = 1; j < KW; ++j) {
        const V v = tapv(j);
        const VK vk = tapk(j);
        nan |= v != v;
        const VK m = (v > b) | ((v == b) & (vk < bk));
        b = m ? v : b;
        bk = m ? vk : bk;
      }
      if (any_lane(nan)) {
        b = tapv(0);
        bk = tapk(0);
        for (int64_t j = 1; j < KW; ++j) {
          const V v = tapv(j);
          const VK vk = tapk(j);
          const VK m = vbeats(v, vk, b, bk);
          b = m ? v : b;
          bk = m ? vk : bk;
        }
      }
      // keys fit K (the plane is smaller than PoolKey<T>::max), so the initial index does too
      const VK res = (b == ninf) ? (K)first_base + pld<VK>(initc + ow) : bk;
      store_vals_keys<K>(yr, ir, ow, OW, b, res);
    };
    // Fast (no NaN in the row's cells): the maximum first (plain max), then the smallest key
    // among the taps equal to it (a masked min); rows with a NaN are redone with finm.
    auto finf = [&](int64_t ow, const auto& tapv, const auto& tapk) __attribute__((always_inline)) {
      V b = tapv(0);
      for (int64_t j = 1; j < KW; ++j) {
        const V v = tapv(j);
        b = v > b ? v : b;
      }
      VK k = tapv(0) == b ? tapk(0) : kmaxv;
      for (int64_t j = 1; j < KW; ++j) {
        const VK kj = tapk(j);
        k = tapv(j) == b ? (kj < k ? kj : k) : k;
      }
      if (any_lane(b == 0))  // a zero maximum takes its sign from the winning tap
        for (int64_t j = 0; j < KW; ++j) b = tapk(j) == k ? tapv(j) : b;
      // all-padding windows (key still KEY_MAX): PyTorch's initial index
      if (dead) k = k == kmaxv ? (K)first_base + pld<VK>(initc + ow) : k;
      store_vals_keys<K>(yr, ir, ow, OW, b, k);
    };
    if (fused && n == 2) {  // cells and taps in registers (AVX-512)
      unsigned nan = 0;
      fused_row_keys<T, 2, true>(c, rows, bases, ninf, finf, &nan);
      if (nan) fused_row_keys<T, 2>(c, rows, bases, ninf, finm);
      continue;
    }
    if (fused && n == 3) {
      unsigned nan = 0;
      fused_row_keys<T, 3, true>(c, rows, bases, ninf, finf, &nan);
      if (nan) fused_row_keys<T, 3>(c, rows, bases, ninf, finm);
      continue;
    }
    row_pass_n<T, true>(c, rows, bases, n, ninf, red);
    for (int64_t ow = 0; ow < OW; ow += VL)
      finm(ow, [&](int64_t j) { return tap_v<T, sh>(c, j, ow); }, [&](int64_t j) { return tap_k<T, sh>(c, j, ow); });
  }
  });
}

// Average pooling over windows that tile the input with no depth window (pool_is_tiled, kd = 1):
// output row r (counted across planes) reads input rows [r * kh, (r + 1) * kh) of the flat
// input, so a segment of output rows is one contiguous input run even across plane ends. That
// keeps small planes (14 -> 7) from paying a segment, a scalar column tail and a short row
// pass each: tiled_pool_k's passes, with segments of pool_tile_rows rows anywhere in the range.
template <typename T>
void tiled_avg_rows_k(const PoolShape& s, const T* x, T* y, T div, int64_t begin, int64_t end, void* scratch) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const int64_t W = s.in[2], OW = s.out[2], kh = s.k[1], kw = s.k[2];
  const int64_t B = pool_tile_rows(s);
  T* z = (T*)align64(scratch);
  auto hred = [&](const T* xs, int64_t n, T* zo) { reduce_tiled_cols<T, true>(xs, n, kw, zo); };
  // a power-of-two divisor: multiplying by its reciprocal rounds the same exact quotient
  const bool pow2 = ((int64_t)div & ((int64_t)div - 1)) == 0;
  const T inv = T(1) / div;
  auto vred = [&](const T* zr, auto KH) __attribute__((always_inline)) {
    constexpr int ckh = decltype(KH)::value;
    V a = pld<V>(zr);
    if constexpr (ckh > 0) {
      for (int jh = 1; jh < ckh; ++jh) a += pld<V>(zr + jh * OW);
    } else {
      for (int64_t jh = 1; jh < kh; ++jh) a += pld<V>(zr + jh * OW);
    }
    a += V{};  // a sum of -0 is +0, as PyTorch's (its sum starts from +0)
    return pow2 ? a * inv : a / div;
  };
  auto rows = [&](auto KH, int64_t r0, int64_t r1) __attribute__((always_inline)) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* zr = z + (r - r0) * kh * OW;
      T* yr = y + r * OW;
      if (OW >= VL)
        for_chunks<VL>(OW, [&](int64_t o) { pst(yr + o, vred(zr + o, KH)); });
      else if ((end - r) * OW >= VL)  // the lanes past this row are later rows of the range
        pst(yr, vred(zr, KH));
      else
        store_n(yr, vred(zr, KH), OW);
    }
  };
  if (avg_rows_first_ok(s)) {
    RowsFirst<T> rf(s, 0, div);
    rf.rows(begin, end, [&](int64_t r) { return x + r * kh * W; }, y);
    return;
  }
  for (int64_t r0 = begin; r0 < end;) {
    const int64_t r1 = min64(end, r0 + B);
    hred(x + r0 * kh * W, (r1 - r0) * kh * OW, z);
    if (kh == 2)
      rows(IC<2>{}, r0, r1);
    else if (kh == 1)
      rows(IC<1>{}, r0, r1);
    else
      rows(IC<0>{}, r0, r1);
    r0 = r1;
  }
}

// Flat average pooling with 3 taps along the row at stride 1, padding 1, no dilation (the 3x3
// s1 p1 window; pool_is_flat). No row buffer: per vector chunk of the flat run (output rows
// [o1, o2) of a plane, across row ends), the live input rows are summed in registers (R), and
// the column taps are R itself and its neighbours shifted one lane in from the previous / next
// chunk (constant two-source shuffles: valignd on AVX-512). Lanes at column 0 / W - 1 drop
// the left / right tap with a select, so the values that wrap across a row end (and any NaN or
// inf in them) never reach a result. Per output vector: kh loads, one store, about a dozen
// vector operations.
inline bool flat_avg3_ok(const PoolShape& s) {
  return pool_is_flat(s) && s.k[2] == 3 && s.p[2] == 1 && s.d[2] == 1 && s.out[2] == s.in[2] && s.in[2] >= 2 &&
         s.k[1] <= 64;
}

template <typename T>
void flat_avg3_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                 int64_t dfac, int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1];
  const int64_t kh = s.k[1], ph = s.p[1], dh = s.d[1];
  // column factor of the divisor: 3 taps, 2 at the edge columns unless padding counts
  const T cw_mid = divisor_override ? T(1) : T(3);
  const T cw_edge = divisor_override ? T(1) : count_include_pad ? T(3) : T(2);
  VK col0 = VK{}, idl, idr;  // col0: lane columns, only needed when W < VL
  if (W < VL)
    for (int64_t l = 0, c = 0; l < VL; ++l, c = c + 1 == W ? 0 : c + 1) col0[l] = (K)c;
  VK iota;
  for (int l = 0; l < VL; ++l) idl[l] = (K)(l + VL - 1), idr[l] = (K)(l + 1), iota[l] = (K)l;
  const K step = (K)(W >= VL ? VL : VL % W);
  const VK stepv = VK{} + step, wv = VK{} + (K)W, lastv = VK{} + (K)(W - 1), zk = VK{};
  auto row_factor = [&](int64_t oh) -> int64_t {
    if (divisor_override) return divisor_override;
    const int64_t h0 = oh - ph, h1 = min64(h0 + kh, H + ph);
    return dfac * (count_include_pad ? h1 - h0 : min64(h1, H) - max64(h0, 0));
  };
  // output rows [oi0, oi1) have all kh rows live
  const int64_t oi0 = min64(ph, OH), oi1 = max64(oi0, min64(OH, H - (kh - 1) * dh + ph));
  const T* rp[64];
  // one flat run of n outputs: nr live rows rp[0, nr) (NR: the count as a constant, 0: any)
  auto run = [&](auto NR, auto EDGE, auto CM, int64_t nr, int64_t n, T* out, T rmid, T redge)
                 __attribute__((always_inline)) {
    constexpr int cnr = decltype(NR)::value;
    constexpr bool edge = decltype(EDGE)::value != 0;
    constexpr int cm = decltype(CM)::value;
    const int64_t r = cnr > 0 ? cnr : nr;
    const T* q[cnr > 0 ? cnr : 1];
    for (int t = 0; t < cnr; ++t) q[t] = rp[t];
    auto rows = [&](int64_t i) __attribute__((always_inline)) {  // full chunk at i
      if constexpr (cnr > 0) {
        V a = pld<V>(q[0] + i);
        for (int t = 1; t < cnr; ++t) a += pld<V>(q[t] + i);
        return a;
      } else {
        V a = r ? pld<V>(rp[0] + i) : V{};
        for (int64_t t = 1; t < r; ++t) a += pld<V>(rp[t] + i);
        return a;
      }
    };
    auto rows_part = [&](int64_t i, int64_t m) {  // m < VL lanes at i, zero beyond (no over-read)
      V a = r ? load_first<V>(rp[0] + i, m) : V{};
      for (int64_t t = 1; t < r; ++t) a += load_first<V>(rp[t] + i, m);
      return a;
    };
    const V vmid = V{} + rmid, vedge = V{} + redge;
    VK col = col0;    // CM 0 (W < VL): each lane's column, carried from chunk to chunk
    int64_t c0 = 0;   // CM 1, 2: lane 0's column; lane l is column 0 / W - 1 where c0 + l is
                      // 0 or W / W - 1 (no loop-carried vector chain: it bounded the loop)
    V prev = V{}, cur = n >= VL ? rows(0) : rows_part(0, n);
    // constants as locals: the captured ones were reloaded from memory every chunk
    const VK idl_ = idl, idr_ = idr, iota_ = iota, zk_ = zk, wv_ = wv, lastv_ = lastv, stepv_ = stepv;
    const int64_t W_ = W;
    auto emit = [&](int64_t i, V next, auto FULL) __attribute__((always_inline)) {
      constexpr bool full = decltype(FULL)::value != 0;
      const V left = __builtin_shuffle(prev, cur, idl_), right = __builtin_shuffle(cur, next, idr_);
      V acc;
      // CM 2 (W >= 3 VL): most chunks hold neither edge column and skip the selects
      if (cm == 2 && c0 != 0 && c0 + VL < W_) {
        acc = (left + cur) + right + V{};  // (+0: a sum of -0 is +0, as PyTorch's)
        acc = acc * vmid;
      } else {
        VK ml, mr;
        if constexpr (cm == 0) {
          ml = col != zk_, mr = col != lastv_;
        } else {
          const VK u = (VK{} + (K)c0) + iota_;
          ml = (u != zk_) & (u != wv_), mr = u != lastv_;
        }
        acc = (ml ? left : V{}) + cur;
        acc = acc + (mr ? right : V{}) + V{};
        if constexpr (edge)
          acc = acc * ((ml & mr) ? vmid : vedge);
        else
          acc = acc * vmid;
      }
      if (full || i + VL <= n)
        pst(out + i, acc);
      else
        store_n(out + i, acc, n - i);
      if constexpr (cm == 0) {
        col += stepv_;
        col = col >= wv_ ? col - wv_ : col;
      } else {
        c0 += VL;
        c0 = c0 >= W_ ? c0 - W_ : c0;
      }
      prev = cur, cur = next;
    };
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += VL) emit(i, rows(i + VL), IC<1>{});
    for (; i < n; i += VL) emit(i, i + VL < n ? rows_part(i + VL, n - i - VL) : V{}, IC<0>{});
  };
  auto go = [&](int64_t nr, int64_t n, T* out, T rmid, T redge) {
    auto e = [&](auto EDGE, auto CM) {
      switch (nr) {
        case 1: return run(IC<1>{}, EDGE, CM, nr, n, out, rmid, redge);
        case 2: return run(IC<2>{}, EDGE, CM, nr, n, out, rmid, redge);
        case 3: return run(IC<3>{}, EDGE, CM, nr, n, out, rmid, redge);
        default: return run(IC<0>{}, EDGE, CM, nr, n, out, rmid, redge);
      }
    };
    auto c = [&](auto EDGE) {
      if (W < VL) return e(EDGE, IC<0>{});
      if (W < 3 * VL) return e(EDGE, IC<1>{});
      return e(EDGE, IC<2>{});
    };
    if (rmid == redge) return c(IC<0>{});
    return c(IC<1>{});
  };
  int64_t row = begin;
  while (row < end) {
    const int64_t p = row / OH, a = row % OH, b = min64(OH, a + (end - row));
    const T* xp = x + p * s.in_plane();
    T* yp = y + p * OH * W;
    for (int64_t oh = a; oh < b;) {
      const bool inner = oh >= oi0 && oh < oi1;
      const int64_t o2 = inner ? min64(b, oi1) : oh + 1;
      const int64_t h0 = oh - ph;
      const int64_t j0 = inner ? 0 : h0 < 0 ? ceil_div(-h0, dh) : 0;
      const int64_t j1 = inner ? kh : min64(kh, max64(0, ceil_div(H - h0, dh)));
      int64_t nr = 0;
      for (int64_t j = j0; j < j1; ++j) rp[nr++] = xp + (h0 + j * dh) * W;
      const T f = (T)row_factor(oh);
      go(nr, (o2 - oh) * W, yp + oh * W, T(1) / (f * cw_mid), T(1) / (f * cw_edge));
      oh = o2;
    }
    row += b - a;
  }
}

// Average pooling with 3 taps along the row at stride 2, padding 1, no dilation (the 3x3 s2 p1
// window), AVX-512, no depth window. The general path pays a row plan, table lookups and
// run-time permutes per output row; here each output row sums its live input rows in registers
// (two input vectors per output vector), splits them into even / odd columns and adds
// even[x] + odd[x] + odd[x - 1] (odd[x - 1] shifted in from the previous chunk, 0 at the left
// padding). Columns at or past W are read as zeros (masked loads: no over-read), so the right
// padding and the ceil_mode overhang need no branches.
inline bool avg_s2k3_ok(const PoolShape& s) {
  return kPermute && s.k[0] == 1 && s.k[2] == 3 && s.s[2] == 2 && s.p[2] == 1 && s.d[2] == 1 && s.d[1] == 1 &&
         s.k[1] <= 8;
}

template <typename T>
void avg_s2k3_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override, int64_t dfac,
                int64_t begin, int64_t end, void* scratch) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kh = s.k[1], sh = s.s[1], ph = s.p[1];
  const int64_t owp = (OW + VL - 1) / VL * VL;
  char* sp = align64(scratch);
  T* cw = carve<T>(sp, owp);
  T* rcp = carve<T>(sp, owp);
  for (int64_t ow = 0; ow < owp; ++ow) {  // per-column factor of the divisor (the row factor multiplies it)
    const int64_t st = 2 * ow - 1, en = min64(st + 3, W + 1);
    // (lanes past OW: clamped to 1, never stored)
    cw[ow] = divisor_override ? T(1)
             : count_include_pad ? T(max64(en - st, 1))
                                 : T(max64(min64(en, W) - max64(st, 0), 1));
  }
  auto row_factor = [&](int64_t oh) -> int64_t {
    if (divisor_override) return divisor_override;
    const int64_t h0 = oh * sh - ph, h1 = min64(h0 + kh, H + ph);
    return dfac * (count_include_pad ? h1 - h0 : min64(h1, H) - max64(h0, 0));
  };
  VK me, mo, sl;
  for (int l = 0; l < VL; ++l) me[l] = (K)(2 * l), mo[l] = (K)(2 * l + 1), sl[l] = (K)(l + VL - 1);
  const int64_t nfull = W / (2 * VL) < (OW + VL - 1) / VL ? W / (2 * VL) : (OW + VL - 1) / VL;  // chunks of whole loads
  T rcp_f = T(0);
  const T* rp[8];
  // one output row from nr live rows (NR: the count as a constant)
  auto row = [&](auto NR, int64_t nr, T* yr) __attribute__((always_inline)) {
    constexpr int cnr = decltype(NR)::value;
    const int64_t r = cnr > 0 ? cnr : nr;
    const T* q[cnr > 0 ? cnr : 1];
    for (int t = 0; t < cnr; ++t) q[t] = rp[t];
    auto sum2 = [&](int64_t i, V& a, V& b) __attribute__((always_inline)) {
      if constexpr (cnr > 0) {
        a = pld<V>(q[0] + i), b = pld<V>(q[0] + i + VL);
        for (int t = 1; t < cnr; ++t) a += pld<V>(q[t] + i), b += pld<V>(q[t] + i + VL);
      } else {
        a = V{}, b = V{};
        for (int64_t t = 0; t < r; ++t) a += pld<V>(rp[t] + i), b += pld<V>(rp[t] + i + VL);
      }
    };
    V oprev = V{};
    int64_t c = 0;
    for (; c < nfull; ++c) {
      V a, b;
      sum2(2 * VL * c, a, b);
      const V o = __builtin_shuffle(a, b, mo);
      const V acc = mul_pz(__builtin_shuffle(a, b, me) + o + __builtin_shuffle(oprev, o, sl), pld<V>(rcp + c * VL));
      store_chunk(yr, c * VL, OW, acc);
      oprev = o;
    }
    for (; c * VL < OW; ++c) {  // the chunks reaching past W: masked loads
      const int64_t i = 2 * VL * c, na = min64(max64(W - i, 0), VL), nb = min64(max64(W - i - VL, 0), VL);
      V a = V{}, b = V{};
      auto add = [&](const T* p) __attribute__((always_inline)) {
        a += na == VL ? pld<V>(p + i) : load_first<V>(p + i, na);
        if (nb > 0) b += load_first<V>(p + i + VL, nb);
      };
      if constexpr (cnr > 0) {
        for (int t = 0; t < cnr; ++t) add(q[t]);
      } else {
        for (int64_t t = 0; t < r; ++t) add(rp[t]);
      }
      const V o = __builtin_shuffle(a, b, mo);
      const V acc = mul_pz(__builtin_shuffle(a, b, me) + o + __builtin_shuffle(oprev, o, sl), pld<V>(rcp + c * VL));
      store_n(yr + c * VL, acc, min64(OW - c * VL, VL));
      oprev = o;
    }
  };
  RowIter it(begin, s.out[0], OH);
  for (int64_t rw = begin; rw < end; ++rw, it.next()) {
    const T* xp = x + it.p * s.in_plane() + it.od * s.s[0] * H * W;
    const int64_t h0 = it.oh * sh - ph;
    int64_t nr = 0;
    for (int64_t j = max64(0, -h0); j < kh && h0 + j < H; ++j) rp[nr++] = xp + (h0 + j) * W;
    const T f = (T)row_factor(it.oh);
    if (f != rcp_f) {
      rcp_f = f;
      for (int64_t ow = 0; ow < owp; ow += VL) pst(rcp + ow, T(1) / (f * pld<V>(cw + ow)));
    }
    T* yr = y + rw * OW;
    switch (nr) {
      case 1: row(IC<1>{}, nr, yr); break;
      case 2: row(IC<2>{}, nr, yr); break;
      case 3: row(IC<3>{}, nr, yr); break;
      default: row(IC<0>{}, nr, yr); break;
    }
  }
}

// avg_pool_k on a 2-D slice of a depth-first call: dfac is the depth factor of the divisor.
template <typename T>
void avg_pool_core(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                   int64_t begin, int64_t end, void* scratch, int64_t dfac) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  if (pool_is_tiled(s) && s.k[0] == 1)
    return tiled_avg_rows_k<T>(s, x, y, T(divisor_override ? divisor_override : dfac * s.k[1] * s.k[2]), begin, end,
                               scratch);
  if (pool_is_tiled(s))
    return tiled_pool_k<T, true>(s, x, y, T(divisor_override ? divisor_override : dfac * s.k[0] * s.k[1] * s.k[2]),
                                 begin, end, scratch);
  if (flat_avg3_ok(s)) return flat_avg3_k(s, x, y, count_include_pad, divisor_override, dfac, begin, end);
  if (avg_s2k3_ok(s)) return avg_s2k3_k(s, x, y, count_include_pad, divisor_override, dfac, begin, end, scratch);
  if (pool_is_flat(s))
    return flat_s1_k<T, true>(s, x, y, count_include_pad, divisor_override, dfac, begin, end, scratch);
  char* sp = align64(scratch);
  const T** rows = carve<const T*>(sp, pool_nrows(s));
  int64_t* bases = carve<int64_t>(sp, pool_nrows(s));
  const T** rows2 = carve<const T*>(sp, pool_nrows(s));
  const T** psh = carve<const T*>(sp, pool_nrows(s));
  const T** pu1 = carve<const T*>(sp, pool_nrows(s));
  const T** pu2 = carve<const T*>(sp, pool_nrows(s));
  if (pool_is_huge(s)) return avg_pool_scan(s, x, y, count_include_pad, divisor_override, begin, end, bases);
  const RowPlan<T> c = make_plan<T>(s, sp, false, T(0));
  T* cw = carve<T>(sp, c.n_ph);
  T* rcp = carve<T>(sp, c.n_ph);
  // per-column divisor factor (the row factor multiplies it)
  for (int64_t ow = 0; ow < c.n_ph; ++ow) {
    const int64_t st = ow * c.sw - c.pw, en = min64(st + c.KW, c.W + c.pw);
    cw[ow] = divisor_override ? T(1) : count_include_pad ? T(en - st) : T(min64(en, c.W) - max64(st, 0));
  }
  // 1 / divisor per column for the current row factor: rows share it except at the plane's
  // edges, so it is recomputed only when the row factor changes (a multiply per output instead
  // of a divide; within an ulp of the quotient).
  T rcp_f = T(0);
  const int64_t OW = c.OW, D = s.in[0], H = s.in[1];
  auto red = [](auto a, auto v) { return a + v; };
  WinTable wt = make_win_table(s, sp);
  auto row_factor = [&](int64_t od, int64_t oh) {
    const int64_t d0 = od * s.s[0] - s.p[0], h0 = oh * s.s[1] - s.p[1];
    const int64_t d1 = min64(d0 + s.k[0], D + s.p[0]), h1 = min64(h0 + s.k[1], H + s.p[1]);
    return divisor_override ? divisor_override
           : count_include_pad ? dfac * (d1 - d0) * (h1 - h0)
                               : dfac * (min64(d1, D) - max64(d0, 0)) * (min64(h1, H) - max64(h0, 0));
  };
  tap_dispatch(c, [&](auto NT, auto SH) {
  constexpr int nt = decltype(NT)::value;
  constexpr bool sh = decltype(SH)::value != 0;
  const int64_t KW = nt > 0 ? nt : c.KW;
  const bool fused = fused_ok(c);
  const bool pairs = row_pairs_ok(c, s);
  RowIter it(begin, s.out[0], s.out[1]);
  for (int64_t row = begin; row < end; ++row, it.next()) {
    const T* xp = x + it.p * s.in_plane();
    const int64_t* e = wt.get(s, it.od, it.oh, row_factor);
    const int64_t n = e[0];
    const int64_t* bases = e + 2;
    for (int64_t i = 0; i < n; ++i) rows[i] = xp + bases[i];
    const T f = (T)e[1];
    if (f != rcp_f) {
      rcp_f = f;
      for (int64_t ow = 0; ow < c.n_ph; ow += VL) pst(rcp + ow, T(1) / (f * pld<V>(cw + ow)));
    }
    T* yr = y + row * OW;
    if (pairs && row + 1 < end && it.oh + 1 < s.out[1]) {
      const int64_t* e2 = wt.get(s, it.od, it.oh + 1, row_factor);
      int64_t ns, nu;
      if (e2[0] == n && (T)e2[1] == f) {
        for (int64_t i = 0; i < n; ++i) rows2[i] = xp + e2[2 + i];
        if (split_pair(rows, rows2, n, psh, pu1, pu2, &ns, &nu)) {
          fused_pair_n<T, nt>(c, psh, ns, pu1, pu2, nu, T(0), red, [&](int64_t ow, V a1, V a2) {
            const V r = pld<V>(rcp + ow);
            a1 = mul_pz(a1, r), a2 = mul_pz(a2, r);
            store_chunk(yr, ow, OW, a1);
            store_chunk(yr + OW, ow, OW, a2);
          });
          ++row, it.next();
          continue;
        }
      }
    }
    if (fused) {
      fused_row_n<T, nt>(c, rows, n, T(0), red, [&](int64_t ow, V a) {
        a = mul_pz(a, pld<V>(rcp + ow));
        store_chunk(yr, ow, OW, a);
      });
      continue;
    }
    row_pass_n_inl<T, false>(c, rows, bases, n, T(0), red);
    for (int64_t ow = 0; ow < OW; ow += VL) {
      V a = tap_v<T, sh>(c, 0, ow);
      for (int64_t j = 1; j < KW; ++j) a += tap_v<T, sh>(c, j, ow);
      a = mul_pz(a, pld<V>(rcp + ow));
      store_chunk(yr, ow, OW, a);
    }
  }
  });
}

// Depth-first 3-D pooling (pool_depth_first). For each (plane, od) of the range, in blocks of
// output rows: the window's live depth slices are folded elementwise (red) into z over the
// input rows the block reads, then core(s2, z, y2, oh0, oh1, scratch2, padded, live) pools
// those rows as 2-D (padded / live: the window's depth extent with / without padding).
template <typename T, typename Red, typename Core>
void depth_first(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, void* scratch, T fill,
                 const Red& red, const Core& core) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const PoolShape s2 = pool_depth_slice(s);
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  char* sp = align64(scratch);
  T* z = carve<T>(sp, H * W);
  void* sc2 = sp;
  // output rows per block: its partial rows (about 16K elements) stay in L1/L2
  const int64_t span = (s.k[1] - 1) * s.d[1] + 1;
  const int64_t BR = max64(1, (max64(16384 / max64(W, 1), span) - span) / s.s[1] + 1);
  const T* sl[64];
  RowIter it(begin, OD, OH);
  for (int64_t row = begin; row < end;) {
    const int64_t a = it.oh, b = min64(min64(OH, a + BR), a + (end - row));
    const T* xp = x + it.p * s.in_plane();
    const int64_t d0 = it.od * s.s[0] - s.p[0];
    const int64_t d1 = min64(d0 + s.k[0], D + s.p[0]);
    const int64_t h_lo = max64(0, a * s.s[1] - s.p[1]);
    const int64_t h_hi = min64(H, (b - 1) * s.s[1] - s.p[1] + span);
    const int64_t off = h_lo * W, len = max64(0, h_hi - h_lo) * W;
    int64_t ns = 0, live = 0;
    bool first = true;
    T* zo = z + off;
    // folds the gathered slices into z (64 at a time: the first batch stores, later ones fold in)
    auto flush = [&]() {
      if (ns == 0) return;
      int64_t i0 = 0;
      if (len >= VL && first) {  // (overlapping last chunk: it only stores, so recomputing is harmless)
        // 2 or 3 slices (the usual windows): slice pointers in registers
        auto go = [&](auto NS) __attribute__((always_inline)) {
          constexpr int cns = decltype(NS)::value;
          const T* q[cns > 0 ? cns : 1];
          for (int t = 0; t < cns; ++t) q[t] = sl[t];
          for_chunks<VL>(len, [&](int64_t i) __attribute__((always_inline)) {
            if constexpr (cns > 0) {
              V v = pld<V>(q[0] + i);
              for (int t = 1; t < cns; ++t) v = red(v, pld<V>(q[t] + i));
              pst(zo + i, v);
            } else {
              V v = pld<V>(sl[0] + i);
              for (int64_t r = 1; r < ns; ++r) v = red(v, pld<V>(sl[r] + i));
              pst(zo + i, v);
            }
          });
        };
        if (ns == 2)
          go(IC<2>{});
        else if (ns == 3)
          go(IC<3>{});
        else
          go(IC<0>{});
        i0 = len;
      } else {
        for (; i0 + VL <= len; i0 += VL) {
          V v = red(pld<V>(zo + i0), pld<V>(sl[0] + i0));
          for (int64_t r = 1; r < ns; ++r) v = red(v, pld<V>(sl[r] + i0));
          pst(zo + i0, v);
        }
      }
      {
        for (int64_t i = i0; i < len; ++i) {
          T v = first ? sl[0][i] : red(zo[i], sl[0][i]);
          for (int64_t r = 1; r < ns; ++r) v = red(v, sl[r][i]);
          zo[i] = v;
        }
      }
      first = false, ns = 0;
    };
    for (int64_t jd = d0 < 0 ? ceil_div(-d0, s.d[0]) : 0; jd < s.k[0]; ++jd) {
      const int64_t id = d0 + jd * s.d[0];
      if (id >= D) break;
      ++live;
      sl[ns++] = xp + id * H * W + off;
      if (ns == 64) flush();
    }
    flush();
    if (live == 0)
      for (int64_t i = 0; i < len; ++i) z[off + i] = fill;
    core(s2, z, y + (it.p * OD + it.od) * OH * OW, a, b, sc2, d1 - d0, live);
    for (int64_t i = a; i < b; ++i, ++row) it.next();
  }
}

// ---- 3-D average pooling, stride 1, 3x3 in-plane window, narrow rows (AVX-512) ---------------
// Rows of at most 4 vectors stay in registers. Per (plane, od), each input row's live depth
// slices are summed once into a register row and slid through a 3-row window along oh, so the
// depth-folded plane never goes through memory (depth_first stored it, then the 2-D kernel read
// it back three times); the column taps are one-lane permutes with zero lanes at the edges.
// Sums in depth, row, column order like depth_first; times 1 / divisor per column (within an ulp
// of the quotient). Stride 1 has no ceil_mode overhang.
template <typename T>
inline bool avg3d_narrow_ok(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  return kPermute && s.k[0] > 1 && s.k[0] <= 64 && 2 * s.p[0] <= s.k[0] && s.k[1] == 3 && s.k[2] == 3 &&
         s.p[1] <= 1 && s.p[2] == 1 && s.s[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.d[0] == 1 && s.d[1] == 1 &&
         s.d[2] == 1 && s.in[2] <= 4 * VL && s.out[2] == s.in[2] && s.out[1] == s.in[1] + 2 * s.p[1] - 2 &&
         s.out[0] == s.in[0] + 2 * s.p[0] - s.k[0] + 1;
}

template <typename T, int NC>
void avg3d_narrow_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                    int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1];
  const int64_t kd = s.k[0], pd = s.p[0], ph = s.p[1];
  const int64_t wl = W - (NC - 1) * VL;  // lanes of the last chunk
  VK pl, pr;  // column c - 1 from chunks (q - 1, q), column c + 1 from (q, q + 1)
  for (int l = 0; l < VL; ++l) pl[l] = (K)(l + VL - 1), pr[l] = (K)(l + 1);
  // per-column factor of the divisor (1 past the row: those lanes are never stored)
  V cw[NC];
  for (int c = 0; c < NC; ++c)
    for (int l = 0; l < VL; ++l) {
      const int64_t ow = c * VL + l, st = ow - 1, en = min64(st + 3, W + 1);
      cw[c][l] = ow >= W || divisor_override ? T(1) : count_include_pad ? T(en - st) : T(min64(en, W) - max64(st, 0));
    }
  // axis factor of the divisor for output o (window [o - p, o - p + k) along an axis of n)
  auto fac = [&](int64_t o, int64_t p, int64_t k, int64_t n) {
    const int64_t st = o - p, en = min64(st + k, n + p);
    return count_include_pad ? en - st : min64(en, n) - max64(st, 0);
  };
  // 1 / divisor per column for row factor f: the few distinct factors are cached
  int64_t cf[4] = {-1, -1, -1, -1};
  V crc[4][NC];
  int ncache = 0;
  auto rcp_for = [&](int64_t f) -> const V* {
    for (int i = 0; i < ncache; ++i)
      if (cf[i] == f) return crc[i];
    const int i = ncache < 4 ? ncache++ : 3;
    cf[i] = f;
    for (int c = 0; c < NC; ++c) crc[i][c] = T(1) / ((T)f * cw[c]);
    return crc[i];
  };
  // 1, hidden from the optimizer: the depth sums go through FMAs (v * 1 + w, the same sum), which
  // issue on the multiply pipes while the row and column sums take the add pipes (Zen 4)
  V one = V{} + T(1);
#if defined(__AVX512F__)
  __asm__("" : "+v"(one));
#endif
  const T* sl[65];  // (+1: the paired depth outputs read kd + 1 slices)
  RowIter it(begin, OD, OH);
  for (int64_t row = begin; row < end;) {
    const int64_t a = it.oh, b = min64(OH, a + (end - row));
    const T* xp = x + it.p * D * H * W;
    T* yp = y + ((it.p * OD + it.od) * OH) * W;
    int64_t nd = 0;
    for (int64_t j = 0; j < kd; ++j) {
      const int64_t id = it.od - pd + j;
      if (id >= 0 && id < D) sl[nd++] = xp + id * H * W;
    }
    const int64_t fd = divisor_override ? 1 : fac(it.od, pd, kd, D);
    // rows with all 3 window rows inside the plane share one row factor (a copy: the cache may
    // reuse its slot)
    V rmid[NC];
    {
      const V* r = rcp_for(divisor_override ? divisor_override : fd * 3);
      for (int c = 0; c < NC; ++c) rmid[c] = r[c];
    }
    // loads chunk c of row offset o of slice p (the last chunk masked)
    auto ld = [&](const T* p, int64_t o, int c) __attribute__((always_inline)) {
      return c < NC - 1 ? pld<V>(p + o + c * VL) : load_first<V>(p + o + c * VL, wl);
    };
    // rows [a, b) of NO consecutive depth outputs (at yp, yp + OH * W): zr(o, z) sets z[k][0, NC)
    // to output k's depth sum of the input row at offset o
    auto sweep = [&](auto NO, const auto& zr) __attribute__((always_inline)) {
      constexpr int no = decltype(NO)::value;
      auto zrow = [&](int64_t h, V (*z)[NC]) __attribute__((always_inline)) {
        if (h >= 0 && h < H) return zr(h * W, z);
        for (int k = 0; k < no; ++k)
          for (int c = 0; c < NC; ++c) z[k][c] = V{};
      };
      V z0[no][NC], z1[no][NC], z2[no][NC], m[NC + 2];
      m[0] = m[NC + 1] = V{};
      zrow(a - ph, z0);
      zrow(a - ph + 1, z1);
      for (int64_t oh = a; oh < b; ++oh) {
        zrow(oh - ph + 2, z2);
        const V* rc = oh >= ph && oh < OH - ph ? rmid : rcp_for(divisor_override ? divisor_override : fd * fac(oh, ph, 3, H));
        for (int k = 0; k < no; ++k) {
          for (int c = 0; c < NC; ++c) m[c + 1] = (z0[k][c] + z1[k][c]) + z2[k][c];
          T* yr = yp + k * OH * W + oh * W;
          for (int c = 0; c < NC; ++c) {
            V acc = __builtin_shuffle(m[c], m[c + 1], pl) + m[c + 1];
            acc = mul_pz(acc + __builtin_shuffle(m[c + 1], m[c + 2], pr), rc[c]);
            if (c < NC - 1)
              pst(yr + c * VL, acc);
            else
              store_n(yr + c * VL, acc, wl);
          }
        }
        for (int k = 0; k < no; ++k)
          for (int c = 0; c < NC; ++c) z0[k][c] = z1[k][c], z1[k][c] = z2[k][c];
      }
    };
    // one depth output, ND live slices (0: any count)
    auto one_od = [&](auto ND) __attribute__((always_inline)) {
      constexpr int cnd = decltype(ND)::value;
      const T* q[cnd > 0 ? cnd : 1];
      for (int t = 0; t < cnd; ++t) q[t] = sl[t];
      sweep(IC<1>{}, [&](int64_t o, V (*z)[NC]) __attribute__((always_inline)) {
        for (int c = 0; c < NC; ++c) {
          V v = ld(cnd > 0 ? q[0] : sl[0], o, c);
          if constexpr (cnd > 0)
            for (int t = 1; t < cnd; ++t) v = ld(q[t], o, c) * one + v;  // (an FMA: see `one`)
          else
            for (int64_t t = 1; t < nd; ++t) v += ld(sl[t], o, c);
          z[0][c] = v;
        }
      });
    };
    // Two depth outputs whose windows lie inside the input (the whole of both in this range):
    // they share kd - 1 slices, summed once per row (kd + 1 slice loads per two rows, not 2 kd).
    if (a == 0 && b == OH && it.od + 1 < OD && row + 2 * OH <= end && it.od - pd >= 0 && it.od + 1 - pd + kd <= D) {
      sl[kd] = sl[kd - 1] + H * W;
      auto two_od = [&](auto NS) __attribute__((always_inline)) {
        constexpr int cns = decltype(NS)::value;  // shared slices (0: any count)
        const T* q[cns > 0 ? cns + 2 : 1];
        for (int t = 0; t < cns + 2 && cns > 0; ++t) q[t] = sl[t];
        sweep(IC<2>{}, [&](int64_t o, V (*z)[NC]) __attribute__((always_inline)) {
          const T* const* u = cns > 0 ? q : sl;
          const int64_t ns = cns > 0 ? cns : kd - 1;
          for (int c = 0; c < NC; ++c) {
            V v = ld(u[1], o, c);
            for (int64_t t = 2; t <= ns; ++t) v = ld(u[t], o, c) * one + v;
            z[0][c] = ld(u[0], o, c) * one + v;
            z[1][c] = ld(u[ns + 1], o, c) * one + v;
          }
        });
      };
      if (kd == 3)
        two_od(IC<2>{});
      else
        two_od(IC<0>{});
      for (int64_t i = 0; i < 2 * OH; ++i, ++row) it.next();
      continue;
    }
    if (nd == 2)
      one_od(IC<2>{});
    else if (nd == 3)
      one_od(IC<3>{});
    else
      one_od(IC<0>{});
    for (int64_t i = a; i < b; ++i, ++row) it.next();
  }
}

template <typename T>
void avg_pool_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                int64_t begin, int64_t end, void* scratch) {
  if constexpr (kPermute) {
    // (planes of whole vectors first: 4x4 planes took 26 cycles per vector in the tiny-plane kernel)
    const bool flat = flat_planes_ok<T>(s, true);
    if (flat && flat_fit_ok<T>(s)) return flat_fit_avg<T>(s, x, y, count_include_pad, divisor_override, begin, end);
    if (window_tiny_ok<T>(s)) return window_tiny_k<T, 2>(s, x, y, nullptr, begin, end, count_include_pad, divisor_override);
    if (flat) return flat_planes_avg<T>(s, x, y, count_include_pad, divisor_override, begin, end);
    if (rows_small_avg_ok<T>(s))
      return rows_small_avg<T>(s, x, y, count_include_pad, divisor_override, begin, end);
    if (window_small_ok<T>(s, true)) return window_small_k<T, 2>(s, x, y, begin, end, count_include_pad, divisor_override);
    if (sliding_avg_ok<T>(s) && !flat_avg3_ok(s)) return sliding_k<T, true>(s, x, y, count_include_pad, divisor_override, begin, end);
    if (avg3d_narrow_ok<T>(s)) {
      switch ((s.in[2] + PV<T>::VL - 1) / PV<T>::VL) {
        case 1: return avg3d_narrow_k<T, 1>(s, x, y, count_include_pad, divisor_override, begin, end);
        case 2: return avg3d_narrow_k<T, 2>(s, x, y, count_include_pad, divisor_override, begin, end);
        case 3: return avg3d_narrow_k<T, 3>(s, x, y, count_include_pad, divisor_override, begin, end);
        default: return avg3d_narrow_k<T, 4>(s, x, y, count_include_pad, divisor_override, begin, end);
      }
    }
  }
  if constexpr (kPermute) {
    if (!flat_avg3_ok(s) && !avg_s2k3_ok(s) && window_narrow_ok<T>(s))
      return adaptive_narrow_k<T, 2, false>(s, x, y, nullptr, begin, end, count_include_pad, divisor_override);
  }
  if (!pool_depth_first(s))
    return avg_pool_core(s, x, y, count_include_pad, divisor_override, begin, end, scratch, 1);
  depth_first(
      s, x, y, begin, end, scratch, T(0), [](auto a, auto b) { return a + b; },
      [&](const PoolShape& s2, const T* z, T* y2, int64_t a, int64_t b, void* sc, int64_t padded, int64_t live) {
        avg_pool_core(s2, z, y2, count_include_pad, divisor_override, a, b, sc, count_include_pad ? padded : live);
      });
}

// The adaptive windows' bounds along each axis, once per call: [start, end) of output column ow
// at w[2 ow], w[2 ow + 1], of output row oh in h, of depth slice od in d. (Two 64-bit divisions
// each: per output of the general kernels they cost more than its reduction.)
struct AdBounds {
  const int64_t *w, *h, *d;
  // offsets in the plane of window (od, oh)'s input rows; their count
  int64_t rows(int64_t od, int64_t oh, int64_t H, int64_t W, int64_t* bases) const {
    int64_t n = 0;
    for (int64_t id = d[2 * od]; id < d[2 * od + 1]; ++id)
      for (int64_t ih = h[2 * oh]; ih < h[2 * oh + 1]; ++ih) bases[n++] = (id * H + ih) * W;
    return n;
  }
};
// Tap t < kw of output column ow at tab[t * OW + ow]: its window's column w0 + t, clamped to the
// window's last (a max is the same over repeated taps). kw: the widest window.
inline const int32_t* ad_taps(const int64_t* wc, int64_t OW, int64_t* kw) {
  thread_local std::vector<int32_t> tab;
  int64_t k = 1;
  for (int64_t ow = 0; ow < OW; ++ow) k = max64(k, wc[2 * ow + 1] - wc[2 * ow]);
  tab.resize((size_t)(k * OW));
  for (int64_t t = 0; t < k; ++t)
    for (int64_t ow = 0; ow < OW; ++ow) tab[(size_t)(t * OW + ow)] = (int32_t)min64(wc[2 * ow] + t, wc[2 * ow + 1] - 1);
  *kw = k;
  return tab.data();
}
inline AdBounds ad_bounds(const PoolShape& s) {
  thread_local std::vector<int64_t> b;
  b.resize((size_t)(2 * (s.out[2] + s.out[1] + s.out[0])));
  int64_t* o = b.data();
  for (int a = 2; a >= 0; --a)
    for (int64_t i = 0; i < s.out[a]; ++i, o += 2) o[0] = ad_start(i, s.in[a], s.out[a]), o[1] = ad_end(i, s.in[a], s.out[a]);
  return AdBounds{b.data(), b.data() + 2 * s.out[2], b.data() + 2 * (s.out[2] + s.out[1])};
}


template <typename T>
void adaptive_max_pool_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end,
                         void* scratch) {
  typedef typename PV<T>::K K;
  const int64_t H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t L = pool_buf_len(s, 64 / (int64_t)sizeof(T));
  char* sp = align64(scratch);
  const int64_t nr = (s.in[0] / OD + 2) * (H / OH + 2);
  const T** rows = carve<const T*>(sp, nr);
  int64_t* bases = carve<int64_t>(sp, nr);
  T* buf = carve<T>(sp, L);
  K* kbuf = carve<K>(sp, L);
  if constexpr (kPermute) {
    if (!idx && adaptive_small_ok<T>(s)) return adaptive_small_k<T, 0>(s, x, y, begin, end);
    if (adaptive_narrow_ok<T>(s))
      return idx ? adaptive_narrow_k<T, 1>(s, x, y, idx, begin, end)
                 : adaptive_narrow_k<T, 0>(s, x, y, nullptr, begin, end);
  }
  const bool big = s.in_plane() >= PoolKey<T>::max;
  const AdBounds bd = ad_bounds(s);
  const int64_t* __restrict wc = bd.w;
  RowIter it(begin, OD, OH);
  if (!idx || !big) {
    // A block of output rows at a time, as adaptive_avg_pool_k: each row's taps gathered
    // branch-free (ad_taps: a narrower window repeats its last tap, which changes neither the
    // maximum nor which NaN or zero sign it keeps; with indices, (value, key) pairs, where a
    // repeated tap never beats itself and equal values take the smaller key, so a window of -inf
    // keeps its first tap's offset, as PyTorch), then reduced as vectors across the block's
    // outputs. (Per output, a scalar loop's branches mispredicted on random data: AVX2, 13 -> 6
    // maps, ~33x a copy of the input, ~43x with indices.)
    typedef typename PV<T>::V V;
    typedef typename PV<T>::VK VK;
    constexpr int VL = PV<T>::VL;
    int64_t kw;
    const int32_t* tap = ad_taps(wc, OW, &kw);
    const int64_t RB = max64(1, 1024 / OW), M = RB * OW;
    thread_local std::vector<T> wbuf;
    thread_local std::vector<K> kbufs;
    wbuf.resize((size_t)(kw * M));
    if (idx) kbufs.resize((size_t)(kw * M));
    T* __restrict cv = wbuf.data();   // tap t of output j of the block at cv[t * M + j]
    K* __restrict ck = kbufs.data();  // its key (indices)
    auto blocks = [&](auto IDX) {
      constexpr bool with_idx = decltype(IDX)::value != 0;
      for (int64_t r0 = begin; r0 < end; r0 += RB) {
        const int64_t r1 = min64(end, r0 + RB), m = (r1 - r0) * OW;
        for (int64_t row = r0; row < r1; ++row, it.next()) {
          const T* xp = x + it.p * s.in_plane();
          const int64_t n = bd.rows(it.od, it.oh, H, W, bases);
          for (int64_t i = 0; i < n; ++i) rows[i] = xp + bases[i];
          if constexpr (with_idx)
            rows_max_idx(rows, bases, n, W, buf, kbuf);
          else
            rows_max(rows, n, W, buf);
          const int64_t j0 = (row - r0) * OW;
          for (int64_t t = 0; t < kw; ++t)
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int32_t c = tap[t * OW + ow];
              cv[t * M + j0 + ow] = buf[c];
              if constexpr (with_idx) ck[t * M + j0 + ow] = kbuf[c];
            }
        }
        T* __restrict yb = y + r0 * OW;
        int64_t j = 0;
        for (; j + VL <= m; j += VL) {
          V b = pld<V>(cv + j);
          VK bk = with_idx ? pld<VK>(ck + j) : VK{};
          for (int64_t t = 1; t < kw; ++t) {
            const V v = pld<V>(cv + t * M + j);
            if constexpr (with_idx) {
              const VK vk = pld<VK>(ck + t * M + j), w = vbeats(v, vk, b, bk);
              b = w ? v : b;
              bk = w ? vk : bk;
            } else {
              b = vmax_nan(b, v);
            }
          }
          pst(yb + j, b);
          if constexpr (with_idx) store_idx<K>(idx + r0 * OW + j, bk, VL);
        }
        for (; j < m; ++j) {
          T b = cv[j];
          K bk = with_idx ? ck[j] : K(0);
          for (int64_t t = 1; t < kw; ++t) {
            if constexpr (with_idx) {
              if (sbeats(cv[t * M + j], ck[t * M + j], b, bk)) b = cv[t * M + j], bk = ck[t * M + j];
            } else {
              b = smax_nan(b, cv[t * M + j]);
            }
          }
          yb[j] = b;
          if constexpr (with_idx) idx[r0 * OW + j] = (int64_t)bk;
        }
      }
    };
    if (idx)
      blocks(IC<1>{});
    else
      blocks(IC<0>{});
    return;
  }
  // keys would overflow: a plain scan in PyTorch's order
  for (int64_t row = begin; row < end; ++row, it.next()) {
    const T* xp = x + it.p * s.in_plane();
    const int64_t n = bd.rows(it.od, it.oh, H, W, bases);
    for (int64_t i = 0; i < n; ++i) rows[i] = xp + bases[i];
    T* yr = y + row * OW;
    int64_t* ir = idx + row * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t w0 = wc[2 * ow], w1 = wc[2 * ow + 1];
      T b = -__builtin_inf();
      int64_t arg = bases[0] + w0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t iw = w0; iw < w1; ++iw) {
          const T v = rows[i][iw];
          if (v > b || v != v) b = v, arg = bases[i] + iw;
        }
      yr[ow] = b;
      ir[ow] = arg;
    }
  }
}

template <typename T>
void adaptive_avg_pool_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, void* scratch) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t L = pool_buf_len(s, 64 / (int64_t)sizeof(T));
  char* sp = align64(scratch);
  const int64_t nr = (D / OD + 2) * (H / OH + 2);
  const T** rows = carve<const T*>(sp, nr);
  int64_t* bases = carve<int64_t>(sp, nr);
  T* buf = carve<T>(sp, L);
  if constexpr (kPermute) {
    if (adaptive_small_ok<T>(s)) return adaptive_small_k<T, 2>(s, x, y, begin, end);
    if (adaptive_narrow_ok<T>(s)) return adaptive_narrow_k<T, 2>(s, x, y, nullptr, begin, end);
  }
  // Window bounds per call (ad_bounds), not per output: the 64-bit divisions cost more than
  // its sum. The sums of a block of rows are stored first and divided after, as vectors and
  // with the rows' division chains independent (three dependent scalar divisions per output
  // bounded the loop). AVX2, 13 -> 6 maps: ~18x a copy of the input. (Gathering the taps as
  // the maximum does cost more on wide windows: 70 -> 9.)
  const int64_t RB = max64(1, 1024 / OW);
  thread_local std::vector<T> wext, wsum;
  wext.resize((size_t)(OW + 2 * RB));
  wsum.resize((size_t)(RB * OW));
  const AdBounds bd = ad_bounds(s);
  const int64_t* __restrict wc = bd.w;
  T* __restrict fw = wext.data();
  T* __restrict fdh = fw + OW;  // per row of the block: depth and height extents
  T* __restrict sums = wsum.data();
  for (int64_t ow = 0; ow < OW; ++ow) fw[ow] = (T)(wc[2 * ow + 1] - wc[2 * ow]);
  RowIter it(begin, OD, OH);
  for (int64_t r0 = begin; r0 < end; r0 += RB) {
    const int64_t r1 = min64(end, r0 + RB);
    for (int64_t row = r0; row < r1; ++row, it.next()) {
      const int64_t od = it.od, oh = it.oh;
      const T* xp = x + it.p * s.in_plane();
      const int64_t n = bd.rows(od, oh, H, W, bases);
      for (int64_t i = 0; i < n; ++i) rows[i] = xp + bases[i];
      rows_sum(rows, n, W, buf);
      fdh[2 * (row - r0)] = (T)(bd.d[2 * od + 1] - bd.d[2 * od]);
      fdh[2 * (row - r0) + 1] = (T)(bd.h[2 * oh + 1] - bd.h[2 * oh]);
      T* sr = sums + (row - r0) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        T sum = 0;
        for (int64_t iw = wc[2 * ow]; iw < wc[2 * ow + 1]; ++iw) sum += buf[iw];
        sr[ow] = sum;
      }
    }
    // PyTorch divides by each window extent in turn.
    for (int64_t row = r0; row < r1; ++row) {
      const T fd = fdh[2 * (row - r0)], fh = fdh[2 * (row - r0) + 1];
      const T* sr = sums + (row - r0) * OW;
      T* __restrict yr = y + row * OW;
      for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = sr[ow] / fd / fh / fw[ow];
    }
  }
}

// Sum of a contiguous run, with 4 vector accumulators so it is not bound by add latency.
template <typename T>
T reduce_sum(const T* __restrict x, int64_t n) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  V a0 = V{}, a1 = V{}, a2 = V{}, a3 = V{};
  int64_t i = 0;
  for (; i + 4 * VL <= n; i += 4 * VL) {
    a0 += pld<V>(x + i);
    a1 += pld<V>(x + i + VL);
    a2 += pld<V>(x + i + 2 * VL);
    a3 += pld<V>(x + i + 3 * VL);
  }
  for (; i + VL <= n; i += VL) a0 += pld<V>(x + i);
  V v = (a0 + a1) + (a2 + a3);
  T sum = 0;
  for (int j = 0; j < VL; ++j) sum += v[j];
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// Folds VL vectors of per-lane partial results pairwise (even lanes with odd lanes, by red) so
// that lane q of the result holds red over all of acc[q]'s lanes.
template <typename T, typename Red>
inline typename PV<T>::V fold_lanes(typename PV<T>::V* acc, const Red& red) {
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  VK me, mo;
  for (int l = 0; l < VL; ++l) me[l] = 2 * l, mo[l] = 2 * l + 1;
  for (int m = VL; m > 1; m /= 2)
    for (int q = 0; q < m / 2; ++q)
      acc[q] = red(__builtin_shuffle(acc[2 * q], acc[2 * q + 1], me), __builtin_shuffle(acc[2 * q], acc[2 * q + 1], mo));
  return acc[0];
}

// Global average pooling. Planes of at least one vector go VL at a time: each plane's run is
// summed into one vector (the tail as an overlapping load with the already counted lanes masked
// off), then the VL vectors are folded together pairwise (even + odd lanes) so lane q ends up
// holding plane q's sum: no per-plane horizontal reduction.
// Planes shorter than a vector (global pooling of 1x1 or 2x2 maps) are windows tiling one run:
// reduce_tiled_cols sums VL planes per vector (one scalar sum per plane took 32x a copy of a
// 8x2048x1x1 input).
template <typename T>
void mean_planes_k(const T* x, int64_t n, int64_t planes, T* y) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  int64_t p = 0;
  if (n < VL && n > 0) {
    reduce_tiled_cols<T, true>(x, planes, n, y);
    for (; p + VL <= planes; p += VL) pst(y + p, (pld<V>(y + p) + V{}) / (T)n);  // (+0: a sum of -0 is +0)
    for (; p < planes; ++p) y[p] = (y[p] + T(0)) / (T)n;
    return;
  }
  if (n >= VL && VL > 1) {
    const int64_t rem = n % VL;
    VK mask;
    for (int l = 0; l < VL; ++l) mask[l] = l >= VL - rem ? (K)-1 : (K)0;
    for (; p + VL <= planes; p += VL) {
      V acc[VL];
      for (int q = 0; q < VL; ++q) {
        const T* xp = x + (p + q) * n;
        V a = pld<V>(xp), b = V{};
        int64_t i = VL;
        for (; i + 2 * VL <= n; i += 2 * VL) {
          a += pld<V>(xp + i);
          b += pld<V>(xp + i + VL);
        }
        if (i + VL <= n) a += pld<V>(xp + i);
        if (rem) b += (V)((VK)pld<V>(xp + n - VL) & mask);
        acc[q] = a + b;
      }
      pst(y + p, fold_lanes<T>(acc, [](V a, V b) { return a + b; }) / (T)n);
    }
  }
  for (; p < planes; ++p) y[p] = reduce_sum(x + p * n, n) / (T)n;
}

#include "kernels/generic/pool_global.h"

template <typename T>
constexpr PoolKernels<T> make_pool_kernels() {
  return PoolKernels<T>{[](const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t b, int64_t e, void* sc) {
                          max_pool_k<T>(s, x, y, idx, b, e, sc);
                        }, &avg_pool_k<T>, &adaptive_max_pool_k<T>, &adaptive_avg_pool_k<T>,
                        &mean_planes_k<T>, &max_planes_k<T>};
}

// Part of the generic kernels: included by pool_impl.h after pool_flat_planes.h (uses load_mask,
// store_mask, fp_madd, unord_bits, axis_taps, axis_div, windows_live, adaptive_narrow_k).
// Max pooling (values only) of 2- and 3-column windows at column stride >= 2 on rows of at most
// two vectors, up to 3 window rows, one output row per vector (AlexNet's 3x3 stride-2 max on
// 13x13 and 27x27, GoogLeNet's ceil_mode pools on 14x14 and 28x28, Inception's on 17x17, LeNet's
// and VGG's 2x2, (1, 3) windows at stride (1, 2)). window_small_k packs a plane's outputs into
// whole vectors and pays run-time loops, tables and branches per output row (2.2-2.9x a copy of
// the input here). Here each output row is a fixed sequence: its window rows loaded (masked:
// nothing read past a row's end), reduced in order, the taps as two-source permutes over the
// row's vectors with the lanes of dead taps (padding, ceil_mode overhang) masked off, one masked
// store.
// Rows in order, then taps in column order, the earlier operand winning ties: the order of
// adaptive_narrow_k, which redoes an output row whose window rows hold a NaN. Averages (3x3 and
// 5x5 at column stride >= 3) take the same steps with sums, divided by each output's divisor.
#pragma once

constexpr int64_t kRowsSmallMaxOH = 256;

template <typename T>
inline bool rows_small_geom(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  return kPermute && s.in[0] == 1 && s.k[0] == 1 && s.out[0] == 1 && s.s[2] >= 2 && s.d[2] == 1 && s.d[1] == 1 &&
         s.in[2] <= 2 * VL && s.out[2] <= VL && s.out[1] <= kRowsSmallMaxOH && s.in_plane() < PoolKey<T>::max &&
         windows_live(s);
}
template <typename T>
inline bool rows_small_ok(const PoolShape& s) {
  return (s.k[2] == 2 || s.k[2] == 3) && s.k[1] <= 3 && rows_small_geom<T>(s);
}
// Averages: square 3x3 and 5x5 windows at column stride >= 3 (InceptionAux's 5x5 stride 3 on
// 17x17: 2.6x a copy in the per-row table kernel; 3x3 at stride 2 has avg_s2k3_k).
template <typename T>
inline bool rows_small_avg_ok(const PoolShape& s) {
  return ((s.k[1] == 3 && s.k[2] == 3) || (s.k[1] == 5 && s.k[2] == 5)) && s.s[2] >= 3 && !pool_is_tiled(s) &&
         rows_small_geom<T>(s);
}

// (max(a, b), a winning ties: maxps(b, a)) in the lanes of m, a in the others.
template <typename T>
FMACONV_POOL_INLINE typename PV<T>::V rs_max(typename PV<T>::V a, typename PV<T>::V b, unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return __builtin_ia32_maxps512_mask(b, a, a, (unsigned short)m, 4);
  if constexpr (sizeof(T) == 8) return __builtin_ia32_maxpd512_mask(b, a, a, (unsigned char)m, 4);
#endif
  return lane_mask<typename PV<T>::V>(m) & (b > a) ? b : a;
}

// AVG: sums (+0, then divided by each output's divisor), else max.
template <typename T, bool AVG, int KH, int KW, bool TWO>
void rows_small_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, bool count_include_pad,
                  int64_t divisor_override) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  constexpr unsigned full = (1u << VL) - 1;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2], IPL = H * W;
  const V fill = AVG ? V{} : V{} - __builtin_inf();
  alignas(64) T fill_row[2 * VL];  // a missing window row (top padding, ceil_mode overhang)
  for (int l = 0; l < 2 * VL; ++l) fill_row[l] = fill[0];
  const unsigned wm0 = TWO ? full : (1u << W) - 1, wm1 = TWO ? (1u << (W - VL)) - 1 : 0;
  // tap t of output lane j reads lane j * sw - pw + t of the row (two-source index over its
  // two vectors); tm[t]: the output lanes whose tap t is inside the row
  VK idx[KW];
  unsigned tm[KW] = {};
  for (int t = 0; t < KW; ++t)
    for (int j = 0; j < VL; ++j) {
      const int64_t c = j * s.s[2] - s.p[2] + t;
      const bool live = j < OW && c >= 0 && c < W;
      idx[t][j] = (K)(live ? c : 0);
      tm[t] |= (unsigned)live << j;
    }
  int32_t rf[kRowsSmallMaxOH], rn[kRowsSmallMaxOH];  // each output row's first window row, count
  T rdiv[kRowsSmallMaxOH];  // (AVG) its divisor's row factor
  for (int64_t oh = 0; oh < OH; ++oh) {
    int64_t f, n, st;
    axis_taps<false>(s, 1, oh, &f, &n, &st);
    rf[oh] = (int32_t)f, rn[oh] = (int32_t)n;
    rdiv[oh] = divisor_override ? T(1) : (T)axis_div<false>(s, 1, oh, count_include_pad);
  }
  V cdiv = V{} + T(1);  // (AVG) the divisor's column factors (the override in every lane)
  for (int j = 0; j < VL; ++j)
    cdiv[j] = divisor_override ? (T)divisor_override : j < OW ? (T)axis_div<false>(s, 2, j, count_include_pad) : T(1);
  const unsigned om = (1u << OW) - 1;
  int64_t p = begin / OH, oh = begin % OH;
  const T* xp = x + p * IPL;
  for (int64_t r = begin; r < end; ++r) {
    const T* r0 = xp + rf[oh] * W;
    V a0 = load_mask<V>(r0, fill, wm0), a1 = TWO ? load_mask<V>(r0 + VL, fill, wm1) : fill;
    unsigned nan = AVG ? 0u : TWO ? unord_bits(a0, a1) : unord_bits(a0, a0);
#pragma GCC unroll 5
    for (int dy = 1; dy < KH; ++dy) {
      const T* rr = dy < rn[oh] ? r0 + dy * W : fill_row;
      const V b0 = load_mask<V>(rr, fill, wm0), b1 = TWO ? load_mask<V>(rr + VL, fill, wm1) : fill;
      if constexpr (AVG) {
        a0 += b0;
        if constexpr (TWO) a1 += b1;
      } else {
        nan |= TWO ? unord_bits(b0, b1) : unord_bits(b0, b0);
        a0 = rs_max<T>(a0, b0, full);
        if constexpr (TWO) a1 = rs_max<T>(a1, b1, full);
      }
    }
    V acc = fill;
#pragma GCC unroll 5
    for (int t = 0; t < KW; ++t) {
      const V v = TWO ? __builtin_shuffle(a0, a1, idx[t]) : __builtin_shuffle(a0, idx[t]);
      acc = AVG ? fp_madd<T>(acc, v, tm[t]) : rs_max<T>(acc, v, tm[t]);
    }
    if constexpr (AVG) acc = (acc + V{}) / (cdiv * rdiv[oh]);  // (+0: a sum of -0 is +0, as PyTorch's)
    if (!AVG && __builtin_expect(nan != 0, 0))
      adaptive_narrow_k<T, 0, false>(s, x, y, nullptr, r, r + 1);
    else
      store_mask(y + r * OW, acc, om);
    if (++oh == OH) oh = 0, xp += IPL;
  }
}

template <typename T>
void rows_small_max(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  const bool two = s.in[2] > PV<T>::VL;
  auto go = [&](auto KH, auto KW) {
    constexpr int kh = decltype(KH)::value, kw = decltype(KW)::value;
    return two ? rows_small_k<T, false, kh, kw, true>(s, x, y, begin, end, true, 0)
               : rows_small_k<T, false, kh, kw, false>(s, x, y, begin, end, true, 0);
  };
  auto rows = [&](auto KW) {
    switch (s.k[1]) {
      case 1: return go(IC<1>{}, KW);
      case 2: return go(IC<2>{}, KW);
      default: return go(IC<3>{}, KW);
    }
  };
  return s.k[2] == 2 ? rows(IC<2>{}) : rows(IC<3>{});
}

template <typename T>
void rows_small_avg(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                    int64_t begin, int64_t end) {
  const bool two = s.in[2] > PV<T>::VL;
  auto go = [&](auto K) {
    constexpr int k = decltype(K)::value;
    return two ? rows_small_k<T, true, k, k, true>(s, x, y, begin, end, count_include_pad, divisor_override)
               : rows_small_k<T, true, k, k, false>(s, x, y, begin, end, count_include_pad, divisor_override);
  };
  return s.k[2] == 3 ? go(IC<3>{}) : go(IC<5>{});
}

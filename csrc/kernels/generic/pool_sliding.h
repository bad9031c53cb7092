// Part of the generic kernels: included by pool_impl.h before max_pool_k (uses its PV, pool_red,
// load_mask, store_chunk, unord_bits, axis_div).
//
// Stride-1 2-D windows (max or average, values only, no dilation) on planes whose padded rows
// fit in 4 vectors (AVX-512): separable, columns first, then rows, so neither pass pays per tap.
//  - Along each input row (in registers, padding lanes from masked loads): max by doubling
//    (widths 1, 2, 4, ... then one overlapping step: ~log2(kw) permutes and max per vector);
//    sums by the binary decomposition of kw (no overlap).
//  - Along the columns, on the row results kept in an L1 block: output rows in groups of G share
//    their window's common rows; each row adds a suffix of the rows before them and a prefix of
//    the rows after (~kh/G + 3 ops per output vector instead of kh - 1).
// Max keeps each operand's order (the earlier span is the first operand and wins ties): the
// result is the first maximum in PyTorch's scan order (rows, then columns), so the sign of a zero
// maximum matches PyTorch exactly. Plain max throughout; a block whose input holds a NaN is
// redone with vmax_nan. (1 thread, x a copy of the input, before -> after: SPP 13x13 on
// 2x256x20x20 ~15x -> ~5x; Inception's 7x7 average on 4x192x17x17 ~15x -> ~6x; SPPF 5x5 on
// 4x256x20x20 ~4x either way (max_narrow_k's vertical-first rows cost as much as the row
// doubling here, which needs ~log2(kw) permutes and max per vector, most of the time).)
#pragma once

// Output rows per block (their row results, plus the window's other rows, stay in L1).
constexpr int64_t kSlideRows = 32;
constexpr int64_t kSlideMaxK = 32;

template <typename T>
inline bool sliding_ok(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  return kPermute && s.in[0] == 1 && s.k[0] == 1 && s.out[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.d[1] == 1 &&
         s.d[2] == 1 && s.k[2] - 1 < VL && s.k[1] <= kSlideMaxK && s.in[2] + 2 * s.p[2] <= 4 * VL &&
         s.out[2] >= 1 && s.out[1] >= 1 && s.p[1] <= s.k[1] / 2 && s.p[2] <= s.k[2] / 2;
}

// Which windows go here: larger than 3x3 (3x3 stride 1 max on 28x28, 1 thread: max_narrow_k
// 1.5x a copy, these kernels 2.6x; SPPF 5x5 on 20x20 about even, 13x13 16x -> 5x).
template <typename T>
inline bool sliding_max_ok(const PoolShape& s) {
  return sliding_ok<T>(s) && s.k[1] * s.k[2] > 9;
}

template <typename T>
inline bool sliding_avg_ok(const PoolShape& s) {
  return sliding_ok<T>(s) && s.k[1] * s.k[2] > 9;
}

template <typename T, int NP, bool AVG, bool NANP, int G>
void sliding_block(const PoolShape& s, const T* xp, T* yp, int64_t o0, int64_t o1, const unsigned* masks,
                   const typename PV<T>::VK* sh, int nlev, int fin, const typename PV<T>::V* rtab,
                   T rdiv, bool count_include_pad, T* rbuf, const T* fillrow, unsigned* nan_out) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kh = s.k[1], kw = s.k[2], ph = s.p[1], pw = s.p[2];
  const int64_t nq = (OW + VL - 1) / VL;
  constexpr int64_t RS = NP * VL;  // row stride of rbuf (elements)
  const V fill = AVG ? V{} : V{} - __builtin_inf();
  auto red = [](V a, V b) __attribute__((always_inline)) { return pool_red<AVG, NANP>(a, b); };
  // input rows [t0, t1) of the block's windows
  const int64_t t0 = max64(o0 - ph, 0), t1 = min64(o1 - 1 - ph + kh, H);
  unsigned nan = 0;
  for (int64_t t = t0; t < t1; ++t) {
    const uintptr_t row = (uintptr_t)(xp + t * W);
    V a[NP + 1];
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) {
      // lane l of chunk q: column q * VL + l - pw (masked off outside [0, W): no read there)
      a[q] = load_mask<V>((const T*)(row + (uintptr_t)((q * VL - pw) * (int64_t)sizeof(T))), fill, masks[q]);
    }
    if constexpr (!AVG && !NANP)
      for (int q = 0; q < NP; q += 2) nan |= unord_bits(a[q], a[q + 1 < NP ? q + 1 : q]);
    a[NP] = fill;
    T* r = rbuf + (t - t0) * RS;
    if constexpr (!AVG) {
      // a[i] = max of columns [i, i + 2^lev) of the padded row, in place (chunk q + 1 still old)
      for (int lv = 0; lv < nlev; ++lv)
#pragma GCC unroll 4
        for (int q = 0; q < NP; ++q) a[q] = red(a[q], __builtin_shuffle(a[q], a[q + 1], sh[lv]));
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) {
        V v = a[q];
        if (fin) v = red(v, __builtin_shuffle(a[q], a[q + 1], sh[kSlideMaxK / 2 + fin]));
        pst(r + q * VL, v);
      }
    } else {
      // kw = sum of its bits 2^b: span 2^b of width at offset off (spans of lower bits before it)
      V acc[NP];
      bool first = true;
      int64_t off = 0;
      for (int lv = 0; (kw >> lv) != 0; ++lv) {
        if ((kw >> lv) & 1) {
#pragma GCC unroll 4
          for (int q = 0; q < NP; ++q)  // (the lowest bit's span is at offset 0)
            acc[q] = first ? a[q] : acc[q] + __builtin_shuffle(a[q], a[q + 1], sh[kSlideMaxK / 2 + off]);
          first = false;
          off += (int64_t)1 << lv;
        }
        if ((kw >> (lv + 1)) != 0)
#pragma GCC unroll 4
          for (int q = 0; q < NP; ++q) a[q] = a[q] + __builtin_shuffle(a[q], a[q + 1], sh[lv]);
      }
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) pst(r + q * VL, acc[q]);
    }
  }
  if constexpr (!AVG && !NANP) {
    if (nan) {
      *nan_out = 1;
      return;
    }
  }
  // window rows of output o: padded rows o - ph + i; outside [0, H) the fill row
  const T* rows[kSlideRows + kSlideMaxK];
  for (int64_t i = 0; i < o1 - o0 + kh - 1; ++i) {
    const int64_t t = o0 - ph + i;
    rows[i] = t >= 0 && t < H ? rbuf + (t - t0) * RS : fillrow;
  }
  auto rp = [&](int64_t t) __attribute__((always_inline)) -> const T* { return rows[t - (o0 - ph)]; };
  auto emit = [&](int64_t o, int q, V v) __attribute__((always_inline)) {
    if constexpr (AVG) {
      if (rdiv != 0)
        v = v * rdiv;
      else {
        const int64_t st = o - ph;
        const int64_t n = count_include_pad ? min64(st + kh, H + ph) - st : min64(st + kh, H) - max64(st, 0);
        v = v * rtab[n * 4 + q];
      }
    }
    store_chunk(yp + o * OW, q * VL, OW, v);
  };
  int64_t o = o0;
  if constexpr (G > 1) {
    for (; o + G <= o1; o += G) {
      const int64_t t = o - ph;
      for (int q = 0; q < NP; ++q) {
        if (q >= nq) break;
        // rows common to the G windows: [t + G - 1, t + kh)
        V S[G];
        V m = pld<V>(rp(t + G - 1) + q * VL);
        for (int64_t i = G; i < kh; ++i) m = red(m, pld<V>(rp(t + i) + q * VL));
        S[G - 1] = m;
#pragma GCC unroll 8
        for (int g = G - 2; g >= 0; --g) S[g] = red(pld<V>(rp(t + g) + q * VL), S[g + 1]);
        emit(o, q, S[0]);
        V pre = pld<V>(rp(t + kh) + q * VL);
#pragma GCC unroll 8
        for (int g = 1; g < G; ++g) {
          if (g > 1) pre = red(pre, pld<V>(rp(t + kh + g - 1) + q * VL));
          emit(o + g, q, red(S[g], pre));
        }
      }
    }
  }
  for (; o < o1; ++o) {
    const int64_t t = o - ph;
    for (int q = 0; q < NP; ++q) {
      if (q >= nq) break;
      V m = pld<V>(rp(t) + q * VL);
      for (int64_t i = 1; i < kh; ++i) m = red(m, pld<V>(rp(t + i) + q * VL));
      emit(o, q, m);
    }
  }
  (void)OH;
}

// Rows [begin, end) of max (AVG false) or average pooling; sliding_ok(s).
template <typename T, bool AVG>
void sliding_k(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override, int64_t begin,
               int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t kh = s.k[1], kw = s.k[2], pw = s.p[2];
  const int np = (int)((W + 2 * pw + VL - 1) / VL);
  unsigned masks[4];
  for (int q = 0; q < 4; ++q) {
    masks[q] = 0;
    for (int l = 0; l < VL; ++l) {
      const int64_t col = q * VL + l - pw;
      if (col >= 0 && col < W) masks[q] |= 1u << l;
    }
  }
  // sh[lv]: one chunk on by 2^lv lanes (from the next chunk); sh[kSlideMaxK / 2 + j]: by j lanes
  VK sh[kSlideMaxK / 2 + kSlideMaxK];
  int nlev = 0;
  for (int lv = 0; lv < kSlideMaxK / 2; ++lv) {
    const int64_t d = (int64_t)1 << lv < VL ? (int64_t)1 << lv : 0;
    for (int l = 0; l < VL; ++l) sh[lv][l] = (K)(l + d);
  }
  for (int j = 0; j < kSlideMaxK; ++j)
    for (int l = 0; l < VL; ++l) sh[kSlideMaxK / 2 + j][l] = (K)(l + (j < VL ? j : 0));
  while (((int64_t)2 << nlev) <= kw) ++nlev;
  const int fin = (int)(kw - ((int64_t)1 << nlev));  // the last, overlapping step (max)
  V rfw[4];
  for (int q = 0; q < 4; ++q)
    for (int l = 0; l < VL; ++l) {
      const int64_t ow = q * VL + l;
      rfw[q][l] = (T)1 / (T)(ow < OW ? axis_div<false>(s, 2, ow, count_include_pad) : 1);
    }
  // rtab[n * 4 + q]: 1 / (column divisors of chunk q * n rows), the row factor applied after the
  // column one as PyTorch's quotient is within an ulp of either
  V rtab[(kSlideMaxK + 1) * 4];
  if (AVG && !divisor_override)
    for (int64_t n = 1; n <= kh; ++n)
      for (int q = 0; q < np; ++q) rtab[n * 4 + q] = rfw[q] * ((T)1 / (T)n);
  const T rdiv = divisor_override ? (T)1 / (T)divisor_override : (T)0;
  alignas(64) T rbuf[(kSlideRows + kSlideMaxK) * 4 * VL];
  alignas(64) T fillrow[4 * VL];
  for (int i = 0; i < 4 * VL; ++i) fillrow[i] = AVG ? T(0) : T(-__builtin_inf());
  const int g = kh >= 8 ? 8 : kh >= 4 ? 4 : kh >= 2 ? 2 : 1;
  auto run = [&](auto NPc, auto Gc, const T* xp, T* yp, int64_t o0, int64_t o1) {
    constexpr int NP = decltype(NPc)::value, GG = decltype(Gc)::value;
    unsigned nan = 0;
    sliding_block<T, NP, AVG, false, GG>(s, xp, yp, o0, o1, masks, sh, nlev, fin, rtab, rdiv,
                                         count_include_pad, rbuf, fillrow, &nan);
    if constexpr (!AVG)
      if (nan)
        sliding_block<T, NP, AVG, true, GG>(s, xp, yp, o0, o1, masks, sh, nlev, fin, rtab, rdiv,
                                            count_include_pad, rbuf, fillrow, &nan);
  };
  auto run_g = [&](auto NPc, const T* xp, T* yp, int64_t o0, int64_t o1) {
    switch (g) {
      case 8: return run(NPc, IC<8>{}, xp, yp, o0, o1);
      case 4: return run(NPc, IC<4>{}, xp, yp, o0, o1);
      case 2: return run(NPc, IC<2>{}, xp, yp, o0, o1);
      default: return run(NPc, IC<1>{}, xp, yp, o0, o1);
    }
  };
  int64_t row = begin;
  while (row < end) {
    const int64_t p = row / OH, a = row % OH, b = min64(OH, a + (end - row));
    const T* xp = x + p * H * W;
    T* yp = y + p * OH * OW;
    for (int64_t o0 = a; o0 < b; o0 += kSlideRows) {
      const int64_t o1 = min64(b, o0 + kSlideRows);
      switch (np) {
        case 1: run_g(IC<1>{}, xp, yp, o0, o1); break;
        case 2: run_g(IC<2>{}, xp, yp, o0, o1); break;
        case 3: run_g(IC<3>{}, xp, yp, o0, o1); break;
        default: run_g(IC<4>{}, xp, yp, o0, o1); break;
      }
    }
    row += b - a;
  }
}

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
// 5x5 float max with padding 2 on planes of up to 2048 elements goes to the flat kernel at the
// end of this file instead (whole planes as runs of vectors, no idle lanes).
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
      v += V{};  // a sum of -0 is +0, as PyTorch's (its sum starts from +0)
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

// ---- flat stride-1 5x5 max: the plane as one run of whole vectors ----------------------------
// 5x5 windows with padding 2 (output plane = input plane; SPPF) on planes of up to kFlatMax
// float elements whose rows fit sliding_ok: SPPF's 20x20 plane is 25 vectors here, where the row
// kernel above pays for 40 (12 of every 32 lanes idle). Per whole plane (flat_vh), fused:
// columns first (c = max of x[i + dy * W], unaligned loads), then the row taps as permutes of c
// and its neighbour vectors, clamped to the row (the column of each lane repeats every
// lcm(W, VL) elements: a table of permute indices per phase). That order is exact only
// when the plane holds no NaN and not both +0 and -0 (otherwise max picks among equal values
// and only PyTorch's scan order fixes which zero); such planes, and the partial planes at the
// ends of a thread's range, take the separable kernel above (planes with a NaN and zeros of at
// most one sign keep the fused result; the windows of each NaN are then set to it, or with many
// NaNs the fused order is redone with vmax_nan).
// (1 thread, SPPF 4x256x20x20: ~4.0x -> ~3.5x a copy of x; clamped permutes instead of column
// masks compared per vector, shared pairs and edge masks from a table: -> ~3.0x. Kernels 7 and
// up stay on the kernel above, whose row doubling needs fewer operations than one tap each.)
constexpr int64_t kFlatMax = 2048;

template <typename T>
inline bool flat_slide_ok(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  // (only where the row kernel's padded rows leave many lanes idle: rows narrower than a vector,
  // or padded rows of at least 1.4x the width: 20 -> 32 lanes; at 26 -> 32 or 40 -> 48 the row
  // kernel is as fast or faster)
  // 3x3 (padding 1) on rows narrower than a vector too: the table-driven narrow-row kernel took
  // 7.4x a copy for 8x832x14x14 (Inception's 3x3 stride-1 branch on 14x14 maps).
  const int64_t W = s.in[2], padded = (W + 4 + VL - 1) / VL * VL;
  const bool k5 = s.k[1] == 5 && s.k[2] == 5 && s.p[1] == 2 && s.p[2] == 2 && (W < VL || 5 * padded >= 7 * W);
  const bool k3 = s.k[1] == 3 && s.k[2] == 3 && s.p[1] == 1 && s.p[2] == 1 && W < VL;
  return kPermute && sizeof(T) == 4 && sliding_ok<T>(s) && (k5 || k3) && s.in[1] * W <= kFlatMax &&
         s.out[1] == s.in[1] && s.out[2] == W;
}

template <typename T>
FMACONV_POOL_INLINE typename PV<T>::V fs_max(typename PV<T>::V acc, typename PV<T>::V v, unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return __builtin_ia32_maxps512_mask(acc, v, acc, (unsigned short)m, 4);
#endif
  return lane_mask<typename PV<T>::V>(m) & ~(acc > v) ? v : acc;  // maxps(acc, v): ties and NaN take v
}

// acc, or where m is set the maximum of v (the earlier tap) and acc: v wins ties; NANP: a NaN in
// either propagates.
template <typename T, bool NANP>
FMACONV_POOL_INLINE typename PV<T>::V fs_red(typename PV<T>::V acc, typename PV<T>::V v, unsigned m) {
  if constexpr (NANP) {
    const typename PV<T>::V r = vmax_nan(v, acc);
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4) return __builtin_ia32_blendmps_512_mask(acc, r, (unsigned short)m);
#endif
    return lane_mask<typename PV<T>::V>(m) ? r : acc;
  } else {
    return fs_max<T>(acc, v, m);
  }
}

// Whole planes, columns first, fused: c = max over the column taps (unaligned loads of x), then
// the row taps as permutes of c and its neighbours, straight to y. A row tap that would leave the
// row takes the row's end column instead (max is idempotent: the window's maximum is unchanged),
// so the permute indices of each phase (tix, flat_tap_table) do the edges: no lane masks. K = 5
// shares pairs: m = max(c[j], c[j + 1]), then max(m[j - 2], m[j], c[j + 2]). That order may pick
// a different one of equal values than PyTorch's scan: exact unless the plane holds a NaN or
// both +0 and -0 (max is order-free otherwise; NANP: vmax_nan, for planes with a NaN). Returns
// nonzero when the plane holds a NaN or a -0 (!NANP; the caller then looks closer, flat_scan:
// +0 alone, as after ReLU, needs no look).
template <typename T, int K, bool NANP>
unsigned flat_vh(const T* xp, T* yp, int64_t n, int64_t W, const typename PV<T>::VK* tix, int P, const uint16_t* em) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  constexpr int R = K / 2, NI = K == 5 ? 3 : 2;
  static_assert(K == 3 || K == 5, "3x3 or 5x5");
  const V ninf = V{} - __builtin_inf();
  auto mx = [](const V& a, const V& b) __attribute__((always_inline)) { return fs_red<T, NANP>(a, b, 0xffffu); };
  // column taps of vector v = o / VL; the first and last vectors of the plane (their taps leave
  // it) load masked, their masks em[(2R + 1) v + R + dy] precomputed (computing them per load
  // cost as much as the interior vectors' work)
  const int64_t v0 = ceil_div(R * W, (int64_t)VL), v1 = n - R * W - VL < 0 ? 0 : (n - R * W - VL) / VL + 1;
  // (zn |= outside the lambda: captured, it lived in memory, a read-modify-write per vector)
  auto col = [&](int64_t o, unsigned& bad) __attribute__((always_inline)) -> V {
    const int64_t v = o / VL;
    const bool inner = v >= v0 && v < v1;
    const uint16_t* m = em + (2 * R + 1) * v + R;
    const V c = inner ? pld<V>(xp + o) : load_mask<V>(xp + o, ninf, m[0]);
    if constexpr (!NANP) bad = nan_negzero_bits(c);
    V acc = c;
#pragma GCC unroll 16
    for (int dy = 1; dy <= R; ++dy) {
      acc = mx(acc, inner ? pld<V>(xp + o - dy * W) : load_mask<V>(xp + o - dy * W, ninf, m[-dy]));
      acc = mx(acc, inner ? pld<V>(xp + o + dy * W) : load_mask<V>(xp + o + dy * W, ninf, m[dy]));
    }
    return acc;
  };
  int f = 0;
  unsigned zn = 0, bad = 0;
  V prev = ninf, cur = col(0, zn);  // K = 5: prev holds the previous vector's pairs m
  for (int64_t o = 0; o < n; o += VL) {
    const V next = o + VL < n ? col(o + VL, bad) : ninf;
    zn |= bad;
    const VK* ix = tix + f * NI;
    if (++f == P) f = 0;
    V acc;
    if constexpr (K == 3) {
      acc = mx(mx(cur, __builtin_shuffle(prev, cur, ix[0])), __builtin_shuffle(cur, next, ix[1]));
      prev = cur;
    } else {
      const V m = mx(cur, __builtin_shuffle(cur, next, ix[0]));
      acc = mx(mx(m, __builtin_shuffle(prev, m, ix[1])), __builtin_shuffle(cur, next, ix[2]));
      prev = m;
    }
    if (o + VL <= n)
      pst(yp + o, acc);
    else
      store_n(yp + o, acc, n - o);
    cur = next;
  }
  return zn;
}

// flat_vh's permute indices for rows of W, per phase f < P (vector f of a plane, its lane 0 at
// column f * VL mod W): K = 3: c[j - 1] from (prev, cur), c[j + 1] from (cur, next); K = 5:
// c[j + 1] from (cur, next), m[j - 2] from (prev m, m), c[j + 2] from (cur, next); column
// offsets clamped to the row.
template <typename T, int K>
void flat_tap_table(int64_t W, int P, typename PV<T>::VK* tix) {
  typedef typename PV<T>::K Ki;
  constexpr int VL = PV<T>::VL;
  int64_t c0 = 0;  // column of the phase's lane 0 (no division per lane: this runs per call)
  for (int f = 0; f < P; ++f, c0 = (c0 + VL) % W)
    for (int64_t l = 0, c = c0; l < VL; ++l, c = c + 1 == W ? 0 : c + 1) {
      const int64_t left = W - 1 - c;
      if (K == 3) {
        tix[2 * f][l] = (Ki)(VL + l - min64(1, c));
        tix[2 * f + 1][l] = (Ki)(l + min64(1, left));
      } else {
        tix[3 * f][l] = (Ki)(l + min64(1, left));
        tix[3 * f + 1][l] = (Ki)(VL + l - min64(2, c));
        tix[3 * f + 2][l] = (Ki)(l + min64(2, left));
      }
    }
}

// What x[0, n) holds: 1 a NaN, 2 a +0, 4 a -0 (or'ed).
template <typename T>
unsigned flat_scan(const T* x, int64_t n) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  VK nan{}, pos{}, neg{};
  int64_t i = 0;
  for (; i + VL <= n; i += VL) {
    const V v = pld<V>(x + i);
    const VK b = (VK)v, z = (b << 1) == 0;  // +-0: all bits but the sign clear
    nan |= v != v;
    pos |= z & (b >= 0);
    neg |= z & (b < 0);
  }
  unsigned r = (any_lane(nan) ? 1u : 0u) | (any_lane(pos) ? 2u : 0u) | (any_lane(neg) ? 4u : 0u);
  for (; i < n; ++i) {
    if (x[i] != x[i]) r |= 1;
    if (x[i] == 0) r |= __builtin_signbit(x[i]) ? 4 : 2;
  }
  return r;
}

// After the fused order with plain max on a plane with a NaN (and zeros of at most one sign):
// the windows holding a NaN get it (its own payload). Few NaNs: each writes its K x K outputs;
// more than n / 32: false, the caller redoes the plane with vmax_nan instead.
template <typename T, int K>
bool flat_nan_fix(const T* xp, T* yp, int64_t H, int64_t W) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  constexpr int R = K / 2;
  const int64_t n = H * W;
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; i += VL) {
    const V v = load_mask<V>(xp + i, V{}, i + VL <= n ? 0xffffu : (1u << (n - i)) - 1);
    cnt += __builtin_popcount(unord_bits(v, v));
  }
  if (cnt > n / 32) return false;
  for (int64_t i = 0; i < n; i += VL) {
    const V v = load_mask<V>(xp + i, V{}, i + VL <= n ? 0xffffu : (1u << (n - i)) - 1);
    for (unsigned m = unord_bits(v, v); m; m &= m - 1) {
      const int64_t q = i + __builtin_ctz(m), r = q / W, c = q % W;
      for (int64_t rr = max64(r - R, 0); rr <= min64(r + R, H - 1); ++rr)
        for (int64_t cc = max64(c - R, 0); cc <= min64(c + R, W - 1); ++cc) yp[rr * W + cc] = xp[q];
    }
  }
  return true;
}

template <typename T, int K>
void flat_slide_kk(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], HW = H * W;
  int64_t g = VL;
  while (W % g) g /= 2;  // gcd(W, VL), VL a power of two
  const int P = (int)(W / g);  // phases (W <= 4 VL: sliding_ok)
  typename PV<T>::VK tix[64 * 3];
  flat_tap_table<T, K>(W, P, tix);
  // per vector of a plane (kFlatMax / VL at most), the lanes of its taps x[o + dy W] in the plane
  constexpr int R = K / 2;
  uint16_t em[(kFlatMax / VL + 1) * (2 * R + 1)];
  for (int64_t o = 0; o < HW; o += VL)
    for (int dy = -R; dy <= R; ++dy) {
      const int64_t off = o + dy * W, lo = max64(-off, 0), hi = min64(HW - off, VL);
      em[(2 * R + 1) * (o / VL) + R + dy] = hi <= lo ? 0 : (uint16_t)(((1u << hi) - 1) & ~((1u << lo) - 1));
    }
  for (int64_t row = begin; row < end;) {
    const int64_t p = row / H, a = row % H, b = min64(H, a + (end - row));
    const T* xp = x + p * HW;
    unsigned sc = 0;  // flat_scan of a whole plane that needs it
    if (a == 0 && b == H) {
      if (flat_vh<T, K, false>(xp, y + p * HW, HW, W, tix, P, em)) {
        sc = flat_scan(xp, HW);
        if ((sc & 6) != 6 && (sc & 1) && !flat_nan_fix<T, K>(xp, y + p * HW, H, W))
          flat_vh<T, K, true>(xp, y + p * HW, HW, W, tix, P, em);
      }
      if ((sc & 6) != 6) {
        row += H;
        continue;
      }
    }
    // both zero signs, or a part of a plane: the separable kernel above (row maxima first, in
    // scan order)
    sliding_k<T, false>(s, x, y, false, 0, row, row + (b - a));
    row += b - a;
  }
}

template <typename T>
void flat_slide_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  if (s.k[1] == 3) return flat_slide_kk<T, 3>(s, x, y, begin, end);
  flat_slide_kk<T, 5>(s, x, y, begin, end);
}

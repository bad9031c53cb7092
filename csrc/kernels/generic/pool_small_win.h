// Part of the generic kernels: included by pool_adaptive.h after pool_small.h (uses
// adaptive_narrow_k, axis_taps, axis_div, load_mask, pool_red, unord_bits, store_n).
// Plain max (values only) and average pooling of small 2-D planes: rows of at most one vector,
// a plane's outputs within four vectors (AlexNet's 3x3 stride-2 max on 13x13, 2x2 on CIFAR's
// 8x8 and 16x16, 3x3 stride 2 on 14x14). Whole planes at a time, as adaptive_small_k: each output
// row's window rows reduced in one register, its column windows by permutes from a per-call tap
// table, its outputs permuted into the plane's packed output vectors and stored whole. The
// row kernels pay per output row (and per plane set-up): 4-10x a copy of the input here.
// Same order as adaptive_narrow_k (rows in order, then taps in column order); the average divides
// each sum by its window's divisor, as PyTorch. A thread's range may start or end inside a plane:
// such a plane is computed whole and only its rows in the range are stored, so every output has
// the same bits whatever the thread count (a row kernel there gave other averages and zero signs).
#pragma once

// Stores the outputs [lo, hi) found in a plane's packed output vector q (lanes [q * VL, q * VL +
// VL) of the plane's n outputs) to yp. (The part of a cut plane out of line: inlined, its buffer
// made the whole-plane loop ~4% slower.)
template <typename T, typename V>
__attribute__((noinline)) void store_cut_part(T* yp, V v, int64_t a, int64_t b, int64_t lo, int64_t hi) {
  alignas(64) T t[sizeof(V) / sizeof(T)];
  pst(t, v);
  for (int64_t i = max64(a, lo); i < min64(b, hi); ++i) yp[i] = t[i - a];
}
template <typename T, typename V>
FMACONV_POOL_INLINE void store_plane_part(T* yp, const V& v, int q, int64_t n, int64_t lo, int64_t hi) {
  constexpr int VL = (int)(sizeof(V) / sizeof(T));
  const int64_t a = (int64_t)q * VL, b = min64(a + VL, n);
  if (__builtin_expect(a < lo || b > hi, 0)) return store_cut_part(yp, v, a, b, lo, hi);
  if (b - a == VL)
    pst(yp + a, v);
  else
    store_n(yp + a, v, b - a);
}

// (Not stride-1 columns, whose own kernels are as fast here, nor average windows that tile the
// plane: tiled_avg_rows_k took half the time on 8x8 and 14x14 planes.)
template <typename T>
inline bool window_small_ok(const PoolShape& s, bool avg) {
  constexpr int VL = PV<T>::VL;
  if (!kPermute || s.in[0] != 1 || s.out[0] != 1 || s.k[0] != 1 || s.in[2] > VL || s.out[2] > VL ||
      s.s[2] == 1 || (avg && pool_is_tiled(s)) ||
      s.out[1] * s.out[2] > 4 * VL || s.in[1] > (1 << 20))
    return false;
  return windows_live(s);  // (adaptive_narrow_k's rule too)
}

// KIND 0: max (no indices), 2: average.
template <typename T, int KIND>
void window_small_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, bool count_include_pad,
                    int64_t divisor_override) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL, NQ = 4, NE = 4 * VL + NQ;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2], OPL = OH * OW, IPL = H * W;
  const int64_t p0 = begin / OH, p1 = (end + OH - 1) / OH;  // planes holding rows [begin, end)
  // tap t of output column j reads column f_j + min(t, n_j - 1) * d: a clipped window repeats
  // its last live tap (harmless for max, masked off for the sum)
  int64_t cf[VL], cn[VL], cd = 1;
  int kw = 1;
  for (int64_t j = 0; j < OW; ++j) {
    axis_taps<false>(s, 2, j, &cf[j], &cn[j], &cd);
    kw = cn[j] > kw ? (int)cn[j] : kw;
  }
  VK tap[VL], live[VL];
  for (int t = 0; t < kw; ++t)
    for (int l = 0; l < VL; ++l) {
      tap[t][l] = l < OW ? (K)(cf[l] + min64(t, cn[l] - 1) * cd) : (K)0;
      live[t][l] = l < OW && t < cn[l] ? (K)-1 : (K)0;
    }
  int64_t hs[4 * VL], hn[4 * VL], hd = 1;  // window rows of each output row (OH <= 4 * VL)
  for (int64_t i = 0; i < OH; ++i) axis_taps<false>(s, 1, i, &hs[i], &hn[i], &hd);
  // entries: (output row, output vector) pairs in row order; eidx picks the row's outputs
  int erow[NE], eq[NE], ne = 0;
  VK eidx[NE], ein[NE];
  for (int64_t i = 0; i < OH; ++i)
    for (int64_t q = i * OW / VL; q <= (i * OW + OW - 1) / VL; ++q, ++ne) {
      erow[ne] = (int)i, eq[ne] = (int)q;
      for (int l = 0; l < VL; ++l) {
        const int64_t j = q * VL + l - i * OW;
        eidx[ne][l] = j >= 0 && j < OW ? (K)j : (K)0;
        ein[ne][l] = j >= 0 && j < OW ? (K)-1 : (K)0;
      }
    }
  V div[NQ];  // average: each output's divisor
  for (int q = 0; q < NQ; ++q)
    for (int l = 0; l < VL; ++l) {
      const int64_t o = q * VL + l, i = o / OW, j = o % OW;
      div[q][l] = o >= OPL            ? T(1)
                  : divisor_override ? (T)divisor_override
                                     : (T)(axis_div<false>(s, 1, i, count_include_pad) *
                                           axis_div<false>(s, 2, j, count_include_pad));
    }
  const V fill = KIND == 2 ? V{} : V{} - __builtin_inf();
  const unsigned wm = (1u << W) - 1;
  auto op = [](const V& a, const V& b) __attribute__((always_inline)) { return pool_red<KIND == 2, false>(a, b); };
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * IPL;
    T* yp = y + p * OPL;
    const int64_t lo = max64(begin - p * OH, 0) * OW, hi = min64(end - p * OH, OH) * OW;  // outputs to store
    V acc = fill, cw = fill;
    unsigned nan = 0;
    int cq = 0, ci = -1;
    for (int e = 0; e < ne; ++e) {
      if (erow[e] != ci) {
        ci = erow[e];
        const V a = small_rows<T, KIND>(xp + hs[ci] * W, hn[ci], hd * W, fill, wm, &nan);
        cw = __builtin_shuffle(a, tap[0]);
        for (int t = 1; t < kw; ++t) {
          const V v = __builtin_shuffle(a, tap[t]);
          cw = KIND == 2 ? cw + (V)(live[t] & (VK)v) : op(cw, v);
        }
      }
      if (eq[e] != cq) {
        store_plane_part(yp, KIND == 2 ? acc / div[cq] : acc, cq, OPL, lo, hi);
        cq = eq[e], acc = fill;
      }
      acc = ein[e] ? __builtin_shuffle(cw, eidx[e]) : acc;
    }
    store_plane_part(yp, KIND == 2 ? acc / div[cq] : acc, cq, OPL, lo, hi);
    if (KIND == 0 && nan)  // a NaN (or inf - inf): these rows again, propagating it (same order)
      adaptive_narrow_k<T, 0, false>(s, x, y, nullptr, p * OH + lo / OW, p * OH + hi / OW);
  }
}

// Planes of at most four vectors whose outputs fit in one (2x2 on 8x8 maps, 2x2 ceil_mode on
// 7x7, 3x3 stride 2 on 7x7): every tap of every output is a two-source permute of the plane's
// vectors, a whole plane per output vector, taps in scan order. So ties keep the first maximum
// (zero signs included), indices take PyTorch's rule as they are (v > best or v is NaN) and sums
// run in PyTorch's order. window_small_k paid per output row: 3-3.6x a copy on 8x8 planes, behind
// ONNX Runtime's max pool there.
template <typename T>
inline bool window_tiny_ok(const PoolShape& s) {
  constexpr int VL = PV<T>::VL;
  if (!kPermute || s.in[0] != 1 || s.out[0] != 1 || s.k[0] != 1 || s.in_plane() > 4 * VL || s.out_plane() > VL ||
      s.in[2] > 2 * VL || s.out[2] > 2 * VL || s.k[1] * s.k[2] > 64)
    return false;
  return windows_live(s);
}

// KIND 0: max (no indices), 1: max with indices, 2: average.
template <typename T, int KIND>
void window_tiny_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end,
                   bool count_include_pad, int64_t divisor_override) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2], OPL = OH * OW, IPL = H * W;
  const int64_t p0 = begin / OH, p1 = (end + OH - 1) / OH;  // planes holding rows [begin, end)
  const int nv = (int)((IPL + VL - 1) / VL);
  // taps in scan order; each: lane l of the output vector takes lane idx[l] of the pair (v0, v1)
  // (hi: of (v2, v3)), where live
  struct Tap {
    VK idx, hi, live, off;  // off: the tap's offset in the plane (indices)
  };
  Tap taps[64];
  int nt = 0;
  for (int64_t a = 0; a < s.k[1]; ++a)
    for (int64_t b = 0; b < s.k[2]; ++b) {
      Tap t{};
      bool any = false;
      for (int l = 0; l < VL; ++l) {
        const int64_t i = l / OW, j = l % OW;
        const int64_t ih = i * s.s[1] - s.p[1] + a * s.d[1], iw = j * s.s[2] - s.p[2] + b * s.d[2];
        const bool in = l < OPL && ih >= 0 && ih < H && iw >= 0 && iw < W;
        const int64_t f = in ? ih * W + iw : 0;
        t.idx[l] = (K)(f % (2 * VL));
        t.hi[l] = f >= 2 * VL ? (K)-1 : (K)0;
        t.live[l] = in ? (K)-1 : (K)0;
        t.off[l] = (K)f;
        any = any || in;
      }
      if (any) taps[nt++] = t;
    }
  VK first{};  // PyTorch's initial index: each output's first live tap
  for (int t = nt - 1; t >= 0; --t) first = taps[t].live ? taps[t].off : first;
  V div{};
  for (int l = 0; l < VL; ++l)
    div[l] = l >= OPL           ? T(1)
             : divisor_override ? (T)divisor_override
                                : (T)(axis_div<false>(s, 1, l / OW, count_include_pad) *
                                      axis_div<false>(s, 2, l % OW, count_include_pad));
  unsigned inmask[4];  // lanes of each input vector inside the plane
  for (int q = 0; q < 4; ++q) {
    const int64_t n = min64(VL, max64(0, IPL - q * VL));
    inmask[q] = n >= 32 ? ~0u : (1u << n) - 1;
  }
  const V fill = KIND == 2 ? V{} : V{} - __builtin_inf();
  // planes from safe_end on load their last vector masked (it would read past the input)
  const int64_t room = s.planes * IPL - nv * VL, safe_end = room < 0 ? 0 : room / IPL + 1;
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * IPL;
    const int64_t lo = max64(begin - p * OH, 0) * OW, hi = min64(end - p * OH, OH) * OW;  // outputs to store
    V v[4];
    for (int q = 0; q < 4; ++q)
      v[q] = q >= nv ? fill : p < safe_end ? pld<V>(xp + q * VL) : load_mask<V>(xp + q * VL, fill, inmask[q]);
    unsigned nan = 0;  // max: a NaN in the plane takes the NaN-propagating maximum, in the same order
    if constexpr (KIND == 0)
      for (int q = 0; q < nv; ++q) nan |= unord_bits(v[q], v[q]) & inmask[q];
    V acc = fill;
    VK key = first;
    for (int t = 0; t < nt; ++t) {
      V u = __builtin_shuffle(v[0], v[1], taps[t].idx);
      if (nv > 2) u = taps[t].hi ? __builtin_shuffle(v[2], v[3], taps[t].idx) : u;
      if constexpr (KIND == 2) {
        acc += (V)(taps[t].live & (VK)u);
      } else if constexpr (KIND == 1) {
        const VK take = taps[t].live & ((u > acc) | (u != u));
        acc = take ? u : acc;
        key = take ? taps[t].off : key;
      } else {
        acc = taps[t].live ? (nan ? pool_red<false, true>(acc, u) : pool_red<false, false>(acc, u)) : acc;
      }
    }
    if (KIND == 2) acc /= div;
    if constexpr (KIND == 1) {
      int64_t keys[VL];
      store_idx<K>(keys, key, OPL);
      for (int64_t i = lo; i < hi; ++i) idx[p * OPL + i] = keys[i];
    }
    store_plane_part(y + p * OPL, acc, 0, OPL, lo, hi);
  }
}

// Part of the generic kernels: included by pool_impl.h before max_pool_k (uses its PV, ad_start,
// RowIter, vmax_nan, vbeats, load_first, store_chunk, store_idx).
// Adaptive pooling of planes whose rows fit in two vectors (AVX-512): each output row's window
// rows are reduced in registers, then every output column's taps are picked out of those
// registers with permutes from a per-call table. A tap past its window repeats the window's last
// column: harmless for max (same value, same offset), masked off for the sum. The general kernels
// below go through a row buffer and a scalar column loop, ~80x a copy of the input on 13x13 -> 6x6.
// Plain pooling windows on such rows go the same way (their live taps per axis instead of the
// adaptive window): the window kernels pay per output row, and rows this narrow have few outputs
// (avg 5x5 stride 3 on 14x14: 13x a copy; 3x3 stride 1 max with indices on 28x28: 10x).
#pragma once

// Live taps of output o along axis a: first, count, step. Adaptive windows are runs; plain ones
// start at o * s - p and skip the taps outside [0, i).
template <bool ADAPTIVE>
inline void axis_taps(const PoolShape& s, int a, int64_t o, int64_t* first, int64_t* count, int64_t* step) {
  if constexpr (ADAPTIVE) {
    *first = ad_start(o, s.in[a], s.out[a]);
    *count = ad_end(o, s.in[a], s.out[a]) - *first;
    *step = 1;
  } else {
    const int64_t st = o * s.s[a] - s.p[a], d = s.d[a], f = first_tap(st, d);
    const int64_t e = min64(st + (s.k[a] - 1) * d + 1, s.in[a]);
    *first = f;
    *count = f < e ? (e - 1 - f) / d + 1 : 0;
    *step = d;
  }
}

// Average divisor factor of output o along axis a (the product over axes is the divisor).
template <bool ADAPTIVE>
inline int64_t axis_div(const PoolShape& s, int a, int64_t o, bool count_include_pad) {
  int64_t f, n, st;
  axis_taps<ADAPTIVE>(s, a, o, &f, &n, &st);
  if (ADAPTIVE || !count_include_pad) return n;
  const int64_t start = o * s.s[a] - s.p[a];
  return min64(start + s.k[a], s.in[a] + s.p[a]) - start;
}

template <typename T>
inline bool adaptive_narrow_ok(const PoolShape& s) {
  return kPermute && s.in[2] <= 2 * PV<T>::VL && s.out[2] <= 2 * PV<T>::VL && s.in_plane() < PoolKey<T>::max;
}

// Every output of plain windows with a live tap on every axis (no dead windows)?
inline bool windows_live(const PoolShape& s) {
  for (int a = 0; a < 3; ++a) {
    if (s.d[a] == 1) {
      // contiguous windows start further on with o: the first and the last decide (the loop
      // below, per task of every call, took 2% of a 2-thread 2x2 max pool on LeNet's maps)
      if (s.out[a] > 0 && (s.in[a] <= 0 || s.k[a] <= s.p[a] || (s.out[a] - 1) * s.s[a] - s.p[a] >= s.in[a]))
        return false;
      continue;
    }
    for (int64_t o = 0; o < s.out[a]; ++o) {
      int64_t f, n, st;
      axis_taps<false>(s, a, o, &f, &n, &st);
      if (n == 0) return false;
    }
  }
  return true;
}

// Plain windows: narrow rows, no dead windows, column windows that fit the tap table.
template <typename T>
inline bool window_narrow_ok(const PoolShape& s) {
  return adaptive_narrow_ok<T>(s) && s.k[2] <= 2 * PV<T>::VL && !pool_is_tiled(s) && windows_live(s);
}

// KIND 0: max, 1: max with indices, 2: average.
template <typename T, int KIND, bool ADAPTIVE = true>
void adaptive_narrow_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end,
                       bool count_include_pad = true, int64_t divisor_override = 0) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int nc = OW > VL ? 2 : 1;  // output vectors per row
  const bool two = W > VL;         // input vectors per row
  const int64_t wl = two ? W - VL : W;  // lanes of the row's last input vector
  int kw = 1;
  for (int64_t ow = 0; ow < OW; ++ow) {
    int64_t f, n, st;
    axis_taps<ADAPTIVE>(s, 2, ow, &f, &n, &st);
    kw = (int)max64(kw, n);
  }
  VK tap[2][2 * VL], live[2][2 * VL], iota;
  V rfw[2];
  for (int l = 0; l < VL; ++l) iota[l] = (K)l;
  for (int c = 0; c < nc; ++c)
    for (int l = 0; l < VL; ++l) {
      const int64_t ow = c * VL + l;
      int64_t f = 0, n = 1, st = 1;
      if (ow < OW) axis_taps<ADAPTIVE>(s, 2, ow, &f, &n, &st);
      rfw[c][l] = (T)1 / (T)(ow < OW && !divisor_override ? axis_div<ADAPTIVE>(s, 2, ow, count_include_pad) : 1);
      for (int j = 0; j < kw; ++j) {
        tap[c][j][l] = (K)(f + min64(j, n - 1) * st);
        live[c][j][l] = j < n ? (K)-1 : (K)0;
      }
    }
  const V fill = KIND == 2 ? V{} : V{} - __builtin_inf();
  auto pick = [&](const auto& lo, const auto& hi, const VK& t) {
    return two ? __builtin_shuffle(lo, hi, t) : __builtin_shuffle(lo, t);
  };
  // window rows per output row: from a table (no divisions per row) unless OH is large
  int32_t hs[256], hn[256];
  const bool tab = OH <= 256;
  int64_t f, n, dd = 1, dh = 1;
  for (int64_t oh = 0; tab && oh < OH; ++oh) axis_taps<ADAPTIVE>(s, 1, oh, &f, &n, &dh), hs[oh] = (int32_t)f, hn[oh] = (int32_t)n;
  int64_t cur_od = -1, d0 = 0, nd = 1;
  T rdiv = (T)1 / (T)divisor_override, rd = 1;
  RowIter it(begin, OD, OH);
  for (int64_t row = begin; row < end; ++row, it.next()) {
    const int64_t od = it.od, oh = it.oh;
    if (od != cur_od) {
      axis_taps<ADAPTIVE>(s, 0, od, &d0, &nd, &dd);
      cur_od = od;
      if (KIND == 2 && !divisor_override) rd = (T)axis_div<ADAPTIVE>(s, 0, od, count_include_pad);
    }
    int64_t h0 = tab ? hs[oh] : 0, nh = tab ? hn[oh] : 0;
    if (!tab) axis_taps<ADAPTIVE>(s, 1, oh, &h0, &nh, &dh);
    const int64_t d1 = d0 + nd * dd, h1 = h0 + nh * dh;
    const T* xp = x + it.p * s.in_plane();
    auto ld0 = [&](int64_t b) { return two ? pld<V>(xp + b) : load_first<V>(xp + b, wl, fill); };
    auto ld1 = [&](int64_t b) { return two ? load_first<V>(xp + b + VL, wl, fill) : fill; };
    const int64_t b0 = (d0 * H + h0) * W;
    V a0 = ld0(b0), a1 = ld1(b0);
    if (KIND == 2) a0 += V{}, a1 += V{};  // from +0, as PyTorch's sum: windows of -0 give +0
    VK k0 = (K)b0 + iota, k1 = k0 + (K)VL;
    V u0 = a0, u1 = a1;  // KIND 0: a sum, NaN if a row held one (or inf - inf: a false alarm)
    for (int64_t d = d0; d < d1; d += dd) {
      int64_t b = (d * H + h0) * W;
      for (int64_t h = h0; h < h1; h += dh, b += dh * W) {  // rows in scan order
        if (d == d0 && h == h0) continue;
        const V v0 = ld0(b), v1 = ld1(b);
        if constexpr (KIND == 0) {
          a0 = pmax(a0, v0), a1 = pmax(a1, v1);
          u0 += v0, u1 += v1;
        } else if constexpr (KIND == 2) {
          a0 += v0, a1 += v1;
        } else {  // later row: strictly greater, or NaN (the last NaN wins)
          const VK t0 = (v0 > a0) | (v0 != v0), t1 = (v1 > a1) | (v1 != v1);
          a0 = t0 ? v0 : a0, a1 = t1 ? v1 : a1;
          k0 = t0 ? (K)b + iota : k0;
          k1 = t1 ? (K)(b + VL) + iota : k1;
        }
      }
    }
    const bool nan = KIND == 0 ? unord_bits(u0, u1) : KIND == 1 && unord_bits(a0, a1);
    if (KIND == 0 && nan)  // the rows again, propagating the NaN (KIND 1 propagated it already)
      for (int64_t d = d0; d < d1; d += dd)
        for (int64_t h = h0, b = (d * H + h0) * W; h < h1; h += dh, b += dh * W) a0 = vmax_nan(a0, ld0(b)), a1 = vmax_nan(a1, ld1(b));
    T* yr = y + row * OW;
    // average: the row's share of 1 / divisor (PyTorch divides by each window extent in turn:
    // within an ulp or two of that)
    const T rrow = KIND != 2 ? T(1) : divisor_override ? rdiv
                 : (T)1 / (rd * (T)(ADAPTIVE || !count_include_pad ? nh : axis_div<false>(s, 1, oh, true)));
    for (int c = 0; c < nc; ++c) {
      V b = pick(a0, a1, tap[c][0]);
      if constexpr (KIND == 0) {
        if (nan)  // (plain max otherwise: one instruction a tap)
          for (int j = 1; j < kw; ++j) b = vmax_nan(b, pick(a0, a1, tap[c][j]));
        else
          for (int j = 1; j < kw; ++j) b = pmax(b, pick(a0, a1, tap[c][j]));
      } else if constexpr (KIND == 2) {
        for (int j = 1; j < kw; ++j) b += (V)(live[c][j] & (VK)pick(a0, a1, tap[c][j]));
        b *= divisor_override ? V{} + rrow : rfw[c] * rrow;
      } else {
        VK bk = pick(k0, k1, tap[c][0]);
        auto taps = [&](auto beats) __attribute__((always_inline)) {
          for (int j = 1; j < kw; ++j) {
            const V v = pick(a0, a1, tap[c][j]);
            const VK vk = pick(k0, k1, tap[c][j]);
            const VK m = beats(v, vk, b, bk);
            b = m ? v : b;
            bk = m ? vk : bk;
          }
        };
        if (nan)
          taps([](V v, VK vk, V b, VK bk) { return vbeats(v, vk, b, bk); });
        else  // no NaN: greater, or equal with a smaller offset
          taps([](V v, VK vk, V b, VK bk) { return (v > b) | ((v == b) & (vk < bk)); });
        store_idx<K>(idx + row * OW + c * VL, bk, min64(VL, OW - c * VL));
      }
      store_chunk(yr, c * VL, OW, b);
    }
  }
}

#include "kernels/generic/pool_small.h"
#include "kernels/generic/pool_small_win.h"

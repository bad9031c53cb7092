// Part of the generic kernels: included by pool_impl.h after adaptive_rows (uses its PV,
// vmax_nan, vbeats, load_first, store_chunk, store_idx).
// Adaptive pooling of planes whose rows fit in two vectors (AVX-512): each output row's window
// rows are reduced in registers, then every output column's taps are picked out of those
// registers with permutes from a per-call table. A tap past its window repeats the window's last
// column: harmless for max (same value, same offset), masked off for the sum. The general kernels
// below go through a row buffer and a scalar column loop, ~80x a copy of the input on 13x13 -> 6x6.
#pragma once

template <typename T>
inline bool adaptive_narrow_ok(const PoolShape& s) {
  return kPermute && s.in[2] <= 2 * PV<T>::VL && s.in_plane() < PoolKey<T>::max;
}

// KIND 0: max, 1: max with indices, 2: average.
template <typename T, int KIND>
void adaptive_narrow_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int nc = OW > VL ? 2 : 1;  // output vectors per row
  const bool two = W > VL;         // input vectors per row
  const int64_t wl = two ? W - VL : W;  // lanes of the row's last input vector
  int kw = 1;
  for (int64_t ow = 0; ow < OW; ++ow) kw = (int)max64(kw, ad_end(ow, W, OW) - ad_start(ow, W, OW));
  VK tap[2][2 * VL], live[2][2 * VL], iota;
  V rfw[2];
  for (int l = 0; l < VL; ++l) iota[l] = (K)l;
  for (int c = 0; c < nc; ++c)
    for (int l = 0; l < VL; ++l) {
      const int64_t ow = c * VL + l;
      const int64_t w0 = ow < OW ? ad_start(ow, W, OW) : 0, w1 = ow < OW ? ad_end(ow, W, OW) : 1;
      rfw[c][l] = (T)1 / (T)(w1 - w0);
      for (int j = 0; j < kw; ++j) {
        tap[c][j][l] = (K)min64(w0 + j, w1 - 1);
        live[c][j][l] = j < w1 - w0 ? (K)-1 : (K)0;
      }
    }
  const V fill = KIND == 2 ? V{} : V{} - __builtin_inf();
  auto pick = [&](const auto& lo, const auto& hi, const VK& t) {
    return two ? __builtin_shuffle(lo, hi, t) : __builtin_shuffle(lo, t);
  };
  // window rows per output row: from a table (no divisions per row) unless OH is large
  int32_t hs[256], he[256];
  const bool tab = OH <= 256;
  for (int64_t oh = 0; tab && oh < OH; ++oh) hs[oh] = (int32_t)ad_start(oh, H, OH), he[oh] = (int32_t)ad_end(oh, H, OH);
  int64_t cur_od = -1, d0 = 0, d1 = 1;
  RowIter it(begin, OD, OH);
  for (int64_t row = begin; row < end; ++row, it.next()) {
    const int64_t od = it.od, oh = it.oh;
    if (od != cur_od) d0 = ad_start(od, D, OD), d1 = ad_end(od, D, OD), cur_od = od;
    const int64_t h0 = tab ? hs[oh] : ad_start(oh, H, OH), h1 = tab ? he[oh] : ad_end(oh, H, OH);
    const T* xp = x + it.p * s.in_plane();
    auto ld0 = [&](int64_t b) { return two ? pld<V>(xp + b) : load_first<V>(xp + b, wl, fill); };
    auto ld1 = [&](int64_t b) { return two ? load_first<V>(xp + b + VL, wl, fill) : fill; };
    const int64_t b0 = (d0 * H + h0) * W;
    V a0 = ld0(b0), a1 = ld1(b0);
    VK k0 = (K)b0 + iota, k1 = k0 + (K)VL;
    V u0 = a0, u1 = a1;  // KIND 0: a sum, NaN if a row held one (or inf - inf: a false alarm)
    for (int64_t d = d0; d < d1; ++d) {
      int64_t b = (d * H + h0) * W;
      for (int64_t h = h0; h < h1; ++h, b += W) {  // rows in scan order
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
    const bool nan = KIND == 0 && unord_bits(u0, u1);
    if (KIND == 0 && nan)  // the rows again, propagating the NaN
      for (int64_t d = d0; d < d1; ++d)
        for (int64_t h = h0, b = (d * H + h0) * W; h < h1; ++h, b += W) a0 = vmax_nan(a0, ld0(b)), a1 = vmax_nan(a1, ld1(b));
    T* yr = y + row * OW;
    for (int c = 0; c < nc; ++c) {
      V b = pick(a0, a1, tap[c][0]);
      if constexpr (KIND == 0) {
        if (nan)  // (plain max otherwise: one instruction a tap)
          for (int j = 1; j < kw; ++j) b = vmax_nan(b, pick(a0, a1, tap[c][j]));
        else
          for (int j = 1; j < kw; ++j) b = pmax(b, pick(a0, a1, tap[c][j]));
      } else if constexpr (KIND == 2) {
        for (int j = 1; j < kw; ++j) b += (V)(live[c][j] & (VK)pick(a0, a1, tap[c][j]));
        // PyTorch divides by each window extent in turn: within an ulp or two of that
        b *= rfw[c] * ((T)1 / (T)((d1 - d0) * (h1 - h0)));
      } else {
        VK bk = pick(k0, k1, tap[c][0]);
        for (int j = 1; j < kw; ++j) {
          const V v = pick(a0, a1, tap[c][j]);
          const VK vk = pick(k0, k1, tap[c][j]);
          const VK m = vbeats(v, vk, b, bk);
          b = m ? v : b;
          bk = m ? vk : bk;
        }
        store_idx<K>(idx + row * OW + c * VL, bk, min64(VL, OW - c * VL));
      }
      store_chunk(yr, c * VL, OW, b);
    }
  }
}

// Part of the generic kernels: included by pool_adaptive.h (uses adaptive_narrow_k and its helpers).
// 2-D adaptive pooling of small planes (rows of at most one vector, a plane's outputs within four
// vectors: AlexNet's 13x13 -> 6x6), whole planes at a time. adaptive_narrow_k pays per output row
// (table reads, a masked store of six lanes: ~35 cycles a row, 3.5x a copy of the input); here each
// output row's window rows are reduced in one register, its column windows by in-register shifts,
// and its outputs permuted straight into the plane's packed output vectors, stored whole.
// Same operation order as adaptive_narrow_k (rows in order, then taps in column order; the average
// times the same per-lane factor), so both give the same bits.
#pragma once

// Whole planes [*p0, *p1) of output rows [begin, end); part(b, e) does the rows of the partial
// planes at either end (a thread's range need not start or end at a plane). False: no whole plane.
template <typename Part>
inline bool whole_planes(int64_t begin, int64_t end, int64_t OH, const Part& part, int64_t* p0, int64_t* p1) {
  *p0 = (begin + OH - 1) / OH, *p1 = end / OH;
  if (*p0 >= *p1) {
    part(begin, end);
    return false;
  }
  if (begin < *p0 * OH) part(begin, *p0 * OH);
  if (*p1 * OH < end) part(*p1 * OH, end);
  return true;
}

// Window rows r, r + step, ... (n of them, each at most one vector: lanes wm, the others fill)
// reduced in order: the sum from +0 (KIND 2, as PyTorch's sum, so windows of -0 give +0), else
// the plain maximum, with *nan set when a row held a NaN (or inf - inf).
template <typename T, int KIND>
FMACONV_POOL_INLINE typename PV<T>::V small_rows(const T* r, int64_t n, int64_t step, const typename PV<T>::V& fill,
                                                 unsigned wm, unsigned* nan) {
  typedef typename PV<T>::V V;
  V a = load_mask<V>(r, fill, wm), u = a;  // u (max): NaN if a row held one
  if (KIND == 2) a += V{};
  for (int64_t h = 1; h < n; ++h) {
    const V v = load_mask<V>(r + h * step, fill, wm);
    a = pool_red<KIND == 2, false>(a, v);
    if (KIND == 0) u += v;
  }
  if (KIND == 0) *nan |= unord_bits(u, u);
  return a;
}

template <typename T>
inline bool adaptive_small_ok(const PoolShape& s) {
  constexpr int VL = PV<T>::VL;
  return kPermute && s.in[0] == 1 && s.out[0] == 1 && s.in[2] <= VL && s.out[1] <= 4 * VL &&
         s.out[1] * s.out[2] <= 4 * VL && s.in[1] <= (1 << 20);
}

// KIND 0: max (no indices), 2: average.
template <typename T, int KIND>
void adaptive_small_k(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL, NQ = 4;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2], OPL = OH * OW, IPL = H * W;
  // whole planes here; a thread's partial planes at either end row by row
  auto rows_k = [&](int64_t b, int64_t e) { adaptive_narrow_k<T, KIND>(s, x, y, nullptr, b, e); };
  int64_t p0, p1;
  if (!whole_planes(begin, end, OH, rows_k, &p0, &p1)) return;
  // column windows are nlo or nlo + 1 wide (adaptive windows take two sizes at most)
  int nlo = (int)W, nhi = 1;
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int n = (int)(ad_end(ow, W, OW) - ad_start(ow, W, OW));
    nlo = n < nlo ? n : nlo, nhi = n > nhi ? n : nhi;
  }
  VK sh[VL];  // sh[c]: lane l takes lane l + c (the lanes past the row are never picked)
  for (int c = 0; c < VL; ++c)
    for (int l = 0; l < VL; ++l) sh[c][l] = (K)(l + c < VL ? l + c : VL - 1);
  // entries: (output row, output vector) pairs in row order, with the permute picking the row's
  // outputs into that vector and the lanes taking the nlo- or the nhi-wide sums
  constexpr int NE = 4 * VL + NQ;
  int erow[NE], eq[NE], hs[4 * VL], hn[4 * VL];
  VK eidx[NE], mlo[NE], mhi[NE];
  int ne = 0;
  for (int64_t i = 0; i < OH; ++i) {
    hs[i] = (int)ad_start(i, H, OH), hn[i] = (int)(ad_end(i, H, OH) - hs[i]);
    for (int64_t q = i * OW / VL; q <= (i * OW + OW - 1) / VL; ++q, ++ne) {
      erow[ne] = (int)i, eq[ne] = (int)q;
      for (int l = 0; l < VL; ++l) {
        const int64_t j = q * VL + l - i * OW;
        const bool in = j >= 0 && j < OW;
        const int64_t n = in ? ad_end(j, W, OW) - ad_start(j, W, OW) : 0;
        eidx[ne][l] = in ? (K)ad_start(j, W, OW) : (K)0;
        mlo[ne][l] = in && n == nlo ? (K)-1 : (K)0;
        mhi[ne][l] = in && n != nlo ? (K)-1 : (K)0;
      }
    }
  }
  const bool two = nhi > nlo;
  V fac[NQ];  // average: 1 / (column extent) * (1 / row extent), as adaptive_narrow_k rounds it
  for (int q = 0; q < NQ; ++q)
    for (int l = 0; l < VL; ++l) {
      const int64_t o = q * VL + l, i = o / OW, j = o % OW;
      fac[q][l] = o < OPL ? ((T)1 / (T)(ad_end(j, W, OW) - ad_start(j, W, OW))) * ((T)1 / ((T)1 * (T)hn[i])) : (T)0;
    }
  const V fill = KIND == 2 ? V{} : V{} - __builtin_inf();
  const unsigned wm = (1u << W) - 1;
  const int64_t last = (OPL - 1) / VL, tail = OPL - last * VL;
  auto op = [](const V& a, const V& b) __attribute__((always_inline)) { return pool_red<KIND == 2, false>(a, b); };
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * IPL;
    T* yp = y + p * OPL;
    V acc = fill, slo = fill, shi = fill;
    unsigned nan = 0;
    int cq = 0, ci = -1;
    for (int e = 0; e < ne; ++e) {
      if (erow[e] != ci) {
        ci = erow[e];
        const V a = small_rows<T, KIND>(xp + (int64_t)hs[ci] * W, hn[ci], W, fill, wm, &nan);
        slo = a;
        for (int c = 1; c < nlo; ++c) slo = op(slo, __builtin_shuffle(a, sh[c]));
        shi = two ? op(slo, __builtin_shuffle(a, sh[nlo])) : slo;
      }
      if (eq[e] != cq) {
        pst(yp + cq * VL, KIND == 2 ? acc * fac[cq] : acc);
        cq = eq[e], acc = fill;
      }
      acc = mlo[e] ? __builtin_shuffle(slo, eidx[e]) : acc;
      if (two) acc = mhi[e] ? __builtin_shuffle(shi, eidx[e]) : acc;
    }
    if (KIND == 2) acc *= fac[cq];
    if (tail == VL)
      pst(yp + cq * VL, acc);
    else
      store_n(yp + cq * VL, acc, tail);
    if (KIND == 0 && nan)  // a NaN (or inf - inf): the plane again, propagating it
      adaptive_narrow_k<T, 0>(s, x, y, nullptr, p * OH, (p + 1) * OH);
  }
}

// Max pooling with indices, 2-D windows on rows of at most two vectors (3x3 stride 1 on 28x28:
// adaptive_narrow_k took 8x a copy): each input row's column windows are reduced once into
// (value, offset) pairs, taps in column order, then each output's window rows in row order.
// Scan order all through, so "take v when v > best or v is NaN" keeps the first maximum and the
// last NaN, as PyTorch's scan; a clipped window repeats its last live tap (never taken again).
template <typename T>
inline bool max_idx_small_ok(const PoolShape& s) {
  // (not tiled windows: 2x2 stride 2 on 14x14 is slower here than in tiled_max_idx_k)
  return kPermute && s.in[0] == 1 && s.k[0] == 1 && s.in[1] <= 64 && s.out[1] <= 64 && window_narrow_ok<T>(s);
}

// K3: 3x3 windows, taps unrolled (a clipped window's repeated taps are never taken).
template <typename T, int NC, bool K3>
void max_idx_small_k(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2], OPL = OH * OW, IPL = H * W;
  const int64_t p0 = (begin + OH - 1) / OH, p1 = end / OH;
  if (p0 >= p1) return adaptive_narrow_k<T, 1, false>(s, x, y, idx, begin, end);
  if (begin < p0 * OH) adaptive_narrow_k<T, 1, false>(s, x, y, idx, begin, p0 * OH);
  if (p1 * OH < end) adaptive_narrow_k<T, 1, false>(s, x, y, idx, p1 * OH, end);
  constexpr int NO = 2;  // output vectors per row (OW <= 2 VL)
  const int no = OW > VL ? 2 : 1;
  int kw = 1;
  VK tap[NO][2 * VL];  // column of tap j of each output lane (clipped windows repeat the last)
  for (int c = 0; c < NO; ++c)
    for (int l = 0; l < VL; ++l) {
      int64_t f = 0, n = 1, st = 1;
      if (c * VL + l < OW) axis_taps<false>(s, 2, c * VL + l, &f, &n, &st);
      kw = (int)max64(kw, n);
      for (int j = 0; j < 2 * VL; ++j) tap[c][j][l] = (K)(f + min64(j, n - 1) * st);
    }
  int rf[64], rn[64], rs = 1;
  for (int64_t oh = 0; oh < OH; ++oh) {
    int64_t f, n, st;
    axis_taps<false>(s, 1, oh, &f, &n, &st);
    rf[oh] = (int)f, rn[oh] = (int)n, rs = (int)st;
  }
  const unsigned wm = NC == 2 ? (1u << (W - VL)) - 1 : (1u << W) - 1;
  auto take = [](V& b, VK& bk, const V& v, const VK& vk) __attribute__((always_inline)) {
    const VK m = (v > b) | (v != v);
    b = m ? v : b;
    bk = m ? vk : bk;
  };
  V hv[64][NO];
  VK hk[64][NO];
  for (int64_t p = p0; p < p1; ++p) {
    const T* xp = x + p * IPL;
    for (int64_t ih = 0; ih < H; ++ih) {  // column windows of every input row
      const T* r = xp + ih * W;
      const V a0 = NC == 2 ? pld<V>(r) : load_mask<V>(r, V{}, wm);
      const V a1 = NC == 2 ? load_mask<V>(r + VL, V{}, wm) : a0;
      for (int c = 0; c < no; ++c) {
        auto pick = [&](const VK& t) { return NC == 2 ? __builtin_shuffle(a0, a1, t) : __builtin_shuffle(a0, t); };
        V b = pick(tap[c][0]);
        VK bk = tap[c][0];
        for (int j = 1; j < (K3 ? 3 : kw); ++j) take(b, bk, pick(tap[c][j]), tap[c][j]);
        hv[ih][c] = b, hk[ih][c] = bk + (K)(ih * W);
      }
    }
    T* yp = y + p * OPL;
    int64_t* ip = idx + p * OPL;
    for (int64_t oh = 0; oh < OH; ++oh) {  // window rows of every output row
      const int f = rf[oh], n = rn[oh];
      for (int c = 0; c < no; ++c) {
        V b = hv[f][c];
        VK bk = hk[f][c];
        for (int i = 1; i < (K3 ? 3 : n); ++i)
          if (!K3 || i < n) take(b, bk, hv[f + i * rs][c], hk[f + i * rs][c]);
        store_chunk(yp + oh * OW, c * VL, OW, b);
        store_idx<K>(ip + oh * OW + c * VL, bk, min64(VL, OW - c * VL));
      }
    }
  }
}

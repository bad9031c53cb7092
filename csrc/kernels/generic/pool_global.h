// Part of the generic kernels: included by pool_impl.h (uses its PV, vmax_nan, sbeats, fold_lanes).
// Global max pooling: one window covering each whole plane. The window kernels would treat each
// plane as one output row of one output, paying a row's setup per element group; here each plane
// is one contiguous run, reduced with full vectors (the last one overlapping the one before: max
// is idempotent, and a repeated element keeps its flat offset, so indices are unaffected).
#pragma once

// (value, offset) of the maximum of x[0, n) under PyTorch's rule (first maximum, last NaN),
// scanning in order.
template <typename T>
inline T scan_argmax(const T* x, int64_t n, int64_t* arg) {
  T b = x[0];
  int64_t k = 0;
  for (int64_t i = 1; i < n; ++i) {
    const T v = x[i];
    const bool take = v > b || v != v;
    b = take ? v : b;
    k = take ? i : k;
  }
  *arg = k;
  return b;
}

// The maximum of x[0, n) (n >= VL) per lane: lane l holds the maximum of the elements it saw.
template <typename T>
inline typename PV<T>::V lane_max(const T* x, int64_t n) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  V a = pld<V>(x), b = a;
  int64_t i = VL;
  for (; i + 2 * VL <= n; i += 2 * VL) {
    a = vmax_nan(a, pld<V>(x + i));
    b = vmax_nan(b, pld<V>(x + i + VL));
  }
  if (i + VL <= n) a = vmax_nan(a, pld<V>(x + i)), i += VL;
  if (i < n) b = vmax_nan(b, pld<V>(x + n - VL));
  return vmax_nan(a, b);
}

// y[p] = max of plane p (n elements) for p in [0, planes); idx (may be null): its flat offset.
// Values only: VL planes at a time, their per-lane maxima folded pairwise (even, odd lanes) so
// lane q ends up with plane q's maximum. A zero maximum may carry the sign of a later zero than
// PyTorch's first one: those planes are rescanned in order (rare: a plane of non-positive values).
template <typename T>
void max_planes_k(const T* x, int64_t n, int64_t planes, T* y, int64_t* idx) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::K K;
  typedef typename PV<T>::VK VK;
  constexpr int VL = PV<T>::VL;
  const bool vec = VL > 1 && n >= VL;
  if (idx) {
    if (!vec || n > PoolKey<T>::max) {
      for (int64_t p = 0; p < planes; ++p) y[p] = scan_argmax(x + p * n, n, idx + p);
      return;
    }
    VK iota, perm[8];
    int nw = 0;
    for (int l = 0; l < VL; ++l) iota[l] = (K)l;
    for (int w = VL / 2; w >= 1; w /= 2, ++nw)
      for (int l = 0; l < VL; ++l) perm[nw][l] = (K)(l ^ w);
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = x + p * n;
      // two chains (even and odd vectors), so compare and blend latencies overlap
      V av = pld<V>(xp), bv = av;
      VK ak = iota, bk = iota;
      auto step = [&](V& cv, VK& ck, int64_t i) {
        const V v = pld<V>(xp + i);
        const VK take = (v > cv) | (v != v);
        cv = take ? v : cv;
        ck = take ? iota + (K)i : ck;
      };
      int64_t i = VL;
      for (; i + 2 * VL <= n; i += 2 * VL) step(av, ak, i), step(bv, bk, i + VL);
      if (i + VL <= n) step(av, ak, i), i += VL;
      if (i < n) step(bv, bk, n - VL);
      const VK tb = vbeats(bv, bk, av, ak);
      av = tb ? bv : av;
      ak = tb ? bk : ak;
      K k;
      if (!unord_bits(av, av)) {  // the smallest offset among the lanes holding the maximum
        V m = av;
        for (int w = 0; w < nw; ++w) m = pmax(m, __builtin_shuffle(m, perm[w]));
        VK km = av == m ? ak : VK{} + (K)PoolKey<T>::max;
        for (int w = 0; w < nw; ++w) {
          const VK o = __builtin_shuffle(km, perm[w]);
          km = o < km ? o : km;
        }
        k = km[0];
      } else {
        T b = av[0];
        k = ak[0];
        for (int l = 1; l < VL; ++l)
          if (sbeats(av[l], ak[l], b, k)) b = av[l], k = ak[l];
      }
      y[p] = xp[k];  // the element itself: the sign of a zero maximum, a NaN's payload
      idx[p] = (int64_t)k;
    }
    return;
  }
  int64_t p = 0;
  if (vec) {
    for (; p + VL <= planes; p += VL) {
      V acc[VL];
      for (int q = 0; q < VL; ++q) acc[q] = lane_max(x + (p + q) * n, n);
      const V m = fold_lanes<T>(acc, [](V a, V b) { return vmax_nan(a, b); });
      pst(y + p, m);
      if (zero_bits(m))
        for (int q = 0; q < VL; ++q)
          if (m[q] == 0) {
            int64_t k;
            y[p + q] = scan_argmax(x + (p + q) * n, n, &k);
          }
    }
  }
  for (; p < planes; ++p) {
    int64_t k;
    if (!vec) {
      y[p] = scan_argmax(x + p * n, n, &k);
      continue;
    }
    const V a = lane_max(x + p * n, n);
    T b = a[0];
    for (int l = 1; l < VL; ++l) b = smax_nan(b, a[l]);
    y[p] = b == 0 ? scan_argmax(x + p * n, n, &k) : b;
  }
}

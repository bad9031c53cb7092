// Part of the generic kernels: included by pool_impl.h after pool_sliding.h (uses pld, load_mask,
// store_mask, mul_pz, fs_red, nan_negzero_bits, flat_scan, flat_slide_kk).
// KxK windows, stride 1, padding K / 2, on small planes (Inception's 3x3 stride-1 branch pools on
// 8x8 and 17x17 maps, 3x3 max on 7x7): the per-plane and per-row kernels pay their set-up and
// their edge vectors once per plane, 4-8x a copy of the input on such planes. Here a thread's
// whole range of output rows is one flat run across rows and planes. The lanes' positions in
// their planes repeat every lcm(H * W, VL) elements: a table per phase of that period holds
// each vector's lane masks (row - dy, row + dy, column - dx, column + dx inside the plane; a
// loop-carried position vector bounded the loop at ~18 cycles per vector, the table at ~11).
// The column taps are masked loads (lanes whose row + dy leaves the plane read nothing, so the
// first and last planes never read outside the array); the row taps are permutes of the column
// result and its neighbour vectors, masked by column.
// Max takes columns first; a block holding a NaN or a -0 is redone by flat_slide_kk, which
// decides per plane (see there). Averages: columns first too (PyTorch sums in scan order: the
// last bit may differ, as elsewhere), each sum times its reciprocal divisor.
#pragma once

// Elements per block of whole rows (a max block with a NaN or -0 is redone: it stays in L1).
constexpr int64_t kFlatPlanesBlock = 2048;

// 2-D KxK windows, stride 1, padding K / 2 (output plane = input plane)
inline bool flat_planes_geom(const PoolShape& s) {
  const int64_t K = s.k[1];
  return kPermute && s.in[0] == 1 && s.k[0] == 1 && s.out[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.d[1] == 1 &&
         s.d[2] == 1 && s.k[2] == K && s.p[1] == K / 2 && s.p[2] == K / 2 && s.out[1] == s.in[1] &&
         s.out[2] == s.in[2];
}

template <typename T>
inline bool flat_planes_ok(const PoolShape& s, bool avg) {
  constexpr int64_t VL = PV<T>::VL;
  const int64_t H = s.in[1], W = s.in[2], K = s.k[1];
  if (!flat_planes_geom(s)) return false;
  // (larger planes: the row kernels' interior vectors need no masks and win)
  if (avg) return K == 3 && H * W <= 32 * VL;
  // max: the planes flat_slide_kk takes (its fallback; float, 3x3 or 5x5)
  return H * W <= 8 * VL && flat_slide_ok<T>(s);
}

// acc + v in the lanes of m, acc in the others.
template <typename T>
FMACONV_POOL_INLINE typename PV<T>::V fp_madd(typename PV<T>::V acc, typename PV<T>::V v, unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return __builtin_ia32_addps512_mask(acc, v, acc, (unsigned short)m, 4);
  if constexpr (sizeof(T) == 8) return __builtin_ia32_addpd512_mask(acc, v, acc, (unsigned char)m, 4);
#endif
  return lane_mask<typename PV<T>::V>(m) ? acc + v : acc;
}
// acc + v * one in the lanes of m (one == 1: the exact sum, on the FMA pipes, which plain adds
// leave idle), acc in the others.
template <typename T>
FMACONV_POOL_INLINE typename PV<T>::V fp_mfma(typename PV<T>::V acc, typename PV<T>::V v, typename PV<T>::V one,
                                              unsigned m) {
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) return __builtin_ia32_vfmaddps512_mask3(v, one, acc, (unsigned short)m, 4);
  if constexpr (sizeof(T) == 8) return __builtin_ia32_vfmaddpd512_mask3(v, one, acc, (unsigned char)m, 4);
#endif
  (void)one;
  return fp_madd<T>(acc, v, m);
}

// The lane masks of the vectors at offsets f * VL (f < the period lcm(H * W, VL) / VL): per
// vector 4R masks, the lanes whose row - dy (dy = 1..R), row + dy, column - dx, column + dx stay
// in the plane. Built once per thread and plane geometry.
template <typename T>
const uint16_t* flat_planes_masks(int64_t H, int64_t W, int R, int64_t* period,
                                  const typename PV<T>::V** recip = nullptr) {
  constexpr int64_t VL = PV<T>::VL;
  struct Cache {
    int64_t H = 0, W = 0;
    int R = 0;
    std::vector<uint16_t> m;
    std::vector<typename PV<T>::V> r;  // (R 1) each lane's 1 / its live taps
  };
  static thread_local Cache c;
  const int64_t HW = H * W;
  int64_t g = HW, b = VL;
  while (b) {
    const int64_t t = g % b;
    g = b, b = t;
  }
  *period = HW / g;
  if (c.H != H || c.W != W || c.R != R) {
    c.H = H, c.W = W, c.R = R;
    c.m.assign((size_t)(*period * 4 * R), 0);
    for (int64_t f = 0; f < *period; ++f)
      for (int64_t l = 0; l < VL; ++l) {
        const int64_t pos = (f * VL + l) % HW, row = pos / W, col = pos % W;
        uint16_t* e = c.m.data() + f * 4 * R;
        for (int d = 1; d <= R; ++d) {
          e[d - 1] |= (uint16_t)((row >= d) << l);
          e[R + d - 1] |= (uint16_t)((row + d < H) << l);
          e[2 * R + d - 1] |= (uint16_t)((col >= d) << l);
          e[3 * R + d - 1] |= (uint16_t)((col + d < W) << l);
        }
      }
    c.r.clear();
  }
  if (recip) {
    if (c.r.empty()) {
      c.r.resize((size_t)*period);
      for (int64_t f = 0; f < *period; ++f)
        for (int64_t l = 0; l < VL; ++l) {
          const int64_t pos = (f * VL + l) % HW, row = pos / W, col = pos % W;
          const int64_t n = (min64(row + 2, H) - max64(row - 1, 0)) * (min64(col + 2, W) - max64(col - 1, 0));
          c.r[f][l] = T(1) / (T)n;
        }
    }
    *recip = c.r.data();
  }
  return c.m.data();
}

// Outputs [o0, o1) of the flat run (x, y: the whole arrays; rows of W; tab, P: the plane's
// masks and their period). DIV 0: max with plain maxps (NaN and -0 reported in the return
// value); 1: sums times rdiv; 2: sums times rtab[phase] (1 / each lane's live taps).
// (Out of line: one call per block or range.)
template <typename T, int K, int DIV>
__attribute__((noinline)) unsigned flat_planes_run(const T* x, T* y, int64_t o0, int64_t o1, int64_t W,
                                                   const uint16_t* tab, int64_t P, T rdiv,
                                                   const typename PV<T>::V* rtab = nullptr) {
  typedef typename PV<T>::V V;
  constexpr int VL = PV<T>::VL;
  constexpr int R = K / 2, NM = 4 * R;
  constexpr bool AVG = DIV != 0;
  constexpr unsigned full = (1u << VL) - 1;
  const V fill = AVG ? V{} : V{} - __builtin_inf();
  V one = V{} + T(1);
  __asm__("" : "+v"(one));  // (opaque: a * one + b stays an FMA)
  unsigned zn = 0;
  // column taps of the vector at o, lanes tm (masked loads: nothing read outside the plane)
  auto column = [&](int64_t o, const uint16_t* m, unsigned tm) __attribute__((always_inline)) -> V {
    const V c = tm == full ? pld<V>(x + o) : load_mask<V>(x + o, fill, tm);
    if constexpr (!AVG) zn |= nan_negzero_bits(c);
    V acc = c;
#pragma GCC unroll 4
    for (int dy = 1; dy <= R; ++dy) {
      const V u = load_mask<V>(x + o - dy * W, fill, m[dy - 1] & tm);
      const V d = load_mask<V>(x + o + dy * W, fill, m[R + dy - 1] & tm);
      if constexpr (AVG) {
        acc = (u * one + acc) + d;
      } else {
        acc = fs_red<T, false>(acc, u, full);
        acc = fs_red<T, false>(acc, d, full);
      }
    }
    return acc;
  };
  const V r1 = V{} + rdiv;
  int64_t o = o0 / VL * VL, f = (o / VL) % P;
  unsigned tm = full & ~((1u << (o0 - o)) - 1);
  if (o + VL > o1) tm &= (1u << (o1 - o)) - 1;
  V prev = fill, cur = column(o, tab + f * NM, tm);
  for (;;) {
    const int64_t on = o + VL, fn = f + 1 == P ? 0 : f + 1;
    const unsigned tn = on + VL <= o1 ? full : on < o1 ? (1u << (o1 - on)) - 1 : 0;
    // (full as a constant: the interior vectors' centre loads unmasked)
    const V next = tn == full ? column(on, tab + fn * NM, full) : tn ? column(on, tab + fn * NM, tn) : fill;
    const uint16_t* m = tab + f * NM;
    V acc = cur;
#pragma GCC unroll 4
    for (int dx = 1; dx <= R; ++dx) {
      typename PV<T>::VK il, ir;
      for (int l = 0; l < VL; ++l) il[l] = l + VL - dx, ir[l] = l + dx;
      const V left = __builtin_shuffle(prev, cur, il), right = __builtin_shuffle(cur, next, ir);
      if constexpr (AVG) {
        acc = fp_mfma<T>(acc, left, one, m[2 * R + dx - 1]);
        acc = fp_madd<T>(acc, right, m[3 * R + dx - 1]);
      } else {
        acc = fs_red<T, false>(acc, left, m[2 * R + dx - 1]);
        acc = fs_red<T, false>(acc, right, m[3 * R + dx - 1]);
      }
    }
    if constexpr (DIV == 1) acc = mul_pz(acc, r1);
    if constexpr (DIV == 2) acc = mul_pz(acc, rtab[f]);
    if (tm == full)
      pst(y + o, acc);
    else
      store_mask<T>(y + o, acc, tm);
    if (!tn) break;
    prev = cur, cur = next, o = on, f = fn, tm = tn;
  }
  return zn;
}

// Max over blocks of whole rows [begin, end): run(o0, o1) computes a block's outputs [o0, o1)
// and reports whether its rows hold a NaN or -0; then the R rows above and below the block that
// its windows read are scanned too, and redo(r0, r1) recomputes a block that read either.
template <typename T, typename Run, typename Redo>
void flat_max_blocks(const PoolShape& s, const T* x, int64_t begin, int64_t end, int64_t R, const Run& run,
                     const Redo& redo) {
  const int64_t H = s.in[1], W = s.in[2];
  const int64_t rows = max64(1, kFlatPlanesBlock / W);
  for (int64_t r0 = begin; r0 < end; r0 += rows) {
    const int64_t r1 = min64(end, r0 + rows);
    unsigned zn = run(r0 * W, r1 * W);
    const int64_t a = r0 % H, b = (r1 - 1) % H + 1;  // the block's first row, last row + 1 in their planes
    const int64_t na = min64(a, R) * W, nb = min64(H - b, R) * W;
    if (!zn && na) zn = flat_scan(x + r0 * W - na, na) & 5;
    if (!zn && nb) zn = flat_scan(x + r1 * W, nb) & 5;
    if (zn) redo(r0, r1);
  }
}

template <typename T, int K>
void flat_planes_max(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end) {
  const int64_t W = s.in[2];
  int64_t P;
  const uint16_t* tab = flat_planes_masks<T>(s.in[1], W, K / 2, &P);
  flat_max_blocks<T>(
      s, x, begin, end, K / 2,
      [&](int64_t o0, int64_t o1) { return flat_planes_run<T, K, 0>(x, y, o0, o1, W, tab, P, T(0)); },
      [&](int64_t r0, int64_t r1) { flat_slide_kk<T, K>(s, x, y, r0, r1); });
}

// 3x3 windows on planes whose rows tile the vector (W divides VL, H * W a multiple of VL: 4x4,
// 8x8 and 16x16 maps in float): every vector holds whole rows of one plane, so the rows above and
// below are the neighbour vectors shifted by W lanes (fill vectors past the plane's ends) and the
// column taps shift by one lane within each row, fill at its ends. No lane masks, no unaligned
// loads (split loads measured slower than the shuffles). WC: W as a constant when it is VL
// (the neighbour vectors themselves) or VL / 2 (one vector's rows below are the next one's rows
// above: one vertical shuffle per vector), else 0. Outputs [o0, o1) of the flat run (whole rows;
// partial vectors at its ends stored masked); DIV and the return value as flat_planes_run (max:
// -inf outside the plane, columns first).
template <typename T, int DIV, int WC>
__attribute__((noinline)) unsigned flat_fit_run(const T* x, T* y, int64_t o0, int64_t o1, int64_t HW, int64_t Wr,
                                                T rdiv, const typename PV<T>::V* rtab) {
  typedef typename PV<T>::V V;
  typedef typename PV<T>::VK VK;
  typedef typename PV<T>::K K;
  constexpr int VL = PV<T>::VL;
  const int64_t W = WC ? WC : Wr;
  VK iu, id, il, ir;  // up (prev, cur), down (cur, next), left and right (row, zeros)
  for (int l = 0; l < VL; ++l) {
    iu[l] = (K)(l + VL - W), id[l] = (K)(l + W);
    il[l] = (K)(l % W == 0 ? VL : l - 1), ir[l] = (K)(l % W == W - 1 ? VL : l + 1);
  }
  constexpr bool AVG = DIV != 0;
  V one = V{} + T(1);
  __asm__("" : "+v"(one));  // (opaque: a * one + b stays an FMA, on the multiply pipes)
  const V r1 = V{} + rdiv, fill = AVG ? V{} : V{} - __builtin_inf();
  auto red = [&](const V& a, const V& b) __attribute__((always_inline)) {
    return AVG ? a * one + b : fs_red<T, false>(b, a, (1u << VL) - 1);
  };
  unsigned zn = 0;
  // output vector o from the rows above (up), at (cur) and below (down) it; f: its index in the plane
  // (a macro: as a lambda, 10-15% slower on 8x8 and 16x16 planes)
#define FMACONV_FIT_OUT(o, up, cur, down, f)                                                            \
  {                                                                                                     \
    if constexpr (!AVG) zn |= nan_negzero_bits(cur);                                                  \
    const V c = AVG ? red(up, cur) + down : red(down, red(up, cur));                                  \
    V acc = red(__builtin_shuffle(c, fill, il), c);                                                     \
    acc = AVG ? acc + __builtin_shuffle(c, fill, ir) : red(__builtin_shuffle(c, fill, ir), acc);        \
    if constexpr (DIV == 1) acc = mul_pz(acc, r1);                                                      \
    if constexpr (DIV == 2) acc = mul_pz(acc, rtab[f]);                                                 \
    if (o >= o0 && o + VL <= o1)                                                                        \
      pst(y + o, acc);                                                                                  \
    else                                                                                                \
      store_mask<T>(y + o, acc, (((1u << VL) - 1) << max64(o0 - o, 0)) & ((1u << min64(o1 - o, VL)) - 1)); \
  }
  if (HW == VL) {  // a plane per vector (4x4 floats): no plane bookkeeping (half the time)
    for (int64_t o = o0 / VL * VL; o < o1; o += VL) {
      const V cur = pld<V>(x + o), up = __builtin_shuffle(fill, cur, iu), down = __builtin_shuffle(cur, fill, id);
      FMACONV_FIT_OUT(o, up, cur, down, 0)
    }
    return zn;
  }
  for (int64_t o = o0 / VL * VL, pb = o / HW * HW; o < o1; pb += HW) {  // per plane (from pb)
    const int64_t pe = pb + HW;
    V cur = pld<V>(x + o);
    const V above = o > pb ? pld<V>(x + o - VL) : fill;
    V up = WC == VL ? above : __builtin_shuffle(above, cur, iu);
    for (; o < o1 && o < pe; o += VL) {
      const V next = o + VL < pe ? pld<V>(x + o + VL) : fill;
      const V down = WC == VL ? next : __builtin_shuffle(cur, next, id);
      FMACONV_FIT_OUT(o, up, cur, down, (o - pb) / VL)
      up = WC == VL ? cur : 2 * WC == VL ? down : __builtin_shuffle(cur, next, iu);
      cur = next;
    }
  }
#undef FMACONV_FIT_OUT
  return zn;
}

template <typename T>
inline bool flat_fit_ok(const PoolShape& s) {
  constexpr int64_t VL = PV<T>::VL;
  return s.k[1] == 3 && VL % s.in[2] == 0 && s.in[1] * s.in[2] % VL == 0;
}

template <typename T, int DIV>
unsigned flat_fit(const T* x, T* y, int64_t o0, int64_t o1, int64_t HW, int64_t W, T rdiv,
                  const typename PV<T>::V* rtab = nullptr) {
  constexpr int VL = PV<T>::VL;
  if (W == VL) return flat_fit_run<T, DIV, VL>(x, y, o0, o1, HW, W, rdiv, rtab);
  if (2 * W == VL) return flat_fit_run<T, DIV, VL / 2>(x, y, o0, o1, HW, W, rdiv, rtab);
  return flat_fit_run<T, DIV, 0>(x, y, o0, o1, HW, W, rdiv, rtab);
}

// 3x3 max (float: nan_negzero_bits) on such planes, any plane size
template <typename T>
inline bool flat_fit_max_ok(const PoolShape& s) {
  return sizeof(T) == 4 && flat_planes_geom(s) && flat_fit_ok<T>(s);
}

// redo(r0, r1): a block that read a NaN or -0 (flat_max_blocks)
template <typename T, typename Redo>
void flat_fit_max(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, const Redo& redo) {
  const int64_t HW = s.in[1] * s.in[2], W = s.in[2];
  flat_max_blocks<T>(
      s, x, begin, end, 1, [&](int64_t o0, int64_t o1) { return flat_fit<T, 0>(x, y, o0, o1, HW, W, T(0)); }, redo);
}

// 3x3 averages on such planes (flat_planes_ok's average geometry)
template <typename T>
void flat_fit_avg(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                  int64_t begin, int64_t end) {
  const int64_t W = s.in[2], HW = s.in[1] * W;
  if (divisor_override || count_include_pad) {
    flat_fit<T, 1>(x, y, begin * W, end * W, HW, W, T(1) / T(divisor_override ? divisor_override : 9));
    return;
  }
  int64_t P;
  const typename PV<T>::V* rtab;
  flat_planes_masks<T>(s.in[1], W, 1, &P, &rtab);
  flat_fit<T, 2>(x, y, begin * W, end * W, HW, W, T(0), rtab);
}

template <typename T>
void flat_planes_avg(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                     int64_t begin, int64_t end) {
  const int64_t W = s.in[2];
  int64_t P;
  const typename PV<T>::V* rtab = nullptr;
  const bool uni = divisor_override || count_include_pad;
  const uint16_t* tab = flat_planes_masks<T>(s.in[1], W, 1, &P, uni ? nullptr : &rtab);
  if (uni)
    flat_planes_run<T, 3, 1>(x, y, begin * W, end * W, W, tab, P, T(1) / T(divisor_override ? divisor_override : 9));
  else
    flat_planes_run<T, 3, 2>(x, y, begin * W, end * W, W, tab, P, T(0), rtab);
}

// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

template <typename T, int MR, int NR>
void gemm_ukernel(int64_t kc, const T* __restrict a, const T* __restrict b, int64_t ldb,
                  T* __restrict c, int64_t ldc, int mr_valid, int nr_valid, const T* __restrict bias,
                  bool first) {
  constexpr int VL = VB / (int)sizeof(T);
  constexpr int NV = NR / VL;
  static_assert(NR % VL == 0, "NR must be a multiple of the vector length");
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));

  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V{};

  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = *(const VU*)(b + k * ldb + v * VL);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      V av = a[k * MR + i] - V{};  // x - 0 is exact for every x: compiles to one broadcast load
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
  }

  if (mr_valid == MR && nr_valid == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      T* crow = c + i * ldc;
      V base = V{} + (bias ? bias[i] : T(0));
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        V prev = first ? base : *(const VU*)(crow + v * VL);
        *(VU*)(crow + v * VL) = acc[i][v] + prev;
      }
    }
    return;
  }
  T tmp[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) *(VU*)(&tmp[i][v * VL]) = acc[i][v];
  for (int i = 0; i < mr_valid; ++i) {
    T* crow = c + i * ldc;
    T base = bias ? bias[i] : T(0);
    for (int j = 0; j < nr_valid; ++j) crow[j] = tmp[i][j] + (first ? base : crow[j]);
  }
}

template <typename T, int MR, int NV>
void conv_tile(int64_t kc, const T* __restrict a, const T* __restrict b, const int64_t* __restrict boff,
               const T* __restrict bias, T* __restrict tile, int64_t ldt) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));

  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    const V base = (bias ? bias[i] : T(0)) - V{};
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[i][v] = base;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const T* bk = b + boff[k];
    V bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) bv[v] = *(const VU*)(bk + v * VL);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V av = a[k * MR + i] - V{};
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[i][v] += av * bv[v];
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) *(VU*)(tile + i * ldt + v * VL) = acc[i][v];
}

template <typename T, int NP, int NVC, int CS = 1>
void conv_tile_cv(int64_t kc, const T* __restrict a, const T* __restrict b, const int64_t* __restrict boff,
                  const T* __restrict bias, T* __restrict tile, int64_t /*ldt == MR*/) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VA __attribute__((vector_size(VB), may_alias));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));

  V acc[NP][NVC];
#pragma GCC unroll 16
  for (int v = 0; v < NVC; ++v) {
    const V base = bias ? *(const VU*)(bias + v * VL) : V{};
#pragma GCC unroll 32
    for (int j = 0; j < NP; ++j) acc[j][v] = base;
  }
  for (int64_t k = 0; k < kc; ++k) {
    const T* bk = b + boff[k];
    V wv[NVC];
#pragma GCC unroll 16
    for (int v = 0; v < NVC; ++v) wv[v] = *(const VA*)(a + (k * NVC + v) * VL);
#pragma GCC unroll 32
    for (int j = 0; j < NP; ++j) {
      const V xv = bk[j * CS] - V{};
#pragma GCC unroll 16
      for (int v = 0; v < NVC; ++v) acc[j][v] += xv * wv[v];
    }
  }
#pragma GCC unroll 32
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 16
    for (int v = 0; v < NVC; ++v) *(VA*)(tile + (j * NVC + v) * VL) = acc[j][v];
}

// Copies the outputs among grid positions [q0, q0 + nrv) of a positions-in-vector tile (rows
// ldt apart) to y (output rows OW long, channels P apart); grid columns ow >= OW are dropped.
// Vector copies with an overlapping last vector: libc's memcpy per channel and row segment cost
// a call each, as much as the multiply-adds of a short reduction.
template <typename T>
void store_grid(const T* __restrict tile, int64_t ldt, int64_t mrv, int64_t q0, int64_t nrv, int64_t Wq,
                int64_t OW, T* __restrict y, int64_t P) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  for (int64_t q = q0; q < q0 + nrv;) {
    const int64_t oh = q / Wq, ow = q % Wq;
    if (ow >= OW) {
      q += Wq - ow;
      continue;
    }
    const int64_t len = min64(OW - ow, q0 + nrv - q);
    const T* src = tile + (q - q0);
    T* dst = y + oh * OW + ow;
    if (len >= VL) {
      for (int64_t i = 0; i < mrv; ++i) {
        const T* si = src + i * ldt;
        T* di = dst + i * P;
        int64_t j = 0;
        for (; j + VL <= len; j += VL) *(VU*)(di + j) = *(const VU*)(si + j);
        if (j < len) *(VU*)(di + len - VL) = *(const VU*)(si + len - VL);
      }
    } else {
      for (int64_t i = 0; i < mrv; ++i)
        for (int64_t j = 0; j < len; ++j) dst[i * P + j] = src[i * ldt + j];
    }
    q += len;
  }
}

// Integer lane type of a T's size (shuffle masks).
template <int B>
struct LaneInt;
template <>
struct LaneInt<4> {
  typedef int32_t type;
};
template <>
struct LaneInt<8> {
  typedef int64_t type;
};

// In-register transpose of a VL x VL block (r[i] is row i): log2(VL) rounds, each swapping the
// off-diagonal S x S sub-blocks of row pairs (i, i + S) with two-source constant shuffles.
template <typename V, typename IV, int VL, int S>
inline void swap_subblocks(V* r) {
  IV lo, hi;
#pragma GCC unroll 16
  for (int m = 0; m < VL; ++m) {
    lo[m] = (m & S) ? VL + m - S : m;
    hi[m] = (m & S) ? VL + m : m + S;
  }
#pragma GCC unroll 16
  for (int i = 0; i < VL; ++i)
    if (!(i & S)) {
      const V a = r[i], b = r[i + S];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + S] = __builtin_shuffle(a, b, hi);
    }
}
template <typename V, typename IV, int VL, int S>
inline void transpose_block(V* r) {
  if constexpr (S >= 1) {
    swap_subblocks<V, IV, VL, S>(r);
    transpose_block<V, IV, VL, S / 2>(r);
  }
}

// See GemmKernels::store_cv: VL x VL blocks transposed in registers, each channel's row
// segment stored at once (masked when shorter than a vector). Transposed 4 x 4 through SSE,
// with scalar edges, the stores of a 32 x 14 tile cost ~3% of a 3x3 convolution over 64 channels.
template <typename T>
void store_cv(const T* __restrict tile, int64_t ldt, int64_t nrv, int64_t mrv, T* __restrict y, int64_t P) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef typename LaneInt<sizeof(T)>::type I;
  typedef I IV __attribute__((vector_size(VB)));
  for (int64_t i0 = 0; i0 < nrv; i0 += VL) {
    const int64_t n = min64(VL, nrv - i0);
    for (int64_t c0 = 0; c0 < mrv; c0 += VL) {
      V r[VL];
#pragma GCC unroll 16
      for (int i = 0; i < VL; ++i) r[i] = i < n ? *(const VU*)(tile + (i0 + i) * ldt + c0) : V{};
      transpose_block<V, IV, VL, VL / 2>(r);
      const int64_t m = min64(VL, mrv - c0);
      T* yc = y + c0 * P + i0;
      if (n == VL)
        for (int64_t c = 0; c < m; ++c) *(VU*)(yc + c * P) = r[c];
      else
        for (int64_t c = 0; c < m; ++c) store_part(yc + c * P, r[c], n);
    }
  }
}

// Weight packing (see GemmKernels::pack_transposed): VL x VL blocks transposed in registers,
// scalar edges. x - x is NaN exactly when x is not finite: summed into `nf`, it flags them.
template <typename T>
bool pack_transposed(const T* __restrict src, int64_t ld, int64_t rows, int64_t cols, T* __restrict dst,
                     int64_t MR, const int64_t* __restrict kmap) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef typename LaneInt<sizeof(T)>::type I;
  typedef I IV __attribute__((vector_size(VB)));
  auto row = [&](int64_t k) { return dst + (kmap ? kmap[k] : k) * MR; };
  V nfv = V{};
  T nf = T(0);
  const int64_t rows_v = rows / VL * VL, cols_v = cols / VL * VL;
  // Row blocks outer: VL source rows stream at a time (all MR rows at once were too many
  // streams for the hardware prefetchers; weights from L3 came in at a third of its bandwidth).
  // Each of the VL rows also prefetched 512 bytes ahead: weights coming from L3 waited on
  // their loads (256 x 2304 channels: packing 120-165 -> 85-125 us).
  constexpr int64_t pfd = 512 / (int64_t)sizeof(T);
  for (int64_t i0 = 0; i0 < rows_v; i0 += VL)
    for (int64_t k0 = 0; k0 < cols_v; k0 += VL) {
      if (k0 + pfd < cols)
#pragma GCC unroll 16
        for (int i = 0; i < VL; ++i) __builtin_prefetch(src + (i0 + i) * ld + k0 + pfd, 0, 2);
      V r[VL];
#pragma GCC unroll 16
      for (int i = 0; i < VL; ++i) {
        r[i] = *(const VU*)(src + (i0 + i) * ld + k0);
        nfv += r[i] - r[i];
      }
      transpose_block<V, IV, VL, VL / 2>(r);
#pragma GCC unroll 16
      for (int c = 0; c < VL; ++c) *(VU*)(row(k0 + c) + i0) = r[c];
    }
  // Edge rows and columns, zero rows past `rows`: rows [i0, rows) of column k.
  auto edge = [&](int64_t k, int64_t i0) {
    T* d = row(k);
    for (int64_t i = i0; i < rows; ++i) {
      const T v = src[i * ld + k];
      nf += v - v;
      d[i] = v;
    }
    for (int64_t i = rows; i < MR; ++i) d[i] = T(0);
  };
  // The blocks' columns only when the blocks left rows to fill: a loop over every column
  // doing nothing cost a third of packing 32 x 2304 (10.5 -> 7.5 us) in a convolution.
  if (rows_v < MR)
    for (int64_t k = 0; k < cols_v; ++k) edge(k, rows_v);
  for (int64_t k = cols_v; k < cols; ++k) edge(k, 0);
  for (int l = 0; l < VL; ++l) nf += nfv[l];
  return nf == T(0);
}

// See GemmKernels::pad_row: full-width vector moves, the last one overlapping the one before.
template <typename T>
void pad_row(const T* __restrict row, int64_t W, int64_t pw, int64_t n, T* __restrict out) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  const int64_t lo = min64(n, pw), hi = max64(lo, min64(n, W + pw));  // [lo, hi) comes from the row
  for (int64_t c = 0; c < lo; ++c) out[c] = T(0);
  for (int64_t c = hi; c < n; ++c) out[c] = T(0);
  const T* r = row - pw;
  if (hi - lo < VL) {
    for (int64_t c = lo; c < hi; ++c) out[c] = r[c];
    return;
  }
  int64_t c = lo;
  for (; c + VL <= hi; c += VL) *(VU*)(out + c) = *(const VU*)(r + c);
  if (c < hi) *(VU*)(out + hi - VL) = *(const VU*)(r + hi - VL);
}

// See GemmKernels::deal_row2: two vectors of the row split into even and odd lanes.
template <typename T>
void deal_row2(const T* __restrict row, int64_t W, int64_t pw, int64_t n, T* __restrict e, T* __restrict o) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef typename LaneInt<sizeof(T)>::type I;
  typedef I IV __attribute__((vector_size(VB)));
  IV even, odd;
#pragma GCC unroll 16
  for (int l = 0; l < VL; ++l) {
    even[l] = 2 * l;
    odd[l] = 2 * l + 1;
  }
  auto at = [&](int64_t q) { return q >= 0 && q < W ? row[q] : T(0); };
  // [lo, hi): both phases come from the row
  const int64_t lo = min64(n, (pw + 1) / 2), hi = max64(lo, min64(n, (W + pw) / 2));
  const T* r = row - pw;
  int64_t c = lo;
  auto deal = [&](int64_t q) {
    const V a = *(const VU*)(r + 2 * q), b = *(const VU*)(r + 2 * q + VL);
    *(VU*)(e + q) = __builtin_shuffle(a, b, even);
    *(VU*)(o + q) = __builtin_shuffle(a, b, odd);
  };
  for (; c + VL <= hi; c += VL) deal(c);
  if (c < hi && hi - lo >= VL) {  // the tail as one vector overlapping the last (rows are short)
    deal(hi - VL);
    c = hi;
  }
  for (; c < hi; ++c) {
    e[c] = r[2 * c];
    o[c] = r[2 * c + 1];
  }
  for (int64_t q = 0; q < lo; ++q) {
    e[q] = at(2 * q - pw);
    o[q] = at(2 * q + 1 - pw);
  }
  for (int64_t q = hi; q < n; ++q) {
    e[q] = at(2 * q - pw);
    o[q] = at(2 * q + 1 - pw);
  }
}

template <typename T>
double fma_probe(int64_t iters) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  // 12 independent chains (named, so they stay in registers): covers FMA latency x issue width.
  // A float recurrence cannot be folded without -ffast-math, so no barrier is needed.
  const V m = V{} + T(0.999999), c = V{} + T(1e-6);
  // Start values avoid the fixed point 1 = 1 * m + c, which constant propagation would fold.
  V a0 = V{} + T(2), a1 = V{} + T(3), a2 = V{} + T(4), a3 = V{} + T(5), a4 = V{} + T(6), a5 = V{} + T(7);
  V a6 = V{} + T(8), a7 = V{} + T(9), a8 = V{} + T(10), a9 = V{} + T(11), a10 = V{} + T(12), a11 = V{} + T(13);
  for (int64_t it = 0; it < iters; ++it) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
  }
  V sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  volatile T sink = sum[0];
  (void)sink;
  return 2.0 * (double)iters * 12 * VL;
}

template <typename T, int MR, int NV>
constexpr ConvTile<T> tile_of() {
  return ConvTile<T>{MR, NV * (VB / (int)sizeof(T)), false, &conv_tile<T, MR, NV>, nullptr};
}
template <typename T, int NP, int NVC>
constexpr ConvTile<T> cv_tile_of() {
  return ConvTile<T>{NVC * (VB / (int)sizeof(T)), NP, true, &conv_tile_cv<T, NP, NVC>, &conv_tile_cv<T, NP, NVC, 2>};
}

// Direct-conv tiles per register file (32 vector registers hold up to 28 accumulators, 16
// hold 12): positions in vector MR x NV vectors; channels in vector NP positions x NVC vectors,
// one-vector ones in several widths so narrow rows (LeNet's 10) fill a tile.
template <typename T, int MR, int NR>
constexpr GemmKernels<T> make_gemm_kernels() {
#if FMACONV_VEC_REGS >= 32
  return GemmKernels<T>{MR, NR, &gemm_ukernel<T, MR, NR>, 13,
                        {tile_of<T, 8, 3>(), tile_of<T, 6, 4>(), tile_of<T, 4, 6>(), tile_of<T, 3, 8>(),
                         tile_of<T, 2, 12>(), cv_tile_of<T, 14, 2>(),
                         cv_tile_of<T, 7, 4>(), cv_tile_of<T, 28, 1>(), cv_tile_of<T, 24, 1>(), cv_tile_of<T, 20, 1>(),
                         cv_tile_of<T, 16, 1>(), cv_tile_of<T, 12, 1>(), cv_tile_of<T, 10, 1>()},
                        &fma_probe<T>, &store_grid<T>, &store_cv<T>, &pad_row<T>, &deal_row2<T>, &pack_transposed<T>};
#else
  return GemmKernels<T>{MR, NR, &gemm_ukernel<T, MR, NR>, 7,
                        {tile_of<T, 6, 2>(), tile_of<T, 4, 3>(), tile_of<T, 3, 4>(), tile_of<T, 2, 6>(),
                         cv_tile_of<T, 6, 2>(), cv_tile_of<T, 12, 1>(),
                         cv_tile_of<T, 10, 1>()},
                        &fma_probe<T>, &store_grid<T>, &store_cv<T>, &pad_row<T>, &deal_row2<T>, &pack_transposed<T>};
#endif
}

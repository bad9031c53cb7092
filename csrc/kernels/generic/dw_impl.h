// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

// ---------------------------------------------------------------- exact row kernel (slow path)
// Skips padding taps exactly, so a non-finite weight never meets a padding zero (0 * inf).
template <typename T>
void dw_row(const ConvShape& s, const T* const* rows, const T* const* w_rows, int64_t n_rows, T bias,
            T* __restrict y) {
  const int64_t OW = s.out[2], KW = s.k[2], sw = s.s[2], pw = s.p[2], dw = s.d[2], W = s.in[2];
  for (int64_t ow = 0; ow < OW; ++ow) y[ow] = T(0);
  for (int64_t r = 0; r < n_rows; ++r) {
    const T* __restrict x = rows[r];
    const T* wr = w_rows[r];
    for (int64_t jw = 0; jw < KW; ++jw) {
      const int64_t off = jw * dw - pw;
      int64_t lo, hi;
      valid_cols(off, sw, W, OW, &lo, &hi);
      const T wv = wr[jw];
      if (sw == 1) {
        const T* __restrict xs = x + off;
        for (int64_t ow = lo; ow < hi; ++ow) y[ow] += wv * xs[ow];
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) y[ow] += wv * x[ow * sw + off];
      }
    }
  }
  for (int64_t ow = 0; ow < OW; ++ow) y[ow] += bias;
}

// ---------------------------------------------------------------- register-blocked kernels
// Registers available to a kernel: 32 vector registers with AVX-512 and on aarch64, else 16.
#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kDwRegs = 32;
#else
constexpr int kDwRegs = 16;
#endif

// Keeps a loaded vector in a register: without it the compiler folds the load into every FMA
// that uses it (one load per FMA), and the loads, not the FMAs, bound the unit kernels.
template <typename V>
inline void dw_in_reg(V& v) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__("" : "+v"(v));
#elif defined(__aarch64__)
  __asm__("" : "+w"(v));
#else
  (void)v;
#endif
}

#if defined(__AVX512F__)
constexpr bool kDwMasked = true;
#else
constexpr bool kDwMasked = false;
#endif

// Lanes of the VL-lane vector at column c whose column lies inside [vlo, vhi).
template <int VL>
inline unsigned dw_lane_mask(int64_t c, int64_t vlo, int64_t vhi) {
  const int64_t lo = clamp64(vlo - c, 0, VL), hi = clamp64(vhi - c, lo, VL);
  return ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

// Loads the WB-byte vector at p with the lanes outside mask m as zeros; masked-off lanes are
// not read (no fault even before or after the array). AVX-512 only.
template <typename T, int WB>
inline auto dw_load_masked(const T* p, unsigned m) {
  typedef T V __attribute__((vector_size(WB)));
  V r;
#if defined(__AVX512F__)
  if constexpr (sizeof(T) == 4) {
    typedef float V16 __attribute__((vector_size(64)));
    V16 z = __builtin_ia32_loadups512_mask((const float*)p, V16{}, (unsigned short)m);
    __builtin_memcpy(&r, &z, sizeof(V));
  } else {
    typedef double V8 __attribute__((vector_size(64)));
    V8 z = __builtin_ia32_loadupd512_mask((const double*)p, V8{}, (unsigned char)m);
    __builtin_memcpy(&r, &z, sizeof(V));
  }
#else
  (void)p;
  (void)m;
  r = V{};
#endif
  return r;
}

// Unit strides and dilations (sh = sw = dh = dw = 1, kd = 1): a tile of R output rows x NB
// vectors of W bytes at columns cols[0:NB]. Input row t of the tile feeds output rows
// r = t - jh; all KH*KW weights are broadcast once per tile. n < VL only for a row narrower
// than one vector.
template <typename T, int KH, int KW, int R, int NB, int WB, bool MASK>
__attribute__((always_inline)) inline void dw_tile_unit_body(const T* const* rows, const T* w, T bias, T* __restrict y,
                                                             int64_t ldy, const int64_t* cols, int64_t n, int64_t vlo,
                                                             int64_t vhi) {
  typedef T V __attribute__((vector_size(WB)));
  typedef T VU __attribute__((vector_size(WB), aligned(sizeof(T)), may_alias));
  constexpr int VL = WB / (int)sizeof(T);
  int64_t col[NB];
#pragma GCC unroll 16
  for (int v = 0; v < NB; ++v) col[v] = cols[v];
  V wv[KH * KW];
#pragma GCC unroll 64
  for (int i = 0; i < KH * KW; ++i) wv[i] = V{} + w[i];
  V acc[R][NB];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NB; ++v) acc[r][v] = V{} + bias;
  unsigned m[MASK ? NB : 1][MASK ? KW : 1];  // the same for every row: computed once
  if constexpr (MASK) {
#pragma GCC unroll 16
    for (int v = 0; v < NB; ++v)
#pragma GCC unroll 16
      for (int jw = 0; jw < KW; ++jw) m[v][jw] = dw_lane_mask<VL>(col[v] + jw, vlo, vhi);
  }
#pragma GCC unroll 16
  for (int t = 0; t < R + KH - 1; ++t) {
    const T* p = rows[t];
#pragma GCC unroll 16
    for (int jw = 0; jw < KW; ++jw) {
      V xv[NB];
#pragma GCC unroll 16
      for (int v = 0; v < NB; ++v) {
        if constexpr (MASK)
          xv[v] = dw_load_masked<T, WB>(p + col[v] + jw, m[v][jw]);
        else
          xv[v] = *(const VU*)(p + col[v] + jw);
        if (R > 1) dw_in_reg(xv[v]);
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const int jh = t - r;
        if (jh < 0 || jh >= KH) continue;
#pragma GCC unroll 16
        for (int v = 0; v < NB; ++v) acc[r][v] += wv[jh * KW + jw] * xv[v];
      }
    }
  }
  if (n >= VL) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < NB; ++v) *(VU*)(y + r * ldy + col[v]) = acc[r][v];
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) store_part(y + r * ldy + col[0], acc[r][0], n);
}

template <typename T, int KH, int KW, int R, int NB, int WB, bool MASK>
__attribute__((noinline)) void dw_tile_unit_call(const T* const* rows, const T* w, T bias, T* __restrict y, int64_t ldy,
                                                 const int64_t* cols, int64_t n, int64_t vlo, int64_t vhi) {
  dw_tile_unit_body<T, KH, KW, R, NB, WB, MASK>(rows, w, bias, y, ldy, cols, n, vlo, vhi);
}

// Single-row tiles (1-D) are inlined into the column loop (the weights stay in registers
// across tiles); multi-row tiles are big enough to be calls. Tiles that read a column outside
// [vlo, vhi) (rows read in place) take masked loads.
template <typename T, int KH, int KW, int R, int NB, int WB>
__attribute__((always_inline)) inline void dw_tile_unit(const T* const* rows, const T* w, T bias, T* __restrict y,
                                                        int64_t ldy, const int64_t* cols, int64_t n, int64_t vlo,
                                                        int64_t vhi) {
  constexpr int VL = WB / (int)sizeof(T);
  if constexpr (kDwMasked) {
    if (cols[0] < vlo || cols[NB - 1] + VL + KW - 2 >= vhi) {
      dw_tile_unit_call<T, KH, KW, R, NB, WB, true>(rows, w, bias, y, ldy, cols, n, vlo, vhi);
      return;
    }
  }
  if constexpr (R == 1) {
    dw_tile_unit_body<T, KH, KW, R, NB, WB, false>(rows, w, bias, y, ldy, cols, n, vlo, vhi);
  } else {
    dw_tile_unit_call<T, KH, KW, R, NB, WB, false>(rows, w, bias, y, ldy, cols, n, vlo, vhi);
  }
}

// Whole vectors [v0, nv) of R output rows, NB at a time, then the rest with halving tiles.
template <typename T, int KH, int KW, int R, int NB>
inline void dw_cols_unit(const T* const* rows, const T* w, T bias, T* y, int64_t ldy, int64_t v0, int64_t nv,
                         int64_t vlo, int64_t vhi) {
  constexpr int VL = VB / (int)sizeof(T);
  int64_t cols[NB];
  for (; v0 + NB <= nv; v0 += NB) {
#pragma GCC unroll 16
    for (int v = 0; v < NB; ++v) cols[v] = (v0 + v) * VL;
    dw_tile_unit<T, KH, KW, R, NB, VB>(rows, w, bias, y, ldy, cols, VL, vlo, vhi);
  }
  if constexpr (NB > 1) {
    if (v0 < nv) dw_cols_unit<T, KH, KW, R, NB / 2>(rows, w, bias, y, ldy, v0, nv, vlo, vhi);
  }
}

// All columns of R output rows: whole vectors, then the last ow % VL columns with one vector
// ending at ow (half a vector when that suffices), which recomputes a few columns of its
// neighbour with the same values.
template <typename T, int KH, int KW, int R, int NB>
inline void dw_row_unit(const T* const* rows, const T* w, T bias, T* y, int64_t ldy, int64_t ow, int64_t vlo,
                        int64_t vhi) {
  constexpr int VL = VB / (int)sizeof(T);
  const int64_t nv = ow / VL, rem = ow % VL;
  int64_t v0 = 0;
  if (kDwMasked && NB > 1 && vlo > 0 && nv > 1) {  // the first vector alone: only it is masked
    const int64_t c0 = 0;
    dw_tile_unit<T, KH, KW, R, 1, VB>(rows, w, bias, y, ldy, &c0, VL, vlo, vhi);
    v0 = 1;
  }
  dw_cols_unit<T, KH, KW, R, NB>(rows, w, bias, y, ldy, v0, nv, vlo, vhi);
  if (rem == 0) return;
  int64_t col = ow - VL;
  if (nv == 0) {
    col = 0;
  } else if constexpr (VB >= 32 && VB / 2 >= 2 * (int)sizeof(T)) {
    if (rem <= VL / 2) {
      col = ow - VL / 2;
      dw_tile_unit<T, KH, KW, R, 1, VB / 2>(rows, w, bias, y, ldy, &col, VL / 2, vlo, vhi);
      return;
    }
  }
  dw_tile_unit<T, KH, KW, R, 1, VB>(rows, w, bias, y, ldy, &col, nv == 0 ? ow : VL, vlo, vhi);
}

// Rows of the block in groups of R (the last group moved back to end at n_rows: it recomputes
// a few rows, with the same values); fewer rows than R: halve R.
template <typename T, int KH, int KW, int R, int NB>
void dw_rows_unit(const DwBlock<T>& b) {
  const int64_t n = b.n_rows, ldy = b.ldy;
  if constexpr (R > 1) {
    if (n < R) return dw_rows_unit<T, KH, KW, R / 2, NB>(b);
  }
  for (int64_t r0 = 0; r0 < n; r0 += R) {
    const int64_t r = min64(r0, n - R);
    dw_row_unit<T, KH, KW, R, NB>(b.rows + r, b.w, b.bias, b.y + r * ldy, ldy, b.ow, b.vlo, b.vhi);
  }
}

template <typename T, int KH, int KW>
void dw_block_unit(const DwBlock<T>& b) {
  // R output rows share input rows (each input vector feeds up to min(R, KH) of them); R * NB
  // accumulators cover the FMA latency. 3x3 on 32 registers: 8 rows x 1 vector (measured best).
  constexpr int R = KH == 1 ? 1 : (kDwRegs >= 32 ? (KH == 3 ? 8 : 4) : 2);
  constexpr int NB = KH == 1 ? (kDwRegs >= 32 ? 8 : 4) : (KH == 3 && kDwRegs >= 32 ? 1 : 2);
  dw_rows_unit<T, KH, KW, R, NB>(b);
}

// Any geometry: a tile of R output rows x NB vectors of WB bytes; every tap's weight is
// broadcast once per tile and feeds R * NB accumulators.
template <typename T, int R, int NB, int WB>
inline void dw_tile_any(const DwBlock<T>& b, int64_t r0, const int64_t* cols, int64_t n) {
  typedef T V __attribute__((vector_size(WB)));
  typedef T VU __attribute__((vector_size(WB), aligned(sizeof(T)), may_alias));
  constexpr int VL = WB / (int)sizeof(T);
  int64_t col[NB];
#pragma GCC unroll 16
  for (int v = 0; v < NB; ++v) col[v] = cols[v];
  V acc[R][NB];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int v = 0; v < NB; ++v) acc[r][v] = V{} + b.bias;
  const int64_t kw = b.kw;
  const int64_t* off = b.col_off;
  for (int64_t jd = 0; jd < b.kd; ++jd) {
    for (int64_t jh = 0; jh < b.kh; ++jh) {
      const T* const* rp = b.rows + jd * b.rows_per_d + r0 * b.sh + jh * b.dh;
      const T* p[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) p[r] = rp[r * b.sh];
      const T* wr = b.w + (jd * b.kh + jh) * kw;
      for (int64_t jw = 0; jw < kw; ++jw) {
        const V w = V{} + wr[jw];
        const int64_t o = off[jw];
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
          for (int v = 0; v < NB; ++v) acc[r][v] += w * *(const VU*)(p[r] + o + col[v]);
      }
    }
  }
  T* y = b.y + r0 * b.ldy;
  if (n >= VL) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < NB; ++v) *(VU*)(y + r * b.ldy + col[v]) = acc[r][v];
    return;
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) store_part(y + r * b.ldy + col[0], acc[r][0], n);
}

template <typename T, int R, int NB>
inline void dw_cols_any(const DwBlock<T>& b, int64_t r0, int64_t v0, int64_t nv) {
  constexpr int VL = VB / (int)sizeof(T);
  int64_t cols[NB];
  for (; v0 + NB <= nv; v0 += NB) {
#pragma GCC unroll 16
    for (int v = 0; v < NB; ++v) cols[v] = (v0 + v) * VL;
    dw_tile_any<T, R, NB, VB>(b, r0, cols, VL);
  }
  if constexpr (NB > 1) {
    if (v0 < nv) dw_cols_any<T, R, NB / 2>(b, r0, v0, nv);
  }
}

template <typename T, int R, int NB>
inline void dw_row_any(const DwBlock<T>& b, int64_t r0) {
  constexpr int VL = VB / (int)sizeof(T);
  const int64_t ow = b.ow, nv = ow / VL, rem = ow % VL;
  dw_cols_any<T, R, NB>(b, r0, 0, nv);
  if (rem == 0) return;
  int64_t col = ow - VL;
  if (nv == 0) {
    col = 0;
  } else if constexpr (VB >= 32 && VB / 2 >= 2 * (int)sizeof(T)) {
    if (rem <= VL / 2) {
      col = ow - VL / 2;
      dw_tile_any<T, R, 1, VB / 2>(b, r0, &col, VL / 2);
      return;
    }
  }
  dw_tile_any<T, R, 1, VB>(b, r0, &col, nv == 0 ? ow : VL);
}

template <typename T, int R, int NB>
void dw_rows_any(const DwBlock<T>& b) {
  const int64_t n = b.n_rows;
  if constexpr (R > 1) {
    if (n < R) return dw_rows_any<T, R / 2, NB>(b);
  }
  for (int64_t r0 = 0; r0 < n; r0 += R) dw_row_any<T, R, NB>(b, min64(r0, n - R));  // overlap: same values
}

template <typename T>
void dw_block_any(const DwBlock<T>& b) {
  constexpr int VL = VB / (int)sizeof(T);
  // Wide rows: one row of many vectors; narrow rows: several rows, for independent sums.
  if (b.ow >= 4 * VL)
    dw_rows_any<T, 1, (kDwRegs >= 32 ? 8 : 4)>(b);
  else
    dw_rows_any<T, 4, 2>(b);
}

// The unit-stride kernel for (kh, kw), or null: those sizes have all weights in registers.
template <typename T>
void (*dw_unit_kernel(int64_t kh, int64_t kw))(const DwBlock<T>&) {
  if (kh == 1) {
    switch (kw) {
      case 1: return &dw_block_unit<T, 1, 1>;
      case 2: return &dw_block_unit<T, 1, 2>;
      case 3: return &dw_block_unit<T, 1, 3>;
      case 4: return &dw_block_unit<T, 1, 4>;
      case 5: return &dw_block_unit<T, 1, 5>;
      case 7: return &dw_block_unit<T, 1, 7>;
      case 9: return &dw_block_unit<T, 1, 9>;
      default: return nullptr;
    }
  }
  if (kh == kw) {
    switch (kw) {
      case 3: return &dw_block_unit<T, 3, 3>;
      case 5: return &dw_block_unit<T, 5, 5>;
      case 7: return &dw_block_unit<T, 7, 7>;
      default: return nullptr;
    }
  }
  return nullptr;
}

template <typename T>
void dw_block(const DwBlock<T>& b) {
  bool unit = b.kd == 1 && b.sh == 1 && b.dh == 1;
  for (int64_t j = 0; unit && j < b.kw; ++j) unit = b.col_off[j] == j;
  if (unit) {
    if (auto k = dw_unit_kernel<T>(b.kh, b.kw)) return k(b);
  }
  dw_block_any<T>(b);
}

// In place: unit strides and dilations, a unit kernel, and masked loads (AVX-512) for the
// columns in the padding. Kept to paddings below a vector and rows of at least two vectors,
// where only the first and last vectors of a row need masks.
template <typename T>
bool dw_reads_in_place(const ConvShape& s) {
  constexpr int64_t VL = VB / (int64_t)sizeof(T);
  return kDwMasked && s.k[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.d[1] == 1 && s.d[2] == 1 &&
         dw_unit_kernel<T>(s.k[1], s.k[2]) != nullptr && s.p[2] < VL && s.in[2] >= 2 * VL;
}

template <typename T>
void dw_copy_rows(const T* src, int64_t ld_src, T* dst, int64_t ld_dst, int64_t n, int64_t len, int64_t sw) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  if (sw == 2) {  // the compiler vectorises this de-interleave
    for (int64_t i = 0; i < n; ++i) {
      const T* __restrict s = src + i * ld_src;
      T* __restrict d = dst + i * ld_dst;
      for (int64_t j = 0; j < len; ++j) d[j] = s[2 * j];
    }
    return;
  }
  if (sw != 1) {
    for (int64_t i = 0; i < n; ++i) {
      const T* __restrict s = src + i * ld_src;
      T* __restrict d = dst + i * ld_dst;
      for (int64_t j = 0; j < len; ++j) d[j] = s[j * sw];
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const T* s = src + i * ld_src;
    T* d = dst + i * ld_dst;
    if (len < VL) {
      for (int64_t j = 0; j < len; ++j) d[j] = s[j];
      continue;
    }
    int64_t j = 0;
    for (; j + 4 * VL <= len; j += 4 * VL) {
      VU a = *(const VU*)(s + j), b = *(const VU*)(s + j + VL), c = *(const VU*)(s + j + 2 * VL),
         e = *(const VU*)(s + j + 3 * VL);
      *(VU*)(d + j) = a;
      *(VU*)(d + j + VL) = b;
      *(VU*)(d + j + 2 * VL) = c;
      *(VU*)(d + j + 3 * VL) = e;
    }
    for (; j + VL <= len; j += VL) *(VU*)(d + j) = *(const VU*)(s + j);
    if (j == len) continue;
    if constexpr (VB >= 32) {
      typedef T VH __attribute__((vector_size(VB / 2), aligned(sizeof(T)), may_alias));
      if (j + VL / 2 >= len) {  // half a vector suffices
        *(VH*)(d + len - VL / 2) = *(const VH*)(s + len - VL / 2);
        continue;
      }
    }
    *(VU*)(d + len - VL) = *(const VU*)(s + len - VL);  // overlaps: same values
  }
}

template <typename T>
constexpr DwKernels<T> make_dw_kernels() {
  return DwKernels<T>{&dw_row<T>, &dw_block<T>, &dw_reads_in_place<T>, &dw_copy_rows<T>};
}

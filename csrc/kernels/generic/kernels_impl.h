// Generic kernels, written once and compiled per ISA folder with that folder's flags.
// The including file defines, before including this header:
//   FMACONV_KNS          namespace for this copy (keeps the copies apart: no ODR clashes)
//   FMACONV_VEC_BYTES    vector width the code is written for (16, 32 or 64)
//   FMACONV_MR_F32 / FMACONV_NR_F32 / FMACONV_MR_F64 / FMACONV_NR_F64   GEMM register tile
//   FMACONV_ISA_ENUM     the Isa value; FMACONV_TABLE_FN  the exported table function name
// Everything here has internal linkage, and no std:: templates are instantiated, so code
// built with wider-ISA flags cannot leak into a narrower set through the linker.
#include <cstdint>
#include <cstring>

#include "runtime/dispatch.h"
#include "runtime/intmath.h"

#if !defined(__GNUC__)
#error "fmaconv kernels use GCC/Clang vector extensions"
#endif

namespace fmaconv {
namespace FMACONV_KNS {
namespace {

constexpr int VB = FMACONV_VEC_BYTES;



// Output columns [lo, hi) whose tap ow*s + off lands inside [0, W).
inline void valid_cols(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t* lo, int64_t* hi) {
  int64_t l = max64(0, ceil_div(-off, s));
  int64_t h = min64(OW, ceil_div(W - off, s));
  *lo = min64(l, OW);
  *hi = max64(h, *lo);
}

// Kernel taps [j0, j1) that land inside [0, W) for at least one output column: tap j reads
// column o*s + j*d - p. Keeps huge padded kernels from looping over taps that read nothing.
inline void live_taps(int64_t K, int64_t d, int64_t p, int64_t s, int64_t W, int64_t OW, int64_t* j0, int64_t* j1) {
  *j0 = max64(0, ceil_div(p - (OW - 1) * s, d));
  *j1 = min64(K, ceil_div(W + p, d));
}

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
      V av = V{} + a[k * MR + i];
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

// First tap index >= 0 of a window starting at `start` (PyTorch's initial argmax position).
inline int64_t first_tap(int64_t start, int64_t d) { return start < 0 ? start + ceil_div(-start, d) * d : start; }

template <typename T>
void max_row(const PoolShape& s, const T* const* rows, const int64_t* row_base, int64_t n_rows,
             int64_t first_base, T* __restrict y, int64_t* __restrict idx) {
  const int64_t OW = s.out[2], KW = s.k[2], sw = s.s[2], pw = s.p[2], dw = s.d[2], W = s.in[2];
  const T ninf = -__builtin_inf();
  for (int64_t ow = 0; ow < OW; ++ow) y[ow] = ninf;
  if (idx)
    for (int64_t ow = 0; ow < OW; ++ow) idx[ow] = first_base + first_tap(ow * sw - pw, dw);
  int64_t j0, j1;
  live_taps(KW, dw, pw, sw, W, OW, &j0, &j1);
  if (j1 - j0 > W) {  // huge kernel, large stride: visit only each column's own taps (same order)
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t st = ow * sw - pw;
        for (int64_t jw = max64(j0, ceil_div(-st, dw)), je = min64(j1, ceil_div(W - st, dw)); jw < je; ++jw) {
          const T v = rows[r][st + jw * dw];
          if ((v > y[ow]) | (v != v)) {
            y[ow] = v;
            if (idx) idx[ow] = row_base[r] + st + jw * dw;
          }
        }
      }
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const T* __restrict x = rows[r];
    for (int64_t jw = j0; jw < j1; ++jw) {
      const int64_t off = jw * dw - pw;
      int64_t lo, hi;
      valid_cols(off, sw, W, OW, &lo, &hi);
      if (idx) {
        const int64_t base = row_base[r] + off;
        for (int64_t ow = lo; ow < hi; ++ow) {
          T v = x[ow * sw + off];
          bool take = (v > y[ow]) | (v != v);
          y[ow] = take ? v : y[ow];
          idx[ow] = take ? base + ow * sw : idx[ow];
        }
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) {
          T v = x[ow * sw + off];
          T b = y[ow];
          y[ow] = ((v > b) | (v != v)) ? v : b;
        }
      }
    }
  }
}

template <typename T>
void sum_row(const PoolShape& s, const T* const* rows, int64_t n_rows, T* __restrict y) {
  const int64_t OW = s.out[2], KW = s.k[2], sw = s.s[2], pw = s.p[2], W = s.in[2];
  for (int64_t ow = 0; ow < OW; ++ow) y[ow] = T(0);
  int64_t j0, j1;
  live_taps(KW, 1, pw, sw, W, OW, &j0, &j1);
  if (j1 - j0 > W) {  // huge kernel, large stride: visit only each column's own taps (same order)
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t st = ow * sw - pw;
        for (int64_t jw = max64(j0, -st), je = min64(j1, W - st); jw < je; ++jw) y[ow] += rows[r][st + jw];
      }
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const T* __restrict x = rows[r];
    for (int64_t jw = j0; jw < j1; ++jw) {
      const int64_t off = jw - pw;
      int64_t lo, hi;
      valid_cols(off, sw, W, OW, &lo, &hi);
      for (int64_t ow = lo; ow < hi; ++ow) y[ow] += x[ow * sw + off];
    }
  }
}

// Sum of a contiguous run, with 4 vector accumulators so it is not bound by add latency.
template <typename T>
T reduce_sum(const T* __restrict x, int64_t n) {
  constexpr int VL = VB / (int)sizeof(T);
  typedef T V __attribute__((vector_size(VB)));
  typedef T VU __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  V a0 = V{}, a1 = V{}, a2 = V{}, a3 = V{};
  int64_t i = 0;
  for (; i + 4 * VL <= n; i += 4 * VL) {
    a0 += *(const VU*)(x + i);
    a1 += *(const VU*)(x + i + VL);
    a2 += *(const VU*)(x + i + 2 * VL);
    a3 += *(const VU*)(x + i + 3 * VL);
  }
  for (; i + VL <= n; i += VL) a0 += *(const VU*)(x + i);
  V v = (a0 + a1) + (a2 + a3);
  T sum = 0;
  for (int j = 0; j < VL; ++j) sum += v[j];
  for (; i < n; ++i) sum += x[i];
  return sum;
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

template <typename T, int MR, int NR>
constexpr KernelSet<T> make_set() {
  return KernelSet<T>{MR, NR, &gemm_ukernel<T, MR, NR>, &dw_row<T>, &max_row<T>, &sum_row<T>, &reduce_sum<T>, &fma_probe<T>};
}

const KernelTable table = {FMACONV_ISA_ENUM, make_set<float, FMACONV_MR_F32, FMACONV_NR_F32>(),
                           make_set<double, FMACONV_MR_F64, FMACONV_NR_F64>()};

}  // namespace
}  // namespace FMACONV_KNS

const KernelTable* FMACONV_TABLE_FN() { return &FMACONV_KNS::table; }

}  // namespace fmaconv

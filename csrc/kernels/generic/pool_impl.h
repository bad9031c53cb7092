// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

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
constexpr PoolKernels<T> make_pool_kernels() {
  return PoolKernels<T>{&max_row<T>, &sum_row<T>, &reduce_sum<T>};
}

// Part of the generic kernels: included by kernels_impl.h inside
// namespace fmaconv::FMACONV_KNS::{anonymous}, after common.h. Do not include elsewhere.
#pragma once

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

template <typename T>
constexpr DwKernels<T> make_dw_kernels() {
  return DwKernels<T>{&dw_row<T>};
}

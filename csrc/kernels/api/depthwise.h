// Depthwise (Cin/groups == 1) convolution kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

#include "ops/shapes.h"

namespace fmaconv {

// A block of output rows of one output channel, read from padded input rows prepared by the
// operator (ops/conv_depthwise.cpp). Every input row the block touches exists in `rows` (rows in
// the padding point at a zero row), and each row buffer is split into sw phases (phase p holds
// padded columns p, p+sw, p+2sw, ...), so every tap reads a contiguous run of the buffer:
//   y[r * ldy + o] = bias + sum_{jd,jh,jw} w[(jd*kh + jh)*kw + jw]
//                                         * rows[jd*rows_per_d + r*sh + jh*dh][col_off[jw] + o]
// for r in [0, n_rows), o in [0, ow). A row buffer is readable for ow + vector_slack elements
// past col_off[jw] (kVecSlack below), so kernels may compute whole vectors past ow.
template <typename T>
struct DwBlock {
  const T* const* rows;
  int64_t rows_per_d;
  int64_t kd, kh, kw;
  int64_t sh, dh;
  const int64_t* col_off;  // kw offsets; col_off[jw] == jw when sw == dw == 1
  const T* w;
  T bias;
  int64_t n_rows, ow;
  T* y;
  int64_t ldy;
  // Padded columns [vlo, vhi) of a row hold input; a kernel that reads rows in place (see
  // reads_in_place) must read the columns outside as zeros. Row buffers: vlo = -inf, vhi = inf.
  int64_t vlo, vhi;
};

// Elements every padded row buffer holds past the last column a block reads (>= one vector).
constexpr int64_t kDwVecSlack = 16;

template <typename T>
struct DwKernels {
  // One output row of a Cin/groups == 1 convolution: y[0:ow] = bias + sum of taps over the
  // valid input rows `rows[0:n_rows]` (each with its kernel-row weights `w_rows`). Skips the
  // padding exactly (no 0 * w terms): used when a weight is not finite.
  void (*row)(const ConvShape& s, const T* const* rows, const T* const* w_rows, int64_t n_rows, T bias, T* y);
  // A block of output rows from padded row buffers (DwBlock above).
  void (*block)(const DwBlock<T>& b);
  // True if block() can read the rows of this shape in place (rows pointing into the input at
  // padded column 0, with vlo/vhi set): no row buffer needed.
  bool (*reads_in_place)(const ConvShape& s);
  // Copies n rows of len elements, every sw-th from the source:
  // dst[i*ld_dst + j] = src[i*ld_src + j*sw] (fills row buffers, one stride phase at a time).
  void (*copy_rows)(const T* src, int64_t ld_src, T* dst, int64_t ld_dst, int64_t n, int64_t len, int64_t sw);
};

}  // namespace fmaconv

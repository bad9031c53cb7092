// Pooling kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

#include "ops/shapes.h"

namespace fmaconv {

template <typename T>
struct PoolKernels {
  // One output row of max pooling over the valid input rows (in scan order); idx may be null.
  // row_base[r] is the flat in-plane offset of row r, for the indices; first_base that of the
  // window's first tap row (PyTorch's initial argmax, used when no tap beats -inf).
  void (*max_row)(const PoolShape& s, const T* const* rows, const int64_t* row_base, int64_t n_rows,
                  int64_t first_base, T* y, int64_t* idx);
  // One output row of sum pooling (the caller divides).
  void (*sum_row)(const PoolShape& s, const T* const* rows, int64_t n_rows, T* y);
  // Sum of n contiguous elements (global average pooling), in a vector-friendly order.
  T (*reduce_sum)(const T* x, int64_t n);
};

}  // namespace fmaconv

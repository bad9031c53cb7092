// Depthwise (Cin/groups == 1) convolution kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

#include "ops/shapes.h"

namespace fmaconv {

template <typename T>
struct DwKernels {
  // One output row of a Cin/groups == 1 convolution: y[0:ow] = bias + sum of taps over the
  // valid input rows `rows[0:n_rows]` (each with its kernel-row weights `w_rows`).
  void (*row)(const ConvShape& s, const T* const* rows, const T* const* w_rows, int64_t n_rows, T bias, T* y);
};

}  // namespace fmaconv

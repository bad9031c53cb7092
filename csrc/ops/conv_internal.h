// Algorithms behind conv_forward (ops.h), one file each. Arguments as for conv_forward.
#pragma once
#include "ops/shapes.h"

namespace fmaconv {

// Cin/groups == 1 (depthwise, channel multipliers).
template <typename T>
void conv_depthwise(const ConvShape& s, const T* x, const T* w, const T* bias, T* y);

}  // namespace fmaconv

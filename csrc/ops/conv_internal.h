// Algorithms behind conv_forward (ops.h), one file each. Arguments as for conv_forward.
#pragma once
#include <cstdint>

#include "ops/packed_weights.h"
#include "ops/shapes.h"

namespace fmaconv {

// Cin/groups == 1 (depthwise, channel multipliers).
// packed is never null here: conv_forward supplies a per-call cache when the caller has none.
template <typename T>
void conv_depthwise(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>* packed);

// Any groups, stride, dilation, zero padding: tiles over a padded, phase-split input copy.
template <typename T>
void conv_direct(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>* packed);

// Share of the direct algorithm's computed lanes that are outputs (1: no waste).
template <typename T>
double direct_efficiency(const ConvShape& s);

// Layout keys of PackedWeights (pack_key's algorithm field), one per algorithm file.
enum PackAlgorithm : uint32_t { kPackGemm = 1, kPackDepthwise = 2, kPackDirect = 3 };

}  // namespace fmaconv

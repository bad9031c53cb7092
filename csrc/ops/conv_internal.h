// Algorithms behind conv_forward (ops.h), one file each. Arguments as for conv_forward.
#pragma once
#include <cstdint>

#include "ops/packed_weights.h"
#include "runtime/thread_pool.h"
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

// Layout keys of PackedWeights (pack_key's algorithm field).
enum PackAlgorithm : uint32_t { kPackBlocked = 1, kPackDepthwise = 2 };

// The weights as [group][block of MR output channels][k][MR], zero past each group's channels
// (k runs over C/groups x taps): the layout of the GEMM and direct tile kernels, cached by MR.
template <typename T>
const T* blocked_weights(const ConvShape& s, const T* w, int64_t MR, PackedWeights<T>* packed) {
  const int64_t G = s.groups, Kg = s.Kg(), Kdim = s.Cg() * s.taps(), mblocks = (Kg + MR - 1) / MR;
  return packed->get(pack_key(kPackBlocked, (uint64_t)G, (uint32_t)MR), (size_t)(G * mblocks * Kdim * MR), [&](T* a) {
    constexpr int64_t KB = 64;  // k rows per pass: the destination block stays in L1 while all MR rows land
    // In parallel: megabytes of weights take a while (unpacked time would cap the threads' speed-up).
    parallel_range(G * mblocks, (double)(Kdim * MR), [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t g = blk / mblocks, mb = blk % mblocks;
        T* dst = a + blk * Kdim * MR;
        for (int64_t k0 = 0; k0 < Kdim; k0 += KB) {
          const int64_t k1 = k0 + KB < Kdim ? k0 + KB : Kdim;
          for (int64_t i = 0; i < MR; ++i) {
            const int64_t co = mb * MR + i;
            const T* src = w + (g * Kg + co) * Kdim;
            for (int64_t k = k0; k < k1; ++k) dst[k * MR + i] = co < Kg ? src[k] : T(0);
          }
        }
      }
    });
  });
}

}  // namespace fmaconv

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

#if defined(__clang__)
#define FMACONV_SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define FMACONV_SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, I4{i, j, k, l})
#endif

// dst[k * ld + j] = rows[j * stride + k] for j < 4, k in [k0, k1): 4x4 transposes with
// 16-byte vectors (SSE2 / NEON at baseline flags), a scalar tail.
inline void transpose4_rows(const float* rows, int64_t stride, int64_t k0, int64_t k1, float* dst, int64_t ld) {
  typedef float V4 __attribute__((vector_size(16)));
  typedef float V4U __attribute__((vector_size(16), aligned(4), may_alias));
  typedef int I4 __attribute__((vector_size(16)));
  const float* r0 = rows;
  const float* r1 = rows + stride;
  const float* r2 = rows + 2 * stride;
  const float* r3 = rows + 3 * stride;
  int64_t k = k0;
  for (; k + 4 <= k1; k += 4) {
    const V4 a = *(const V4U*)(r0 + k), b = *(const V4U*)(r1 + k), c = *(const V4U*)(r2 + k), d = *(const V4U*)(r3 + k);
    const V4 ab_lo = FMACONV_SHUF4(a, b, 0, 4, 1, 5), cd_lo = FMACONV_SHUF4(c, d, 0, 4, 1, 5);
    const V4 ab_hi = FMACONV_SHUF4(a, b, 2, 6, 3, 7), cd_hi = FMACONV_SHUF4(c, d, 2, 6, 3, 7);
    *(V4U*)(dst + (k + 0) * ld) = FMACONV_SHUF4(ab_lo, cd_lo, 0, 1, 4, 5);
    *(V4U*)(dst + (k + 1) * ld) = FMACONV_SHUF4(ab_lo, cd_lo, 2, 3, 6, 7);
    *(V4U*)(dst + (k + 2) * ld) = FMACONV_SHUF4(ab_hi, cd_hi, 0, 1, 4, 5);
    *(V4U*)(dst + (k + 3) * ld) = FMACONV_SHUF4(ab_hi, cd_hi, 2, 3, 6, 7);
  }
  for (; k < k1; ++k) {
    dst[k * ld + 0] = r0[k];
    dst[k * ld + 1] = r1[k];
    dst[k * ld + 2] = r2[k];
    dst[k * ld + 3] = r3[k];
  }
}

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
          int64_t i = 0;
          if constexpr (sizeof(T) == 4)  // four channel rows at a time by 4x4 transposes
            for (; i + 4 <= MR && mb * MR + i + 4 <= Kg && MR % 4 == 0; i += 4)
              transpose4_rows(w + (g * Kg + mb * MR + i) * Kdim, Kdim, k0, k1, dst + i, MR);
          for (; i < MR; ++i) {
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

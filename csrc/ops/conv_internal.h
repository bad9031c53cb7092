// Algorithms behind conv_forward (ops.h), one file each. Arguments as for conv_forward.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "ops/packed_weights.h"
#include "runtime/dispatch.h"
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
enum PackAlgorithm : uint32_t { kPackBlocked = 1, kPackBlockedRows = 2 };

// Packed weights: per block (group x MR output channels), [k][MR] with zero rows past the
// group's channels, k running over C/groups x taps either as the weights lie, (ci, jd, jh, jw),
// or kernel-row major, (jd, jh, ci, jw), where the taps of one kernel row (and depth slice) are
// contiguous so that a tile whose input rows lie in the padding can skip them. After all blocks,
// one flag per block: 1 when its weights are all finite (only then may padding taps be skipped:
// an infinite weight times a zero of padding is NaN).
enum class KOrder { ci_major, row_major };

// Packed row of weight column k (ci, jd, jh, jw order) under row_major.
inline std::vector<int64_t> row_major_k(const ConvShape& s) {
  const int64_t Cg = s.Cg(), kd = s.k[0], kh = s.k[1], kw = s.k[2];
  std::vector<int64_t> m((size_t)(Cg * kd * kh * kw));
  for (int64_t ci = 0; ci < Cg; ++ci)
    for (int64_t jd = 0; jd < kd; ++jd)
      for (int64_t jh = 0; jh < kh; ++jh)
        for (int64_t jw = 0; jw < kw; ++jw)
          m[(size_t)(((ci * kd + jd) * kh + jh) * kw + jw)] = ((jd * kh + jh) * Cg + ci) * kw + jw;
  return m;
}

// Elements of n packed blocks, flags included.
inline int64_t packed_len(const ConvShape& s, int64_t MR, int64_t n) { return n * (s.Cg() * s.taps() * MR + 1); }

// Blocks [b0, b1) into a (block b0 first), their flags into flags[0, b1 - b0).
template <typename T>
void pack_weight_blocks(const ConvShape& s, const T* w, int64_t MR, T* a, T* flags, int64_t b0, int64_t b1,
                        KOrder order) {
  const int64_t Kg = s.Kg(), Kdim = s.Cg() * s.taps(), mblocks = (Kg + MR - 1) / MR;
  const auto pack = kernel_set<T>(kernels()).gemm.pack_transposed;
  // The map kept per thread for the last kernel shape: tasks that pack one block each rebuilt
  // it every time (0.5 us for 256 channels x 3x3, 7% of packing one 32-channel block).
  thread_local std::vector<int64_t> kmap;
  thread_local int64_t kmap_key[4] = {-1, -1, -1, -1};
  const int64_t key[4] = {s.Cg(), s.k[0], s.k[1], s.k[2]};
  if (order == KOrder::row_major && !std::equal(key, key + 4, kmap_key)) {
    kmap = row_major_k(s);
    std::copy(key, key + 4, kmap_key);
  }
  for (int64_t blk = b0; blk < b1; ++blk) {
    const int64_t g = blk / mblocks, mb = blk % mblocks;
    // channel rows [mb * MR, ...) of this group, zero rows past Kg
    const int64_t live = Kg - mb * MR < MR ? Kg - mb * MR : MR;
    const bool finite = pack(w + (g * Kg + mb * MR) * Kdim, Kdim, live, Kdim, a + (blk - b0) * Kdim * MR, MR,
                             order == KOrder::row_major ? kmap.data() : nullptr);
    flags[blk - b0] = finite ? T(1) : T(0);
  }
}

// A number no other convolution call gets (keys the per-thread packs below).
inline uint64_t new_call_id() {
  static std::atomic<uint64_t> calls{0};
  return ++calls;
}

// The calling thread's own copy of packed blocks [b0, b1) for call `call`, packed on its first
// use in that call. With several threads, weights packed for one call are better packed by
// every thread for itself than once by all of them: the cores of a VM can sit on different
// dies, where each line one core writes and the other reads costs a cross-die transfer.
template <typename T>
const T* thread_packed_blocks(const ConvShape& s, const T* w, int64_t MR, int64_t b0, int64_t b1, KOrder order,
                              uint64_t call) {
  thread_local AlignedBuffer<T> buf;
  thread_local uint64_t for_call = 0;
  thread_local int64_t for_b0 = -1, for_b1 = -1;
  if (for_call != call || for_b0 != b0 || for_b1 != b1) {
    buf.resize((size_t)packed_len(s, MR, b1 - b0));
    pack_weight_blocks(s, w, MR, buf.data(), buf.data() + (b1 - b0) * s.Cg() * s.taps() * MR, b0, b1, order);
    for_call = call;
    for_b0 = b0;
    for_b1 = b1;
  }
  return buf.data();
}

// Every block, cached by MR and order (for a packed-weight object, across calls).
template <typename T>
const T* blocked_weights(const ConvShape& s, const T* w, int64_t MR, PackedWeights<T>* packed,
                         KOrder order = KOrder::ci_major) {
  const int64_t G = s.groups, Kg = s.Kg(), Kdim = s.Cg() * s.taps(), mblocks = (Kg + MR - 1) / MR;
  const int64_t nblk = G * mblocks;
  const uint32_t alg = order == KOrder::row_major ? kPackBlockedRows : kPackBlocked;
  return packed->get(pack_key(alg, (uint64_t)G, (uint32_t)MR), (size_t)packed_len(s, MR, nblk), [&](T* a) {
    // In parallel: megabytes of weights take a while (unpacked time would cap the threads' speed-up).
    parallel_range(nblk, (double)(Kdim * MR), [&](int64_t b0, int64_t b1) {
      pack_weight_blocks(s, w, MR, a + b0 * Kdim * MR, a + nblk * Kdim * MR + b0, b0, b1, order);
    });
  });
}

}  // namespace fmaconv

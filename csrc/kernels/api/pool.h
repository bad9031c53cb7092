// Pooling kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "ops/shapes.h"

namespace fmaconv {

// The window kernels take a range [begin, end) of flattened output rows of all planes
// (row = (plane * OD + od) * OH + oh) and work row-first: the window's live input rows are
// reduced into a padded row buffer with full-width vector ops, then the kw taps are applied
// along that buffer (de-interleaved into stride phases), so padding and ceil_mode overhang are
// just buffer cells holding -inf (max) or 0 (sum). `scratch` holds pool_scratch_bytes(s, sizeof(T))
// bytes, 64-byte aligned, private to the call.
template <typename T>
struct PoolKernels {
  // Max pooling; idx (flat in-plane offsets, PyTorch's rule: first maximum, last NaN) may be null.
  void (*max_pool)(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end, void* scratch);
  // Average pooling (s.d must be 1). divisor_override 0: none.
  void (*avg_pool)(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override,
                   int64_t begin, int64_t end, void* scratch);
  // Adaptive pooling (s.out is the output size; s.k, s.s, s.p, s.d are unused).
  void (*adaptive_max_pool)(const PoolShape& s, const T* x, T* y, int64_t* idx, int64_t begin, int64_t end,
                            void* scratch);
  void (*adaptive_avg_pool)(const PoolShape& s, const T* x, T* y, int64_t begin, int64_t end, void* scratch);
  // Global average pooling: y[p] = sum(x[p*n : (p+1)*n]) / n for p in [0, planes).
  void (*mean_planes)(const T* x, int64_t n, int64_t planes, T* y);
  // Global max pooling: y[p] = max of x[p*n : (p+1)*n]; idx (may be null): its offset in the plane.
  void (*max_planes)(const T* x, int64_t n, int64_t planes, T* y, int64_t* idx);
};

// Length (elements) of one padded row buffer: holds every column a window of the row reads,
// rounded up so whole vectors (up to 64 bytes, vl elements) may be read past the last output.
inline int64_t pool_buf_len(const PoolShape& s, int64_t vl) {
  const int64_t OW = s.out[2], W = s.in[2];
  const int64_t owp = (OW + vl - 1) / vl * vl;
  int64_t L = s.p[2] + W;
  const int64_t R = (owp + 4 * vl + 1) * s.s[2] + (s.k[2] - 1) * s.d[2] + 1;
  if (R > L) L = R;
  L += 4 * vl;
  return (L + 2 * vl - 1) / (2 * vl) * (2 * vl);
}

// Kernels much wider than the input (huge padded windows): the row buffer would be mostly
// padding, so the kernels scan each output's live taps instead.
inline bool pool_is_huge(const PoolShape& s) {
  return s.k[2] * s.d[2] > 4 * s.in[2] + 256 || s.p[2] > 2 * s.in[2] + 256;
}

// Bound on the live input rows of one window.
inline int64_t pool_nrows(const PoolShape& s) {
  return (s.k[0] < s.in[0] ? s.k[0] : s.in[0]) * (s.k[1] < s.in[1] ? s.k[1] : s.in[1]) + 1;
}

// Entries of the per-window-row table (0: too large, rows are computed as they come).
inline int64_t pool_win_table_len(const PoolShape& s) {
  const int64_t n = s.out[0] * s.out[1] * (pool_nrows(s) + 2);
  return n <= (int64_t)1 << 18 ? n : 0;
}

// Windows that tile the input exactly (kernel = stride, no padding, no dilation, every input
// element in exactly one window): pooled in two flat passes (see pool_impl.h).
inline bool pool_is_tiled(const PoolShape& s) {
  for (int a = 0; a < 3; ++a)
    if (s.p[a] != 0 || s.d[a] != 1 || s.k[a] != s.s[a] || s.in[a] != s.out[a] * s.s[a]) return false;
  return true;
}

// Output rows per tiled segment (its column-reduced input rows stay in L1).
inline int64_t pool_tile_rows(const PoolShape& s) {
  const int64_t per = s.k[0] * s.k[1] * s.out[2];
  return per >= 2048 ? 1 : 2048 / per;
}

// 3-D windows (kd > 1, values only): the depth taps of each (plane, od) are reduced first into
// a 2-D plane of partial results, which the 2-D kernels then pool (depth, then rows, then
// columns). Output rows go in blocks whose partial rows stay in cache.
inline bool pool_depth_first(const PoolShape& s) {
  return s.k[0] > 1 && !pool_is_tiled(s) && !pool_is_huge(s) && s.in[1] * s.in[2] <= ((int64_t)1 << 22);
}

// The 2-D shape of one (plane, od) of a depth-first call.
inline PoolShape pool_depth_slice(const PoolShape& s) {
  PoolShape t = s;
  t.planes = 1;
  t.in[0] = t.out[0] = t.k[0] = t.s[0] = t.d[0] = 1;
  t.p[0] = 0;
  return t;
}

// 2-D, stride 1 along rows and columns, up to 8 column taps: row-reduced blocks, then taps as
// unaligned loads with edge lanes masked (flat across row ends when OW == W; flat_s1_k in
// pool_impl.h).
inline bool pool_is_flat(const PoolShape& s) {
  return s.in[0] == 1 && s.k[0] == 1 && s.out[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.k[2] <= 8 &&
         s.p[2] <= 64 && !pool_is_huge(s);
}

// Output rows per flat block (its row-reduced values stay in L1).
inline int64_t pool_flat_rows(const PoolShape& s) { return s.in[2] >= 4096 ? 1 : 4096 / s.in[2]; }

inline size_t pool_scratch_bytes_2d(const PoolShape& s, size_t elem);

// Scratch bytes one call of a window kernel needs (elem = sizeof(T)).
inline size_t pool_scratch_bytes(const PoolShape& s, size_t elem) {
  const size_t base = pool_scratch_bytes_2d(s, elem);
  if (!pool_depth_first(s)) return base;
  const size_t sl = pool_scratch_bytes_2d(pool_depth_slice(s), elem) + (size_t)(s.in[1] * s.in[2]) * elem + 256;
  return sl > base ? sl : base;
}

inline size_t pool_scratch_bytes_2d(const PoolShape& s, size_t elem) {
  const int64_t vl = 64 / (int64_t)elem;
  // flat kernels: row-reduced block with a margin either side, reciprocals and column counts
  const size_t flat = pool_is_flat(s) ? (size_t)((pool_flat_rows(s) * s.in[2] + 2 * (s.p[2] + 2 * vl) + 2 * s.out[2] + vl) * (int64_t)elem + 6 * 64)
                                      : 0;
  if (pool_is_huge(s)) return (size_t)(64 * 4 + pool_nrows(s) * 16);
  const int64_t L = pool_buf_len(s, vl);
  const int64_t owp = (s.out[2] + vl - 1) / vl * vl;
  // rows (pointer + base), tap pointers (values + keys), 2 buffers of values and keys,
  // per-column divisors, tails.
  const int64_t rows = pool_nrows(s), taps = s.k[2] + 1, chunks = L / 2 + 1;  // vector chunks of >= 2 lanes
  // rows (pointer + base), per tap (2 pointers, shift, 64-byte mask), per chunk (offset, kind,
  // 64-byte permute), 4 buffers of values or keys, per-column factors, tails; 64-byte padding each.
  // (tiled windows: values and keys of the column-reduced rows)
  const size_t tiled =
      pool_is_tiled(s) ? (size_t)(2 * (s.k[0] * pool_tile_rows(s) * s.k[1] * s.out[2] + 4 * vl) * (int64_t)elem + 192) : 0;
  // (s2k3_idx_rows: the carried row's values and keys, 2 * owp + 4 vl elements of up to 8 bytes)
  return flat + tiled + (size_t)(64 * 18 + (2 * owp + 4 * vl) * 8 + pool_win_table_len(s) * 8 + (rows + 2) * 8 + rows * 48 + 4 * 64 + taps * (25 + 64) + chunks * (9 + 64) + 4 * L * 8 + (2 * L + owp) * 8 + 4 * 64);
}

}  // namespace fmaconv

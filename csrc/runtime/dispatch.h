// The dispatch table: one KernelSet per ISA, chosen once per process (runtime/cpu.h).
#pragma once
#include <cstdint>

#include "ops/shapes.h"
#include "runtime/cpu.h"

namespace fmaconv {

template <typename T>
struct KernelSet {
  // Register tile of the GEMM microkernel: MR output channels x NR output positions.
  int mr, nr;
  // C[0:mr_valid, 0:nr_valid] (+)= A[kc x MR packed] * B[kc rows, stride ldb, NR wide].
  // A and B are zero-padded to the full tile. first: C = bias + AB (bias may be null), else C += AB.
  void (*gemm)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc, int mr_valid,
               int nr_valid, const T* bias, bool first);
  // One output row of a Cin/groups == 1 convolution: y[0:ow] = bias + sum of taps over the
  // valid input rows `rows[0:n_rows]` (each with its kernel-row weights `w_rows`).
  void (*dw_row)(const ConvShape& s, const T* const* rows, const T* const* w_rows, int64_t n_rows,
                 T bias, T* y);
  // One output row of max pooling over the valid input rows (in scan order); idx may be null.
  // row_base[r] is the flat in-plane offset of row r, for the indices; first_base that of the
  // window's first tap row (PyTorch's initial argmax, used when no tap beats -inf).
  void (*max_row)(const PoolShape& s, const T* const* rows, const int64_t* row_base, int64_t n_rows,
                  int64_t first_base, T* y, int64_t* idx);
  // One output row of sum pooling (the caller divides).
  void (*sum_row)(const PoolShape& s, const T* const* rows, int64_t n_rows, T* y);
  // Sum of n contiguous elements (global average pooling), in a vector-friendly order.
  T (*reduce_sum)(const T* x, int64_t n);
  // FMA throughput probe: runs `iters` rounds of independent vector FMAs; returns the flop count.
  double (*fma_probe)(int64_t iters);
};

struct KernelTable {
  Isa isa;
  KernelSet<float> f32;
  KernelSet<double> f64;
};

const KernelTable& kernels();                   // the selected set
const KernelTable* kernels_for(Isa isa);        // null if not built in

template <typename T>
const KernelSet<T>& kernel_set(const KernelTable& t);
template <>
inline const KernelSet<float>& kernel_set<float>(const KernelTable& t) { return t.f32; }
template <>
inline const KernelSet<double>& kernel_set<double>(const KernelTable& t) { return t.f64; }

// Defined by each ISA folder.
const KernelTable* kernel_table_scalar();
const KernelTable* kernel_table_avx2();
const KernelTable* kernel_table_avx512();
const KernelTable* kernel_table_neon();

}  // namespace fmaconv

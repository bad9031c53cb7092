// The dispatch table: one KernelSet per ISA, chosen once per process (runtime/cpu.h).
#pragma once
#include <cstdint>

#include "kernels/api/depthwise.h"
#include "kernels/api/gemm.h"
#include "kernels/api/grad.h"
#include "kernels/api/pool.h"
#include "ops/shapes.h"
#include "runtime/cpu.h"

namespace fmaconv {

// Each family's entries are declared in kernels/api/<family>.h and built per ISA folder.
template <typename T>
struct KernelSet {
  GemmKernels<T> gemm;
  DwKernels<T> dw;
  PoolKernels<T> pool;
  GradKernels<T> grad;
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

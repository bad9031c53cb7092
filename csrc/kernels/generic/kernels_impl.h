// Generic kernels, written once and compiled per ISA folder with that folder's flags.
// The including file defines, before including this header:
//   FMACONV_KNS          namespace for this copy (keeps the copies apart: no ODR clashes)
//   FMACONV_VEC_BYTES    vector width the code is written for (16, 32 or 64)
//   FMACONV_VEC_REGS     vector registers of the ISA (16 or 32): sizes the conv tiles
//   FMACONV_MR_F32 / FMACONV_NR_F32 / FMACONV_MR_F64 / FMACONV_NR_F64   GEMM register tile
//   FMACONV_ISA_ENUM     the Isa value; FMACONV_TABLE_FN  the exported table function name
// Everything here has internal linkage, and no std:: templates are instantiated, so code
// built with wider-ISA flags cannot leak into a narrower set through the linker.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/dispatch.h"
#include "runtime/intmath.h"

#if !defined(__GNUC__)
#error "fmaconv kernels use GCC/Clang vector extensions"
#endif

namespace fmaconv {
namespace FMACONV_KNS {
namespace {

#include "kernels/generic/common.h"
#include "kernels/generic/gemm_impl.h"
#include "kernels/generic/dw_impl.h"
#include "kernels/generic/pool_impl.h"
#include "kernels/generic/grad_impl.h"

template <typename T, int MR, int NR>
constexpr KernelSet<T> make_set() {
  return KernelSet<T>{make_gemm_kernels<T, MR, NR>(), make_dw_kernels<T>(), make_pool_kernels<T>(), make_grad_kernels<T>()};
}

const KernelTable table = {FMACONV_ISA_ENUM, make_set<float, FMACONV_MR_F32, FMACONV_NR_F32>(),
                           make_set<double, FMACONV_MR_F64, FMACONV_NR_F64>()};

}  // namespace
}  // namespace FMACONV_KNS

const KernelTable* FMACONV_TABLE_FN() { return &FMACONV_KNS::table; }

}  // namespace fmaconv

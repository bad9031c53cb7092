#include "runtime/dispatch.h"

namespace fmaconv {

const KernelTable* kernels_for(Isa isa) {
  switch (isa) {
#if defined(FMACONV_HAVE_AVX2)
    case Isa::avx2: return kernel_table_avx2();
#endif
#if defined(FMACONV_HAVE_AVX512)
    case Isa::avx512: return kernel_table_avx512();
#endif
#if defined(FMACONV_HAVE_NEON)
    case Isa::neon: return kernel_table_neon();
#endif
    case Isa::scalar: return kernel_table_scalar();
    default: return nullptr;
  }
}

const KernelTable& kernels() {
  static const KernelTable* t = kernels_for(isa_selected());
  return *t;
}

}  // namespace fmaconv

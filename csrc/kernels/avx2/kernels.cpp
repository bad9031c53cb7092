// The avx2 kernel set: the generic kernels built with this folder's compiler flags.
// Hand-written avx2 microkernels replace entries of this table as they land.
#define FMACONV_KNS isa_avx2
#define FMACONV_VEC_BYTES 32
#define FMACONV_MR_F32 6
#define FMACONV_NR_F32 16
#define FMACONV_MR_F64 6
#define FMACONV_NR_F64 8
#define FMACONV_VEC_REGS 16
#define FMACONV_ISA_ENUM Isa::avx2
#define FMACONV_TABLE_FN kernel_table_avx2
#include "kernels/generic/kernels_impl.h"

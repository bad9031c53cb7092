// The avx512 kernel set: the generic kernels built with this folder's compiler flags.
// Hand-written avx512 microkernels replace entries of this table as they land.
#define FMACONV_KNS isa_avx512
#define FMACONV_VEC_BYTES 64
#define FMACONV_MR_F32 8
#define FMACONV_NR_F32 48
#define FMACONV_MR_F64 8
#define FMACONV_NR_F64 24
#define FMACONV_VEC_REGS 32
#define FMACONV_ISA_ENUM Isa::avx512
#define FMACONV_TABLE_FN kernel_table_avx512
#include "kernels/generic/kernels_impl.h"

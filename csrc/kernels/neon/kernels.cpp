// The neon kernel set: the generic kernels built with this folder's compiler flags.
// Hand-written neon microkernels replace entries of this table as they land.
#define FMACONV_KNS isa_neon
#define FMACONV_VEC_BYTES 16
#define FMACONV_MR_F32 8
#define FMACONV_NR_F32 12
#define FMACONV_MR_F64 8
#define FMACONV_NR_F64 6
#define FMACONV_VEC_REGS 32
#define FMACONV_ISA_ENUM Isa::neon
#define FMACONV_TABLE_FN kernel_table_neon
#include "kernels/generic/kernels_impl.h"

// The scalar kernel set: the generic kernels built with this folder's compiler flags.
// Hand-written scalar microkernels replace entries of this table as they land.
#define FMACONV_KNS isa_scalar
#define FMACONV_VEC_BYTES 16
#define FMACONV_MR_F32 4
#define FMACONV_NR_F32 8
#define FMACONV_MR_F64 4
#define FMACONV_NR_F64 4
#define FMACONV_VEC_REGS 16
#define FMACONV_ISA_ENUM Isa::scalar
#define FMACONV_TABLE_FN kernel_table_scalar
#include "kernels/generic/kernels_impl.h"

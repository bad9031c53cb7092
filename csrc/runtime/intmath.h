// Index arithmetic shared by operators and kernels. Internal linkage on purpose: each
// per-ISA kernel object gets its own copy, so no wider-ISA code can be linked into another.
#pragma once
#include <cstdint>

namespace fmaconv {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
// ceil(a / b) for b > 0 and any a, without the overflow of (a + b - 1) / b.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? a / b + (a % b != 0) : -((-a) / b); }

}  // namespace
}  // namespace fmaconv

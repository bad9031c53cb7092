// CPU feature detection and the kernel-set choice (runtime layer).
#pragma once
#include <string>
#include <vector>

namespace fmaconv {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, neon = 3 };

const char* isa_name(Isa isa);
// Kernel sets this binary holds and this CPU can run, lowest first.
std::vector<Isa> isa_available();
// The set in use: the best available, or FMACONV_ISA if it names an available set.
Isa isa_selected();
// Non-empty if FMACONV_ISA was set to something unusable (reported by show_config).
std::string isa_override_warning();

}  // namespace fmaconv

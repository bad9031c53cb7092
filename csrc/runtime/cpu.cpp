#include "runtime/cpu.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <cpuid.h>
#define FMACONV_X86 1
#endif

namespace fmaconv {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::neon: return "neon";
    default: return "scalar";
  }
}

namespace {

#ifdef FMACONV_X86
// XCR0 tells whether the OS saves the wide registers; CPUID alone is not enough.
unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((unsigned long long)edx << 32) | eax;
}

bool cpu_has_avx2_fma() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && osxsave && avx)) return false;
  if ((xgetbv0() & 0x6) != 0x6) return false;  // XMM and YMM state
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  return b & (1u << 5);
}

bool cpu_has_avx512f() {
  if (!cpu_has_avx2_fma()) return false;
  unsigned a, b, c, d;
  __cpuid_count(7, 0, a, b, c, d);
  if (!(b & (1u << 16))) return false;
  return (xgetbv0() & 0xe6) == 0xe6;  // opmask, ZMM_Hi256, Hi16_ZMM
}
#endif

struct Choice {
  std::vector<Isa> available;
  Isa selected = Isa::scalar;
  std::string warning;
};

Choice choose() {
  Choice ch;
  ch.available.push_back(Isa::scalar);
#if defined(FMACONV_X86) && defined(FMACONV_HAVE_AVX2)
  if (cpu_has_avx2_fma()) ch.available.push_back(Isa::avx2);
#endif
#if defined(FMACONV_X86) && defined(FMACONV_HAVE_AVX512)
  if (cpu_has_avx512f()) ch.available.push_back(Isa::avx512);
#endif
#if defined(FMACONV_HAVE_NEON)
  ch.available.push_back(Isa::neon);  // Advanced SIMD is mandatory on AArch64
#endif
  ch.selected = ch.available.back();
  const char* env = std::getenv("FMACONV_ISA");
  if (env && *env) {
    bool found = false;
    for (Isa isa : ch.available) {
      if (std::strcmp(env, isa_name(isa)) == 0) {
        ch.selected = isa;
        found = true;
      }
    }
    if (!found)
      ch.warning = std::string("FMACONV_ISA=") + env + " is not available on this CPU/build; using " +
                   isa_name(ch.selected);
  }
  return ch;
}

const Choice& choice() {
  static const Choice ch = choose();
  return ch;
}

}  // namespace

std::vector<Isa> isa_available() { return choice().available; }
Isa isa_selected() { return choice().selected; }
std::string isa_override_warning() { return choice().warning; }

}  // namespace fmaconv

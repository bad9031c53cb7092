// Flush subnormals to zero inside kernels only; the caller's FP state is restored on scope exit.
#pragma once
#if defined(__SSE2__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace fmaconv {

class FlushDenormalsScope {
 public:
  FlushDenormalsScope() {
#if defined(__SSE2__) || defined(__x86_64__)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ | DAZ
#elif defined(__aarch64__)
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved_));
    unsigned long long v = saved_ | (1ull << 24);  // FZ
    __asm__ volatile("msr fpcr, %0" ::"r"(v));
#endif
  }
  ~FlushDenormalsScope() {
#if defined(__SSE2__) || defined(__x86_64__)
    _mm_setcsr(saved_);
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" ::"r"(saved_));
#endif
  }
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
#if defined(__aarch64__)
  unsigned long long saved_ = 0;
#else
  unsigned saved_ = 0;
#endif
};

}  // namespace fmaconv

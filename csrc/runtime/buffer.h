// 64-byte aligned scratch that never value-initialises (packing overwrites it).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

namespace fmaconv {

template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t n) { resize(n); }
  ~AlignedBuffer() { release(); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Grows only; contents are not kept.
  void resize(size_t n) {
    if (n <= cap_) return;
    release();
    // posix_memalign rather than aligned operator new: the latter needs macOS >= 10.13.
    void* p = nullptr;
    if (posix_memalign(&p, 64, n * sizeof(T) > 0 ? n * sizeof(T) : 64) != 0) throw std::bad_alloc();
    p_ = static_cast<T*>(p);
    cap_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }

 private:
  void release() {
    std::free(p_);
    p_ = nullptr;
    cap_ = 0;
  }
  T* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace fmaconv

// 64-byte aligned scratch that never value-initialises (packing overwrites it).
#pragma once
#include <cstddef>
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
    p_ = static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
    cap_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }

 private:
  void release() {
    if (p_) ::operator delete(p_, std::align_val_t(64));
    p_ = nullptr;
    cap_ = 0;
  }
  T* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace fmaconv

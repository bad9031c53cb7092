// Convolution weights in the layouts the algorithms want, built once per layout and reused:
// the functional API passes a fresh (empty) cache per call; a packed-weight object
// (bindings.cpp) keeps one for the life of its weights, so inference pays packing once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/buffer.h"

namespace fmaconv {

template <typename T>
class PackedWeights {
 public:
  // scratch (optional): where the first layout goes instead of a fresh allocation. The
  // functional API passes a per-thread buffer kept across calls: fresh pages for megabytes of
  // weights cost more page faults than the packing itself.
  explicit PackedWeights(AlignedBuffer<T>* scratch = nullptr) : scratch_(scratch) {}

  // True for the functional API's per-call cache (its packs are used once, then dropped).
  bool per_call() const { return scratch_ != nullptr; }

  // The layout named `key` (see pack_key: whatever the layout depends on besides the weights,
  // which are fixed for one cache), n elements, built by fill(dst) on first use. The pointer
  // stays valid for the life of the cache. Safe to call concurrently.
  template <typename Fill>
  const T* get(uint64_t key, size_t n, const Fill& fill) {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& e : packs_)
      if (e.key == key) return e.data;
    Entry e{key, nullptr, nullptr};
    if (scratch_ && !scratch_used_) {
      scratch_->resize(n);
      e.data = scratch_->data();
      scratch_used_ = true;
    } else {
      e.owned = std::make_unique<AlignedBuffer<T>>(n);
      e.data = e.owned->data();
    }
    fill(e.data);
    packs_.push_back(std::move(e));
    return packs_.back().data;
  }

 private:
  struct Entry {
    uint64_t key;
    std::unique_ptr<AlignedBuffer<T>> owned;
    T* data;
  };
  std::mutex m_;
  AlignedBuffer<T>* scratch_;
  bool scratch_used_ = false;
  std::vector<Entry> packs_;
};

// Layout keys: the algorithm, the groups the weights are split into, and a tile parameter.
constexpr uint64_t pack_key(uint32_t algorithm, uint64_t groups, uint32_t param) {
  return (uint64_t)algorithm << 56 | (groups & 0xffffffffu) << 16 | (param & 0xffffu);
}

}  // namespace fmaconv

// Convolution weights in the layouts the algorithms want, built once per layout and reused:
// the functional API passes a fresh (empty) cache per call; a packed-weight object
// (bindings.cpp) keeps one for the life of its weights, so inference pays packing once.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "runtime/buffer.h"

namespace fmaconv {

template <typename T>
class PackedWeights {
 public:
  // The layout named `key` (algorithm and tile: whatever the layout depends on besides the
  // weights and their shape, which are fixed for one cache), n elements, built by fill(dst) on
  // first use. The pointer stays valid for the life of the cache. Safe to call concurrently.
  template <typename Fill>
  const T* get(uint64_t key, size_t n, const Fill& fill) {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& e : packs_)
      if (e.first == key) return e.second->data();
    auto buf = std::make_unique<AlignedBuffer<T>>(n);
    fill(buf->data());
    packs_.emplace_back(key, std::move(buf));
    return packs_.back().second->data();
  }

 private:
  std::mutex m_;
  std::vector<std::pair<uint64_t, std::unique_ptr<AlignedBuffer<T>>>> packs_;
};

// Layout keys: the algorithm, the groups the weights are split into, and a tile parameter.
constexpr uint64_t pack_key(uint32_t algorithm, uint64_t groups, uint32_t param) {
  return (uint64_t)algorithm << 56 | (groups & 0xffffffffu) << 16 | (param & 0xffffu);
}

}  // namespace fmaconv

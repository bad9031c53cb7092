#include "runtime/block_cache.h"

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <vector>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fmaconv {

namespace {

constexpr size_t kHeader = 64;                       // holds the block's capacity; keeps 64-byte alignment
constexpr size_t kGranule = size_t(2) << 20;         // huge-page multiples, so near sizes share blocks
constexpr size_t kMaxKept = 4;                       // blocks
constexpr size_t kMaxKeptBytes = size_t(1) << 30;    // and bytes

struct Cache {
  std::mutex mu;
  std::vector<char*> kept;  // block bases (header first)
  size_t bytes = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: arrays may be freed during interpreter shutdown
  return *c;
}

size_t capacity(const char* base) { return *reinterpret_cast<const size_t*>(base); }

}  // namespace

void* cached_block_get(size_t bytes) {
  if (bytes > SIZE_MAX / 2) return nullptr;
  const size_t cap = (bytes + kHeader + kGranule - 1) / kGranule * kGranule;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    // The smallest kept block that fits without wasting more than a quarter of it.
    size_t best = c.kept.size();
    for (size_t i = 0; i < c.kept.size(); ++i) {
      const size_t k = capacity(c.kept[i]);
      if (k >= cap && k - cap <= k / 4 && (best == c.kept.size() || k < capacity(c.kept[best]))) best = i;
    }
    if (best < c.kept.size()) {
      char* base = c.kept[best];
      c.kept.erase(c.kept.begin() + (std::ptrdiff_t)best);
      c.bytes -= capacity(base);
      return base + kHeader;
    }
  }
  char* base = static_cast<char*>(std::aligned_alloc(kGranule, cap));
  if (!base) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(base, cap, MADV_HUGEPAGE);  // fewer faults on first touch, where transparent huge pages are allowed
#endif
  *reinterpret_cast<size_t*>(base) = cap;
  return base + kHeader;
}

void cached_block_put(void* p) {
  if (!p) return;
  char* base = static_cast<char*>(p) - kHeader;
  const size_t cap = capacity(base);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (cap <= kMaxKeptBytes) {
      // Make room by dropping the oldest blocks.
      while (!c.kept.empty() && (c.kept.size() >= kMaxKept || c.bytes + cap > kMaxKeptBytes)) {
        char* old = c.kept.front();
        c.kept.erase(c.kept.begin());
        c.bytes -= capacity(old);
        std::free(old);
      }
      c.kept.push_back(base);
      c.bytes += cap;
      return;
    }
  }
  std::free(base);
}

void cached_blocks_clear() {
  Cache& c = cache();
  std::vector<char*> drop;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    drop.swap(c.kept);
    c.bytes = 0;
  }
  for (char* b : drop) std::free(b);
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.bytes;
}

}  // namespace fmaconv

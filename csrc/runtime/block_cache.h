// Reuse of large result buffers. glibc maps every block above its mmap threshold (32 MB at most)
// afresh and unmaps it on free, so each call would pay a page fault and the kernel's zeroing
// for every page of its output (4.8 ms for 51 MB here, a fifth of a 3-D stem convolution).
// Freed blocks of at least kMinCachedBytes are kept (a few, bounded in total) for the next call.
#pragma once
#include <cstddef>

namespace fmaconv {

constexpr size_t kMinCachedBytes = size_t(8) << 20;

// A 64-byte aligned block of at least `bytes`, reused when one is kept; null if out of memory.
void* cached_block_get(size_t bytes);
// Returns a block from cached_block_get: kept for reuse or freed.
void cached_block_put(void* p);
// Frees every kept block (tests; memory pressure).
void cached_blocks_clear();
// Bytes currently kept.
size_t cached_bytes();

}  // namespace fmaconv

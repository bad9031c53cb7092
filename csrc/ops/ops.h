// Operator layer: plan (algorithm, tiles, work split) and run. Arguments are trusted:
// the Python layer validated them; bindings.cpp checks buffer shapes against the shapes here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/packed_weights.h"
#include "ops/shapes.h"

namespace fmaconv {

// x: (N, C, D, H, W), w: (K, C/groups, kd, kh, kw), bias: (K,) or null, y: (N, K, OD, OH, OW).
// packed: layouts of these same weights kept from earlier calls (null: pack for this call only).
template <typename T>
void conv_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y,
                  PackedWeights<T>* packed = nullptr);

// idx may be null.
template <typename T>
void max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx);

// divisor_override == 0 means none (0 itself is rejected by the API).
template <typename T>
void avg_pool_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override);

// Only planes/in/out of the shape are used.
template <typename T>
void adaptive_avg_pool_forward(const PoolShape& s, const T* x, T* y);
template <typename T>
void adaptive_max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx);

enum class PadMode { reflect = 1, replicate = 2, circular = 3 };
// pads: (front, back, top, bottom, left, right); y has the padded spatial sizes.
template <typename T>
void pad_forward(int64_t planes, const int64_t in[3], const int64_t pads[6], PadMode mode, const T* x, T* y);

// Gradients (s: the forward convolution's shape). gx: (N, C, *in) = the transposed convolution of
// gy (N, K, *out) (zero padding). gw (K, C/groups, *k) and gb (K,) may each be null (not wanted).
template <typename T>
void conv_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx);
template <typename T>
void conv_backward_weight(const ConvShape& s, const T* x, const T* gy, T* gw, T* gb);

// gx (in sizes) from gy (padded sizes): each padded cell's gradient added to its source cell.
template <typename T>
void pad_backward(int64_t planes, const int64_t in[3], const int64_t pads[6], PadMode mode, const T* gy, T* gx);

// Pooling gradients; every plane of gx is overwritten. max: idx as returned by the forward
// (throws std::invalid_argument for an index outside the plane).
template <typename T>
void max_pool_backward(int64_t planes, const int64_t in[3], const int64_t out[3], const T* gy, const int64_t* idx,
                       T* gx);
template <typename T>
void avg_pool_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad, int64_t divisor_override);
template <typename T>
void adaptive_avg_pool_backward(const PoolShape& s, const T* gy, T* gx);

// The direct convolution's float32 tile kernels of the selected set, by index (FMACONV_CONV_TILE).
std::vector<std::string> conv_tile_names();

// Measured FMA throughput (GFLOP/s) of the selected kernel set with `threads` threads.
double peak_gflops(bool f64, int threads);

}  // namespace fmaconv

// Problem descriptions shared by the operator layer and the kernels. Every op is
// normalised to 3 spatial axes (depth, height, width); 1-D and 2-D use size-1 leading axes.
#pragma once
#include <cstdint>

namespace fmaconv {

struct ConvShape {
  int64_t N, C, K, groups;  // batch, input channels, output channels, groups
  int64_t in[3], out[3];    // spatial sizes (D, H, W)
  int64_t k[3], s[3], p[3], d[3];  // kernel, stride, leading padding, dilation
  int64_t Cg() const { return C / groups; }
  int64_t Kg() const { return K / groups; }
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
  int64_t taps() const { return k[0] * k[1] * k[2]; }
};

struct PoolShape {
  int64_t planes;          // N * C
  int64_t in[3], out[3];
  int64_t k[3], s[3], p[3], d[3];
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

}  // namespace fmaconv

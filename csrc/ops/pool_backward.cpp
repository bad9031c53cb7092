// Pooling gradients, threaded over (n, c) planes. Every plane of grad_input is written whole
// (zeros, then each output's contribution added in scan order: deterministic).
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/ops.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

// zeros, then g[ix[o]] += y[o]; false if an index is outside [0, n).
template <typename T>
bool scatter_plane(T* __restrict g, int64_t n, const T* __restrict y, const int64_t* __restrict ix, int64_t m) {
  std::memset(g, 0, (size_t)n * sizeof(T));
  const uint64_t un = (uint64_t)n;
  int64_t o = 0;
  // four at a time: check the indices first (one branch), then four independent updates
  for (; o + 4 <= m; o += 4) {
    const uint64_t i0 = (uint64_t)ix[o], i1 = (uint64_t)ix[o + 1], i2 = (uint64_t)ix[o + 2], i3 = (uint64_t)ix[o + 3];
    if ((i0 >= un) | (i1 >= un) | (i2 >= un) | (i3 >= un)) return false;
    g[i0] += y[o];
    g[i1] += y[o + 1];
    g[i2] += y[o + 2];
    g[i3] += y[o + 3];
  }
  for (; o < m; ++o) {
    const uint64_t i = (uint64_t)ix[o];
    if (i >= un) return false;
    g[i] += y[o];
  }
  return true;
}

}  // namespace

template <typename T>
void max_pool_backward(int64_t planes, const int64_t in[3], const int64_t out[3], const T* gy, const int64_t* idx,
                       T* gx) {
  const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
  parallel_range(planes, (double)(in_plane + 2 * out_plane), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* g = gx + p * in_plane;
      const T* y = gy + p * out_plane;
      const int64_t* ix = idx + p * out_plane;
      if (!scatter_plane(g, in_plane, y, ix, out_plane)) {
        int64_t i = 0;
        for (int64_t o = 0; o < out_plane; ++o)
          if (ix[o] < 0 || ix[o] >= in_plane) {
            i = ix[o];
            break;
          }
        throw std::invalid_argument("max_pool_backward: index " + std::to_string(i) + " out of range [0, " +
                                    std::to_string(in_plane) + ") in plane " + std::to_string(p));
      }
    }
  });
}

template <typename T>
void avg_pool_backward(const PoolShape& s, const T* gy, T* gx, bool count_include_pad, int64_t divisor_override) {
  const int64_t H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t in_plane = s.in_plane(), out_plane = s.out_plane();
  // Window [lo, hi) per axis and output, as the forward computes it.
  struct Win {
    int64_t lo, hi, size;  // clipped to the input; size counts padding (not the ceil overhang)
  };
  std::vector<Win> win[3];
  for (int a = 0; a < 3; ++a) {
    win[a].resize((size_t)s.out[a]);
    for (int64_t o = 0; o < s.out[a]; ++o) {
      const int64_t st = o * s.s[a] - s.p[a], en = min64(st + s.k[a], s.in[a] + s.p[a]);
      win[a][(size_t)o] = {max64(st, 0), min64(en, s.in[a]), en - st};
    }
  }
  // Windows that tile the input exactly: every input cell gets one value (assigned, no zeroing).
  bool tiles = true;
  for (int a = 0; a < 3; ++a)
    tiles = tiles && s.p[a] == 0 && s.k[a] == s.s[a] && s.out[a] * s.k[a] == s.in[a];
  parallel_range(s.planes, (double)(in_plane + out_plane * s.k[0] * s.k[1] * s.k[2]), [&](int64_t b, int64_t e) {
    // Per output row: v = gy / divisor (a vectorisable division), spread along the width into
    // one input-width row R, then R added to (or, tiling, copied into) every input row of the window.
    thread_local std::vector<T> vrow, drow, rrow;
    vrow.resize((size_t)OW);
    drow.resize((size_t)OW);
    rrow.resize((size_t)W);
    T* __restrict v = vrow.data();
    T* __restrict dv = drow.data();
    T* __restrict R = rrow.data();
    for (int64_t p = b; p < e; ++p) {
      T* g = gx + p * in_plane;
      const T* y = gy + p * out_plane;
      if (!tiles) std::memset(g, 0, (size_t)in_plane * sizeof(T));
      for (int64_t od = 0; od < OD; ++od) {
        const Win& wd = win[0][(size_t)od];
        for (int64_t oh = 0; oh < OH; ++oh) {
          const Win& wh = win[1][(size_t)oh];
          if (wd.hi <= wd.lo || wh.hi <= wh.lo) continue;  // a window in the padding only
          const T* yr = y + (od * OH + oh) * OW;
          if (tiles && divisor_override == 0) {
            // whole windows, one divisor: the first row of the window, then copies
            const T div = T(s.k[0] * s.k[1] * s.k[2]);
            const int64_t kw = s.k[2];
            T* first = g + (wd.lo * H + wh.lo) * W;
            for (int64_t ow = 0; ow < OW; ++ow) {
              const T vv = yr[ow] / div;
              for (int64_t j = 0; j < kw; ++j) first[ow * kw + j] = vv;
            }
            for (int64_t id = wd.lo; id < wd.hi; ++id)
              for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
                T* row = g + (id * H + ih) * W;
                if (row != first) std::memcpy(row, first, (size_t)W * sizeof(T));
              }
            continue;
          }
          for (int64_t ow = 0; ow < OW; ++ow) {
            const Win& ww = win[2][(size_t)ow];
            const int64_t div = divisor_override ? divisor_override
                                : count_include_pad ? wd.size * wh.size * ww.size
                                                    : (wd.hi - wd.lo) * (wh.hi - wh.lo) * (ww.hi - ww.lo);
            dv[ow] = T(div);
          }
          for (int64_t ow = 0; ow < OW; ++ow) v[ow] = yr[ow] / dv[ow];
          if (tiles) {
            const int64_t kw = s.k[2];
            for (int64_t ow = 0; ow < OW; ++ow)
              for (int64_t j = 0; j < kw; ++j) R[ow * kw + j] = v[ow];
          } else {
            for (int64_t iw = 0; iw < W; ++iw) R[iw] = T(0);
            for (int64_t ow = 0; ow < OW; ++ow) {
              const Win& ww = win[2][(size_t)ow];
              for (int64_t iw = ww.lo; iw < ww.hi; ++iw) R[iw] += v[ow];
            }
          }
          for (int64_t id = wd.lo; id < wd.hi; ++id)
            for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
              T* __restrict row = g + (id * H + ih) * W;
              if (tiles) {
                std::memcpy(row, R, (size_t)W * sizeof(T));
              } else {
                for (int64_t iw = 0; iw < W; ++iw) row[iw] += R[iw];
              }
            }
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool_backward(const PoolShape& s, const T* gy, T* gx) {
  const int64_t H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t in_plane = s.in_plane(), out_plane = s.out_plane();
  std::vector<int64_t> lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a].resize((size_t)s.out[a]);
    hi[a].resize((size_t)s.out[a]);
    for (int64_t o = 0; o < s.out[a]; ++o) {
      lo[a][(size_t)o] = (o * s.in[a]) / s.out[a];
      hi[a][(size_t)o] = ceil_div((o + 1) * s.in[a], s.out[a]);
    }
  }
  parallel_range(s.planes, (double)(2 * in_plane + out_plane), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* g = gx + p * in_plane;
      const T* y = gy + p * out_plane;
      std::memset(g, 0, (size_t)in_plane * sizeof(T));
      for (int64_t od = 0; od < OD; ++od)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t d0 = lo[0][(size_t)od], d1 = hi[0][(size_t)od], h0 = lo[1][(size_t)oh],
                          h1 = hi[1][(size_t)oh], w0 = lo[2][(size_t)ow], w1 = hi[2][(size_t)ow];
            const T v = y[(od * OH + oh) * OW + ow] / T((d1 - d0) * (h1 - h0) * (w1 - w0));
            for (int64_t id = d0; id < d1; ++id)
              for (int64_t ih = h0; ih < h1; ++ih) {
                T* row = g + (id * H + ih) * W;
                for (int64_t iw = w0; iw < w1; ++iw) row[iw] += v;
              }
          }
    }
  });
}

#define FMACONV_POOL_BWD_INSTANTIATE(T)                                                                      \
  template void max_pool_backward<T>(int64_t, const int64_t*, const int64_t*, const T*, const int64_t*, T*);  \
  template void avg_pool_backward<T>(const PoolShape&, const T*, T*, bool, int64_t);                       \
  template void adaptive_avg_pool_backward<T>(const PoolShape&, const T*, T*);
FMACONV_POOL_BWD_INSTANTIATE(float)
FMACONV_POOL_BWD_INSTANTIATE(double)

}  // namespace fmaconv

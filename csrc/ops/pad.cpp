// Non-zero padding modes: the padded copy is built once, then the convolution pads with zeros.
#include <cstring>
#include <vector>

#include "ops/ops.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

// Source index for every padded position along one axis.
std::vector<int64_t> source_map(int64_t n, int64_t before, int64_t after, PadMode mode) {
  std::vector<int64_t> m((size_t)(n + before + after));
  for (int64_t o = 0; o < (int64_t)m.size(); ++o) {
    int64_t i = o - before;
    switch (mode) {
      case PadMode::reflect:
        if (n == 1) { i = 0; break; }
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        break;
      case PadMode::replicate:
        i = i < 0 ? 0 : (i >= n ? n - 1 : i);
        break;
      case PadMode::circular:
        i = ((i % n) + n) % n;
        break;
    }
    m[(size_t)o] = i;
  }
  return m;
}

}  // namespace

template <typename T>
void pad_forward(int64_t planes, const int64_t in[3], const int64_t pads[6], PadMode mode, const T* x, T* y) {
  const int64_t D = in[0], H = in[1], W = in[2];
  const auto md = source_map(D, pads[0], pads[1], mode);
  const auto mh = source_map(H, pads[2], pads[3], mode);
  const auto mw = source_map(W, pads[4], pads[5], mode);
  const int64_t PD = (int64_t)md.size(), PH = (int64_t)mh.size(), PW = (int64_t)mw.size();
  const int64_t left = pads[4];
  parallel_for(planes, [&](int64_t p) {
    const T* xp = x + p * D * H * W;
    T* yp = y + p * PD * PH * PW;
    for (int64_t od = 0; od < PD; ++od)
      for (int64_t oh = 0; oh < PH; ++oh) {
        const T* src = xp + (md[(size_t)od] * H + mh[(size_t)oh]) * W;
        T* dst = yp + (od * PH + oh) * PW;
        for (int64_t ow = 0; ow < left; ++ow) dst[ow] = src[mw[(size_t)ow]];
        std::memcpy(dst + left, src, (size_t)W * sizeof(T));
        for (int64_t ow = left + W; ow < PW; ++ow) dst[ow] = src[mw[(size_t)ow]];
      }
  }, (double)planes * (double)(PD * PH * PW));
}

template void pad_forward<float>(int64_t, const int64_t*, const int64_t*, PadMode, const float*, float*);
template void pad_forward<double>(int64_t, const int64_t*, const int64_t*, PadMode, const double*, double*);

}  // namespace fmaconv

namespace fmaconv {

template <typename T>
void pad_backward(int64_t planes, const int64_t in[3], const int64_t pads[6], PadMode mode, const T* gy, T* gx) {
  const int64_t D = in[0], H = in[1], W = in[2];
  const auto md = source_map(D, pads[0], pads[1], mode);
  const auto mh = source_map(H, pads[2], pads[3], mode);
  const auto mw = source_map(W, pads[4], pads[5], mode);
  const int64_t PD = (int64_t)md.size(), PH = (int64_t)mh.size(), PW = (int64_t)mw.size();
  parallel_for(planes, [&](int64_t p) {
    T* gp = gx + p * D * H * W;
    const T* yp = gy + p * PD * PH * PW;
    std::memset(gp, 0, (size_t)(D * H * W) * sizeof(T));
    // scan order of the padded gradient: fixed summation order
    for (int64_t od = 0; od < PD; ++od)
      for (int64_t oh = 0; oh < PH; ++oh) {
        T* dst = gp + (md[(size_t)od] * H + mh[(size_t)oh]) * W;
        const T* src = yp + (od * PH + oh) * PW;
        for (int64_t ow = 0; ow < PW; ++ow) dst[mw[(size_t)ow]] += src[ow];
      }
  }, (double)planes * (double)(PD * PH * PW));
}

template void pad_backward<float>(int64_t, const int64_t*, const int64_t*, PadMode, const float*, float*);
template void pad_backward<double>(int64_t, const int64_t*, const int64_t*, PadMode, const double*, double*);

}  // namespace fmaconv

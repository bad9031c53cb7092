// Depthwise and channel-multiplier convolution (Cin/groups == 1): a direct row kernel on NCHW.
#include <vector>

#include "ops/conv_internal.h"
#include "runtime/dispatch.h"
#include "runtime/fpenv.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

template <typename T>
void conv_depthwise(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>*) {
  const DwKernels<T>& ks = kernel_set<T>(kernels()).dw;
  const int64_t Kg = s.Kg(), taps = s.taps(), in_plane = s.in_plane(), P = s.out_plane();
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t rows = OD * OH, planes = s.N * s.K;
  parallel_range(planes * rows, (double)(OW * taps), [&](int64_t begin, int64_t end) {
    FlushDenormalsScope ftz;
    thread_local std::vector<const T*> in_rows, w_rows;
    in_rows.resize((size_t)(s.k[0] * s.k[1]));
    w_rows.resize(in_rows.size());
    for (int64_t i = begin; i < end; ++i) {
      const int64_t plane = i / rows, r = i % rows;
      const int64_t n = plane / s.K, co = plane % s.K;
      const T* xp = x + (n * s.C + co / Kg) * in_plane;
      const T* wc = w + co * taps;
      const int64_t od = r / OH, oh = r % OH;
      int64_t nr = 0;
      for (int64_t jd = 0; jd < s.k[0]; ++jd) {
        const int64_t id = od * s.s[0] - s.p[0] + jd * s.d[0];
        if (id < 0 || id >= D) continue;
        for (int64_t jh = 0; jh < s.k[1]; ++jh) {
          const int64_t ih = oh * s.s[1] - s.p[1] + jh * s.d[1];
          if (ih < 0 || ih >= H) continue;
          in_rows[nr] = xp + (id * H + ih) * W;
          w_rows[nr] = wc + (jd * s.k[1] + jh) * s.k[2];
          ++nr;
        }
      }
      ks.row(s, in_rows.data(), w_rows.data(), nr, bias ? bias[co] : T(0), y + plane * P + r * OW);
    }
  });
}

template void conv_depthwise<float>(const ConvShape&, const float*, const float*, const float*, float*,
                                    PackedWeights<float>*);
template void conv_depthwise<double>(const ConvShape&, const double*, const double*, const double*, double*,
                                     PackedWeights<double>*);

}  // namespace fmaconv

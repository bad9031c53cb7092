// Pooling operators on NCDHW planes: each task takes a range of output rows of one plane;
// the row kernels (per ISA) see only the valid input rows, so padding never reaches them.
#include <vector>

#include "ops/ops.h"
#include "runtime/dispatch.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {


// Runs row_fn(plane, row) for all planes x output rows (od, oh flattened), as contiguous
// ranges of that flattened index, so tasks hold whole planes or row chunks as the shape needs.
template <typename F>
void for_each_row(int64_t planes, int64_t rows, int64_t work_per_row, const F& row_fn) {
  parallel_range(planes * rows, (double)work_per_row, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) row_fn(i / rows, i % rows);
  });
}

// Taps [first_live, end_live) of a window starting at st (dilation d, k taps) fall in [0, n).
inline int64_t first_live(int64_t st, int64_t d) { return st >= 0 ? 0 : ceil_div(-st, d); }
inline int64_t end_live(int64_t st, int64_t d, int64_t k, int64_t n) { return max64(0, min64(k, ceil_div(n - st, d))); }

// Window start of output o along one axis of a pooling shape.
inline int64_t win_start(const PoolShape& s, int ax, int64_t o) { return o * s.s[ax] - s.p[ax]; }

}  // namespace

template <typename T>
void max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t in_plane = s.in_plane(), out_plane = s.out_plane();
  for_each_row(s.planes, s.out[0] * OH, OW * s.k[0] * s.k[1] * s.k[2], [&](int64_t p, int64_t r) {
    thread_local std::vector<const T*> rows;
    thread_local std::vector<int64_t> bases;
    rows.resize((size_t)(min64(s.k[0], D) * min64(s.k[1], H)));  // live rows only
    bases.resize(rows.size());
    const int64_t od = r / OH, oh = r % OH;
    const T* xp = x + p * in_plane;
    const int64_t d0 = win_start(s, 0, od), h0 = win_start(s, 1, oh);
    int64_t n = 0;
    for (int64_t jd = first_live(d0, s.d[0]), jd1 = end_live(d0, s.d[0], s.k[0], D); jd < jd1; ++jd) {
      const int64_t id = d0 + jd * s.d[0];
      for (int64_t jh = first_live(h0, s.d[1]), jh1 = end_live(h0, s.d[1], s.k[1], H); jh < jh1; ++jh) {
        const int64_t ih = h0 + jh * s.d[1];
        bases[n] = (id * H + ih) * W;
        rows[n] = xp + bases[n];
        ++n;
      }
    }
    // PyTorch's initial argmax: the first tap at or after 0 on each axis, even if past the input.
    auto first = [](int64_t st, int64_t d) { return st < 0 ? st + ceil_div(-st, d) * d : st; };
    const int64_t first_base = (first(d0, s.d[0]) * H + first(h0, s.d[1])) * W;
    const int64_t off = p * out_plane + r * OW;
    ks.max_row(s, rows.data(), bases.data(), n, first_base, y + off, idx ? idx + off : nullptr);
  });
}

template <typename T>
void avg_pool_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OH = s.out[1], OW = s.out[2];
  const int64_t in_plane = s.in_plane(), out_plane = s.out_plane();
  // Per-column divisor factors do not depend on the row: compute once.
  std::vector<int64_t> pool_w((size_t)OW), valid_w((size_t)OW);
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int64_t st = win_start(s, 2, ow), en = min64(st + s.k[2], W + s.p[2]);
    pool_w[ow] = en - st;
    valid_w[ow] = min64(en, W) - max64(st, 0);
  }
  for_each_row(s.planes, s.out[0] * OH, OW * s.k[0] * s.k[1] * s.k[2], [&](int64_t p, int64_t r) {
    thread_local std::vector<const T*> rows;
    rows.resize((size_t)(min64(s.k[0], D) * min64(s.k[1], H)));  // live rows only
    const int64_t od = r / OH, oh = r % OH;
    const T* xp = x + p * in_plane;
    const int64_t d0 = win_start(s, 0, od), h0 = win_start(s, 1, oh);
    const int64_t d1 = min64(d0 + s.k[0], D + s.p[0]), h1 = min64(h0 + s.k[1], H + s.p[1]);
    const int64_t pool_dh = (d1 - d0) * (h1 - h0);
    const int64_t valid_dh = (min64(d1, D) - max64(d0, 0)) * (min64(h1, H) - max64(h0, 0));
    int64_t n = 0;
    for (int64_t id = max64(d0, 0); id < min64(d1, D); ++id)
      for (int64_t ih = max64(h0, 0); ih < min64(h1, H); ++ih) rows[n++] = xp + (id * H + ih) * W;
    T* yr = y + p * out_plane + r * OW;
    ks.sum_row(s, rows.data(), n, yr);
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t div = divisor_override != 0 ? divisor_override
                          : count_include_pad  ? pool_dh * pool_w[ow]
                                               : valid_dh * valid_w[ow];
      yr[ow] = yr[ow] / (T)div;
    }
  });
}

namespace {
// Adaptive window [floor(o*i/O), ceil((o+1)*i/O)) along one axis.
inline int64_t ad_start(int64_t o, int64_t i, int64_t O) { return (o * i) / O; }
inline int64_t ad_end(int64_t o, int64_t i, int64_t O) { return ((o + 1) * i + O - 1) / O; }
}  // namespace

template <typename T>
void adaptive_avg_pool_forward(const PoolShape& s, const T* x, T* y) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  if (s.out_plane() == 1) {  // global pooling: PyTorch takes the mean of the plane here too
    const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
    const int64_t n = s.in_plane();
    for_each_row(s.planes, 1, n, [&](int64_t p, int64_t) { y[p] = ks.reduce_sum(x + p * n, n) / (T)n; });
    return;
  }
  for_each_row(s.planes, OD * OH, OW * ceil_div(s.in_plane(), s.out_plane()), [&](int64_t p, int64_t r) {
    const int64_t od = r / OH, oh = r % OH;
    const int64_t d0 = ad_start(od, D, OD), d1 = ad_end(od, D, OD);
    const int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
    const T* xp = x + p * s.in_plane();
    T* yr = y + p * s.out_plane() + r * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
      T sum = 0;
      for (int64_t id = d0; id < d1; ++id)
        for (int64_t ih = h0; ih < h1; ++ih) {
          const T* row = xp + (id * H + ih) * W;
          for (int64_t iw = w0; iw < w1; ++iw) sum += row[iw];
        }
      // PyTorch divides by each window extent in turn.
      yr[ow] = sum / (T)(d1 - d0) / (T)(h1 - h0) / (T)(w1 - w0);
    }
  });
}

template <typename T>
void adaptive_max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  for_each_row(s.planes, OD * OH, OW * ceil_div(s.in_plane(), s.out_plane()), [&](int64_t p, int64_t r) {
    const int64_t od = r / OH, oh = r % OH;
    const int64_t d0 = ad_start(od, D, OD), d1 = ad_end(od, D, OD);
    const int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
    const T* xp = x + p * s.in_plane();
    const int64_t off = p * s.out_plane() + r * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
      T best = -__builtin_inf();
      int64_t arg = (d0 * H + h0) * W + w0;
      for (int64_t id = d0; id < d1; ++id)
        for (int64_t ih = h0; ih < h1; ++ih) {
          const int64_t base = (id * H + ih) * W;
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = xp[base + iw];
            if (v > best || v != v) {
              best = v;
              arg = base + iw;
            }
          }
        }
      y[off + ow] = best;
      if (idx) idx[off + ow] = arg;
    }
  });
}

#define FMACONV_POOL_INSTANTIATE(T)                                                          \
  template void max_pool_forward<T>(const PoolShape&, const T*, T*, int64_t*);               \
  template void avg_pool_forward<T>(const PoolShape&, const T*, T*, bool, int64_t);          \
  template void adaptive_avg_pool_forward<T>(const PoolShape&, const T*, T*);                \
  template void adaptive_max_pool_forward<T>(const PoolShape&, const T*, T*, int64_t*);
FMACONV_POOL_INSTANTIATE(float)
FMACONV_POOL_INSTANTIATE(double)

}  // namespace fmaconv

// Pooling operators on NCDHW planes. The work is the flattened list of output rows of all
// planes ((plane, od, oh) -> one row of OW outputs), cut into ranges; each thread streams through
// a contiguous share of them (the pool's hand-out, see thread_pool.cpp), so batch-1 inputs keep
// both cores busy and consecutive rows of a range share their input rows in cache. The per-ISA
// kernels (kernels/api/pool.h) do the rows of a range.
#include <vector>

#include "ops/ops.h"
#include "runtime/dispatch.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

// Scratch for one range (reused across calls on the same thread: no allocation per call).
inline void* scratch(size_t bytes) {
  thread_local std::vector<char> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return buf.data();
}

// Runs fn(begin, end, scratch) over the planes * rows output rows of the shape.
template <typename T, typename F>
void for_rows(const PoolShape& s, const PoolShape& sized, double work_per_row, const F& fn) {
  const size_t bytes = pool_scratch_bytes(sized, sizeof(T));
  parallel_range(s.planes * s.out[0] * s.out[1], work_per_row,
                 [&](int64_t begin, int64_t end) { fn(begin, end, scratch(bytes)); });
}

// Work of one output row: the input rows it reads plus its outputs.
inline double row_work(const PoolShape& s, int64_t rows) { return (double)(rows * s.in[2] + s.out[2] * s.k[2]); }

// A shape whose kernel bounds the rows an adaptive window reads (for the scratch size).
PoolShape adaptive_sizing(const PoolShape& s) {
  PoolShape t = s;
  t.k[0] = s.in[0] / s.out[0] + 2;
  t.k[1] = s.in[1] / s.out[1] + 2;
  t.k[2] = 1;
  return t;
}

// Length of each window's run when the windows tile the input as contiguous runs of at least 16
// elements (a global window; 1-D windows; windows of whole rows): each output is then the
// reduction of one run, done like global pooling. 0 otherwise.
int64_t run_windows(const PoolShape& s) {
  if (!pool_is_tiled(s)) return 0;
  const bool contiguous = (s.k[0] == 1 && s.k[1] == 1) || (s.k[2] == s.in[2] && (s.k[0] == 1 || s.k[1] == s.in[1]));
  const int64_t n = s.k[0] * s.k[1] * s.k[2];
  return contiguous && (n >= 16 || s.out_plane() == 1) ? n : 0;
}

// Runs fn(first run, run count) over groups of 16 runs of n elements.
template <typename F>
void for_runs(int64_t runs, int64_t n, const F& fn) {
  const int64_t group = 16;  // whole vector groups of runs
  parallel_range(ceil_div(runs, group), (double)(n * group), [&](int64_t b, int64_t e) {
    const int64_t r0 = b * group;
    fn(r0, min64(e * group, runs) - r0);
  });
}

template <typename T>
void max_runs(const PoolShape& s, int64_t n, const T* x, T* y, int64_t* idx) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  const int64_t per = s.out_plane();
  for_runs(s.planes * per, n, [&](int64_t r0, int64_t nr) {
    ks.max_planes(x + r0 * n, n, nr, y + r0, idx ? idx + r0 : nullptr);
    if (idx && per > 1)  // offsets in the run -> in the plane
      for (int64_t r = r0; r < r0 + nr; ++r) idx[r] += (r % per) * n;
  });
}

template <typename T>
void mean_runs(int64_t runs, int64_t n, const T* x, T* y) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  for_runs(runs, n, [&](int64_t r0, int64_t nr) { ks.mean_planes(x + r0 * n, n, nr, y + r0); });
}

// A window one slice deep (kernel 1, stride 1, no padding along depth) pools each depth slice on
// its own: the slices become the planes of a 2-D pool (I3D's (1, 3, 3) pools; the 3-D kernels
// would treat them as general windows).
bool fold_depth(const PoolShape& s, PoolShape* t) {
  if (s.in[0] == 1 || s.k[0] != 1 || s.s[0] != 1 || s.p[0] != 0) return false;
  *t = s;
  t->planes = s.planes * s.in[0];
  t->in[0] = t->out[0] = 1;
  t->d[0] = 1;
  return true;
}

}  // namespace

template <typename T>
void max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  PoolShape t;
  if (fold_depth(s, &t)) {
    max_pool_forward(t, x, y, idx);
    if (idx) {  // in-slice offsets -> in-plane: plus the slice's
      const int64_t D = s.in[0], n = t.out_plane(), step = s.in[1] * s.in[2];
      parallel_range(t.planes, (double)n, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q)
          for (int64_t i = q * n, add = (q % D) * step; i < (q + 1) * n; ++i) idx[i] += add;
      });
    }
    return;
  }
  if (const int64_t n = run_windows(s)) return max_runs(s, n, x, y, idx);
  for_rows<T>(s, s, row_work(s, min64(s.k[0], s.in[0]) * min64(s.k[1], s.in[1])),
              [&](int64_t b, int64_t e, void* sc) { ks.max_pool(s, x, y, idx, b, e, sc); });
}

template <typename T>
void avg_pool_forward(const PoolShape& s, const T* x, T* y, bool count_include_pad, int64_t divisor_override) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  PoolShape t;
  if (fold_depth(s, &t)) return avg_pool_forward(t, x, y, count_include_pad, divisor_override);
  if (const int64_t n = run_windows(s); n && divisor_override == 0) return mean_runs(s.planes * s.out_plane(), n, x, y);
  for_rows<T>(s, s, row_work(s, min64(s.k[0], s.in[0]) * min64(s.k[1], s.in[1])), [&](int64_t b, int64_t e, void* sc) {
    ks.avg_pool(s, x, y, count_include_pad, divisor_override, b, e, sc);
  });
}

namespace {
// Adaptive windows are plain pooling windows (kernel = stride = in / out, no padding) when every
// output size divides its input size: the window kernels then apply.
bool adaptive_is_regular(const PoolShape& s, PoolShape* w) {
  *w = s;
  for (int a = 0; a < 3; ++a) {
    if (s.in[a] % s.out[a] != 0) return false;
    w->k[a] = w->s[a] = s.in[a] / s.out[a];
    w->p[a] = 0;
    w->d[a] = 1;
  }
  return true;
}
}  // namespace

template <typename T>
void adaptive_avg_pool_forward(const PoolShape& s, const T* x, T* y) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  PoolShape w;
  if (s.out_plane() == 1) return mean_runs(s.planes, s.in_plane(), x, y);  // PyTorch takes the plane's mean too
  if (adaptive_is_regular(s, &w)) return avg_pool_forward(w, x, y, true, 0);
  const PoolShape sz = adaptive_sizing(s);
  for_rows<T>(s, sz, row_work(s, sz.k[0] * sz.k[1]),
              [&](int64_t b, int64_t e, void* sc) { ks.adaptive_avg_pool(s, x, y, b, e, sc); });
}

template <typename T>
void adaptive_max_pool_forward(const PoolShape& s, const T* x, T* y, int64_t* idx) {
  const PoolKernels<T>& ks = kernel_set<T>(kernels()).pool;
  if (s.out_plane() == 1) return max_runs(s, s.in_plane(), x, y, idx);
  PoolShape w;
  if (adaptive_is_regular(s, &w)) return max_pool_forward(w, x, y, idx);
  const PoolShape sz = adaptive_sizing(s);
  for_rows<T>(s, sz, row_work(s, sz.k[0] * sz.k[1]),
              [&](int64_t b, int64_t e, void* sc) { ks.adaptive_max_pool(s, x, y, idx, b, e, sc); });
}

#define FMACONV_POOL_INSTANTIATE(T)                                                          \
  template void max_pool_forward<T>(const PoolShape&, const T*, T*, int64_t*);               \
  template void avg_pool_forward<T>(const PoolShape&, const T*, T*, bool, int64_t);          \
  template void adaptive_avg_pool_forward<T>(const PoolShape&, const T*, T*);                \
  template void adaptive_max_pool_forward<T>(const PoolShape&, const T*, T*, int64_t*);
FMACONV_POOL_INSTANTIATE(float)
FMACONV_POOL_INSTANTIATE(double)

}  // namespace fmaconv

// Convolution operator: one of three algorithms per shape:
// - Cin/groups == 1 (depthwise and channel multipliers): conv_depthwise.cpp;
// - direct tiles over a padded input (conv_direct.cpp), unless its layout wastes most lanes;
// - then implicit GEMM: per tile of output positions, an im2col panel of at most
//   KC x NC elements is packed (never the whole im2col matrix) and multiplied by the packed
//   weights with the ISA's register-tiled microkernel. 1x1/stride-1/no-pad reads the input directly.
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "ops/conv_internal.h"
#include "ops/ops.h"
#include "runtime/buffer.h"
#include "runtime/dispatch.h"
#include "runtime/fpenv.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {


// Splits of the output channels when there are fewer position tiles than 2 per thread: each
// split packs the same input panel again, so split no more than needed.
int64_t channel_splits(int64_t tasks, int64_t max_split) {
  const int64_t want = 2 * (int64_t)get_num_threads();
  if (get_num_threads() == 1 || tasks >= want) return 1;
  return clamp64(ceil_div(want, tasks), 1, max_split);
}

// A run of output positions that share (od, oh): columns [ow0, ow1) go to panel column dst.
struct Segment {
  int64_t od, oh, ow0, ow1, dst;
};

template <typename T>
void pack_panel(const ConvShape& s, const T* xg, int64_t k0, int64_t kc, const std::vector<Segment>& segs,
                int64_t nc, int64_t ldb, T* panel) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], plane = s.in_plane();
  const int64_t kh = s.k[1], kw = s.k[2], taps = s.taps();
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk, ci = k / taps, r = k % taps;
    const int64_t jd = r / (kh * kw), jh = (r / kw) % kh, jw = r % kw;
    const T* xc = xg + ci * plane;
    T* dst = panel + kk * ldb;
    const int64_t off = jw * s.d[2] - s.p[2], sw = s.s[2];
    for (const Segment& sg : segs) {
      T* out = dst + sg.dst - sg.ow0;
      const int64_t id = sg.od * s.s[0] - s.p[0] + jd * s.d[0];
      const int64_t ih = sg.oh * s.s[1] - s.p[1] + jh * s.d[1];
      if (id < 0 || id >= D || ih < 0 || ih >= H) {
        for (int64_t ow = sg.ow0; ow < sg.ow1; ++ow) out[ow] = T(0);
        continue;
      }
      const T* row = xc + (id * H + ih) * W + off;
      const int64_t lo = clamp64(ceil_div(-off, sw), sg.ow0, sg.ow1);
      const int64_t hi = clamp64(ceil_div(W - off, sw), lo, sg.ow1);
      for (int64_t ow = sg.ow0; ow < lo; ++ow) out[ow] = T(0);
      if (sw == 1) {
        for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow];
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) out[ow] = row[ow * sw];
      }
      for (int64_t ow = hi; ow < sg.ow1; ++ow) out[ow] = T(0);
    }
    for (int64_t j = nc; j < ldb; ++j) dst[j] = T(0);
  }
}

template <typename T>
void conv_gemm(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>* packed) {
  const GemmKernels<T>& ks = kernel_set<T>(kernels()).gemm;
  const int64_t MR = ks.mr, NR = ks.nr;
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), taps = s.taps();
  const int64_t Kdim = Cg * taps, P = s.out_plane(), in_plane = s.in_plane();
  const int64_t mblocks = ceil_div(Kg, MR);

  const int64_t threads = get_num_threads();
  // Weights packed for this call only: each thread packs its own copy (see thread_packed_blocks)
  // when they are no larger than an input group.
  const bool own = threads > 1 && packed->per_call() && G * Kg * Kdim <= Cg * in_plane;
  const uint64_t call_id = new_call_id();
  const T* apack = own ? nullptr : blocked_weights(s, w, MR, packed);

  // KC x NR slice of the panel sized for L1, KC x NC panel for L2.
  const int64_t kc_max = clamp64(24576 / (NR * (int64_t)sizeof(T)), 64, 512);
  const int64_t nkb = Kdim > 0 ? ceil_div(Kdim, kc_max) : 1;
  const int64_t KC = Kdim > 0 ? ceil_div(Kdim, nkb) : 0;
  int64_t NC = NR * (NR >= 256 ? 1 : 256 / NR);
  if (threads > 1 && s.N * G * ceil_div(P, NC) < 2 * threads)  // few tiles: smaller ones first
    NC = max64(NR, ceil_div(ceil_div(P, 2 * threads), NR) * NR);
  // (NC does not change any output's summation order, so results stay thread-count independent.)
  const int64_t ntiles = ceil_div(P, NC);
  const bool direct = taps == 1 && s.in[0] == s.out[0] && s.in[1] == s.out[1] && s.in[2] == s.out[2] &&
                      s.s[0] == 1 && s.s[1] == 1 && s.s[2] == 1 && s.p[0] == 0 && s.p[1] == 0 && s.p[2] == 0;
  const int64_t base_tasks = s.N * G * ntiles;
  const int64_t nco = channel_splits(base_tasks, mblocks);
  const int64_t mb_per = ceil_div(mblocks, nco);

  const double macs = (double)s.N * (double)s.K * (double)P * (double)Kdim;
  parallel_for(base_tasks * nco, [&](int64_t task) {
    FlushDenormalsScope ftz;
    thread_local AlignedBuffer<T> panel;
    thread_local AlignedBuffer<T> edge;
    thread_local std::vector<Segment> segs;
    const int64_t co_chunk = task % nco;
    int64_t t = task / nco;
    const int64_t tile = t % ntiles;
    t /= ntiles;
    const int64_t g = t % G, n = t / G;
    const int64_t mb0 = co_chunk * mb_per, mb1 = mb0 + mb_per < mblocks ? mb0 + mb_per : mblocks;
    if (mb0 >= mb1) return;
    const T* ap = own ? thread_packed_blocks(s, w, MR, 0, G * mblocks, KOrder::ci_major, call_id) : apack;
    const int64_t p0 = tile * NC, nc = P - p0 < NC ? P - p0 : NC;
    const int64_t ldp = ceil_div(nc, NR) * NR;
    const T* xg = x + (n * s.C + g * Cg) * in_plane;
    T* yg = y + (n * s.K + g * Kg) * P;
    const T* bg = bias ? bias + g * Kg : nullptr;

    if (!direct) {
      segs.clear();
      const int64_t OH = s.out[1], OW = s.out[2];
      for (int64_t p = p0; p < p0 + nc;) {
        const int64_t ow0 = p % OW, len = OW - ow0 < p0 + nc - p ? OW - ow0 : p0 + nc - p;
        segs.push_back({p / (OH * OW), (p / OW) % OH, ow0, ow0 + len, p - p0});
        p += len;
      }
      panel.resize((size_t)(KC * ldp));
    } else {
      edge.resize((size_t)(KC * NR));
    }

    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * KC, kc = Kdim - k0 < KC ? Kdim - k0 : KC;
      const T* B;
      int64_t ldb;
      if (direct) {
        B = xg + k0 * in_plane + p0;
        ldb = in_plane;
      } else {
        pack_panel(s, xg, k0, kc, segs, nc, ldp, panel.data());
        B = panel.data();
        ldb = ldp;
      }
      for (int64_t j0 = 0; j0 < nc; j0 += NR) {
        const int nrv = (int)(nc - j0 < NR ? nc - j0 : NR);
        const T* Bs = B + j0;
        int64_t ldbs = ldb;
        if (direct && nrv < NR) {  // the last columns of the plane: copy so full-width loads stay in bounds
          T* e = edge.data();
          for (int64_t kk = 0; kk < kc; ++kk)
            for (int64_t j = 0; j < NR; ++j) e[kk * NR + j] = j < nrv ? Bs[kk * ldb + j] : T(0);
          Bs = e;
          ldbs = NR;
        }
        for (int64_t mb = mb0; mb < mb1; ++mb) {
          const int mrv = (int)(Kg - mb * MR < MR ? Kg - mb * MR : MR);
          ks.gemm(kc, ap + ((g * mblocks + mb) * Kdim + k0) * MR, Bs, ldbs, yg + mb * MR * P + p0 + j0,
                  P, mrv, nrv, bg ? bg + mb * MR : nullptr, kb == 0);
        }
      }
    }
  }, macs);
}

}  // namespace

// Share of the GEMM path's lanes that hold outputs: its channel blocks' (positions are packed densely).
template <typename T>
double gemm_efficiency(const ConvShape& s) {
  const int64_t mr = kernel_set<T>(kernels()).gemm.mr, Kg = s.Kg();
  return (double)Kg / (double)(ceil_div(Kg, mr) * mr);
}

template <typename T>
void conv_forward(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>* packed) {
  if (s.N == 0 || s.K == 0 || s.out_plane() == 0) return;
  thread_local AlignedBuffer<T> scratch;  // the calling thread's: packing runs before the tasks
  PackedWeights<T> local(&scratch);
  if (!packed) packed = &local;
  static const char* env = std::getenv("FMACONV_CONV_ALGO");  // testing hook: gemm | direct
  static const std::string algo = env ? env : "";
  if (s.Cg() == 1)
    conv_depthwise(s, x, w, bias, y, packed);
  else if (algo == "gemm" || (algo != "direct" && direct_efficiency<T>(s) < 0.5 * gemm_efficiency<T>(s)))
    conv_gemm(s, x, w, bias, y, packed);  // the direct layout would waste most lanes (e.g. wide dilation)
  else
    conv_direct(s, x, w, bias, y, packed);
}

template void conv_forward<float>(const ConvShape&, const float*, const float*, const float*, float*,
                                  PackedWeights<float>*);
template void conv_forward<double>(const ConvShape&, const double*, const double*, const double*, double*,
                                   PackedWeights<double>*);

double peak_gflops(bool f64, int threads) {
  const KernelTable& kt = kernels();
  auto probe = f64 ? kt.f64.gemm.fma_probe : kt.f32.gemm.fma_probe;
  const int saved = get_num_threads();
  if (threads > 0 && threads != saved) set_num_threads(threads);
  const int nt = get_num_threads();
  // Many short tasks, not one per thread: the pool hands tasks to whichever thread is free, so
  // with one long task each the caller could run both before a sleeping worker woke up.
  const int64_t chunks = 32 * (int64_t)nt, iters = 2000000 / 32;
  double best = 0;
  // Best of 8: the first rounds after the pool was resized run slower (fresh worker threads).
  for (int rep = 0; rep < 8; ++rep) {
    std::vector<double> flops((size_t)chunks, 0.0);
    auto t0 = std::chrono::steady_clock::now();
    parallel_for(chunks, [&](int64_t t) { flops[(size_t)t] = probe(iters); });
    double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    if (sec > 0 && total / sec > best) best = total / sec;
  }
  if (get_num_threads() != saved) set_num_threads(saved);
  return best * 1e-9;
}

}  // namespace fmaconv

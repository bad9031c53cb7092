// Convolution gradients.
// - grad_input is a transposed convolution. It is split by input phase r (per axis, 0 <= r < s):
//   the taps j with (r + p - j*d) divisible by s feed positions r, r+s, ...; each phase is a
//   stride-1 forward convolution of grad_output with that flipped sub-kernel (weights transposed
//   per group), run by conv_forward's fast algorithms. No zeros are inserted (no s^D waste).
// - grad_weight (and grad_bias, as a column of ones) is a GEMM whose reduction runs over the
//   positions: per chunk of positions, grad_output rows and an im2col block of the input (only
//   that chunk: bounded memory) are packed with the positions contiguous, and the ISA's
//   dot-product tiles sum along them. Chunks are dealt to a fixed number of partial sums (set by
//   the shape, never by the thread count), added in order at the end: results do not depend on
//   the number of threads.
#include <cstring>
#include <vector>

#include "ops/ops.h"
#include "runtime/buffer.h"
#include "runtime/dispatch.h"
#include "runtime/fpenv.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// One axis of one input phase of the transposed convolution.
struct PhaseAxis {
  int64_t count;   // input positions r, r+s, ... below the input size
  int64_t taps;    // forward taps j0 + t*step (t < taps) that reach this phase; 0: none
  int64_t j0, step;
  int64_t zeros;   // zero taps put in front so that the sub-convolution's padding is >= 0
  int64_t dil;     // dilation of the sub-convolution (grad_output units)
  int64_t pad;     // its leading zero padding
};

PhaseAxis phase_axis(int64_t r, int64_t i, int64_t k, int64_t s, int64_t p, int64_t d) {
  PhaseAxis a{};
  a.count = r < i ? ceil_div(i - r, s) : 0;
  const int64_t g = gcd64(s, d);
  a.step = s / g;
  a.dil = d / g;
  int64_t j0 = -1;
  for (int64_t j = 0; j < k && j < a.step; ++j)
    if (((r + p - j * d) % s + s) % s == 0) {
      j0 = j;
      break;
    }
  if (j0 < 0 || a.count == 0) return a;
  a.j0 = j0;
  a.taps = (k - 1 - j0) / a.step + 1;
  // Input position r + s*m gets grad_output[m + c - t*dil] * w[j0 + t*step]; flipped (u = taps-1-t)
  // it reads grad_output[m + q + u*dil]: a forward convolution with leading padding -q.
  const int64_t c = (r + p - j0 * d) / s;  // exact
  int64_t q = c - (a.taps - 1) * a.dil;
  if (q > 0) {  // padding beyond the kernel's reach: skip the leading outputs with zero taps
    a.zeros = ceil_div(q, a.dil);
    q -= a.zeros * a.dil;
  }
  a.pad = -q;
  return a;
}

// Positions r + s*m (m < count per axis) of every (n, c) plane of gx get src (a dense
// (planes, count...) array), or zero if src is null.
template <typename T>
void scatter_phase(const ConvShape& s, const int64_t r[3], const int64_t cnt[3], const T* src, T* gx) {
  const int64_t planes = s.N * s.C, in_plane = s.in_plane(), H = s.in[1], W = s.in[2];
  const int64_t phase_plane = cnt[0] * cnt[1] * cnt[2];
  parallel_range(planes, (double)phase_plane, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* g = gx + pl * in_plane;
      const T* sp = src ? src + pl * phase_plane : nullptr;
      for (int64_t md = 0; md < cnt[0]; ++md)
        for (int64_t mh = 0; mh < cnt[1]; ++mh) {
          T* row = g + ((r[0] + md * s.s[0]) * H + r[1] + mh * s.s[1]) * W + r[2];
          const int64_t sw = s.s[2];
          if (sp) {
            const T* srow = sp + (md * cnt[1] + mh) * cnt[2];
            for (int64_t mw = 0; mw < cnt[2]; ++mw) row[mw * sw] = srow[mw];
          } else {
            for (int64_t mw = 0; mw < cnt[2]; ++mw) row[mw * sw] = T(0);
          }
        }
    }
  });
}

}  // namespace

template <typename T>
void conv_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx) {
  if (s.N == 0 || s.C == 0 || s.in_plane() == 0) return;
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg();
  const bool unit = s.s[0] == 1 && s.s[1] == 1 && s.s[2] == 1;
  AlignedBuffer<T> wbuf, ybuf;
  for (int64_t rd = 0; rd < s.s[0]; ++rd)
    for (int64_t rh = 0; rh < s.s[1]; ++rh)
      for (int64_t rw = 0; rw < s.s[2]; ++rw) {
        const int64_t r[3] = {rd, rh, rw};
        PhaseAxis ax[3];
        int64_t cnt[3];
        bool live = true;
        for (int a = 0; a < 3; ++a) {
          ax[a] = phase_axis(r[a], s.in[a], s.k[a], s.s[a], s.p[a], s.d[a]);
          cnt[a] = ax[a].count;
          live = live && ax[a].taps > 0;
        }
        if (cnt[0] * cnt[1] * cnt[2] == 0) continue;
        if (!live) {  // no window covers these positions
          scatter_phase<T>(s, r, cnt, nullptr, gx);
          continue;
        }
        ConvShape t{};
        t.N = s.N;
        t.C = s.K;
        t.K = s.C;
        t.groups = G;
        int64_t kk[3];
        for (int a = 0; a < 3; ++a) {
          kk[a] = ax[a].taps + ax[a].zeros;
          t.in[a] = s.out[a];
          t.out[a] = cnt[a];
          t.k[a] = kk[a];
          t.s[a] = 1;
          t.p[a] = ax[a].pad;
          t.d[a] = ax[a].dil;
        }
        // Sub-kernel (C, Kg, kk...): w2[g*Cg + ci][co][u] = w[g*Kg + co][ci][j(u)], zero taps first.
        const int64_t ktaps = kk[0] * kk[1] * kk[2], wtaps = s.taps();
        wbuf.resize((size_t)(s.C * Kg * ktaps));
        T* w2 = wbuf.data();
        for (int64_t g = 0; g < G; ++g)
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t co = 0; co < Kg; ++co) {
              T* dst = w2 + ((g * Cg + ci) * Kg + co) * ktaps;
              const T* src = w + ((g * Kg + co) * Cg + ci) * wtaps;
              for (int64_t ud = 0; ud < kk[0]; ++ud)
                for (int64_t uh = 0; uh < kk[1]; ++uh)
                  for (int64_t uw = 0; uw < kk[2]; ++uw) {
                    T v = T(0);
                    if (ud >= ax[0].zeros && uh >= ax[1].zeros && uw >= ax[2].zeros) {
                      const int64_t jd = ax[0].j0 + (ax[0].taps - 1 - (ud - ax[0].zeros)) * ax[0].step;
                      const int64_t jh = ax[1].j0 + (ax[1].taps - 1 - (uh - ax[1].zeros)) * ax[1].step;
                      const int64_t jw = ax[2].j0 + (ax[2].taps - 1 - (uw - ax[2].zeros)) * ax[2].step;
                      v = src[(jd * s.k[1] + jh) * s.k[2] + jw];
                    }
                    dst[(ud * kk[1] + uh) * kk[2] + uw] = v;
                  }
            }
        if (unit) {
          conv_forward<T>(t, gy, w2, nullptr, gx, nullptr);
        } else {
          ybuf.resize((size_t)(s.N * s.C * cnt[0] * cnt[1] * cnt[2]));
          conv_forward<T>(t, gy, w2, nullptr, ybuf.data(), nullptr);
          scatter_phase<T>(s, r, cnt, ybuf.data(), gx);
        }
      }
}

namespace {

// A run of reduction positions inside one output row: columns [ow0, ow1) of (n, od, oh) go to
// packed column dst.
struct Run {
  int64_t n, od, oh, ow0, ow1, dst;
};

}  // namespace

template <typename T>
void conv_backward_weight(const ConvShape& s, const T* x, const T* gy, T* gw, T* gb) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), K = s.K, taps = s.taps();
  const int64_t Kdim = gw ? Cg * taps : 0, ncols = Kdim + (gb ? 1 : 0);
  const int64_t OP = s.out_plane(), R = s.N * OP, in_plane = s.in_plane();
  if (gw) std::memset(gw, 0, (size_t)(K * Cg * taps) * sizeof(T));
  if (gb) std::memset(gb, 0, (size_t)K * sizeof(T));
  if (R == 0 || K == 0 || ncols == 0) return;
  const GradKernels<T>& gk = kernel_set<T>(kernels()).grad;

  // Tile with the least estimated time: per vector step, max(FMAs, loads) / 2 per tile.
  int best = 0;
  double best_cost = 0;
  for (int i = 0; i < gk.n_tiles; ++i) {
    const DotTile<T>& t = gk.tiles[i];
    const double per = (double)(t.ma * t.nb > t.ma + t.nb ? t.ma * t.nb : t.ma + t.nb) + 2.0;
    const double cost = (double)ceil_div(Kg, t.ma) * (double)ceil_div(ncols, t.nb) * per;
    if (i == 0 || cost < best_cost) {
      best = i;
      best_cost = cost;
    }
  }
  const DotTile<T> tile = gk.tiles[best];

  // Chunks of the reduction (positions, across images), lengths a multiple of 16 >= vl.
  const int64_t Lmax = 512;
  const int64_t nchunks = ceil_div(R, Lmax);
  const int64_t L = ceil_div(ceil_div(R, nchunks), 16) * 16;
  // Column blocks: the packed input block (CB x L) stays within ~256 KiB.
  const int64_t cb_max = max64(tile.nb, (262144 / ((int64_t)sizeof(T) * L)) / tile.nb * tile.nb);
  const int64_t ncb = ceil_div(ncols, cb_max);
  const int64_t CB = ceil_div(ceil_div(ncols, ncb), tile.nb) * tile.nb;
  // Partial sums: enough tasks for the threads, bounded memory; fixed by the shape.
  int64_t S = clamp64(ceil_div(16, G * ncb), 1, nchunks);
  while (S > 1 && S * K * ncols > (int64_t(1) << 22)) --S;
  AlignedBuffer<T> part((size_t)(S * K * ncols));
  std::memset(part.data(), 0, (size_t)(S * K * ncols) * sizeof(T));
  T* partp = part.data();

  const double work = (double)R * (double)K * (double)ncols;
  parallel_for(S * G * ncb, [&](int64_t task) {
    FlushDenormalsScope ftz;
    thread_local AlignedBuffer<T> abuf, bbuf;
    thread_local std::vector<Run> runs;
    const int64_t cb = task % ncb, g = (task / ncb) % G, slot = task / (ncb * G);
    const int64_t c0 = cb * CB, c1 = min64(ncols, c0 + CB), ncb_cols = c1 - c0;
    if (ncb_cols <= 0) return;
    const int64_t ch0 = slot * nchunks / S, ch1 = (slot + 1) * nchunks / S;
    abuf.resize((size_t)(Kg * L));
    bbuf.resize((size_t)(ncb_cols * L));
    T* A = abuf.data();
    T* B = bbuf.data();
    T* out = partp + (slot * K + g * Kg) * ncols + c0;
    for (int64_t ch = ch0; ch < ch1; ++ch) {
      const int64_t r0 = ch * L, r1 = min64(R, r0 + L), len = r1 - r0;
      // grad_output rows of this group
      for (int64_t co = 0; co < Kg; ++co) {
        T* row = A + co * L;
        for (int64_t r = r0; r < r1;) {
          const int64_t n = r / OP, p = r % OP, run = min64(r1 - r, OP - p);
          std::memcpy(row + (r - r0), gy + (n * K + g * Kg + co) * OP + p, (size_t)run * sizeof(T));
          r += run;
        }
        for (int64_t j = len; j < L; ++j) row[j] = T(0);
      }
      // runs of positions along output rows
      runs.clear();
      const int64_t OH = s.out[1], OW = s.out[2];
      for (int64_t r = r0; r < r1;) {
        const int64_t n = r / OP, p = r % OP, ow0 = p % OW, run = min64(r1 - r, OW - ow0);
        runs.push_back({n, p / (OH * OW), (p / OW) % OH, ow0, ow0 + run, r - r0});
        r += run;
      }
      // the im2col block: column c of the weight gradient is input channel c / taps, tap c % taps
      const int64_t D = s.in[0], H = s.in[1], W = s.in[2], kh = s.k[1], kw = s.k[2];
      for (int64_t c = c0; c < c1; ++c) {
        T* dst = B + (c - c0) * L;
        if (c == Kdim) {  // the bias column
          for (int64_t j = 0; j < len; ++j) dst[j] = T(1);
        } else {
          const int64_t ci = c / taps, tp = c % taps;
          const int64_t jd = tp / (kh * kw), jh = (tp / kw) % kh, jw = tp % kw;
          const int64_t off = jw * s.d[2] - s.p[2], sw = s.s[2];
          for (const Run& rn : runs) {
            T* o = dst + rn.dst - rn.ow0;
            const int64_t id = rn.od * s.s[0] - s.p[0] + jd * s.d[0];
            const int64_t ih = rn.oh * s.s[1] - s.p[1] + jh * s.d[1];
            if (id < 0 || id >= D || ih < 0 || ih >= H) {
              for (int64_t ow = rn.ow0; ow < rn.ow1; ++ow) o[ow] = T(0);
              continue;
            }
            const T* xrow = x + ((rn.n * s.C + g * Cg + ci) * in_plane) + (id * H + ih) * W + off;
            const int64_t lo = clamp64(ceil_div(-off, sw), rn.ow0, rn.ow1);
            const int64_t hi = clamp64(ceil_div(W - off, sw), lo, rn.ow1);
            for (int64_t ow = rn.ow0; ow < lo; ++ow) o[ow] = T(0);
            if (sw == 1) {
              std::memcpy(o + lo, xrow + lo, (size_t)(hi - lo) * sizeof(T));
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) o[ow] = xrow[ow * sw];
            }
            for (int64_t ow = hi; ow < rn.ow1; ++ow) o[ow] = T(0);
          }
        }
        for (int64_t j = len; j < L; ++j) dst[j] = T(0);
      }
      for (int64_t i0 = 0; i0 < Kg; i0 += tile.ma)
        for (int64_t j0 = 0; j0 < ncb_cols; j0 += tile.nb)
          tile.fn(L, A + i0 * L, L, (int)min64(tile.ma, Kg - i0), B + j0 * L, L, (int)min64(tile.nb, ncb_cols - j0),
                  out + i0 * ncols + j0, ncols);
    }
  }, work);

  // Partial sums in slot order.
  for (int64_t co = 0; co < K; ++co)
    for (int64_t c = 0; c < ncols; ++c) {
      T acc = partp[co * ncols + c];
      for (int64_t sl = 1; sl < S; ++sl) acc += partp[(sl * K + co) * ncols + c];
      if (c < Kdim)
        gw[co * Kdim + c] = acc;
      else
        gb[co] = acc;
    }
}

template void conv_backward_input<float>(const ConvShape&, const float*, const float*, float*);
template void conv_backward_input<double>(const ConvShape&, const double*, const double*, double*);
template void conv_backward_weight<float>(const ConvShape&, const float*, const float*, float*, float*);
template void conv_backward_weight<double>(const ConvShape&, const double*, const double*, double*, double*);

}  // namespace fmaconv

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
#include <atomic>
#include <cstring>
#include <type_traits>
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

// True if no element is inf or NaN (exponent bits all ones).
template <typename T>
bool all_finite(const T* x, int64_t n) {
  using U = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
  const U mask = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  std::atomic<bool> ok{true};
  parallel_range(n, 1.0, [&](int64_t b, int64_t e) {
    U bad = 0;
    for (int64_t i = b; i < e; ++i) {
      U u;
      std::memcpy(&u, x + i, sizeof(U));
      bad |= (U)((u & mask) == mask);
    }
    if (bad) ok.store(false, std::memory_order_relaxed);
  });
  return ok.load();
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

namespace {

// grad_input summed exactly as defined: each (output, tap) pair that reads an input cell adds
// gy * w to it, nothing else. For non-finite weights or gradients: the phase convolutions also
// multiply padding zeros (and zero taps) by them, and 0 * inf is NaN where PyTorch has none.
template <typename T>
void conv_backward_input_exact(const ConvShape& s, const T* gy, const T* w, T* gx) {
  const int64_t Cg = s.Cg(), Kg = s.Kg(), OP = s.out_plane(), taps = s.taps();
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  parallel_range(s.N * s.C, (double)(Kg * OP * taps), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const int64_t n = pl / s.C, c = pl % s.C, g = c / Cg, ci = c % Cg;
      T* gp = gx + pl * s.in_plane();
      for (int64_t i = 0; i < s.in_plane(); ++i) gp[i] = T(0);
      for (int64_t co = g * Kg; co < (g + 1) * Kg; ++co) {
        const T* yp = gy + (n * s.K + co) * OP;
        const T* wp = w + (co * Cg + ci) * taps;
        for (int64_t jd = 0; jd < s.k[0]; ++jd)
          for (int64_t jh = 0; jh < s.k[1]; ++jh)
            for (int64_t jw = 0; jw < s.k[2]; ++jw) {
              const T wv = wp[(jd * s.k[1] + jh) * s.k[2] + jw];
              const int64_t off = jw * s.d[2] - s.p[2];
              const int64_t lo = clamp64(ceil_div(-off, s.s[2]), 0, OW), hi = clamp64(ceil_div(W - off, s.s[2]), lo, OW);
              for (int64_t od = 0; od < OD; ++od) {
                const int64_t id = od * s.s[0] - s.p[0] + jd * s.d[0];
                if (id < 0 || id >= D) continue;
                for (int64_t oh = 0; oh < OH; ++oh) {
                  const int64_t ih = oh * s.s[1] - s.p[1] + jh * s.d[1];
                  if (ih < 0 || ih >= H) continue;
                  T* row = gp + (id * H + ih) * W;
                  const T* yr = yp + (od * OH + oh) * OW;
                  for (int64_t ow = lo; ow < hi; ++ow) row[ow * s.s[2] + off] += yr[ow] * wv;
                }
              }
            }
      }
    }
  });
}

}  // namespace

template <typename T>
void conv_backward_input(const ConvShape& s, const T* gy, const T* w, T* gx) {
  if (s.N == 0 || s.C == 0 || s.in_plane() == 0) return;
  if (!all_finite(w, s.K * s.Cg() * s.taps()) || !all_finite(gy, s.N * s.K * s.out_plane()))
    return conv_backward_input_exact(s, gy, w, gx);
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg();
  const bool unit = s.s[0] == 1 && s.s[1] == 1 && s.s[2] == 1;
  AlignedBuffer<T> wbuf, ybuf, pbuf;
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
          // Zero padding written out once: conv_forward's edge handling costs more than this
          // copy (LeNet conv2's grad_input, 5x5 taps over 10x10 padded by 4: 0.80 -> 0.72 ms).
          int64_t len[3], plane2 = 1;
          bool pad = false;
          for (int a = 0; a < 3; ++a) {
            len[a] = max64(t.in[a] + t.p[a], t.out[a] + (t.k[a] - 1) * t.d[a]);
            pad = pad || len[a] != t.in[a];
            plane2 *= len[a];
          }
          const int64_t planes = s.N * s.K, OP = s.out_plane();
          if (pad && plane2 <= 4 * OP) {
            pbuf.resize((size_t)(planes * plane2));
            T* yp = pbuf.data();
            parallel_range(planes, (double)plane2, [&](int64_t b, int64_t e) {
              for (int64_t pl = b; pl < e; ++pl) {
                T* dst = yp + pl * plane2;
                std::memset(dst, 0, (size_t)plane2 * sizeof(T));
                const T* src = gy + pl * OP;
                for (int64_t d = 0; d < t.in[0]; ++d)
                  for (int64_t h = 0; h < t.in[1]; ++h)
                    std::memcpy(dst + ((d + t.p[0]) * len[1] + h + t.p[1]) * len[2] + t.p[2],
                                src + (d * t.in[1] + h) * t.in[2], (size_t)t.in[2] * sizeof(T));
              }
            });
            ConvShape t2 = t;
            for (int a = 0; a < 3; ++a) {
              t2.in[a] = len[a];
              t2.p[a] = 0;
            }
            conv_forward<T>(t2, yp, w2, nullptr, gx, nullptr);
          } else {
            conv_forward<T>(t, gy, w2, nullptr, gx, nullptr);
          }
        } else {
          ybuf.resize((size_t)(s.N * s.C * cnt[0] * cnt[1] * cnt[2]));
          conv_forward<T>(t, gy, w2, nullptr, ybuf.data(), nullptr);
          scatter_phase<T>(s, r, cnt, ybuf.data(), gx);
        }
      }
}

namespace {

// A row of the packed input block: input channel ci, taps (jd, jh) and a column offset.
struct SrcRow {
  int64_t ci, dD, dH;  // channel in the group, jd * dd, jh * dh
  int64_t off;         // input column of grid column t: t * sw + off
  bool ones;           // the bias column's row of ones
};

// Grid columns [t0, t1) of output row (n, od, oh), at packed column base + t.
struct Seg {
  int64_t n, od, oh, t0, t1, base;
};

}  // namespace

// The reduction runs over a grid of positions: one grid row of Wg columns per output row
// (n, od, oh); columns [OW, Wg) hold zeros in the packed grad_output. Width taps jw with the same
// phase (jw * dw) % sw then share one packed input row, read at offset (jw * dw) / sw: kw / sw
// times fewer rows to pack. The gap columns multiply real inputs by zero, so this sharing is only
// used when the input is finite (0 * inf would leak NaN into taps that never read that input);
// otherwise every column packs its own row with Wg = OW.
template <typename T>
void conv_backward_weight(const ConvShape& s, const T* x, const T* gy, T* gw, T* gb) {
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), K = s.K, taps = s.taps();
  const int64_t Kdim = gw ? Cg * taps : 0, ncols = Kdim + (gb ? 1 : 0);
  if (gw) std::memset(gw, 0, (size_t)(K * Cg * taps) * sizeof(T));
  if (gb) std::memset(gb, 0, (size_t)K * sizeof(T));
  const int64_t OD = s.out[0], OH = s.out[1], OW = s.out[2], in_plane = s.in_plane();
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2];
  if (s.N * s.out_plane() == 0 || K == 0 || ncols == 0) return;
  const GradKernels<T>& gk = kernel_set<T>(kernels()).grad;
  const int64_t VL = gk.vl;

  // Tile with the least estimated time per vector step: its FMAs, its loads (half weight: two
  // per cycle, partly hidden) and a call overhead.
  // (sized for the weight columns: the bias column adds one partial tile, not a worse shape)
  const int64_t tcols = Kdim > 0 ? Kdim : ncols;
  int best = 0;
  double best_cost = 0;
  for (int i = 0; i < gk.n_tiles; ++i) {
    const DotTile<T>& t = gk.tiles[i];
    const double per = (double)(t.ma * t.nb) + 0.5 * (double)(t.ma + t.nb) + 4.0;
    const double cost = (double)ceil_div(Kg, t.ma) * (double)ceil_div(tcols, t.nb) * per;
    if (i == 0 || cost < best_cost) {
      best = i;
      best_cost = cost;
    }
  }
  const DotTile<T> tile = gk.tiles[best];

  const int64_t sw = s.s[2], dw = s.d[2], pw = s.p[2], kw = s.k[2], kh = s.k[1];
  // Neither result depends on the other's presence: the grid, chunks and slots depend on the
  // shape and x only (not on ncols), and each column sums alone, in the same order, in any tile.
  const bool shared = kw > 1 && all_finite(x, s.N * s.C * in_plane);
  const int64_t maxshift = shared ? (kw - 1) * dw / sw : 0;
  const int64_t Wg = OW + maxshift;
  const int64_t Rg = s.N * OD * OH * Wg;  // grid positions
  // Reading the input in place: without padding, with unit row stride and the grid as wide as
  // the input rows (a valid stride-1 width), the packed row of (ci, jd, jh) over the output rows
  // of one (n, od) is the input itself from row jh * dh on. Chunks then stay inside one such slab.
  const int64_t slab = OH * Wg;
  const int64_t kMinSlab = 256;  // smaller slabs: chunks too short for the tiles
  const bool in_place = shared && sw == 1 && Wg == W && s.s[1] == 1 && s.p[0] == 0 && s.p[1] == 0 && pw == 0 &&
                        slab >= kMinSlab;
  // Chunks of the grid (lengths a multiple of 16 >= vl); packed rows carry maxshift extra columns.
  // Long chunks: fewer tile calls and lane sums per multiply-add; the packed grad_output block
  // (Kg x L) stays within ~4 MiB of floats.
  const int64_t Lmax = clamp64((int64_t(1) << 20) / max64(Kg, 1) / 16 * 16, 256, 1536);
  const int64_t span = in_place ? slab : Rg;      // what chunks split evenly
  const int64_t per_span = ceil_div(span, Lmax);  // chunks per span
  const int64_t L = ceil_div(ceil_div(span, per_span), 16) * 16;
  const int64_t nchunks = in_place ? s.N * OD * per_span : ceil_div(Rg, L);
  const int64_t LP = ceil_div(L + maxshift, 16) * 16;
  const T* x_end = x + s.N * s.C * in_plane;

  // Column blocks: one block's packed rows stay within ~256 KiB (shared rows serve ~kw/sw columns).
  const int64_t cols_per_row = shared ? max64(1, kw / sw) : 1;
  const int64_t cb_max = max64(tile.nb, (262144 / ((int64_t)sizeof(T) * LP) * cols_per_row) / tile.nb * tile.nb);
  const int64_t ncb = ceil_div(ncols, cb_max);
  const int64_t CB = ceil_div(ceil_div(ncols, ncb), tile.nb) * tile.nb;
  // Packed rows of each block, in column order (rows shared by width taps are close).
  struct Block {
    int64_t c0, c1;
    std::vector<SrcRow> srcs;
    std::vector<int64_t> src, shift;  // per column
  };
  std::vector<Block> blocks((size_t)ncb);
  int64_t max_src = 0;
  for (int64_t b = 0; b < ncb; ++b) {
    Block& bl = blocks[(size_t)b];
    bl.c0 = b * CB;
    bl.c1 = min64(ncols, bl.c0 + CB);
    for (int64_t c = bl.c0; c < bl.c1; ++c) {
      SrcRow r{};
      int64_t shift = 0;
      if (c == Kdim) {
        r.ones = true;
      } else {
        const int64_t ci = c / taps, tp = c % taps;
        const int64_t jd = tp / (kh * kw), jh = (tp / kw) % kh, jw = tp % kw;
        r = SrcRow{ci, jd * s.d[0], jh * s.d[1], jw * dw - pw, false};
        if (shared) {
          shift = jw * dw / sw;
          r.off -= shift * sw;
        }
      }
      // a row of the same (ci, jd, jh) and phase is among the last sw rows
      int64_t idx = (int64_t)bl.srcs.size();
      for (int64_t q = idx - 1; q >= 0 && q >= (int64_t)bl.srcs.size() - sw; --q) {
        const SrcRow& o = bl.srcs[(size_t)q];
        if (o.ones == r.ones && o.ci == r.ci && o.dD == r.dD && o.dH == r.dH && o.off == r.off) {
          idx = q;
          break;
        }
      }
      if (idx == (int64_t)bl.srcs.size()) bl.srcs.push_back(r);
      bl.src.push_back(idx);
      bl.shift.push_back(shift);
    }
    max_src = max64(max_src, (int64_t)bl.srcs.size());
  }

  // Tasks: (slot of chunks, group, run of column blocks). Their number is fixed by the shape
  // (never by the thread count), so each output's summation order is too. A task keeps vector
  // lane sums of its columns (bounded memory) and packs grad_output once per chunk.
  const int64_t T0 = 16;
  int64_t S = clamp64(ceil_div(T0, G), 1, nchunks);
  while (S > 1 && S * K * (Cg * taps + 1) > (int64_t(1) << 22)) --S;  // (not ncols: same S with or without gb)
  const int64_t lane_cols = max64(CB, ((int64_t(1) << 20) / max64(1, Kg * VL)) / CB * CB);  // 4 MiB of floats
  int64_t ncg = clamp64(max64(ceil_div(T0, S * G), ceil_div(ncols, lane_cols)), 1, ncb);
  const int64_t bpg = ceil_div(ncb, ncg);
  ncg = ceil_div(ncb, bpg);
  AlignedBuffer<T> part((size_t)(S * K * ncols));
  T* partp = part.data();

  const double work = (double)Rg * (double)K * (double)ncols;
  parallel_for(S * G * ncg, [&](int64_t task) {
    FlushDenormalsScope ftz;
    thread_local AlignedBuffer<T> abuf, pbuf, lanes;
    thread_local std::vector<const T*> bptr, src_ptr;
    thread_local std::vector<Seg> segs;
    const int64_t cg = task % ncg, g = (task / ncg) % G, slot = task / (ncg * G);
    const int64_t b0 = cg * bpg, b1 = min64(ncb, b0 + bpg);
    const int64_t gc0 = blocks[(size_t)b0].c0, gc1 = blocks[(size_t)(b1 - 1)].c1, gcols = gc1 - gc0;
    const int64_t ch0 = slot * nchunks / S, ch1 = (slot + 1) * nchunks / S;
    abuf.resize((size_t)(Kg * L));
    pbuf.resize((size_t)(max_src * LP));
    lanes.resize((size_t)(Kg * gcols * VL));
    T* A = abuf.data();
    T* P = pbuf.data();
    T* Lp = lanes.data();
    bptr.resize((size_t)CB);
    src_ptr.resize((size_t)max_src);

    const int64_t lim = shared ? Wg : OW;  // unshared rows read nothing in the gap
    for (int64_t ch = ch0; ch < ch1; ++ch) {
      const int64_t r0 = in_place ? (ch / per_span) * slab + (ch % per_span) * L : ch * L;
      const int64_t len = min64(L, in_place ? slab - (ch % per_span) * L : Rg - r0);
      // grid row pieces of [r0, r0 + LP), decoded once
      segs.clear();
      {
        int64_t r = r0, k = r0 / Wg, t0 = r0 % Wg;
        int64_t oh = k % OH, od = (k / OH) % OD, n = k / (OH * OD);
        while (r < r0 + LP && r < Rg) {
          const int64_t t1 = min64(Wg, t0 + (r0 + LP - r));
          segs.push_back({n, od, oh, t0, t1, r - r0 - t0});
          r += t1 - t0;
          t0 = 0;
          if (++oh == OH) {
            oh = 0;
            if (++od == OD) {
              od = 0;
              ++n;
            }
          }
        }
      }
      const int64_t filled = segs.empty() ? 0 : segs.back().base + segs.back().t1;  // grid columns packed
      // grad_output of the chunk on the grid (zero in the gap columns and from len on)
      for (int64_t co = 0; co < Kg; ++co) {
        T* row = A + co * L;
        for (const Seg& sg : segs) {
          if (sg.base + sg.t0 >= len) break;
          const int64_t t1 = min64(sg.t1, len - sg.base), tv = min64(t1, OW);
          T* o = row + sg.base;
          const T* sr = gy + ((sg.n * K + g * Kg + co) * OD + sg.od) * OH * OW + sg.oh * OW;
          int64_t t = sg.t0;
          for (; t < tv; ++t) o[t] = sr[t];
          for (; t < t1; ++t) o[t] = T(0);
        }
        for (int64_t j = min64(filled, len); j < L; ++j) row[j] = T(0);
      }
      for (int64_t b = b0; b < b1; ++b) {
        const Block& bl = blocks[(size_t)b];
        const int64_t nsrc = (int64_t)bl.srcs.size(), nc = bl.c1 - bl.c0;
        // the block's input rows: the input itself, or packed on the grid
        bool copy = true;
        if (in_place) {
          const int64_t n = r0 / (OD * slab), od = (r0 / slab) % OD, rs = r0 % slab;
          bool fits = true;
          for (int64_t si = 0; si < nsrc && fits; ++si) {
            const SrcRow& sr = bl.srcs[(size_t)si];
            if (sr.ones) continue;
            const T* p = x + ((n * s.C + g * Cg + sr.ci) * D + od * s.s[0] + sr.dD) * H * W + sr.dH * W + rs;
            fits = x_end - p >= LP;  // the tiles read below p + L + maxshift
            src_ptr[(size_t)si] = p;
          }
          copy = !fits;
        }
        for (int64_t si = 0; si < nsrc; ++si) {
          const SrcRow& sr = bl.srcs[(size_t)si];
          T* dst = P + si * LP;
          if (sr.ones) {
            for (int64_t j = 0; j < LP; ++j) dst[j] = T(1);
            src_ptr[(size_t)si] = dst;
            continue;
          }
          if (!copy) continue;
          src_ptr[(size_t)si] = dst;
          const int64_t clo = ceil_div(-sr.off, sw), chi = min64(lim, ceil_div(W - sr.off, sw));
          for (const Seg& sg : segs) {
            const int64_t t0 = sg.t0, t1 = sg.t1;
            const int64_t id = sg.od * s.s[0] - s.p[0] + sr.dD, ih = sg.oh * s.s[1] - s.p[1] + sr.dH;
            T* o = dst + sg.base;
            if (id < 0 || id >= D || ih < 0 || ih >= H) {
              for (int64_t t = t0; t < t1; ++t) o[t] = T(0);
              continue;
            }
            const T* xr = x + (sg.n * s.C + g * Cg + sr.ci) * in_plane + (id * H + ih) * W;
            const int64_t lo = clamp64(clo, t0, t1), hi = clamp64(chi, lo, t1);
            int64_t t = t0;
            for (; t < lo; ++t) o[t] = T(0);
            if (sw == 1) {
              if (hi - lo >= 16) {
                std::memcpy(o + lo, xr + lo + sr.off, (size_t)(hi - lo) * sizeof(T));
                t = hi;
              } else {
                for (; t < hi; ++t) o[t] = xr[t + sr.off];
              }
            } else {
              for (; t < hi; ++t) o[t] = xr[t * sw + sr.off];
            }
            for (; t < t1; ++t) o[t] = T(0);
          }
          for (int64_t j = filled; j < LP; ++j) dst[j] = T(0);
        }
        for (int64_t j = 0; j < nc; ++j)
          bptr[(size_t)j] = src_ptr[(size_t)bl.src[(size_t)j]] + bl.shift[(size_t)j];
        // The tile's longer side stays in L1 across the inner loop; the shorter one streams.
        auto run = [&](int64_t i0, int64_t j0) {
          tile.fn(L, A + i0 * L, L, (int)min64(tile.ma, Kg - i0), bptr.data() + j0, (int)min64(tile.nb, nc - j0),
                  Lp + (i0 * gcols + bl.c0 - gc0 + j0) * VL, gcols, ch == ch0);
        };
        if (tile.nb >= tile.ma) {
          for (int64_t j0 = 0; j0 < nc; j0 += tile.nb)
            for (int64_t i0 = 0; i0 < Kg; i0 += tile.ma) run(i0, j0);
        } else {
          for (int64_t i0 = 0; i0 < Kg; i0 += tile.ma)
            for (int64_t j0 = 0; j0 < nc; j0 += tile.nb) run(i0, j0);
        }
      }
    }
    T* out = partp + (slot * K + g * Kg) * ncols + gc0;
    for (int64_t co = 0; co < Kg; ++co) gk.lane_sums(Lp + co * gcols * VL, gcols, out + co * ncols);
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

// Direct convolution without im2col: the input (zero-padded, and split into stride phases
// along H and W when strided) is laid out so that, for one output depth, output position
// q = oh * Wq + ow reads tap k at buf[base + boff[k] + q]: every tap is a contiguous run over
// q. A tile kernel then holds MR output channels x NR positions in registers over the whole
// reduction, reading the weights as broadcasts and the input as unaligned vectors. Columns
// ow in [OW, Wq) of the grid are computed and dropped (the cost of this layout).
// Channels-in-vector tiles broadcast each input instead of loading vectors: for stride 2 along
// W they step over columns in place (g.cw = 2) and the columns are not dealt into phases.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ops/conv_internal.h"
#include "runtime/buffer.h"
#include "runtime/dispatch.h"
#include "runtime/fpenv.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

// Largest tile any kernel set writes (8 x 96 float / 8 x 48 double, 14 x 32 float), in elements.
constexpr int64_t kTileElems = 8 * 96;

struct DirectGeometry {
  bool copy;                 // false: read x in place (no padding, unit H/W stride)
  int64_t Dp, Hp, Wp;        // padded input sizes
  int64_t Hq, Wq;            // one stride phase's sizes
  int64_t sw, cw;            // W phases in the buffer; the tile's step between output columns
  int64_t PS, DS, CS;        // strides of a phase, a depth slice and a channel in the buffer
  int64_t Lq;                // grid positions per output depth that hold outputs
};

// cw = 2: W not split into phases (stride 2 taken by the tile kernel).
DirectGeometry direct_geometry(const ConvShape& s, int64_t cw = 1) {
  DirectGeometry g{};
  g.cw = cw;
  g.sw = cw > 1 ? 1 : s.s[2];
  int64_t need[3], padded[3];
  for (int a = 0; a < 3; ++a) need[a] = (s.out[a] - 1) * s.s[a] + (s.k[a] - 1) * s.d[a] + 1;  // span of the windows
  // ('same' padding can pad the far end only: p is the leading padding.)
  g.copy = s.p[0] || s.p[1] || s.p[2] || s.s[1] > 1 || s.s[2] > 1 || need[0] > s.in[0] || need[1] > s.in[1] ||
           need[2] > s.in[2];
  for (int a = 0; a < 3; ++a) padded[a] = g.copy ? max64(need[a], s.in[a] + s.p[a]) : s.in[a];
  g.Dp = padded[0];
  g.Hp = padded[1];
  g.Wp = padded[2];
  g.Hq = ceil_div(g.Hp, s.s[1]);
  g.Wq = ceil_div(g.Wp, g.sw);
  g.PS = g.Hq * g.Wq;
  g.DS = s.s[1] * g.sw * g.PS;
  g.CS = g.Dp * g.DS;
  g.Lq = (s.out[1] - 1) * g.Wq + s.out[2];
  return g;
}

// One channel into the padded, phase-split layout (zeros outside the input): depth slices
// [dp0, dp1) and rows [r0, r1) of every stride phase (by default all of them).
// ahead: the next channel (input plane and buffer, one channel further) is filled next. Its
// rows are prefetched while this one's are dealt: a channel's rows are short runs scattered
// over the phase planes, too short for the hardware prefetchers, and the deal waited on L3
// row by row (128 x 56 x 56, stride 2: 170-230 us, ~5x a copy of the input; 120-160 us so).
template <typename T>
void fill_padded(const ConvShape& s, const DirectGeometry& g, const T* xc, T* dst, int64_t dp0 = 0,
                 int64_t dp1 = -1, int64_t r0 = 0, int64_t r1 = -1, bool ahead = false) {
  if (dp1 < 0) dp1 = g.Dp;
  if (r1 < 0) r1 = g.Hq;
  const GemmKernels<T>& ks = kernel_set<T>(kernels()).gemm;
  const int64_t sh = s.s[1], sw = g.sw, H = s.in[1], W = s.in[2], pw = s.p[2];
  // Only short strided fills: unit-stride rows stream well (prefetching there cost 20% of
  // a 64 x 56 x 56 padding), and a whole long channel ahead evicted rows before their turn.
  ahead = ahead && (sh > 1 || sw > 1) && (dp1 - dp0) * (r1 - r0) * sh * W * (int64_t)sizeof(T) <= (32 << 10);
  // Strides above 2: a row is padded into tmp first, then dealt to its phases.
  thread_local std::vector<T> tmp;
  if (sw > 2) tmp.assign((size_t)(g.Wq * sw), T(0));
  const int64_t copy_w = min64(W, g.Wq * sw - pw);  // input columns that land in the padded row
  for (int64_t dp = dp0; dp < dp1; ++dp) {
    T* slice = dst + dp * g.DS;
    const int64_t id = dp - s.p[0];
    // Input rows in order (phase rows interleaved): one phase at a time read every sh-th row
    // and a stride-2 convolution over 128 x 56 x 56 ran 1-4% slower (one thread).
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t phh = 0; phh < sh; ++phh) {
        const int64_t ih = r * sh + phh - s.p[1];
        T* out = slice + phh * sw * g.PS + r * g.Wq;  // phase (phh, 0); phase phw is phw * PS further
        const bool zero = ih < 0 || ih >= H || id < 0 || id >= s.in[0];
        if (ahead) {
          for (int64_t phw = 0; phw < sw; ++phw) {
            const T* o = out + phw * g.PS + g.CS;
            __builtin_prefetch(o, 1);
            __builtin_prefetch(o + g.Wq - 1, 1);
          }
          if (!zero) {
            const T* nxt = xc + s.in_plane() + (id * H + ih) * W;
            for (int64_t c = 0; c < W; c += 64 / (int64_t)sizeof(T)) __builtin_prefetch(nxt + c, 0, 2);
            __builtin_prefetch(nxt + W - 1, 0, 2);
          }
        }
        if (zero) {
          for (int64_t phw = 0; phw < sw; ++phw) ks.pad_row(xc, 0, 0, g.Wq, out + phw * g.PS);  // zeros
          continue;
        }
        const T* row = xc + (id * H + ih) * W;
        if (sw == 2) {
          ks.deal_row2(row, copy_w, pw, g.Wq, out, out + g.PS);
          continue;
        }
        T* padded = sw == 1 ? out : tmp.data();
        ks.pad_row(row, copy_w, pw, g.Wq * sw, padded);
        if (sw > 2)
          for (int64_t phw = 0; phw < sw; ++phw)
            for (int64_t c = 0; c < g.Wq; ++c) out[phw * g.PS + c] = padded[c * sw + phw];
      }
  }
}

// Testing hook: FMACONV_CONV_TILE=i forces tile kernel i of the selected set (see conv_tile_names).
int forced_tile() {
  const char* e = std::getenv("FMACONV_CONV_TILE");
  return e && *e ? std::atoi(e) : -1;
}

// Share of the computed lanes that are outputs, for one tile kernel on this shape.
template <typename T>
double tile_efficiency(const ConvTile<T>& t, const ConvShape& s, const DirectGeometry& g) {
  const int64_t Kg = s.Kg(), OH = s.out[1], OW = s.out[2];
  const double channels = (double)Kg / (double)(ceil_div(Kg, (int64_t)t.mr) * t.mr);
  if (t.channels_in_vector) return channels * (double)OW / (double)(ceil_div(OW, (int64_t)t.nr) * t.nr);
  return channels * (double)(OH * OW) / (double)(ceil_div(g.Lq, (int64_t)t.nr) * t.nr);
}

// The tile kernel with the least waste; positions-in-vector kernels (listed first, cheaper to
// store) win ties. Channels-in-vector tiles transpose their stores, a cost against the
// reduction length: measured here, about 8 multiply-adds per output.
template <typename T>
int pick_tile(const GemmKernels<T>& ks, const ConvShape& s, const DirectGeometry& g) {
  static const int forced = forced_tile();
  if (forced >= 0 && forced < ks.n_tiles) return forced;
  int best = 0;
  double best_eff = 0;
  for (int i = 0; i < ks.n_tiles; ++i) {
    const double kdim = (double)(s.Cg() * s.taps());
    const double eff = tile_efficiency(ks.tiles[i], s, g) * (ks.tiles[i].channels_in_vector ? kdim / (kdim + 8) : 1.0);
    if (eff > best_eff + 1e-9) {
      best_eff = eff;
      best = i;
    }
  }
  return best;
}

}  // namespace

template <typename T>
void conv_direct(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>* packed) {
  const GemmKernels<T>& ks = kernel_set<T>(kernels()).gemm;
  ConvTile<T> tile = ks.tiles[pick_tile(ks, s, direct_geometry(s))];
  const bool cv = tile.channels_in_vector;
  // Stride 2 along W: with columns dealt into phases, 8 x 32 x 28 x 28 ran 4% slower (1 thread).
  const bool step2 = cv && s.s[2] == 2 && tile.fn_s2;
  if (step2) tile.fn = tile.fn_s2;
  const DirectGeometry g = direct_geometry(s, step2 ? 2 : 1);
  const int64_t MR = tile.mr, NR = tile.nr;
  const int64_t slack = NR * g.cw;  // elements a tile may read past its last position's run
  const int64_t G = s.groups, Cg = s.Cg(), Kg = s.Kg(), taps = s.taps(), Kdim = Cg * taps;
  const int64_t OD = s.out[0], OH = s.out[1], OW = s.out[2], P = s.out_plane(), in_plane = s.in_plane();
  const int64_t mblocks = ceil_div(Kg, MR);

  // The kernels read MR bias entries per block: pad them.
  std::vector<T> bias_pad;
  if (bias) {
    bias_pad.assign((size_t)(G * mblocks * MR), T(0));
    for (int64_t gi = 0; gi < G; ++gi)
      for (int64_t co = 0; co < Kg; ++co) bias_pad[(size_t)(gi * mblocks * MR + co)] = bias[gi * Kg + co];
  }

  // Tap offsets, in the packed weights' kernel-row-major (jd, jh, ci, jw) order (KOrder::row_major).
  std::vector<int64_t> boff((size_t)Kdim), edge_off((size_t)Kdim);
  for (int64_t jd = 0, k = 0; jd < s.k[0]; ++jd)
    for (int64_t jh = 0; jh < s.k[1]; ++jh)
      for (int64_t ci = 0; ci < Cg; ++ci)
        for (int64_t jw = 0; jw < s.k[2]; ++jw, ++k) {
          const int64_t hh = jh * s.d[1], ww = jw * s.d[2];
          boff[(size_t)k] = ci * g.CS + jd * s.d[0] * g.DS + ((hh % s.s[1]) * g.sw + ww % g.sw) * g.PS +
                            (hh / s.s[1]) * g.Wq + ww / g.sw;
          edge_off[(size_t)k] = k * slack;
        }
  // Kernel rows [lo, hi) of axis a that read some input for output indices [o0, o1]: the others
  // read only padding, and a tile with all-finite weights skips them (their products are zeros).
  auto live_rows = [&](int a, int64_t o0, int64_t o1, int64_t* lo, int64_t* hi) {
    *lo = min64(s.k[a], max64(0, ceil_div(s.p[a] - o1 * s.s[a], s.d[a])));
    *hi = max64(*lo, min64(s.k[a], ceil_div(s.in[a] + s.p[a] - o0 * s.s[a], s.d[a])));
  };
  const int64_t CK = Cg * s.k[2];  // packed rows per kernel row

  // Tiles per output depth: runs of NR grid positions, or (channels in vector) NR columns of one row.
  const int64_t per_row = ceil_div(OW, NR);
  const int64_t ntiles = cv ? OH * per_row : ceil_div(g.Lq, NR);
  const int64_t group_len = g.copy ? Cg * g.CS : Cg * in_plane;  // one image group in the source
  const double macs = (double)s.N * (double)s.K * (double)P * (double)Kdim;
  const int64_t threads = get_num_threads();
  const int64_t run_tiles = max64(1, 384 / NR);  // ~384 positions

  // Tiles [tl0, tl1) of output depth od of image group (n, gi), output-channel blocks [mb0, mb1).
  // src is the group's source (padded copy or x itself); reads must stay below src_end.
  // ablk: the packed weights of block (gi, mb0), the others following it; fl: their flags.
  auto run = [&](const T* ablk, const T* fl, int64_t n, int64_t gi, int64_t od, int64_t tl0, int64_t tl1,
                 int64_t mb0, int64_t mb1, const T* src, const T* src_end) {
    alignas(64) T out[kTileElems];
    thread_local AlignedBuffer<T> edge;
    T* yg = y + (n * s.K + gi * Kg) * P + od * OH * OW;
    const T* od_src = src + od * s.s[0] * g.DS;
    int64_t jd_lo, jd_hi;
    live_rows(0, od, od, &jd_lo, &jd_hi);
    // Runs of run_tiles tiles: their input stays in cache while every channel block reads it.
    for (int64_t r0 = tl0; r0 < tl1; r0 += run_tiles)
    for (int64_t mb = mb0; mb < mb1; ++mb) {
      const int64_t mrv = min64(MR, Kg - mb * MR);
      const T* a = ablk + (mb - mb0) * Kdim * MR;
      const bool skip = fl[mb - mb0] != T(0);
      const T* bb = bias ? bias_pad.data() + (gi * mblocks + mb) * MR : nullptr;
      T* yb = yg + mb * MR * P;
      for (int64_t tl = r0; tl < min64(r0 + run_tiles, tl1); ++tl) {
        int64_t q0, nrv, oh, ow0;  // q0: the tile's first position in the buffer
        if (cv) {
          oh = tl / per_row;
          ow0 = (tl % per_row) * NR;
          q0 = oh * g.Wq + ow0 * g.cw;
          nrv = min64(NR, OW - ow0);
        } else {
          q0 = tl * NR;
          nrv = min64(NR, g.Lq - q0);
          oh = q0 / g.Wq;
          ow0 = q0 % g.Wq;
        }
        int64_t k0 = 0, k1 = Kdim;
        if (skip) {
          if (jd_hi - jd_lo == 1) {
            int64_t jh_lo, jh_hi;
            live_rows(1, oh, cv ? oh : (q0 + nrv - 1) / g.Wq, &jh_lo, &jh_hi);
            k0 = (jd_lo * s.k[1] + jh_lo) * CK;
            k1 = (jd_lo * s.k[1] + jh_hi) * CK;
          } else {
            k0 = jd_lo * s.k[1] * CK;
            k1 = jd_hi * s.k[1] * CK;
          }
        }
        const T* b = od_src + q0;
        const int64_t* offs = boff.data();
        if (src_end - b < boff[(size_t)Kdim - 1] + slack) {
          // Only the very last tile of x read in place can run past its end: copy what it reads.
          edge.resize((size_t)(Kdim * slack));
          for (int64_t k = 0; k < Kdim; ++k)
            for (int64_t j = 0; j < slack; ++j)
              edge.data()[k * slack + j] = j <= (nrv - 1) * g.cw ? b[boff[(size_t)k] + j] : T(0);
          b = edge.data();
          offs = edge_off.data();
        }
        const T* ak = a + k0 * MR;
        offs += k0;
        T* yt = yb + oh * OW + ow0;
        // The tile's output lines, fetched for writing while its reduction runs: dozens of
        // store misses at its end (one row segment per channel) otherwise stall the stores.
        for (int64_t c = 0; c < mrv; ++c) {
          __builtin_prefetch(yt + c * P, 1);
          __builtin_prefetch(yt + c * P + nrv - 1, 1);
        }
        if (!cv && mrv == MR && ow0 + NR <= OW) {  // the whole tile lies in one output row
          tile.fn(k1 - k0, ak, b, offs, bb, yt, P);
          continue;
        }
        tile.fn(k1 - k0, ak, b, offs, bb, out, cv ? MR : NR);
        if (cv) {  // out is positions x channels: one row segment per channel
          ks.store_cv(out, MR, nrv, mrv, yt, P);
          continue;
        }
        ks.store_grid(out, NR, mrv, q0, nrv, g.Wq, OW, yb, P);
      }
    }
  };

  // With several threads, each task reads only data its own thread wrote (padded input, and
  // weights packed for this call): the two cores of this VM can sit on different dies, where a
  // line written by one core and read by the other costs a cross-die transfer (330 ns round
  // trip measured, against 60 ns on one die). With a padding pass and a packing pass split
  // among the threads, a 2-thread 3x3 convolution ran 30% slower there. The price is some
  // duplicated packing and padding (of the smaller operand). A packed-weight object's weights
  // stay packed, read-only, across calls, so every thread shares them.
  const int64_t outer = s.N * G * OD, ngroups = s.N * G, nblk = G * mblocks;
  const bool small_weights = G * Kdim * Kg <= group_len;  // weights no larger than one input group
  const bool private_pack = threads > 1 && packed->per_call();
  const uint64_t call_id = new_call_id();
  auto own_blocks = [&](int64_t b0, int64_t b1) {
    return thread_packed_blocks(s, w, MR, b0, b1, KOrder::row_major, call_id);
  };
  // This thread's zero-initialised buffer for one padded image group (plus the slack).
  auto own_group_buffer = [&]() -> T* {
    thread_local AlignedBuffer<T> buf;
    thread_local size_t zeroed = 0;  // slack and unpadded rows are read by dropped lanes only
    const size_t need = (size_t)(group_len + slack);
    if (need > zeroed) {
      buf.resize(need);
      std::memset(buf.data(), 0, need * sizeof(T));
      zeroed = need;
    }
    return buf.data();
  };
  auto pad_group = [&](int64_t n, int64_t gi, T* buf, int64_t dp0, int64_t dp1, int64_t r0, int64_t r1) {
    for (int64_t c = 0; c < Cg; ++c)
      fill_padded(s, g, x + ((n * s.C) + gi * Cg + c) * in_plane, buf + c * g.CS, dp0, dp1, r0, r1, c + 1 < Cg);
  };
  const T* apack = nullptr;  // shared packed weights, when a path uses them
  auto shared_pack = [&] { return apack ? apack : (apack = blocked_weights(s, w, MR, packed, KOrder::row_major)); };
  const int64_t blk_len = Kdim * MR;
  // Every block's weights and flags, for the tasks of this thread.
  auto all_blocks = [&](bool own, const T** flags) {
    const T* ap = own ? own_blocks(0, nblk) : apack;
    *flags = ap + nblk * blk_len;
    return ap;
  };

  if (g.copy && ngroups >= 2 * threads && (ngroups % threads == 0 || ngroups >= 8 * threads)) {
    // Enough image groups to share evenly: each task pads one group and consumes it while it is
    // still in cache.
    const bool own = private_pack && small_weights;
    if (!own) shared_pack();
    parallel_for(ngroups, [&](int64_t t) {
      FlushDenormalsScope ftz;
      const int64_t n = t / G, gi = t % G;
      const T* fl;
      const T* ap = all_blocks(own, &fl);
      T* buf = own_group_buffer();
      pad_group(n, gi, buf, 0, g.Dp, 0, g.Hq);
      for (int64_t od = 0; od < OD; ++od)
        run(ap + gi * mblocks * blk_len, fl + gi * mblocks, n, gi, od, 0, ntiles, 0, mblocks, buf,
            buf + group_len + slack);
    }, macs);
    return;
  }

  if (g.copy && threads > 1 && small_weights) {
    // Positions split among the threads: each task pads only the input its tiles read (every
    // channel of those rows, or of those output depths' slices).
    // Two tasks per thread: each band pads its halo rows (or slices) again, and with 8 per
    // thread that cost 3-4% of a 2-thread 3x3 convolution (64x56, dilated, 3-D).
    const int64_t want = 2 * threads;
    const int64_t halo_rows = ((s.k[1] - 1) * s.d[1]) / s.s[1], halo_slices = (s.k[0] - 1) * s.d[0];
    const int64_t od_per = max64(1, outer / want);  // depth bands when there are many
    const int64_t od_bands = ceil_div(OD, od_per);
    int64_t chunks = od_per > 1 ? 1 : clamp64(ceil_div(want, outer), 1, ntiles);
    const int64_t per_chunk = ceil_div(ntiles, chunks);
    chunks = ceil_div(ntiles, per_chunk);
    if (!private_pack) shared_pack();
    parallel_for(ngroups * od_bands * chunks, [&](int64_t t) {
      FlushDenormalsScope ftz;
      const int64_t chunk = t % chunks;
      int64_t u = t / chunks;
      const int64_t band = u % od_bands;
      u /= od_bands;
      const int64_t gi = u % G, n = u / G;
      const int64_t od0 = band * od_per, od1 = min64(od0 + od_per, OD);
      const int64_t tl0 = chunk * per_chunk, tl1 = min64(tl0 + per_chunk, ntiles);
      int64_t r0 = 0, r1 = g.Hq;
      if (chunks > 1) {  // phase rows the valid outputs of these tiles read
        const int64_t oh_lo = cv ? tl0 / per_row : tl0 * NR / g.Wq;
        const int64_t oh_hi = cv ? (tl1 - 1) / per_row : (min64(tl1 * NR, g.Lq) - 1) / g.Wq;
        r0 = oh_lo;
        r1 = min64(g.Hq, oh_hi + halo_rows + 1);
      }
      const T* fl;
      const T* ap = all_blocks(private_pack, &fl);
      T* buf = own_group_buffer();
      pad_group(n, gi, buf, od0 * s.s[0], min64(g.Dp, (od1 - 1) * s.s[0] + halo_slices + 1), r0, r1);
      for (int64_t od = od0; od < od1; ++od)
        run(ap + gi * mblocks * blk_len, fl + gi * mblocks, n, gi, od, tl0, tl1, 0, mblocks, buf,
            buf + group_len + slack);
    }, macs);
    return;
  }

  if ((threads > 1 || packed->per_call()) && !small_weights && mblocks > 1) {
    // Weights larger than the input: output-channel blocks split into tasks, each packing just
    // its blocks (at most ~256 KB, still in L2 when its tiles read them) and sweeping them over
    // every tile; each thread pads the whole image group for itself once per call.
    const int64_t l2_blocks = max64(1, (256 << 10) / (blk_len * (int64_t)sizeof(T)));
    const int64_t nco = max64(min64(mblocks, 4 * threads), ceil_div(mblocks, l2_blocks));
    const int64_t mb_per = ceil_div(mblocks, nco);
    int64_t chunks = 1;
    while (G * nco * chunks < 4 * threads && chunks < ntiles) chunks *= 2;
    const int64_t per_chunk = ceil_div(ntiles, chunks);
    chunks = ceil_div(ntiles, per_chunk);
    const bool own = packed->per_call();  // each task packs its own blocks
    if (!own) shared_pack();
    parallel_for(G * nco * chunks, [&](int64_t task) {
      FlushDenormalsScope ftz;
      const int64_t chunk = task % chunks, co = (task / chunks) % nco, gi = task / (chunks * nco);
      const int64_t mb0 = co * mb_per, mb1 = min64(mb0 + mb_per, mblocks);
      if (mb0 >= mb1) return;
      const int64_t tl0 = chunk * per_chunk, tl1 = min64(tl0 + per_chunk, ntiles);
      const T* ap = own ? own_blocks(gi * mblocks + mb0, gi * mblocks + mb1) : apack + (gi * mblocks + mb0) * blk_len;
      const T* fl = own ? ap + (mb1 - mb0) * blk_len : apack + nblk * blk_len + gi * mblocks + mb0;
      for (int64_t n = 0; n < s.N; ++n) {
        const T* src = x + (n * G + gi) * group_len;
        const T* src_end = x + s.N * G * group_len;
        if (g.copy) {
          thread_local uint64_t pad_call = 0;
          thread_local int64_t pad_id = -1;
          T* buf = own_group_buffer();
          if (pad_call != call_id || pad_id != n * G + gi) {
            pad_group(n, gi, buf, 0, g.Dp, 0, g.Hq);
            pad_call = call_id;
            pad_id = n * G + gi;
          }
          src = buf;
          src_end = buf + group_len + slack;
        }
        for (int64_t od = 0; od < OD; ++od) run(ap, fl, n, gi, od, tl0, tl1, mb0, mb1, src, src_end);
      }
    }, macs);
    return;
  }

  // One thread, or x read in place with small weights: pad every group first (if needed), then
  // split the tiles (and channels) over the threads.
  // Kept per calling thread: a fresh buffer this size would be fresh pages, and first touches
  // of pages cost more than the copy itself (over 1 ms for a 1.7 MB input here).
  thread_local AlignedBuffer<T> xbuf;
  if (g.copy) {
    xbuf.resize((size_t)(s.N * G * group_len + slack));
    T* xb = xbuf.data();  // (inside the tasks, xbuf would name each worker's own buffer)
    for (int64_t i = 0; i < slack; ++i) xb[s.N * G * group_len + i] = T(0);
    parallel_range(s.N * G * Cg, (double)g.CS, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) fill_padded(s, g, x + i * in_plane, xb + i * g.CS, 0, -1, 0, -1, i + 1 < e);
    });
  }
  const T* src = g.copy ? xbuf.data() : x;
  const T* src_end = src + s.N * G * group_len + (g.copy ? slack : 0);
  const bool own = private_pack && small_weights;
  if (!own) shared_pack();
  // Runs are ~384 positions (each channel block writes long runs of output rows), shorter when
  // there are too few to balance the threads (16 tasks per thread): tasks are handed out
  // dynamically, and 17 equal tasks on 2 threads leave one idle for a 17th. Below runs of 4
  // tiles, the output channels are split as well (each share re-reads the same run of input
  // from cache).
  const int64_t want = 16 * threads;
  int64_t chunks = ceil_div(ntiles, run_tiles);
  while (threads > 1 && outer * chunks < want && ntiles >= 8 * chunks) chunks *= 2;
  const int64_t nco = threads > 1 && outer * chunks < want ? clamp64(ceil_div(want, outer * chunks), 1, mblocks) : 1;
  const int64_t per_task = ceil_div(ntiles, chunks);
  chunks = ceil_div(ntiles, per_task);
  const int64_t mb_per = ceil_div(mblocks, nco);
  parallel_for(outer * chunks * nco, [&](int64_t task) {
    FlushDenormalsScope ftz;
    const int64_t co_chunk = task % nco;
    int64_t t = task / nco;
    const int64_t chunk = t % chunks;
    t /= chunks;
    const int64_t od = t % OD;
    t /= OD;
    const int64_t gi = t % G, n = t / G;
    const int64_t mb0 = co_chunk * mb_per, mb1 = min64(mb0 + mb_per, mblocks);
    const int64_t tl0 = chunk * per_task, tl1 = min64(tl0 + per_task, ntiles);
    const T* fl;
    const T* ap = all_blocks(own, &fl);
    if (mb0 < mb1)
      run(ap + (gi * mblocks + mb0) * blk_len, fl + gi * mblocks + mb0, n, gi, od, tl0, tl1, mb0, mb1,
          src + (n * G + gi) * group_len, src_end);
  }, macs);
}

template <typename T>
double direct_efficiency(const ConvShape& s) {
  const GemmKernels<T>& ks = kernel_set<T>(kernels()).gemm;
  const DirectGeometry g = direct_geometry(s);
  return tile_efficiency(ks.tiles[pick_tile(ks, s, g)], s, g);
}
template double direct_efficiency<float>(const ConvShape&);
template double direct_efficiency<double>(const ConvShape&);

std::vector<std::string> conv_tile_names() {
  std::vector<std::string> names;
  const GemmKernels<float>& ks = kernels().f32.gemm;
  for (int i = 0; i < ks.n_tiles; ++i) {
    const ConvTile<float>& t = ks.tiles[i];
    names.push_back(std::to_string(t.mr) + " channels x " + std::to_string(t.nr) + " positions, " +
                    (t.channels_in_vector ? "channels" : "positions") + " in vector");
  }
  return names;
}

template void conv_direct<float>(const ConvShape&, const float*, const float*, const float*, float*,
                                 PackedWeights<float>*);
template void conv_direct<double>(const ConvShape&, const double*, const double*, const double*, double*,
                                  PackedWeights<double>*);

}  // namespace fmaconv

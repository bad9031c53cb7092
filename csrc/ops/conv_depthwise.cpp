// Depthwise and channel-multiplier convolution (Cin/groups == 1) on NCHW.
//
// Unit strides and dilations on a kernel set with masked loads (AVX-512): the kernels read the
// input rows in place, masking the columns in the padding (kernels/api/depthwise.h,
// reads_in_place); rows in the padding read a zero row. Otherwise:
//
// Work is split into tasks of (image, input channel, output depth, band of output rows, band of
// output columns). A task copies the input rows its band reads into a thread-local buffer, once,
// with the zero padding written out and each row split into `stride` phases (so strided taps read
// contiguous memory); rows entirely in the padding share one zero row. The kernel (DwBlock in
// kernels/api/depthwise.h) then runs without bounds logic, for each of the channel's multiplier
// outputs. Bands are sized so the buffer stays in L1/L2 and so that a single image still gives
// every thread work.
//
// The kernels multiply padding zeros by weights. With a non-finite weight that gives NaN
// (0 * inf) where PyTorch's depthwise kernels skip padding taps, so channels with one take the
// exact row kernel instead (no padding taps, as before this file used buffers).
//
// Measured (tools: the bench cases, 1 thread, Zen 4): the copy is ~25% of the 3x3 56x56 case and
// the kernel ~65%; copying just ahead of each band of rows instead of whole planes, software
// prefetch of the next plane and prefetching the output for writing were all slower or neutral.
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/conv_internal.h"
#include "runtime/dispatch.h"
#include "runtime/fpenv.h"
#include "runtime/intmath.h"
#include "runtime/thread_pool.h"

namespace fmaconv {

namespace {

// Exact path for one output row (skips padding taps), as used for non-finite weights.
template <typename T>
void dw_exact_row(const DwKernels<T>& ks, const ConvShape& s, const T* xp, const T* wc, T b, int64_t od, int64_t oh,
                  T* yrow, std::vector<const T*>& in_rows, std::vector<const T*>& w_rows) {
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2];
  in_rows.resize((size_t)(s.k[0] * s.k[1]));
  w_rows.resize(in_rows.size());
  int64_t nr = 0;
  for (int64_t jd = 0; jd < s.k[0]; ++jd) {
    const int64_t id = od * s.s[0] - s.p[0] + jd * s.d[0];
    if (id < 0 || id >= D) continue;
    for (int64_t jh = 0; jh < s.k[1]; ++jh) {
      const int64_t ih = oh * s.s[1] - s.p[1] + jh * s.d[1];
      if (ih < 0 || ih >= H) continue;
      in_rows[(size_t)nr] = xp + (id * H + ih) * W;
      w_rows[(size_t)nr] = wc + (jd * s.k[1] + jh) * s.k[2];
      ++nr;
    }
  }
  ks.row(s, in_rows.data(), w_rows.data(), nr, b, yrow);
}

// Where one padded row buffer's data sits: phase p (of sw) holds padded columns iw0 + i*sw + p
// at [p*Lp + i]; [lo[p], hi[p]) come from the input, [0, lo) and [hi, Lz) are zeros. The
// kernels read no further than Lz (the window plus one vector).
struct RowLayout {
  int64_t sw = 0, Lp = 0, Lz = 0, iw0 = 0;
  int64_t lo[8], hi[8];
};

inline void make_layout(RowLayout* L, int64_t W, int64_t iw0, int64_t sw, int64_t Lp, int64_t Lz) {
  L->sw = sw;
  L->Lp = Lp;
  L->Lz = Lz;
  L->iw0 = iw0;
  for (int64_t p = 0; p < sw && p < 8; ++p) {
    L->lo[p] = min64(Lz, max64(0, ceil_div(-iw0 - p, sw)));
    L->hi[p] = max64(L->lo[p], min64(Lz, ceil_div(W - iw0 - p, sw)));
  }
}

// Writes the zeros of one row buffer (the padding around the input columns, and the slack).
template <typename T>
void zero_row_pads(const RowLayout& L, int64_t W, T* dst) {
  const int64_t sw = L.sw, iw0 = L.iw0;
  for (int64_t p = 0; p < sw; ++p) {
    T* d = dst + p * L.Lp;
    int64_t lo, hi;
    if (p < 8) {
      lo = L.lo[p];
      hi = L.hi[p];
    } else {
      lo = min64(L.Lz, max64(0, ceil_div(-iw0 - p, sw)));
      hi = max64(lo, min64(L.Lz, ceil_div(W - iw0 - p, sw)));
    }
    for (int64_t i = 0; i < lo; ++i) d[i] = T(0);
    for (int64_t i = hi; i < L.Lz; ++i) d[i] = T(0);
  }
}

inline int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

constexpr int64_t kNoEdge = INT64_MAX / 4;  // DwBlock::vlo/vhi of row buffers: no masking

}  // namespace

template <typename T>
void conv_depthwise(const ConvShape& s, const T* x, const T* w, const T* bias, T* y, PackedWeights<T>*) {
  const DwKernels<T>& ks = kernel_set<T>(kernels()).dw;
  const int64_t M = s.Kg(), C = s.C, taps = s.taps(), in_plane = s.in_plane(), P = s.out_plane();
  const int64_t D = s.in[0], H = s.in[1], W = s.in[2], OD = s.out[0], OH = s.out[1], OW = s.out[2];
  const int64_t KD = s.k[0], KH = s.k[1], KW = s.k[2];
  const int64_t sd = s.s[0], sh = s.s[1], sw = s.s[2];
  const int64_t dd = s.d[0], dh = s.d[1], dw = s.d[2];
  const int64_t pd = s.p[0], ph = s.p[1], pw = s.p[2];
  constexpr int64_t kAlign = 64 / (int64_t)sizeof(T);  // elements per cache line

  // Channels whose weights are not all finite take the exact path.
  std::vector<char> exact((size_t)C, 0);
  for (int64_t co = 0; co < s.K; ++co)
    for (int64_t t = 0; t < taps; ++t)
      if (!std::isfinite(w[co * taps + t])) exact[(size_t)(co / M)] = 1;

  // Column bands: a row buffer of at most ~16 KiB.
  auto row_len = [&](int64_t cw) {
    const int64_t Lw = (cw - 1) * sw + (KW - 1) * dw + 1;
    return round_up(ceil_div(Lw, sw) + kDwVecSlack, kAlign);
  };
  const int64_t row_budget = 16384 / (int64_t)sizeof(T);
  int64_t nwc = 1;
  while (nwc < OW && sw * row_len(ceil_div(OW, nwc)) > row_budget && ceil_div(OW, nwc) > 256) ++nwc;
  const int64_t cw = ceil_div(OW, nwc);
  nwc = ceil_div(OW, cw);
  const int64_t rowbuf = sw * row_len(cw);

  // Row bands: all the rows a band reads (KD slices) in ~48 KiB, and enough tasks for the threads.
  const int64_t buf_budget = 49152 / (int64_t)sizeof(T);
  const int64_t rows_fit = max64(1, buf_budget / rowbuf / KD);
  int64_t ch = max64(1, (rows_fit - (KH - 1) * dh - 1) / sh + 1);
  ch = min64(OH, max64(ch, min64(OH, 4)));
  int64_t nhc = ceil_div(OH, ch);
  const int64_t outer = s.N * C * OD * nwc;
  const int64_t want = 4 * (int64_t)get_num_threads();
  if (outer * nhc < want && nhc < OH) {
    nhc = min64(OH, ceil_div(want, outer));
    ch = ceil_div(OH, nhc);
    nhc = ceil_div(OH, ch);
  }
  const int64_t items = outer * nhc;
  const double work = (double)(M * ch * cw * taps + KD * ((ch - 1) * sh + (KH - 1) * dh + 1) * rowbuf);

  // Unit strides on a kernel set with masked loads: no row buffers, the kernels read the input.
  const bool in_place = ks.reads_in_place(s);

  parallel_range(items, work, [&](int64_t begin, int64_t end) {
    FlushDenormalsScope ftz;
    static thread_local std::vector<T> tl_buf;
    static thread_local std::vector<const T*> tl_rowp, tl_ex_rows, tl_ex_w;
    static thread_local std::vector<T> tl_zeros;
    std::vector<T>& buf = tl_buf;
    std::vector<T>& zeros = tl_zeros;
    std::vector<int64_t> unit_off((size_t)KW);
    for (int64_t jw = 0; jw < KW; ++jw) unit_off[(size_t)jw] = jw;
    std::vector<const T*>&rowp = tl_rowp, &ex_rows = tl_ex_rows, &ex_w = tl_ex_w;
    std::vector<int64_t> off((size_t)KW);
    // The row buffer layout of the current column band, and which row buffers already hold its
    // zeros (valid within this range only).
    std::vector<char> ready;
    RowLayout layout;
    int64_t layout_now = -1, layout_ow0 = -1;
    T* base = nullptr;
    // Task coordinates, stepped from `begin` (no divisions per task).
    int64_t hc = begin % nhc, wc = (begin / nhc) % nwc, od = (begin / (nhc * nwc)) % OD;
    int64_t c = (begin / (nhc * nwc * OD)) % C, n = begin / (nhc * nwc * OD * C);
    for (int64_t item = begin; item < end; ++item) {
      if (item != begin && ++hc == nhc) {
        hc = 0;
        if (++wc == nwc) {
          wc = 0;
          if (++od == OD) {
            od = 0;
            if (++c == C) {
              c = 0;
              ++n;
            }
          }
        }
      }
      const int64_t oh0 = hc * ch, noh = min64(ch, OH - oh0);
      const int64_t ow0 = wc * cw, now = min64(cw, OW - ow0);
      const T* xp = x + (n * C + c) * in_plane;

      if (exact[(size_t)c]) {
        if (wc != 0) continue;  // the exact kernel writes whole rows
        for (int64_t j = 0; j < M; ++j) {
          const int64_t co = c * M + j;
          T* yp = y + (n * s.K + co) * P + od * OH * OW;
          for (int64_t oh = oh0; oh < oh0 + noh; ++oh)
            dw_exact_row(ks, s, xp, w + co * taps, bias ? bias[co] : T(0), od, oh, yp + oh * OW, ex_rows, ex_w);
        }
        continue;
      }

      const int64_t nri = (noh - 1) * sh + (KH - 1) * dh + 1;  // input rows per depth slice
      const int64_t slots = KD * nri;
      // The block kernel for every output channel of this input channel.
      auto run_blocks = [&](const T* const* rows, const int64_t* col_off, int64_t vlo, int64_t vhi) {
        for (int64_t j = 0; j < M; ++j) {
          const int64_t co = c * M + j;
          DwBlock<T> b;
          b.rows = rows;
          b.rows_per_d = nri;
          b.kd = KD;
          b.kh = KH;
          b.kw = KW;
          b.sh = sh;
          b.dh = dh;
          b.col_off = col_off;
          b.w = w + co * taps;
          b.bias = bias ? bias[co] : T(0);
          b.n_rows = noh;
          b.ow = now;
          b.y = y + (n * s.K + co) * P + (od * OH + oh0) * OW + ow0;
          b.ldy = OW;
          b.vlo = vlo;
          b.vhi = vhi;
          ks.block(b);
        }
      };
      if (in_place) {  // rows read where they are; rows in the padding read a zero row
        const size_t need = (size_t)(now + KW + 4 * kDwVecSlack);
        if (zeros.size() < need) zeros.assign(need, T(0));
        rowp.resize((size_t)slots);
        const int64_t id = od * sd - pd;  // KD == 1
        // input rows [i0, i1) of the band are inside the image (locals: the per-row test through
        // the thread-local vectors cost ~9% of a 3x3 56x56 call)
        const bool in_d = id >= 0 && id < D;
        const int64_t i0 = in_d ? min64(nri, max64(0, ph - oh0)) : 0;
        const int64_t i1 = in_d ? max64(i0, min64(nri, H - oh0 + ph)) : 0;
        const T* z = zeros.data();
        const T** rp = rowp.data();
        const int64_t row0 = id * H + oh0 - ph;
        for (int64_t i = 0; i < i0; ++i) rp[i] = z;
        for (int64_t i = i0; i < i1; ++i) rp[i] = xp + (row0 + i) * W + (ow0 - pw);
        for (int64_t i = i1; i < nri; ++i) rp[i] = z;
        run_blocks(rp, unit_off.data(), pw - ow0, pw - ow0 + W);
        continue;
      }
      if (now != layout_now || ow0 != layout_ow0) {  // a new row layout: (re)size and zero
        const int64_t Lw = (now - 1) * sw + (KW - 1) * dw + 1;
        const int64_t Lz = ceil_div(Lw, sw) + kDwVecSlack;
        const int64_t Lp = round_up(Lz, kAlign);
        const int64_t rlen = sw * Lp;
        const size_t need = (size_t)((KD * ((ch - 1) * sh + (KH - 1) * dh + 1) + 1) * rlen + 2 * kAlign);
        if (buf.size() < need) buf.resize(need);
        make_layout(&layout, W, ow0 * sw - pw, sw, Lp, Lz);
        // Rows are a multiple of a cache line long; shift them so that the first input column
        // (of phase 0) starts a line: the copy's stores then never straddle two lines.
        base = buf.data();
        base += (kAlign - (int64_t)(((uintptr_t)base / sizeof(T)) % kAlign)) % kAlign;
        base += (kAlign - layout.lo[0] % kAlign) % kAlign;
        std::memset(base, 0, (size_t)rlen * sizeof(T));  // slot 0: the zero row; input rows from slot 1
        ready.assign(0, 0);
        for (int64_t jw = 0; jw < KW; ++jw) off[(size_t)jw] = ((jw * dw) % sw) * Lp + (jw * dw) / sw;
        layout_now = now;
        layout_ow0 = ow0;
      }
      const RowLayout& L = layout;
      const int64_t Lz = L.Lz, Lp = L.Lp, rlen = sw * Lp;
      T* zero = base;
      if ((int64_t)ready.size() < slots) ready.resize((size_t)slots, 0);
      rowp.resize((size_t)slots);
      const T** rp = rowp.data();
      char* rdy = ready.data();
      for (int64_t jd = 0; jd < KD; ++jd) {
        const int64_t id = od * sd - pd + jd * dd;
        const bool in_d = id >= 0 && id < D;
        // input rows [i0, i1) of the slice are inside the image
        const int64_t i0 = in_d ? min64(nri, max64(0, ph - oh0 * sh)) : 0;
        const int64_t i1 = in_d ? max64(i0, min64(nri, H - oh0 * sh + ph)) : 0;
        const int64_t k0 = jd * nri;
        for (int64_t i = 0; i < nri; ++i) rp[k0 + i] = i >= i0 && i < i1 ? base + (k0 + i + 1) * rlen : zero;
        if (i1 <= i0) continue;
        const T* src = xp + (id * H + oh0 * sh - ph + i0) * W;
        for (int64_t i = i0; i < i1; ++i)
          if (!rdy[k0 + i]) {
            zero_row_pads(L, W, base + (k0 + i + 1) * rlen);
            rdy[k0 + i] = 1;
          }
        // the input part of every row, one call per stride phase
        for (int64_t p = 0; p < sw; ++p) {
          int64_t lo, hi;
          if (p < 8) {
            lo = L.lo[p];
            hi = L.hi[p];
          } else {
            lo = min64(Lz, max64(0, ceil_div(-L.iw0 - p, sw)));
            hi = max64(lo, min64(Lz, ceil_div(W - L.iw0 - p, sw)));
          }
          if (hi > lo)
            ks.copy_rows(src + L.iw0 + p + lo * sw, W, base + (k0 + i0 + 1) * rlen + p * Lp + lo, rlen, i1 - i0,
                         hi - lo, sw);
        }
      }

      run_blocks(rp, off.data(), -kNoEdge, kNoEdge);
    }
  });
}

template void conv_depthwise<float>(const ConvShape&, const float*, const float*, const float*, float*,
                                    PackedWeights<float>*);
template void conv_depthwise<double>(const ConvShape&, const double*, const double*, const double*, double*,
                                     PackedWeights<double>*);

}  // namespace fmaconv

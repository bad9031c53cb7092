// Dense convolution kernels of one ISA set (see runtime/dispatch.h).
#pragma once
#include <cstdint>

namespace fmaconv {

// The direct-convolution tile kernels: for MR output channels i and NR grid positions j,
//   acc[i][j] = bias[i] + sum over k < kc of a[k*MR + i] * b[boff[k] + j]
// (b + boff[k] + j readable for every j < NR: callers keep slack past their buffers).
// Positions in vector (channels_in_vector false): positions j are vector lanes, weights are
// broadcast; tile is MR x NR row-major. Channels in vector: channels i are lanes, inputs are
// broadcast; tile is NR x MR row-major and bias (if any) has MR entries. Rows of the tile are
// ldt elements apart (positions in vector: any ldt, e.g. an output plane's, so a tile within one
// output row is stored in place; channels in vector: ldt == MR and tile 64-byte aligned).
template <typename T>
using ConvTileFn = void (*)(int64_t kc, const T* a, const T* b, const int64_t* boff, const T* bias, T* tile,
                            int64_t ldt);

// fn_s2 (channels in vector only): the same with positions two elements apart, b[boff[k] + 2j],
// so a stride-2 convolution reads its padded input without dealing columns into phases.
template <typename T>
struct ConvTile {
  int mr, nr;
  bool channels_in_vector;
  ConvTileFn<T> fn;
  ConvTileFn<T> fn_s2;
};

constexpr int kMaxConvTiles = 14;

template <typename T>
struct GemmKernels {
  // Register tile of the GEMM microkernel: MR output channels x NR output positions.
  int mr, nr;
  // C[0:mr_valid, 0:nr_valid] (+)= A[kc x MR packed] * B[kc rows, stride ldb, NR wide].
  // A and B are zero-padded to the full tile. first: C = bias + AB (bias may be null), else C += AB.
  void (*gemm)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc, int mr_valid,
               int nr_valid, const T* bias, bool first);
  // Direct-convolution tile kernels, in order of preference; n_tiles of them.
  int n_tiles;
  ConvTile<T> tiles[kMaxConvTiles];
  // FMA throughput probe: runs `iters` rounds of independent vector FMAs; returns the flop count.
  double (*fma_probe)(int64_t iters);
  // Positions-in-vector tile (mrv rows ldt apart, grid positions [q0, q0 + nrv) of a grid Wq
  // wide) to the outputs it holds in y (rows OW long, channels P apart).
  void (*store_grid)(const T* tile, int64_t ldt, int64_t mrv, int64_t q0, int64_t nrv, int64_t Wq, int64_t OW,
                     T* y, int64_t P);
  // Channels-in-vector tile (positions x channels, rows ldt apart) to y: y[c * P + i] =
  // tile[i * ldt + c] for i < nrv, c < mrv; ldt is a multiple of the vector length.
  void (*store_cv)(const T* tile, int64_t ldt, int64_t nrv, int64_t mrv, T* y, int64_t P);
  // A row of the padded convolution input (P(q) = row[q - pw] for q - pw in [0, W), else 0):
  // pad_row writes out[c] = P(c), c < n; deal_row2 deals it to two stride phases,
  // e[c] = P(2c) and o[c] = P(2c + 1), c < n.
  void (*pad_row)(const T* row, int64_t W, int64_t pw, int64_t n, T* out);
  void (*deal_row2)(const T* row, int64_t W, int64_t pw, int64_t n, T* e, T* o);
  // Weight packing: dst[r(k) * MR + i] = src[i * ld + k] for i < rows, k < cols, and 0 for rows
  // [rows, MR) (rows <= MR), where r(k) = kmap[k], or k when kmap is null. Returns whether every
  // value it copied is finite.
  bool (*pack_transposed)(const T* src, int64_t ld, int64_t rows, int64_t cols, T* dst, int64_t MR,
                          const int64_t* kmap);
};

}  // namespace fmaconv

"""3x3 stride-1 pools (padding 1) on planes whose rows tile the vector: W divides the vector
length and H * W is a multiple of it (8x8, 16x16, 4x4, 2x8 ... in float32 on AVX-512). Each
vector then holds whole rows of one plane: the rows above and below are neighbour vectors
shifted by W lanes (fill past the plane's ends), the column taps one-lane shifts within each row.
Average (any dtype) and max (float32; a block holding a NaN or a -0, in its rows or just outside,
is redone by the other kernels). The file reruns itself under each kernel set.

- every such W with several heights, and neighbours that are not whole vectors (H * W not a
  multiple of the vector);
- count_include_pad on and off, divisor_override;
- thread ranges cut inside a vector (rows of 1, 2, 4 and 8 lanes): the same bits at 1, 2 and 3
  threads, and partial vectors stored masked (the neighbours' outputs untouched);
- NaN and -0 in each row around the 2048-element block edges (max); zero signs exact where the
  kernels that redo such blocks are (planes narrower than 16, as in test_pool_flat_planes.py);
- inputs at page edges, and one element past a 64-byte boundary.

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import (DTYPES, assert_result, assert_same_bits_across_threads, assert_stride1_pools_match_reference,
                     assert_stride1_pools_match_torch, current_isa, guarded_pool_inputs, have_torch, isa_rerun_tests,
                     misaligned_pool_values, pool_values)

globals().update(isa_rerun_tests(__file__))

# (H, W): rows tiling 16 lanes (float32) and 8 (float64), and near misses
FIT = [(16, 1), (8, 2), (4, 4), (12, 4), (2, 8), (6, 8), (8, 8), (10, 8), (1, 16), (3, 16), (16, 16), (32, 16),
       (2, 4), (1, 8), (4, 2)]
NEAR = [(5, 8), (3, 4), (7, 16), (8, 7), (8, 9), (15, 16), (16, 15)]
KINDS = ("normal", "ints", "special", "neg_inf")


def _signs_exact(h, w, dtype):
    """Zero signs of a max: exact on AVX-512 where the redoing kernels are (README: known
    difference)."""
    return current_isa() == "avx512" and dtype == np.float32 and w < 16


def _check_max(x, what):
    got, exp = fmaconv.max_pool2d(x, 3, 1, 1), ref.max_pool2d(x, 3, 1, 1)
    assert_result(got, exp, x.dtype, exact=True, what=what)
    if _signs_exact(x.shape[-2], x.shape[-1], x.dtype):
        z = exp == 0
        np.testing.assert_array_equal(np.signbit(got[z]), np.signbit(np.asarray(exp)[z]), err_msg=what + ": sign")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg(dtype, cip):
    rng = np.random.default_rng(11 + cip)
    for i, (h, w) in enumerate(FIT + NEAR):
        for n, c in [(1, 1), (2, 3), (3, 11)]:
            x = pool_values(rng, (n, c, h, w), dtype, KINDS[(i + c) % len(KINDS)])
            assert_result(fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip),
                          ref.avg_pool2d(x, 3, 1, 1, count_include_pad=cip), dtype, what=f"{x.shape} cip={cip}")
        assert_result(fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip, divisor_override=5),
                      ref.avg_pool2d(x, 3, 1, 1, count_include_pad=cip, divisor_override=5), dtype,
                      what=f"{x.shape} divisor 5")
        z = np.full((2, 3, h, w), -0.0, dtype)
        assert not np.signbit(fmaconv.avg_pool2d(z, 3, 1, 1, count_include_pad=cip)).any(), f"{h}x{w}: -0 sums"


@pytest.mark.parametrize("dtype", DTYPES)
def test_max(dtype):
    rng = np.random.default_rng(12)
    for i, (h, w) in enumerate(FIT + NEAR):
        for kind in KINDS:
            _check_max(pool_values(rng, (2, 5, h, w), dtype, kind), f"{h}x{w} {kind}")
        # zeros of both signs among smaller values: the first zero in scan order wins
        z = np.where(rng.random((3, 7, h, w)) < 0.5, -0.0, 0.0) - (rng.random((3, 7, h, w)) < 0.3)
        _check_max(z.astype(dtype), f"{h}x{w} zeros")


@pytest.mark.parametrize("w", [1, 2, 4, 8, 16])
def test_max_special_around_block_edges(w, restore_threads):
    """Blocks of 2048 // W rows: a NaN or a -0 (in a plane of +0s: windows whose first zero it
    is give -0) in the rows at and next to a block edge, including the rows only the block's
    edge windows read."""
    h = {1: 48, 2: 24, 4: 12, 8: 6, 16: 3}[w]  # (block edges inside planes)
    rows = 2048 // w
    x0 = np.random.default_rng(w).standard_normal((1, 3 * rows // h + 2, h, w)).astype(np.float32)
    fmaconv.set_num_threads(1)  # (blocks count from the thread's first row)
    for edge in (rows, 2 * rows):
        for r in range(edge - 2, edge + 2):
            p, i = divmod(r, h)
            for val in (np.nan, -0.0):
                x = x0.copy()
                if val == 0:
                    x[0, p] = 0.0
                x[0, p, i, w // 2] = val
                _check_max(x, f"W={w}: {val} at row {r}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_ranges_cut_inside_vectors(dtype, restore_threads):
    """Each thread stores only its rows' lanes of the vectors it shares with a neighbour: right
    values and the same bits at 1, 2 and 3 threads."""
    rng = np.random.default_rng(13)
    for shape in [(3, 7, 16, 1), (2, 9, 8, 2), (5, 7, 4, 4), (3, 5, 6, 8), (2, 3, 16, 16)]:
        x = pool_values(rng, shape, dtype, "normal")
        for fn, kw in [(fmaconv.avg_pool2d, {}), (fmaconv.avg_pool2d, dict(count_include_pad=False)),
                       (fmaconv.max_pool2d, {})]:
            assert_same_bits_across_threads(lambda: fn(x, 3, 1, 1, **kw), f"{fn.__name__} {shape} {kw}")
            exp = ref.max_pool2d(x, 3, 1, 1) if fn is fmaconv.max_pool2d else ref.avg_pool2d(x, 3, 1, 1, **kw)
            for t in (2, 3):
                fmaconv.set_num_threads(t)
                assert_result(fn(x, 3, 1, 1, **kw), exp, dtype, exact=fn is fmaconv.max_pool2d,
                              what=f"{fn.__name__} {shape} {kw}, {t} threads")


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_and_page_edges(dtype):
    rng = np.random.default_rng(14)
    for h, w in [(8, 8), (4, 4), (16, 16), (2, 8)]:
        x = misaligned_pool_values(rng, (3, 5, h, w), dtype, "special")
        assert_stride1_pools_match_reference(x, (3,), f"{h}x{w} misaligned")
    for shape in [(1, 1, 4, 4), (2, 3, 8, 8), (1, 2, 16, 16), (1, 3, 8, 2)]:
        _, arrays = guarded_pool_inputs(shape, dtype, rng)
        for a in arrays:
            assert_stride1_pools_match_reference(a, (3,), f"{shape} at a page edge")


@pytest.mark.skipif(not have_torch(), reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(dtype):
    rng = np.random.default_rng(15)
    for shape in [(8, 32, 8, 8), (4, 16, 16, 16), (4, 64, 4, 4), (2, 8, 2, 8)]:
        assert_stride1_pools_match_torch(pool_values(rng, shape, dtype, "special"), (3,))

"""Stride-1 KxK windows with padding K // 2 on small planes (3x3 average on planes of up to 32
vectors, 3x3 and 5x5 max on planes of up to 8): one flat run across rows and planes, each
lane's row and column taps masked by a per-plane-phase table, AVX-512 only (the other sets take
the row kernels: the file reruns itself under each).

- averages with count_include_pad on and off (divisors 4, 6, 9, and 1..3 on planes one row or
  column wide) and divisor_override, sizes around the vector length, ranges of rows cut anywhere
  by the threads (the same bits at 1, 2 and 3 threads), averages of -0 (+0);
- max: exact, zero signs included on this kernel (a block of rows holding a NaN or a -0 is redone by the
  per-plane kernel); a NaN or a -0 just above or below a block's rows, which only its edge
  windows read;
- inputs starting or ending at an inaccessible page (the masked taps read nothing outside), or
  one element past a 64-byte boundary.

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import (DTYPES, assert_result, assert_same_bits_across_threads, assert_stride1_pools_match_reference,
                     assert_stride1_pools_match_torch, current_isa, guarded_pool_inputs, have_torch, isa_rerun_tests,
                     misaligned_pool_values, pool_values)

globals().update(isa_rerun_tests(__file__))

KINDS = ("normal", "ints", "special", "neg_inf")
SIZES = [(1, 1), (1, 5), (5, 1), (2, 2), (2, 9), (3, 3), (4, 4), (5, 7), (7, 7), (8, 8), (9, 2), (6, 13),
         (13, 6), (11, 11), (4, 16), (16, 4), (10, 12), (12, 12), (15, 15), (16, 16), (17, 17), (8, 31),
         (22, 23)]


def _exact_signs(h, w, dtype):
    """Zero signs of a max are exact on this kernel (float32, AVX-512, planes of up to 8 vectors
    narrower than one; mirrors flat_planes_ok). The other kernels' known difference: README."""
    return current_isa() == "avx512" and dtype == np.float32 and h * w <= 128 and w < 16


def _signs_equal(got, exp, what):
    z = exp == 0
    np.testing.assert_array_equal(np.signbit(got[z]), np.signbit(np.asarray(exp)[z]), err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_3x3(dtype, cip):
    rng = np.random.default_rng(1 + cip)
    for i, (h, w) in enumerate(SIZES):
        for n, c in [(1, 1), (2, 3), (3, 17)]:
            kind = KINDS[(i + c) % len(KINDS)]
            x = pool_values(rng, (n, c, h, w), dtype, kind)
            got = fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
            exp = ref.avg_pool2d(x, 3, 1, 1, count_include_pad=cip)
            assert_result(got, exp, dtype, what=f"{n}x{c}x{h}x{w} cip={cip} {kind}")
        got = fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip, divisor_override=7)
        exp = ref.avg_pool2d(x, 3, 1, 1, count_include_pad=cip, divisor_override=7)
        assert_result(got, exp, dtype, what=f"{h}x{w} divisor 7")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_of_negative_zeros_is_positive(dtype):
    for h, w in [(1, 1), (3, 3), (8, 8), (5, 17)]:
        for cip in (True, False):
            got = fmaconv.avg_pool2d(np.full((2, 5, h, w), -0.0, dtype), 3, 1, 1, count_include_pad=cip)
            assert not np.signbit(got).any(), f"{h}x{w}: an average of -0 is +0"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [3, 5])
def test_max_exact(dtype, k):
    rng = np.random.default_rng(k)
    for i, (h, w) in enumerate(SIZES):
        for kind in KINDS:
            x = pool_values(rng, (2, 5, h, w), dtype, kind)
            got, exp = fmaconv.max_pool2d(x, k, 1, k // 2), ref.max_pool2d(x, k, 1, k // 2)
            assert_result(got, exp, dtype, exact=True, what=f"max{k} {h}x{w} {kind}")
        # zeros of both signs among smaller values: the first zero in scan order wins
        z = np.where(rng.random((3, 7, h, w)) < 0.5, -0.0, 0.0) - (rng.random((3, 7, h, w)) < 0.3)
        z = z.astype(dtype)
        got, exp = fmaconv.max_pool2d(z, k, 1, k // 2), ref.max_pool2d(z, k, 1, k // 2)
        assert_result(got, exp, dtype, exact=True, what=f"max{k} zeros {h}x{w}")
        if _exact_signs(h, w, dtype):
            _signs_equal(got, exp, f"max{k} zeros {h}x{w}: sign")


@pytest.mark.parametrize("k", [3, 5])
def test_max_special_next_to_block_edges(k):
    """Blocks of 2048 // W rows: a NaN or a -0 (with +0 around) in the rows just outside a
    block is read only by the block's edge windows."""
    h = w = 7
    rows = 2048 // w  # rows per block
    x0 = np.random.default_rng(3).standard_normal((1, 200, h, w)).astype(np.float32)
    for edge in (rows, 2 * rows):
        for dr in range(-k // 2 - 1, k // 2 + 2):
            r = edge + dr
            p, i = divmod(r, h)
            for val in (np.nan, -0.0):
                x = x0.copy()
                if val == 0:
                    x[0, p] = np.where(np.abs(x[0, p]) < 0.7, 0.0, -1.0)  # +0s and smaller values
                x[0, p, i, 3] = val
                got, exp = fmaconv.max_pool2d(x, k, 1, k // 2), ref.max_pool2d(x, k, 1, k // 2)
                assert_result(got, exp, np.float32, exact=True, what=f"{val} at row {r}")
                if _exact_signs(h, w, np.float32):
                    _signs_equal(got, exp, f"{val} at row {r}: sign")


@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_planes(dtype):
    """Inputs starting one element past a 64-byte boundary (the vectors start off it)."""
    rng = np.random.default_rng(4)
    for h, w in [(7, 7), (8, 8), (5, 13), (17, 17)]:
        x = misaligned_pool_values(rng, (3, 5, h, w), dtype, "special")
        assert_stride1_pools_match_reference(x, (3, 5), f"{h}x{w}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_across_threads(dtype):
    rng = np.random.default_rng(5)
    for shape, fn, kw in [((3, 37, 8, 8), fmaconv.avg_pool2d, dict(count_include_pad=False)),
                          ((5, 13, 17, 17), fmaconv.avg_pool2d, {}),
                          ((4, 31, 7, 7), fmaconv.max_pool2d, {})]:
        x = pool_values(rng, shape, dtype, "normal")
        assert_same_bits_across_threads(lambda: fn(x, 3, 1, 1, **kw), f"{fn.__name__} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_at_page_edges(dtype):
    for shape in [(1, 1, 3, 3), (1, 3, 7, 7), (2, 3, 8, 8), (1, 2, 5, 13)]:
        buf, arrays = guarded_pool_inputs(shape, dtype, np.random.default_rng(1))
        for a in arrays:
            assert_stride1_pools_match_reference(a, (3, 5), f"{shape} at a page edge")


@pytest.mark.skipif(not have_torch(), reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(dtype):
    rng = np.random.default_rng(9)
    for shape in [(8, 32, 8, 8), (4, 16, 17, 17), (2, 8, 7, 7), (2, 8, 13, 13)]:
        assert_stride1_pools_match_torch(pool_values(rng, shape, dtype, "special"), (3, 5))

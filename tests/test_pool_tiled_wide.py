"""Pooling windows that tile the input with 3 to 8 columns (kernel == stride, no padding; e.g.
avg_pool2d(3) on 24x24, avg_pool3d(3), adaptive_avg_pool2d(2) on 14x14, max_pool2d(3)):

- average: an output row's input rows are summed first (vectors across the row), then each
  window's columns, VL windows at a time with permutes on AVX-512, flat across row ends; rows of
  more than 1024 used columns take the column pass, with permutes too;
- max (values only, up to 6 columns): the column pass with permutes, then the rows;
- window widths 3..8 by heights 1..5 (and depth 1..3), output widths around the vector lengths
  (a few windows up to 1024 columns and beyond), planes of every kind of value, the same bits at
  1, 2 and 3 threads (rows split anywhere), averages of -0 (+0), NaN and infinities, inputs
  ending at an inaccessible page, divisor_override;
- global average pooling of planes shorter than a vector (1x1, 2x2, 3x3 maps): VL planes per
  vector, as windows tiling one run.

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import (DTYPES, assert_result, assert_same_bits_across_threads, guarded_pool_inputs, have_torch,
                     isa_rerun_tests, pool_values)

globals().update(isa_rerun_tests(__file__))

KINDS = ("normal", "ints", "special", "neg_inf")


def _signs_equal(got, exp, what):
    z = exp == 0
    np.testing.assert_array_equal(np.signbit(got[z]), np.signbit(np.asarray(exp)[z]), err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [3, 5, 6, 7, 8])
def test_avg_2d_widths(dtype, kw):
    rng = np.random.default_rng(kw)
    for kh in (1, 2, 3, 5):
        for ow in (1, 2, 3, 7, 8, 9, 15, 16, 17, 33):
            h = kh * int(rng.integers(1, 4))
            w = kw * ow + int(rng.integers(0, kw))  # floor mode drops the leftover columns
            kind = KINDS[(ow + kh) % len(KINDS)]
            x = pool_values(rng, (2, 3, h, w), dtype, kind)
            k = (kh, kw)
            got = fmaconv.avg_pool2d(x, k)
            assert_result(got, ref.avg_pool2d(x, k), dtype, what=f"{k} on {h}x{w} {kind}")
            got = fmaconv.avg_pool2d(x, k, divisor_override=5)
            assert_result(got, ref.avg_pool2d(x, k, divisor_override=5), dtype, what=f"{k} on {h}x{w} div 5")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_3d_and_adaptive(dtype):
    rng = np.random.default_rng(7)
    for kd, kh, kw, od, oh, ow in [(3, 3, 3, 4, 8, 8), (2, 1, 5, 1, 3, 20), (1, 4, 7, 2, 2, 2), (4, 7, 7, 1, 2, 2),
                                   (3, 2, 3, 2, 5, 17), (2, 3, 8, 1, 2, 130)]:
        x = pool_values(rng, (2, 3, kd * od, kh * oh, kw * ow), dtype, "normal")
        k = (kd, kh, kw)
        assert_result(fmaconv.avg_pool3d(x, k), ref.avg_pool3d(x, k), dtype, what=f"avg3d {k}")
        assert_result(fmaconv.adaptive_avg_pool3d(x, (od, oh, ow)), ref.adaptive_avg_pool3d(x, (od, oh, ow)), dtype,
                      what=f"adaptive3d {(od, oh, ow)}")
    for h, w, o in [(14, 14, 2), (28, 28, 4), (24, 24, 8), (21, 35, (3, 5)), (12, 18, (2, 3))]:
        x = pool_values(rng, (4, 5, h, w), dtype, "special")
        assert_result(fmaconv.adaptive_avg_pool2d(x, o), ref.adaptive_avg_pool2d(x, o), dtype,
                      what=f"adaptive2d {h}x{w} -> {o}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_wide_rows(dtype):
    """Rows whose used columns fill the 1024-element buffer (one output row per batch) or exceed
    it (the column pass, permutes for 3..8 columns)."""
    rng = np.random.default_rng(3)
    for kw, ow in [(4 + 4, 128), (3, 341), (5, 204), (3, 342), (5, 205), (7, 300), (6, 200)]:
        x = pool_values(rng, (1, 2, 6, kw * ow), dtype, "ints")
        for kh in (1, 2, 3):
            k = (kh, kw)
            assert_result(fmaconv.avg_pool2d(x, k), ref.avg_pool2d(x, k), dtype, what=f"{k} ow {ow}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_2d_exact(dtype):
    """Max values are input elements: exact, and the zero signs follow the scan order (columns of a
    window row first, then its rows, as PyTorch's)."""
    rng = np.random.default_rng(11)
    for kw in (3, 5, 6, 7):
        for kh in (1, 2, 3, 4):
            for ow in (1, 5, 16, 17, 40):
                for kind in KINDS:
                    x = pool_values(rng, (2, 2, kh * 3, kw * ow), dtype, kind)
                    k = (kh, kw)
                    got, exp = fmaconv.max_pool2d(x, k), ref.max_pool2d(x, k)
                    assert_result(got, exp, dtype, exact=True, what=f"max {k} ow {ow} {kind}")
        # zeros of both signs only: the sign of the maximum is the first zero's in scan order
        z = np.where(rng.random((3, 4, 6, kw * 17)) < 0.5, -0.0, 0.0).astype(dtype)
        got, exp = fmaconv.max_pool2d(z, (2, kw)), ref.max_pool2d(z, (2, kw))
        assert_result(got, exp, dtype, exact=True, what=f"max zeros {kw}")
        _signs_equal(got, exp, f"max zeros {kw}: sign")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_of_negative_zeros_is_positive(dtype):
    for k in [(3, 3), (1, 5), (2, 7), (3, 8)]:
        x = np.full((2, 3, k[0] * 4, k[1] * 19), -0.0, dtype)
        got = fmaconv.avg_pool2d(x, k)
        assert not np.signbit(got).any(), f"{k}: an average of -0 is +0"
    got = fmaconv.avg_pool3d(np.full((1, 2, 3, 6, 9), -0.0, dtype), 3)
    assert not np.signbit(got).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_across_threads(dtype):
    rng = np.random.default_rng(5)
    cases = [((3, 37, 9, 24), dict(kernel_size=3), fmaconv.avg_pool2d),
             ((5, 13, 14, 14), dict(output_size=2), fmaconv.adaptive_avg_pool2d),
             ((2, 11, 6, 9, 15), dict(kernel_size=3), fmaconv.avg_pool3d),
             ((3, 29, 10, 35), dict(kernel_size=5), fmaconv.max_pool2d)]
    for shape, kw, fn in cases:
        x = pool_values(rng, shape, dtype, "normal")
        assert_same_bits_across_threads(lambda: fn(x, **kw), f"{fn.__name__} {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_at_page_end(dtype):
    """The last rows' loads stay within the input: masked below a vector, whole chunks above."""
    for shape, k in [((1, 1, 3, 9), 3), ((1, 2, 2, 5), (2, 5)), ((1, 1, 3, 3 * 21), 3), ((1, 3, 4, 7 * 5), (2, 7))]:
        buf, arrays = guarded_pool_inputs(shape, dtype, np.random.default_rng(1))
        for a in arrays:
            assert_result(fmaconv.avg_pool2d(a, k), ref.avg_pool2d(a, k), dtype, what=f"avg {shape}")
            assert_result(fmaconv.max_pool2d(a, k), ref.max_pool2d(a, k), dtype, exact=True, what=f"max {shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_of_tiny_planes(dtype):
    rng = np.random.default_rng(13)
    for h, w in [(1, 1), (1, 2), (2, 2), (1, 3), (3, 3), (2, 4), (1, 7), (3, 5), (1, 15), (4, 4), (1, 17)]:
        for planes in (1, 7, 8, 15, 16, 17, 33, 100):
            kind = KINDS[(planes + h * w) % len(KINDS)]
            x = pool_values(rng, (1, planes, h, w), dtype, kind)
            assert_result(fmaconv.adaptive_avg_pool2d(x, 1), ref.adaptive_avg_pool2d(x, 1), dtype,
                          what=f"{planes} planes of {h}x{w} {kind}")
        z = np.full((3, 11, h, w), -0.0, dtype)
        assert not np.signbit(fmaconv.adaptive_avg_pool2d(z, 1)).any(), f"{h}x{w}: the mean of -0 is +0"
    x = pool_values(rng, (4, 37, 5), dtype, "normal")  # 1-D and 3-D too
    assert_result(fmaconv.adaptive_avg_pool1d(x, 1), ref.adaptive_avg_pool1d(x, 1), dtype, what="1-D")
    x = pool_values(rng, (2, 19, 1, 2, 3), dtype, "special")
    assert_result(fmaconv.adaptive_avg_pool3d(x, 1), ref.adaptive_avg_pool3d(x, 1), dtype, what="3-D")


@pytest.mark.skipif(not have_torch(), reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(dtype):
    import torch

    rng = np.random.default_rng(9)
    for shape, k in [((8, 16, 24, 24), 3), ((4, 8, 40, 40), 5), ((4, 8, 42, 42), 7), ((2, 8, 48, 48), 6),
                     ((2, 8, 48, 48), 8)]:
        x = pool_values(rng, shape, dtype, "special")
        t = torch.from_numpy(x)
        np.testing.assert_allclose(fmaconv.avg_pool2d(x, k), torch.nn.functional.avg_pool2d(t, k).numpy(),
                                   equal_nan=True, rtol=1e-6 if dtype == np.float32 else 1e-13, atol=0)
        np.testing.assert_array_equal(fmaconv.max_pool2d(x, k), torch.nn.functional.max_pool2d(t, k).numpy())
    x = pool_values(rng, (2, 8, 4, 14, 14), dtype, "normal")
    np.testing.assert_allclose(fmaconv.adaptive_avg_pool3d(x, (1, 2, 2)),
                               torch.nn.functional.adaptive_avg_pool3d(torch.from_numpy(x), (1, 2, 2)).numpy(),
                               rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-7 if dtype == np.float32 else 1e-15)

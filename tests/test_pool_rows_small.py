"""Max pooling (values only) of 2- and 3-column windows at column stride >= 2 on rows of at most
two vectors, up to 3 window rows (AlexNet's 3x3 stride 2 on 13x13 and 27x27, GoogLeNet's
ceil_mode pools, Inception's on 17x17, LeNet's and VGG's 2x2, (1, 3) windows at stride (1, 2)),
and average pooling of 3x3 and 5x5 windows at column stride >= 3 there (InceptionAux's 5x5
stride 3 on 17x17): each output row a fixed sequence of masked row loads, two-source permutes and
one masked store, AVX-512 only (the file reruns itself under each kernel set).

- row widths around one and two vectors (float32: 16 and 32 lanes, float64: 8 and 16), window
  heights 1..3, row and column strides, padding, ceil_mode (windows past the last column or row),
  planes of every kind of value: exact values;
- ties keep the first maximum: windows of one row (every zero sign follows the scan order) and
  planes of zeros only;
- a NaN anywhere (the row is redone in PyTorch's order), the same bits at 1, 2 and 3 threads
  (ranges of rows cut inside planes), inputs ending at an inaccessible page;
- averages: count_include_pad on and off, divisor_override, padding and ceil_mode (windows
  clipped at both ends), NaN and infinities, -0 windows (+0).

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import (DTYPES, assert_result, assert_same_bits_across_threads, guarded_pool_inputs, have_torch,
                     isa_rerun_tests, pool_values)

globals().update(isa_rerun_tests(__file__))

KINDS = ("normal", "ints", "special", "neg_inf", "neg_inf_rows")


def _widths(dtype):
    vl = 64 // np.dtype(dtype).itemsize
    return sorted({3, 5, vl - 1, vl, vl + 1, 2 * vl - 1, 2 * vl})


def _signs_equal(got, exp, what):
    z = exp == 0
    np.testing.assert_array_equal(np.signbit(got[z]), np.signbit(np.asarray(exp)[z]), err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [2, 3])
def test_windows(dtype, kw):
    rng = np.random.default_rng(kw)
    i = 0
    for w in _widths(dtype):
        for h in (1, 2, 3, 4, 7, 13):
            for kh in (1, 2, 3):
                for sh, sw in [(1, 2), (2, 2), (kh, 3), (3, kw)]:
                    for ph, pw, ceil in [(0, 0, False), (0, 0, True), (kh // 2, kw // 2, False),
                                         (kh // 2, kw // 2, True)]:
                        if h + 2 * ph < kh or w + 2 * pw < kw or sw < 2:
                            continue
                        kind = KINDS[i % len(KINDS)]
                        i += 1
                        x = pool_values(rng, (2, 3, h, w), dtype, kind)
                        kwargs = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw), ceil_mode=ceil)
                        assert_result(fmaconv.max_pool2d(x, **kwargs), ref.max_pool2d(x, **kwargs), dtype, exact=True,
                                      what=f"{h}x{w} {kwargs} {kind}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [3, 5])
def test_avg_windows(dtype, k):
    rng = np.random.default_rng(10 + k)
    i = 0
    for w in _widths(dtype):
        for h in (k, k + 1, 8, 17):
            for sh, sw in [(1, 3), (3, 3), (2, 4), (k, k + 1)]:
                for p, ceil in [(0, False), (0, True), (k // 2, False), (k // 2, True)]:
                    if w + 2 * p < k:
                        continue
                    kind = KINDS[i % len(KINDS)]
                    i += 1
                    x = pool_values(rng, (2, 3, h, w), dtype, kind)
                    for cip, div in [(True, None), (False, None), (False, 7)]:
                        kwargs = dict(kernel_size=k, stride=(sh, sw), padding=p, ceil_mode=ceil, count_include_pad=cip,
                                      divisor_override=div)
                        assert_result(fmaconv.avg_pool2d(x, **kwargs), ref.avg_pool2d(x, **kwargs), dtype,
                                      what=f"{h}x{w} {kwargs} {kind}")
    z = np.full((2, 3, 17, 17), -0.0, dtype)
    assert not np.signbit(fmaconv.avg_pool2d(z, k, 3, k // 2)).any(), "an average of -0 is +0"


@pytest.mark.parametrize("dtype", DTYPES)
def test_first_maximum_wins(dtype):
    rng = np.random.default_rng(4)
    for w in _widths(dtype):
        # one window row: the first zero in the row wins, whatever the signs around it
        z = np.where(rng.random((3, 5, 6, w)) < 0.5, -0.0, 0.0).astype(dtype)
        for kw, sw in [(3, 2), (2, 2), (3, 3)]:
            got, exp = fmaconv.max_pool2d(z, (1, kw), (1, sw)), ref.max_pool2d(z, (1, kw), (1, sw))
            assert_result(got, exp, dtype, exact=True, what=f"(1, {kw}) zeros {w}")
            _signs_equal(got, exp, f"(1, {kw}) zeros width {w}: sign")
            # zeros only: every element ties, the window's first one wins
            got, exp = fmaconv.max_pool2d(z, (3, kw), (2, sw), ceil_mode=True), \
                ref.max_pool2d(z, (3, kw), (2, sw), ceil_mode=True)
            _signs_equal(got, exp, f"(3, {kw}) zeros only {w}: sign")


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_anywhere(dtype):
    rng = np.random.default_rng(6)
    for w in (13, 17, 27):
        x0 = pool_values(rng, (1, 2, 9, w), dtype, "ints")
        for pos in rng.choice(x0.size, 12, replace=False):
            x = x0.copy()
            x.flat[pos] = np.nan
            for k, s in [(3, 2), (2, 2), ((1, 3), (1, 2))]:
                assert_result(fmaconv.max_pool2d(x, k, s), ref.max_pool2d(x, k, s), dtype, exact=True,
                              what=f"NaN at {pos} width {w} k {k}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_across_threads(dtype):
    rng = np.random.default_rng(5)
    for shape, k, s, ceil in [((3, 37, 13, 13), 3, 2, False), ((2, 29, 14, 14), 3, 2, True),
                              ((5, 13, 28, 28), 2, 2, False)]:
        x = pool_values(rng, shape, dtype, "ints")
        assert_same_bits_across_threads(lambda: fmaconv.max_pool2d(x, k, s, ceil_mode=ceil), f"{shape}")
    x = pool_values(rng, (3, 41, 17, 17), dtype, "normal")
    assert_same_bits_across_threads(lambda: fmaconv.avg_pool2d(x, 5, 3, 2, count_include_pad=False), "avg 5x5")


@pytest.mark.parametrize("dtype", DTYPES)
def test_input_at_page_edges(dtype):
    for shape, k, s in [((1, 1, 3, 13), 3, 2), ((1, 3, 13, 13), 3, 2), ((1, 2, 4, 17), 2, 2), ((1, 1, 5, 31), (1, 3), (1, 2))]:
        buf, arrays = guarded_pool_inputs(shape, dtype, np.random.default_rng(1))
        for a in arrays:
            for ceil in (False, True):
                assert_result(fmaconv.max_pool2d(a, k, s, ceil_mode=ceil), ref.max_pool2d(a, k, s, ceil_mode=ceil), dtype,
                              exact=True, what=f"{shape} k {k}")
    for shape in [(1, 1, 5, 13), (1, 3, 17, 17), (1, 2, 5, 31)]:
        buf, arrays = guarded_pool_inputs(shape, dtype, np.random.default_rng(2))
        for a in arrays:
            assert_result(fmaconv.avg_pool2d(a, 5, 3, ceil_mode=True), ref.avg_pool2d(a, 5, 3, ceil_mode=True), dtype,
                          what=f"avg {shape}")


@pytest.mark.skipif(not have_torch(), reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_torch(dtype):
    import torch

    rng = np.random.default_rng(9)
    for shape, kw in [((4, 16, 13, 13), dict(kernel_size=3, stride=2)),
                      ((2, 8, 14, 14), dict(kernel_size=3, stride=2, ceil_mode=True)),
                      ((2, 8, 17, 17), dict(kernel_size=3, stride=2)),
                      ((2, 8, 27, 27), dict(kernel_size=3, stride=2, ceil_mode=True)),
                      ((8, 6, 28, 28), dict(kernel_size=2)),
                      ((2, 8, 16, 16), dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1)))]:
        x = pool_values(rng, shape, dtype, "special")
        np.testing.assert_array_equal(fmaconv.max_pool2d(x, **kw),
                                      torch.nn.functional.max_pool2d(torch.from_numpy(x), **kw).numpy())
    for shape, kw in [((4, 16, 17, 17), dict(kernel_size=5, stride=3)),
                      ((2, 8, 13, 13), dict(kernel_size=5, stride=3, padding=2, count_include_pad=False)),
                      ((2, 8, 14, 14), dict(kernel_size=3, stride=3, padding=1, ceil_mode=True))]:
        x = pool_values(rng, shape, dtype, "special")
        np.testing.assert_allclose(fmaconv.avg_pool2d(x, **kw),
                                   torch.nn.functional.avg_pool2d(torch.from_numpy(x), **kw).numpy(), equal_nan=True,
                                   rtol=1e-6 if dtype == np.float32 else 1e-13, atol=0)

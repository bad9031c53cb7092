"""Depthwise and channel-multiplier convolution (C_in/groups == 1): the padded row-buffer kernels.

Sweeps output widths around the vector length (4/8/16 float32, 2/4/8 float64) and the column
tiles (up to 8 vectors), output heights around the row tile (4 rows), every kernel size 1..7
with strides and dilations 1..3, 'same' and asymmetric padding, padding modes, multipliers 2
and 3, 1-D/2-D/3-D, bands of rows and columns (long rows, tall images, one image on many
threads), non-finite inputs and weights (against PyTorch) and subnormals. CI runs this file under
every kernel set (FMACONV_ISA=scalar|avx2|default).
"""
import itertools

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_result, guarded_array, have_torch, random_array

needs_torch = pytest.mark.skipif(not have_torch(), reason="needs torch")

CONV = {1: (fmaconv.conv1d, ref.conv1d), 2: (fmaconv.conv2d, ref.conv2d), 3: (fmaconv.conv3d, ref.conv3d)}


def check(rng, dtype, x_shape, k, mult=1, bias=True, kind="normal", **kw):
    """Depthwise conv of a random input of x_shape (N, C, *sp) with kernel k (tuple) against
    the NumPy reference."""
    D = len(k)
    C = x_shape[1]
    x = random_array(rng, x_shape, dtype, kind)
    w = random_array(rng, (C * mult, 1) + tuple(k), dtype)
    b = random_array(rng, (C * mult,), dtype) if bias else None
    f, r = CONV[D]
    got = f(x, w, b, groups=C, **kw)
    assert_result(got, r(x, w, b, groups=C, **kw), dtype, what=f"{x_shape} k={k} m={mult} {kw}")
    return got


WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 47, 48, 49, 56, 63, 64, 65, 96, 127,
          128, 129, 136, 255, 256, 257, 300]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ow", WIDTHS)
@pytest.mark.parametrize("k", [1, 3, 7])
def test_1d_widths(ow, k, dtype, rng):
    check(rng, dtype, (2, 3, ow), (k,), padding=k // 2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ow", [1, 3, 8, 15, 16, 17, 31, 33, 56, 64, 65])
@pytest.mark.parametrize("oh", [1, 2, 3, 4, 5, 7, 8, 9, 13])
def test_2d_heights_and_widths(oh, ow, dtype, rng):
    check(rng, dtype, (1, 2, oh, ow), (3, 3), padding=1)
    check(rng, dtype, (1, 2, oh + 4, ow + 4), (5, 5), bias=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(1, 8))
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_2d_kernel_stride_dilation(k, stride, dilation, dtype, rng):
    check(rng, dtype, (2, 3, 23, 41), (k, k), stride=stride, dilation=dilation, padding=k // 2)
    # non-square kernels, different per-axis geometry, padding on both sides larger than k//2
    check(rng, dtype, (1, 2, 25, 37), (k, max(1, 8 - k)), stride=(stride, 4 - stride),
          dilation=(dilation, 4 - dilation), padding=(k, 2), bias=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", range(1, 8))
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_1d_kernel_stride_dilation(k, stride, dilation, dtype, rng):
    check(rng, dtype, (2, 4, 70), (k,), stride=stride, dilation=dilation, padding=k // 2 + dilation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,stride,dilation", [((1, 1, 1), 1, 1), ((3, 3, 3), 1, 1), ((2, 3, 4), 1, 2),
                                               ((3, 3, 3), 2, 1), ((3, 1, 5), (1, 2, 3), (2, 1, 1)),
                                               ((5, 5, 5), 1, 1)])
@pytest.mark.parametrize("mult", [1, 2])
def test_3d(k, stride, dilation, mult, dtype, rng):
    check(rng, dtype, (2, 3, 7, 9, 19), k, mult=mult, stride=stride, dilation=dilation, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("k", [2, 3, 4, 5])
@pytest.mark.parametrize("dilation", [1, 2])
def test_same_padding(D, k, dilation, dtype, rng):
    sp = {1: (37,), 2: (11, 21), 3: (5, 6, 18)}[D]
    check(rng, dtype, (2, 3) + sp, (k,) * D, padding="same", dilation=dilation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes(D, mode, dtype, rng):
    sp = {1: (29,), 2: (9, 19), 3: (4, 5, 17)}[D]
    check(rng, dtype, (2, 4) + sp, (3,) * D, padding=1, padding_mode=mode)
    check(rng, dtype, (1, 2) + sp, (3,) * D, mult=2, padding=2, stride=2, padding_mode=mode)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("mult", [2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_channel_multiplier(D, mult, bias, dtype, rng):
    sp = {1: (50,), 2: (13, 33), 3: (5, 6, 20)}[D]
    check(rng, dtype, (2, 5) + sp, (3,) * D, mult=mult, bias=bias, padding=1)
    check(rng, dtype, (1, 3) + sp, (2,) * D, mult=mult, bias=bias, stride=2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unbatched_and_single_channel(dtype, rng):
    x = random_array(rng, (3, 10, 40), dtype)
    w = random_array(rng, (6, 1, 3, 3), dtype)
    assert_result(fmaconv.conv2d(x, w, groups=3, padding=1), ref.conv2d(x, w, groups=3, padding=1), dtype)
    check(rng, dtype, (1, 1, 70, 90), (3, 3), padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bands(dtype, rng):
    # long rows: several column bands per row; tall planes: several row bands; one channel of one
    # image: the rows are split over the threads
    check(rng, dtype, (1, 2, 20011), (7,), padding=3)
    check(rng, dtype, (1, 2, 9001), (5,), stride=2, dilation=3, padding=4)
    check(rng, dtype, (1, 2, 300, 211), (3, 3), padding=1)
    check(rng, dtype, (1, 1, 97, 1500), (3, 5), stride=(1, 2), padding=(1, 2))
    check(rng, dtype, (1, 1, 40, 64, 64), (3, 3, 3), padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads(threads, dtype, rng):
    saved = fmaconv.get_num_threads()
    try:
        fmaconv.set_num_threads(threads)
        check(rng, dtype, (1, 3, 57, 61), (3, 3), padding=1)
        check(rng, dtype, (3, 2, 1000), (7,), padding=3)
    finally:
        fmaconv.set_num_threads(saved)


def torch_conv(x, w, b, **kw):
    import torch_ref

    return torch_ref.conv(x, w, b, **kw)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_non_finite_inputs_like_torch(D, stride, dtype, rng):
    sp = {1: (67,), 2: (12, 37), 3: (5, 6, 21)}[D]
    x = random_array(rng, (2, 3) + sp, dtype, "special")
    w = random_array(rng, (6, 1) + (3,) * D, dtype)
    b = random_array(rng, (6,), dtype)
    got = CONV[D][0](x, w, b, groups=3, padding=1, stride=stride)
    want = torch_conv(x, w, b, groups=3, padding=1, stride=stride)
    assert_result(got, want.astype(np.float64), dtype)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(np.isposinf(got), np.isposinf(want))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_weights_skip_padding(D, value, dtype, rng):
    # A non-finite weight never multiplies a padding zero: like PyTorch's float32 depthwise
    # kernels, outputs that meet it only through padding stay finite. (PyTorch is not consistent
    # here: its float64 and channel-multiplier paths multiply the padding, giving NaN.)
    import torch_ref

    sp = {1: (40,), 2: (9, 35)}[D]
    x = random_array(rng, (1, 4) + sp, dtype)
    w = random_array(rng, (4, 1) + (3,) * D, dtype)
    w.reshape(4, -1)[1, 0] = value
    w.reshape(4, -1)[3, -1] = value
    got = CONV[D][0](x, w, None, groups=4, padding=1)
    want32 = torch_ref.conv(x.astype(np.float32), w.astype(np.float32), None, groups=4, padding=1)
    finite = np.isfinite(want32)
    assert np.array_equal(np.isfinite(got), finite)
    assert np.array_equal(np.isnan(got), np.isnan(want32))
    # where finite, the non-finite tap only met padding: the same as a zero weight
    w0 = np.where(np.isfinite(w), w, 0).astype(dtype)
    np.testing.assert_allclose(got[finite], ref.conv(x, w0, None, groups=4, padding=1)[finite], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormals(dtype, rng):
    tiny = np.finfo(dtype).tiny
    x = random_array(rng, (2, 3, 9, 40), dtype)
    x[0] *= tiny / 4  # subnormal inputs: flushed inside the kernel, contribute ~0
    w = random_array(rng, (3, 1, 3, 3), dtype)
    got = fmaconv.conv2d(x, w, groups=3, padding=1)
    assert_result(got, ref.conv2d(x, w, groups=3, padding=1), dtype)
    # subnormal weights times normal inputs
    w2 = w * (tiny / 8)
    got = fmaconv.conv2d(x[1:], w2, groups=3, padding=1)
    assert np.all(np.isfinite(got)) and np.max(np.abs(got)) <= 16 * tiny
    # the caller's floating-point state is restored: NumPy still produces subnormals
    assert np.asarray(tiny, dtype) / dtype(4) > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_values_exact(dtype, rng):
    # small integers: every order of summation gives the same result
    for D, sp, k in [(1, (100,), (7,)), (2, (17, 50), (3, 3)), (2, (17, 50), (5, 5)), (3, (6, 7, 20), (3, 3, 3))]:
        x = random_array(rng, (2, 4) + sp, dtype, "ints")
        w = random_array(rng, (8, 1) + k, dtype, "ints")
        b = random_array(rng, (8,), dtype, "ints")
        f, r = CONV[D]
        for kw in (dict(padding=1), dict(padding=2, stride=2), dict(padding="same", dilation=2)):
            got = f(x, w, b, groups=4, **kw)
            np.testing.assert_array_equal(got, r(x, w, b, groups=4, **kw).astype(dtype))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_geometries_vs_torch(dtype):
    rng = np.random.default_rng(1234)
    for _ in range(60):
        D = int(rng.integers(1, 4))
        C = int(rng.integers(1, 5))
        mult = int(rng.integers(1, 4))
        k = tuple(int(v) for v in rng.integers(1, 6, size=D))
        s = tuple(int(v) for v in rng.integers(1, 4, size=D))
        d = tuple(int(v) for v in rng.integers(1, 3, size=D))
        p = tuple(int(v) for v in rng.integers(0, 4, size=D))
        sp = tuple(int(max(dd * (kk - 1) + 1 - 2 * pp, 1) + rng.integers(0, 30 if D == 1 else 12))
                   for kk, dd, pp in zip(k, d, p))
        x = random_array(rng, (int(rng.integers(1, 3)), C) + sp, dtype)
        w = random_array(rng, (C * mult, 1) + k, dtype)
        b = random_array(rng, (C * mult,), dtype) if rng.random() < 0.5 else None
        got = CONV[D][0](x, w, b, groups=C, stride=s, padding=p, dilation=d)
        want = torch_conv(x, w, b, groups=C, stride=s, padding=p, dilation=d)
        assert_result(got, want.astype(np.float64), dtype, what=f"{x.shape} k={k} s={s} d={d} p={p} m={mult}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D,k,pad", [(1, 7, 3), (1, 3, 1), (2, 3, 1), (2, 5, 2), (2, 7, 3)])
def test_no_reads_outside_the_input(D, k, pad, dtype, rng):
    # the kernels read unit-stride rows in place, with masked loads at the edges of each row
    shape = (1, 2) + ((67,) if D == 1 else (5, 67))
    g = guarded_array(shape, dtype)
    if g is None:
        pytest.skip("no mprotect")
    buf, first, last = g
    w = random_array(rng, (2, 1) + (k,) * D, dtype)
    for x in (first, last):
        x[...] = random_array(rng, shape, dtype)
        f, r = CONV[D]
        assert_result(f(x, w, None, groups=2, padding=pad), r(np.array(x), w, None, groups=2, padding=pad), dtype)
    del first, last

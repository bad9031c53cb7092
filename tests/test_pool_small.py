"""Adaptive pooling of small 2-D planes, whole planes at a time (pool_small.h, AVX-512: rows of at
most one vector, a plane's outputs within four vectors, e.g. AlexNet's 13x13 -> 6x6; the other
kernel sets take their general kernels with the same tests):

- every output size of inputs 1..40 rows by widths around the vector lengths (random picks), planes
  counts that leave partial planes to a thread, threads 1/2/3;
- NaN, -inf and +inf at every position of small planes (max: the NaN propagates; avg: NaN/inf);
- ties: constant planes, small integers, planes of +-0 (max: the first one's sign; avg: +0, as
  PyTorch's sum starts from +0), windows of two sizes along each axis.

Max pooling with indices on rows of at most two vectors (pool_small.h: column windows of each input
row reduced once, then window rows, both in scan order): kernels 1..5, strides, dilations,
paddings, ceil_mode, heights up to past the kernel's 64-row limit, NaN/-inf/+inf at every position
(the last NaN's index), ties and +-0 (the first maximum's sign and index), threads.

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import os

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import RERUN_VAR, DTYPES, assert_indices, assert_result, have_torch, isa_rerun_tests, pool_values

globals().update(isa_rerun_tests(__file__))


def _check_max(got, exp, what):
    assert_result(got, exp, got.dtype, exact=True, what=what)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.asarray(exp)), err_msg=f"{what}: sign of a zero")


def _check(x, out, what):
    _check_max(fmaconv.adaptive_max_pool2d(x, out), ref.adaptive_max_pool2d(x, out), what)
    assert_result(fmaconv.adaptive_avg_pool2d(x, out), ref.adaptive_avg_pool2d(x, out), x.dtype, what=f"avg {what}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sizes(dtype, rng):
    n = 0
    for w in (1, 2, 5, 8, 9, 13, 16, 17):
        for h in (1, 3, 6, 13, 14, 40):
            outs = {(1, 1), (h, w), ((h + 1) // 2, (w + 1) // 2)}
            outs |= {(int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))) for _ in range(2)}
            for oh, ow in sorted(outs):
                kind = ("normal", "ints", "special")[n % 3]
                x = pool_values(rng, (1, int(rng.integers(1, 6)), h, w), dtype, kind)
                _check(x, (oh, ow), f"{kind} {x.shape} -> {(oh, ow)}")
                n += 1
    assert n > 150


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw,out", [((13, 13), (6, 6)), ((7, 5), (3, 2)), ((12, 12), (5, 5)), ((9, 16), (4, 7)),
                                    ((4, 8), (3, 3))])
def test_special_at_every_position(dtype, hw, out):
    h, w = hw
    base = np.arange(h * w, dtype=dtype).reshape(h, w) % 7 - 3
    for v in (np.nan, -np.inf, np.inf):
        x = np.repeat(base[None], h * w, axis=0).reshape(1, h * w, h, w).copy()
        x.reshape(h * w, h * w)[np.arange(h * w), np.arange(h * w)] = v  # plane k: v at position k
        _check(x, out, f"{v} {hw} -> {out}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_and_signed_zeros(dtype, rng):
    for hw, out in (((13, 13), (6, 6)), ((10, 11), (4, 3)), ((16, 8), (5, 8))):
        planes = [np.full(hw, 2.5), np.zeros(hw), np.full(hw, -0.0), rng.integers(-2, 2, hw).astype(np.float64),
                  np.full(hw, -np.inf)]
        x = np.stack(planes)[None].astype(dtype)
        _check(x, out, f"ties {hw} -> {out}")
        got = fmaconv.adaptive_avg_pool2d(x, out)
        assert not np.signbit(got[0, 1:3]).any(), "avg of zeros: +0"


@pytest.mark.parametrize("threads", (2, 3))
def test_threads(threads, restore_threads, rng):
    fmaconv.set_num_threads(threads)
    for dtype in DTYPES:
        for shape, out in (((3, 37, 13, 13), (6, 6)), ((1, 5, 13, 13), (6, 5)), ((2, 7, 9, 15), (4, 4))):
            _check(pool_values(rng, shape, dtype, "special"), out, f"{threads} threads {shape} -> {out}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.skipif(os.environ.get(RERUN_VAR) == "1", reason="torch once, in the main run (CI time)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for shape, out in (((4, 64, 13, 13), 6), ((2, 9, 12, 12), 5), ((3, 5, 31, 7), (13, 3)), ((1, 2, 13, 13), 6)):
        for kind in ("special", "ints"):
            x = pool_values(rng, shape, dtype, kind)
            if kind == "ints":
                x[0, :1] = -0.0
            t = torch.from_numpy(x)
            _check_max(fmaconv.adaptive_max_pool2d(x, out), F.adaptive_max_pool2d(t, out).numpy(), f"{shape} -> {out}")
            got, exp = fmaconv.adaptive_avg_pool2d(x, out), F.adaptive_avg_pool2d(t, out).numpy()
            assert_result(got, exp.astype(np.float64), dtype, what=f"avg {shape} -> {out}")
            z = exp == 0  # (a NaN's sign bit means nothing)
            np.testing.assert_array_equal(np.signbit(got[z]), np.signbit(exp[z]), err_msg="avg: sign of a zero")


def _check_idx(x, what, **kw):
    v, i = fmaconv.max_pool2d(x, return_indices=True, **kw)
    ev, ei = ref.max_pool2d(x, return_indices=True, **kw)
    _check_max(v, ev, what)
    assert_indices(i, ei, what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_idx_windows(dtype, rng):
    n = 0
    for w in (1, 3, 8, 9, 15, 16, 17, 28, 31, 32, 33):
        for h in (1, 4, 28, 64, 66):
            for _ in range(2):
                k = (int(rng.integers(1, 4)), int(rng.integers(1, 6)))
                s = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
                d = (1, 1) if rng.random() < 0.6 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
                p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
                if any((kk - 1) * dd + 1 > ii + 2 * pp for kk, dd, ii, pp in zip(k, d, (h, w), p)):
                    continue
                kind = ("normal", "ints", "special", "neg_inf")[n % 4]
                x = pool_values(rng, (1, int(rng.integers(1, 4)), h, w), dtype, kind)
                kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(rng.random() < 0.3))
                _check_idx(x, f"{kind} {x.shape} {kw}", **kw)
                n += 1
    assert n > 60


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw,kw", [((7, 9), dict(kernel_size=3, stride=1, padding=1)), ((6, 17), dict(kernel_size=3, stride=2, padding=1)),
                                   ((5, 5), dict(kernel_size=2, stride=1, padding=1)), ((4, 20), dict(kernel_size=(2, 4), stride=(1, 3)))])
def test_max_idx_special_at_every_position(dtype, hw, kw):
    h, w = hw
    base = np.arange(h * w, dtype=dtype).reshape(h, w) % 5 - 2
    for v in (np.nan, -np.inf, np.inf, 0.0, -0.0):
        x = np.repeat(base[None], h * w, axis=0).reshape(1, h * w, h, w).copy()
        if v == 0:
            x[:] = -1.0
        x.reshape(h * w, h * w)[np.arange(h * w), np.arange(h * w)] = v  # plane k: v at position k
        _check_idx(x, f"{v} {hw} {kw}", **kw)
    for x in (np.full((1, 2, h, w), 1.5, dtype), np.full((1, 2, h, w), -np.inf, dtype),
              np.where(np.random.default_rng(h).random((1, 3, h, w)) < 0.5, -0.0, 0.0).astype(dtype)):
        _check_idx(x, f"ties {hw} {kw}", **kw)


@pytest.mark.parametrize("threads", (2, 3))
def test_max_idx_threads(threads, restore_threads, rng):
    fmaconv.set_num_threads(threads)
    for dtype in DTYPES:
        x = pool_values(rng, (3, 7, 28, 28), dtype, "special")
        _check_idx(x, f"{threads} threads", kernel_size=3, stride=1, padding=1)
        x = pool_values(rng, (1, 5, 9, 12), dtype, "ints")
        _check_idx(x, f"{threads} threads", kernel_size=2, stride=1)
        x = pool_values(rng, (2, 11, 14, 14), dtype, "special")
        _check_idx(x, f"{threads} threads", kernel_size=2, stride=2)


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.skipif(os.environ.get(RERUN_VAR) == "1", reason="torch once, in the main run (CI time)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_idx_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for shape, kw in (((2, 16, 28, 28), dict(kernel_size=3, stride=1, padding=1)), ((2, 8, 14, 14), dict(kernel_size=3, stride=2, padding=1)),
                      ((1, 4, 13, 31), dict(kernel_size=(3, 5), stride=(2, 1), padding=(0, 2), dilation=(2, 1)))):
        for kind in ("special", "ints"):
            x = pool_values(rng, shape, dtype, kind)
            if kind == "ints":
                x[0, :1] = np.where(rng.random(shape[2:]) < 0.5, -0.0, 0.0)
            v, i = F.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
            got = fmaconv.max_pool2d(x, return_indices=True, **kw)
            _check_max(got[0], v.numpy(), f"{shape} {kw}")
            assert_indices(got[1], i.numpy(), f"{shape} {kw}")

"""Plain max (values only) and average pooling of small 2-D planes, whole planes at a time
(pool_small_win.h, AVX-512: rows of at most one vector, a plane's outputs within four vectors, e.g.
AlexNet's 3x3 stride-2 max on 13x13; and planes of at most four vectors with one vector of
outputs, e.g. 2x2 on 8x8, each tap a permute of the plane; the other kernel sets take their general
kernels with the same tests):

- widths around the vector lengths by heights 1..40, random kernels, strides, paddings, dilations,
  ceil_mode, count_include_pad and divisor_override, planes of every kind of value;
- NaN, -inf and +inf at every position of small planes (max: the NaN propagates, also when the
  plane is redone row by row; avg: NaN/inf);
- ties: the sign of a zero maximum where it is defined here (windows one row or one column long,
  windows of all-equal values: see the README's known difference);
- plane counts that leave partial planes to a thread (threads 2 and 3);
- tiny planes: every size up to 8x8, the exact sign of a zero maximum (taps in scan order), max
  with indices (NaN, ties, -inf windows: PyTorch's first index), global max pooling with indices
  on 7x7, and inputs ending at an inaccessible page (the last plane's loads are masked);
- PyTorch, where installed.

Oracles: tests/reference.py (NumPy, from the spec), and PyTorch where installed."""

import os

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import RERUN_VAR, DTYPES, assert_indices, assert_result, guarded_array, have_torch, isa_rerun_tests, pool_values

globals().update(isa_rerun_tests(__file__))


def _check(x, what, signs=False, **kw):
    """Max (values, exact; zero signs when `signs`) and average against the reference."""
    got, exp = fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw)
    assert_result(got, exp, x.dtype, exact=True, what=f"max {what}")
    if signs:
        np.testing.assert_array_equal(np.signbit(got), np.signbit(exp), err_msg=f"max {what}: sign of a zero")
    if kw.get("dilation", 1) in (1, (1, 1)):
        for cip, div in ((True, None), (False, None), (True, 3)):
            akw = dict(kw, count_include_pad=cip, divisor_override=div)
            akw.pop("dilation", None)
            assert_result(fmaconv.avg_pool2d(x, **akw), ref.avg_pool2d(x, **akw), x.dtype, what=f"avg {what} {cip} {div}")


def _valid(h, w, k, s, p, d):
    return all((kk - 1) * dd + 1 <= ii + 2 * pp for kk, dd, ii, pp in zip(k, d, (h, w), p))


def _random_window(rng, h, w, kmax):
    """Random max-pool arguments for an h x w plane (kernels up to kmax), or None if invalid."""
    k = (int(rng.integers(1, min(h, kmax) + 1)), int(rng.integers(1, min(w, kmax) + 1)))
    s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
    d = (1, 1) if rng.random() < 0.7 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if not _valid(h, w, k, s, p, d):
        return None
    return dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=bool(rng.random() < 0.4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_windows(dtype, rng):
    n = 0
    for w in (1, 2, 5, 7, 8, 9, 13, 15, 16, 17):
        for h in (1, 3, 7, 13, 14, 16, 40):
            for _ in range(3):
                kw = _random_window(rng, h, w, 5)
                if kw is None:
                    continue
                kind = ("normal", "ints", "special", "neg_inf")[n % 4]
                x = pool_values(rng, (int(rng.integers(1, 3)), int(rng.integers(1, 6)), h, w), dtype, kind)
                _check(x, f"{kind} {x.shape} {kw}", signs=kind != "normal" and 1 in kw["kernel_size"], **kw)
                n += 1
    assert n > 150


CASES = [((13, 13), dict(kernel_size=3, stride=2)), ((14, 14), dict(kernel_size=3, stride=2, padding=1)),
         ((8, 8), dict(kernel_size=2)), ((7, 7), dict(kernel_size=2, ceil_mode=True)),
         ((9, 16), dict(kernel_size=(3, 5), stride=(2, 3), padding=(1, 2))), ((6, 5), dict(kernel_size=(1, 3), stride=(1, 2))),
         ((6, 6), dict(kernel_size=3, stride=2, padding=1)), ((4, 4), dict(kernel_size=2, stride=1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw,kw", CASES)
def test_special_at_every_position(dtype, hw, kw):
    h, w = hw
    base = np.arange(h * w, dtype=dtype).reshape(h, w) % 7 - 3
    for v in (np.nan, -np.inf, np.inf):
        x = np.repeat(base[None], h * w, axis=0).reshape(1, h * w, h, w).copy()
        x.reshape(h * w, h * w)[np.arange(h * w), np.arange(h * w)] = v  # plane k: v at position k
        _check(x, f"{v} {hw} {kw}", **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw,kw", CASES)
def test_ties_and_signed_zeros(dtype, hw, kw, rng):
    planes = [np.full(hw, 2.5), np.zeros(hw), np.full(hw, -0.0), np.full(hw, -np.inf)]
    x = np.stack(planes)[None].astype(dtype)
    _check(x, f"ties {hw} {kw}", signs=True, **kw)  # windows of equal values: any tie has the same sign
    # windows one row, or one column, long: the first zero's sign in scan order
    for k1 in ((1, 3), (3, 1), (1, 2)):
        if _valid(*hw, k1, (1, 1), (0, 0), (1, 1)):
            z = np.where(rng.random((1, 5) + hw) < 0.5, -0.0, 0.0) - (rng.random((1, 5) + hw) < 0.3)
            _check(z.astype(dtype), f"zeros {hw} {k1}", signs=True, kernel_size=k1, stride=(1, 2))


@pytest.mark.parametrize("threads", (2, 3))
def test_threads(threads, restore_threads, rng):
    fmaconv.set_num_threads(threads)
    for dtype in DTYPES:
        for shape, kw in (((3, 37, 13, 13), dict(kernel_size=3, stride=2)), ((1, 5, 8, 8), dict(kernel_size=2)),
                          ((2, 7, 9, 15), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True))):
            _check(pool_values(rng, shape, dtype, "special"), f"{threads} threads {shape} {kw}", **kw)


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.skipif(os.environ.get(RERUN_VAR) == "1", reason="torch once, in the main run (CI time)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for (h, w), kw in CASES:
        for kind in ("special", "ints"):
            x = pool_values(rng, (2, 9, h, w), dtype, kind)
            t = torch.from_numpy(x)
            assert_result(fmaconv.max_pool2d(x, **kw), F.max_pool2d(t, **kw).numpy().astype(np.float64), dtype,
                          exact=True, what=f"max {x.shape} {kw}")
            exp = F.avg_pool2d(t, **kw).numpy()
            got = fmaconv.avg_pool2d(x, **kw)
            assert_result(got, exp.astype(np.float64), dtype, what=f"avg {x.shape} {kw}")


def _tiny_kernel(x, out_hw):
    """Does the AVX-512 tiny-plane kernel (taps in scan order: exact zero signs) take this call?"""
    vl = 64 // x.itemsize
    return (fmaconv.show_config(False)["isa"] == "avx512" and x.shape[2] * x.shape[3] <= 4 * vl
            and out_hw[0] * out_hw[1] <= vl and x.shape[3] <= 2 * vl)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_planes(dtype, rng):
    n = 0
    for h in range(1, 9):
        for w in range(1, 9):
            for _ in range(2):
                kw = _random_window(rng, h, w, 4)
                if kw is None:
                    continue
                kind = ("ints", "special", "normal", "neg_inf")[n % 4]
                x = pool_values(rng, (int(rng.integers(1, 4)), int(rng.integers(1, 7)), h, w), dtype, kind)
                if kind == "ints":  # zeros of both signs among the ties
                    x[x == 0] = np.where(rng.random(int((x == 0).sum())) < 0.5, -0.0, 0.0)
                out = ref.max_pool2d(x, **kw)
                exact = _tiny_kernel(x, out.shape[2:]) or 1 in kw["kernel_size"]
                _check(x, f"{kind} {x.shape} {kw}", signs=kind == "ints" and exact, **kw)
                n += 1
    assert n > 90


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiny_planes_indices(dtype, rng):
    n = 0
    for h in range(1, 9):
        for w in range(1, 9):
            kw = _random_window(rng, h, w, 4)
            if kw is None:
                continue
            kind = ("ints", "special", "neg_inf")[n % 3]
            x = pool_values(rng, (int(rng.integers(1, 4)), int(rng.integers(1, 6)), h, w), dtype, kind)
            x[x == 0] = np.where(rng.random(int((x == 0).sum())) < 0.5, -0.0, 0.0)
            v, i = fmaconv.max_pool2d(x, return_indices=True, **kw)
            ev, ei = ref.max_pool2d(x, return_indices=True, **kw)
            assert_result(v, ev, dtype, exact=True, what=f"{kind} {x.shape} {kw}")
            np.testing.assert_array_equal(np.signbit(v), np.signbit(ev), err_msg=f"{kind} {x.shape} {kw}: sign of a zero")
            assert_indices(i, ei, f"{kind} {x.shape} {kw}")
            n += 1
    for kind in ("special", "neg_inf", "ints"):  # global max pooling (ResNet-like 7x7 maps)
        x = pool_values(rng, (2, 9, 7, 7), dtype, kind)
        v, i = fmaconv.adaptive_max_pool2d(x, 1, return_indices=True)
        ev, ei = ref.adaptive_max_pool2d(x, 1, return_indices=True)
        assert_result(v, ev, dtype, exact=True, what=f"global {kind}")
        assert_indices(i, ei, f"global {kind}")
    assert n > 45


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", [((1, 3, 7, 7), dict(kernel_size=2, ceil_mode=True)), ((2, 5, 8, 8), dict(kernel_size=2)),
                                      ((1, 2, 5, 3), dict(kernel_size=3, stride=2, padding=1)), ((3, 1, 13, 13), dict(kernel_size=3, stride=2))])
def test_no_reads_outside_the_input(dtype, shape, kw, rng):
    # whole vectors are loaded where the plane is followed by more input; the last planes mask
    g = guarded_array(shape, dtype)
    if g is None:
        pytest.skip("no mprotect")
    buf, first, last = g
    for x in (first, last):
        x[...] = pool_values(rng, shape, dtype, "special")
        _check(x, f"guarded {shape} {kw}", **kw)
    del first, last


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_at_every_thread_count(dtype, rng, restore_threads):
    # thread ranges start and end inside planes: those planes must come out bit for bit as whole
    # ones (averages, zero signs, indices)
    for shape, kw in (((8, 255, 13, 13), dict(kernel_size=3, stride=2)), ((32, 127, 8, 8), dict(kernel_size=3, stride=2, padding=1)),
                      ((16, 111, 7, 7), dict(kernel_size=2, ceil_mode=True)), ((8, 131, 14, 14), dict(kernel_size=5, stride=3, padding=2))):
        x = pool_values(rng, shape, dtype, "normal")
        z = np.where(rng.random(shape) < 0.5, -0.0, 0.0) - (rng.random(shape) < 0.3)
        z = z.astype(dtype)
        z[0, 0, 0, 0] = np.nan
        runs = []
        for threads in (1, 2, 3):
            fmaconv.set_num_threads(threads)
            runs.append([fmaconv.avg_pool2d(x, **kw), fmaconv.avg_pool2d(x, count_include_pad=False, **kw),
                         fmaconv.max_pool2d(z, **kw), *fmaconv.max_pool2d(z, return_indices=True, **kw)])
        for threads, run in zip((2, 3), runs[1:]):
            for got, want in zip(run, runs[0]):
                assert got.tobytes() == want.tobytes(), f"{shape} {kw}: {threads} threads differ from 1"

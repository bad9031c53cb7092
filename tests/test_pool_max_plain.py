"""Max pooling without indices on the register paths that take a plain maximum and check NaN on
the side (a row, or a pair of rows oh and oh + gap sharing window rows, that read a NaN is redone
with NaN propagation), on every kernel set.

Windows 2..4 tall/wide, strides 1 and 2, dilations 1..3 (stride-1 rows pair at a gap of the
dilation), padding and ceil_mode, heights 1..7 and a few taller planes, widths 1..70 (around one
and several vectors of every set); 1-D, 2-D and 3-D. Data: ties (small integers), zeros of both
signs, -inf/inf/NaN, sparse NaN, and one NaN placed at every input position of a plane. Values
must equal the NumPy reference (tests/reference.py; NaN where it has NaN) and, where installed,
PyTorch. (No indices here: the sign of a zero maximum is not part of the check, as for the other
value-only paths.)"""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, have_torch, random_array, isa_rerun_tests

KINDS = ("ints", "zeros", "special", "sparse_nan", "neg_inf")


def _data(rng, shape, dtype, kind):
    if kind == "zeros":
        a = rng.choice(np.array([-0.0, 0.0, -1.0]), size=shape)
    elif kind == "sparse_nan":
        a = rng.standard_normal(shape)
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 300))] = np.nan
    elif kind == "neg_inf":  # windows of -inf only, and +inf
        a = rng.choice(np.array([-np.inf, -np.inf, -np.inf, 2.0, np.inf]), size=shape)
    else:
        a = random_array(rng, shape, np.float64, kind)
    return np.ascontiguousarray(a, dtype=dtype)


def _eq(got, exp, x, what):
    assert got.dtype == x.dtype and got.shape == np.shape(exp), f"{what}: {got.dtype} {got.shape} vs {np.shape(exp)}"
    np.testing.assert_array_equal(got, np.asarray(exp).astype(x.dtype), err_msg=what)


def _valid(dims, spatial, kw):
    try:
        getattr(ref, f"max_pool{dims}d")(np.zeros((1, 1) + tuple(spatial)), **kw)
        return True
    except AssertionError:  # output size < 1, or padding too large
        return False


# (kernel, stride, padding, dilation) per axis for the 2-D sweeps
CFGS = [(3, 1, 1, 2), (3, 1, 0, 2), (3, 1, 1, 3), (2, 1, 1, 2), (3, 1, 1, 1), (2, 1, 0, 1), (4, 1, 2, 1),
        (3, 2, 1, 1), (3, 2, 1, 2), (2, 2, 1, 1), (4, 2, 1, 1), (3, 1, 1, 4)]


# widths around one and several vectors of every set (2, 4, 8 or 16 lanes)
WIDTHS = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 47, 48, 49, 56, 63, 64, 65, 70)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: "k%d_s%d_p%d_d%d" % c)
def test_max_pool2d_plain_vs_reference(cfg, kind, dtype, rng):
    """Random widths per height (12 of the 23 for height 7, 4 for the others; over the 120
    parametrisations each width is drawn for each height ~20 times), ceil_mode drawn per shape (the NumPy
    reference is slow, and this file runs once per kernel set)."""
    k, st, p, d = cfg
    for h in (1, 2, 3, 4, 5, 7, 13):
        widths = rng.choice(WIDTHS, size=12 if h == 7 else 4, replace=False)
        for w in widths:
            kw = dict(kernel_size=k, stride=st, padding=p, dilation=d, ceil_mode=bool(rng.integers(2)))
            if not _valid(2, (h, w), kw):
                continue
            x = _data(rng, (1, 2, h, w), dtype, kind)
            _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{kind} {x.shape} {kw}")


def _members(n_in, n_out, k, s, p, d):
    """m[o, i]: input coordinate i is a tap of output o's window (spec: start o*s - p, step d)."""
    m = np.zeros((n_out, n_in), bool)
    for o in range(n_out):
        for j in range(k):
            i = o * s - p + j * d
            if 0 <= i < n_in:
                m[o, i] = True
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [(3, 1, 1, 2), (3, 1, 1, 1), (3, 2, 1, 1), (2, 1, 1, 3), (3, 1, 0, 3)],
                         ids=lambda c: "k%d_s%d_p%d_d%d" % c)
def test_one_nan_at_every_position(cfg, dtype, rng):
    """Each tap position of each window: a single NaN makes exactly the outputs whose window
    holds it NaN, and leaves the others as without it (each row or pair redone on its own)."""
    k, st, p, d = cfg
    for h, w in ((7, 17), (9, 33), (6, 40)):
        kw = dict(kernel_size=k, stride=st, padding=p, dilation=d)
        if not _valid(2, (h, w), kw):
            continue
        base = rng.integers(-3, 4, size=(1, 1, h, w)).astype(dtype)
        exp0 = np.asarray(ref.max_pool2d(base, **kw))
        oh, ow = exp0.shape[2:]
        mh, mw = _members(h, oh, k, st, p, d), _members(w, ow, k, st, p, d)
        for i in range(h):
            for j in range(w):
                x = base.copy()
                x[0, 0, i, j] = np.nan
                exp = exp0.copy()
                exp[0, 0][np.ix_(mh[:, i], mw[:, j])] = np.nan
                _eq(fmaconv.max_pool2d(x, **kw), exp, x, f"NaN at {(i, j)} of {x.shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ("ints", "special"))
def test_max_pool1d_and_3d_plain_vs_reference(kind, dtype, rng):
    for k, st, p, d in ((3, 1, 1, 2), (3, 2, 1, 1), (2, 1, 1, 3), (3, 1, 1, 1)):
        for cm in (False, True):
            kw = dict(kernel_size=k, stride=st, padding=p, dilation=d, ceil_mode=cm)
            for w in (1, 5, 15, 16, 17, 31, 33, 47, 64, 70):
                if _valid(1, (w,), kw):
                    x = _data(rng, (2, 3, w), dtype, kind)
                    _eq(fmaconv.max_pool1d(x, **kw), ref.max_pool1d(x, **kw), x, f"1d {kind} {x.shape} {kw}")
            for dhw in ((1, 5, 33), (3, 7, 20), (4, 6, 17)):
                for kd in (1, 2):
                    kw3 = dict(kernel_size=(kd, k, k), stride=(1, st, st), padding=(0, p, p), dilation=(1, d, d),
                               ceil_mode=cm)
                    if _valid(3, dhw, kw3):
                        x = _data(rng, (1, 2) + dhw, dtype, kind)
                        _eq(fmaconv.max_pool3d(x, **kw3), ref.max_pool3d(x, **kw3), x, f"3d {kind} {x.shape} {kw3}")


@pytest.mark.parametrize("threads", (1, 2, 3))
def test_row_pairs_across_thread_ranges(threads, restore_threads, rng):
    """Work splits start and end anywhere in a plane: rows whose pair partner lies outside the
    range are done alone, and no row is done twice or skipped."""
    fmaconv.set_num_threads(threads)
    for shape, kw in (((3, 5, 23, 40), dict(kernel_size=3, padding=1, stride=1, dilation=2)),
                      ((1, 7, 30, 33), dict(kernel_size=3, padding=1, stride=1, dilation=3)),
                      ((2, 3, 19, 70), dict(kernel_size=3, padding=1, stride=1))):
        x = _data(rng, shape, np.float32, "sparse_nan")
        _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{threads} threads {shape} {kw}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool_plain_vs_torch(kind, dtype, rng):
    import torch

    F = torch.nn.functional
    for cfg in CFGS:
        k, st, p, d = cfg
        for cm in (False, True):
            kw = dict(kernel_size=k, stride=st, padding=p, dilation=d, ceil_mode=cm)
            for h, w in ((1, 33), (3, 16), (7, 57), (12, 56), (20, 17)):
                if not _valid(2, (h, w), kw):
                    continue
                x = _data(rng, (2, 3, h, w), dtype, kind)
                _eq(fmaconv.max_pool2d(x, **kw), F.max_pool2d(torch.from_numpy(x), **kw).numpy(), x,
                    f"2d {kind} {x.shape} {kw}")
                x1 = x.reshape(2, 3 * h, w)
                _eq(fmaconv.max_pool1d(x1, **kw), F.max_pool1d(torch.from_numpy(x1), **kw).numpy(), x1,
                    f"1d {kind} {x1.shape} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

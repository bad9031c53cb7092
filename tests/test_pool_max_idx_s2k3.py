"""Max pooling with indices, 3 taps at stride 2 along the row without dilation (the 3x3 s2 p1
pool after a stem convolution, and its 1-D form), on every kernel set. On AVX-512 these go
through the row-first strip kernel (each input row reduced along the row, then the rows in scan
order; a window row shared with the next output row reduced once; blocks of 4 to 64 output
rows; any NaN read sends the block to the full-order path).

Widths 1..70 (around one and several vectors of every set), heights 1..7 and planes taller than a
block (4 to 64 output rows, by width), row windows 1..4 tall at strides 1..3 with dilation 1 and 2, padding 0
and 1 both ways, ceil_mode; 1-D, 2-D and 3-D; thread splits that start and end inside a plane.
Data: ties (small integers), zeros of both signs, -inf windows, +-inf and NaN, and one NaN at
every input position. Values (with the sign of a zero), indices and dtypes must equal the NumPy
reference (tests/reference.py) and, where installed, PyTorch."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, have_torch, random_array, isa_rerun_tests

KINDS = ("ints", "zeros", "neg_inf", "special")


def _data(rng, shape, dtype, kind):
    if kind == "zeros":
        a = rng.choice(np.array([-0.0, 0.0, -1.0]), size=shape)
    elif kind == "neg_inf":  # windows of -inf only (the first live tap's index), and +inf
        a = rng.choice(np.array([-np.inf, -np.inf, -np.inf, -np.inf, 2.0, np.inf]), size=shape)
    else:
        a = random_array(rng, shape, np.float64, kind)
    return np.ascontiguousarray(a, dtype=dtype)


def _eq(got, exp, x, what):
    (gv, gi), (ev, ei) = got, exp
    ev = np.asarray(ev).astype(x.dtype)
    assert gv.dtype == x.dtype and gv.shape == ev.shape, f"{what}: {gv.dtype} {gv.shape} vs {ev.shape}"
    assert gi.dtype == np.int64 and gi.shape == ev.shape, f"{what}: indices {gi.dtype} {gi.shape}"
    np.testing.assert_array_equal(gv, ev, err_msg=what)
    np.testing.assert_array_equal(np.signbit(gv), np.signbit(ev), err_msg=what + " (sign of zero)")
    np.testing.assert_array_equal(gi, ei, err_msg=what + " (indices)")


def _valid(dims, spatial, kw):
    try:
        getattr(ref, f"max_pool{dims}d")(np.zeros((1, 1) + tuple(spatial)), **kw)
        return True
    except AssertionError:  # output size < 1, or padding too large
        return False


WIDTHS = tuple(range(1, 71))
# (kernel, stride, padding, dilation) along the rows; the row axis is always k3 s2 d1
ROWS = [(3, 2, 1, 1), (3, 2, 0, 1), (1, 1, 0, 1), (2, 2, 1, 1), (3, 1, 1, 1), (4, 3, 2, 1), (3, 2, 1, 2),
        (2, 1, 0, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rows", ROWS, ids=lambda c: "kh%d_sh%d_ph%d_dh%d" % c)
def test_max_pool2d_idx_vs_reference(rows, kind, dtype, rng):
    """Every third width of 1..70 per (rows, kind, dtype), the others under the next kinds, so
    each (rows, width) runs for 2 or 3 of the 8 (kind, dtype) pairs; its height drawn from 1..7
    and 33, padding along the row and ceil_mode drawn per shape (the NumPy reference is slow;
    tests/test_pool_s2k3_rows.py sweeps the same kernels' blocks and pairs)."""
    kh, sh, ph, dh = rows
    for w in WIDTHS[(KINDS.index(kind) + DTYPES.index(dtype)) % 3::3]:
        h = int(rng.choice((1, 2, 3, 4, 5, 6, 7, 33)))
        pw = int(rng.integers(2))
        kw = dict(kernel_size=(kh, 3), stride=(sh, 2), padding=(ph, pw), dilation=(dh, 1),
                  ceil_mode=bool(rng.integers(2)), return_indices=True)
        if not _valid(2, (h, w), kw):
            continue
        x = _data(rng, (2, 3, h, w), dtype, kind)
        _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{kind} {x.shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool1d_and_3d_idx_vs_reference(kind, dtype, rng):
    for p in (0, 1):
        for cm in (False, True):
            kw = dict(kernel_size=3, stride=2, padding=p, ceil_mode=cm, return_indices=True)
            for w in (1, 2, 3, 5, 15, 16, 17, 31, 32, 33, 34, 47, 48, 49, 63, 64, 65, 66, 70, 97, 130):
                if _valid(1, (w,), kw):
                    x = _data(rng, (3, 5, w), dtype, kind)
                    _eq(fmaconv.max_pool1d(x, **kw), ref.max_pool1d(x, **kw), x, f"1d {kind} {x.shape} {kw}")
            for dhw in ((1, 5, 33), (3, 7, 20), (4, 6, 17), (2, 3, 64)):
                for kd in (1, 2):
                    kw3 = dict(kernel_size=(kd, 3, 3), stride=(1, 2, 2), padding=(0, p, p), ceil_mode=cm,
                               return_indices=True)
                    if _valid(3, dhw, kw3):
                        x = _data(rng, (1, 2) + dhw, dtype, kind)
                        _eq(fmaconv.max_pool3d(x, **kw3), ref.max_pool3d(x, **kw3), x, f"3d {kind} {x.shape} {kw3}")


def _members(n_in, n_out, k, s, p):
    """m[o, i]: input coordinate i is a tap of output o's window."""
    m = np.zeros((n_out, n_in), bool)
    for o in range(n_out):
        for j in range(k):
            i = o * s - p + j
            if 0 <= i < n_in:
                m[o, i] = True
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", (0, 1))
def test_one_nan_at_every_position(pad, dtype, rng):
    """A single NaN at each input position: exactly the outputs whose window holds it are NaN
    with its index; the others (in the same block of rows too) are as without it."""
    for h, w in ((7, 17), (20, 35)):
        kw = dict(kernel_size=3, stride=2, padding=pad, return_indices=True)
        base = rng.integers(-3, 4, size=(1, 1, h, w)).astype(dtype)
        v0, i0 = ref.max_pool2d(base, **kw)
        oh, ow = v0.shape[2:]
        mh, mw = _members(h, oh, 3, 2, pad), _members(w, ow, 3, 2, pad)
        for i in range(h):
            for j in range(w):
                x = base.copy()
                x[0, 0, i, j] = np.nan
                v, ix = v0.copy(), i0.copy()
                sel = np.ix_(mh[:, i], mw[:, j])
                v[0, 0][sel] = np.nan
                ix[0, 0][sel] = i * w + j
                _eq(fmaconv.max_pool2d(x, **kw), (v, ix), x, f"NaN at {(i, j)} of {x.shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_nan_at_every_position_one_row(dtype, rng):
    """Windows with one live row (1-D, and kernel height 1) go through their own row kernel
    (AVX-512): rows wide enough for its unchecked middle loop (several vectors), padding 0 and 1,
    ceil_mode; small integers, so ties are everywhere. A NaN at each position: exactly the
    windows holding it are NaN with its index, the others as without it."""
    w = 130
    for pad, cm in ((0, False), (1, False), (0, True), (1, True)):
        kw = dict(kernel_size=3, stride=2, padding=pad, ceil_mode=cm, return_indices=True)
        base = rng.integers(-3, 4, size=(1, 1, w)).astype(dtype)
        v0, i0 = ref.max_pool1d(base, **kw)
        mw = _members(w, v0.shape[2], 3, 2, pad)
        kw2 = dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, pad), ceil_mode=cm, return_indices=True)
        base2 = np.concatenate([rng.integers(-3, 4, size=(1, 1, 1, w)).astype(dtype), base[:, :, None],
                                rng.integers(-3, 4, size=(1, 1, 1, w)).astype(dtype)], axis=2)
        v2, i2 = ref.max_pool2d(base2, **kw2)
        for j in range(w):
            x = base.copy()
            x[0, 0, j] = np.nan
            v, ix = v0.copy(), i0.copy()
            v[0, 0, mw[:, j]] = np.nan
            ix[0, 0, mw[:, j]] = j
            _eq(fmaconv.max_pool1d(x, **kw), (v, ix), x, f"1d NaN at {j} {kw}")
            x = base2.copy()  # the middle row of three (in-plane offset w)
            x[0, 0, 1, j] = np.nan
            v, ix = v2.copy(), i2.copy()
            v[0, 0, 1, mw[:, j]] = np.nan
            ix[0, 0, 1, mw[:, j]] = w + j
            _eq(fmaconv.max_pool2d(x, **kw2), (v, ix), x, f"2d kh=1 NaN at (1, {j}) {kw2}")


@pytest.mark.parametrize("threads", (1, 2, 3))
def test_thread_splits(threads, restore_threads, rng):
    """Work splits start and end anywhere in a plane: blocks are cut at the range ends, and no
    row is done twice or skipped."""
    fmaconv.set_num_threads(threads)
    for shape, kw in (((3, 5, 41, 40), dict(kernel_size=3, stride=2, padding=1)),
                      ((1, 7, 30, 33), dict(kernel_size=3, stride=2, padding=0, ceil_mode=True)),
                      ((2, 3, 57, 57), dict(kernel_size=3, stride=2, padding=1))):
        for kind in ("ints", "special"):
            x = _data(rng, shape, np.float32, kind)
            _eq(fmaconv.max_pool2d(x, return_indices=True, **kw), ref.max_pool2d(x, return_indices=True, **kw), x,
                f"{threads} threads {kind} {shape} {kw}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool_idx_vs_torch(kind, dtype, rng):
    import torch

    F = torch.nn.functional
    for p in (0, 1):
        for cm in (False, True):
            kw = dict(kernel_size=3, stride=2, padding=p, ceil_mode=cm, return_indices=True)
            for h, w in ((1, 33), (3, 16), (7, 57), (12, 56), (40, 17), (35, 70)):
                if not _valid(2, (h, w), kw):
                    continue
                x = _data(rng, (2, 3, h, w), dtype, kind)
                tv, ti = F.max_pool2d(torch.from_numpy(x), **kw)
                _eq(fmaconv.max_pool2d(x, **kw), (tv.numpy(), ti.numpy()), x, f"2d {kind} {x.shape} {kw}")
                x1 = x.reshape(2, 3 * h, w)
                tv, ti = F.max_pool1d(torch.from_numpy(x1), **kw)
                _eq(fmaconv.max_pool1d(x1, **kw), (tv.numpy(), ti.numpy()), x1, f"1d {kind} {x1.shape} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

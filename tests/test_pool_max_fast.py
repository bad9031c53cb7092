"""Max pooling with indices on the fast paths that take the maximum first and then the smallest
key (flat offset) among the taps equal to it, on every kernel set.

The 3-wide stride-2 windows (1, 2 and 3 live rows: plane edges, heights 1..7) over widths 1..70
(output widths 1..35: around one and two vectors of every set), with and without padding and
ceil_mode; 1-D windows (one live row). Data: ties (small integers), signed zeros (a zero maximum
must keep the sign of the first zero in PyTorch's scan order, which value comparison alone cannot
see), sparse NaN (rows with a NaN are redone in the full order) and -inf/inf. Values (with the sign
of zeros) and indices must equal the NumPy reference (tests/reference.py) and, where installed,
PyTorch bit for bit."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_indices, assert_result, have_torch, random_array, isa_rerun_tests

KINDS = ("ints", "zeros", "sparse_nan", "special")


def _data(rng, shape, dtype, kind):
    if kind == "zeros":  # maxima that are zeros of both signs, ties everywhere
        a = rng.choice(np.array([-0.0, 0.0, -1.0]), size=shape)
    elif kind == "sparse_nan":  # most rows NaN-free (the fast path), a few with one NaN
        a = rng.standard_normal(shape)
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, size=max(1, flat.size // 500))] = np.nan
    else:
        a = random_array(rng, shape, np.float64, kind)
    return np.ascontiguousarray(a, dtype=dtype)


def _check(got, exp, x, what):
    gv, gi = got
    ev, ei = exp
    assert_result(gv, ev, x.dtype, exact=True, what=what)
    assert_indices(gi, ei, what=what)
    # the sign of zero maxima: assert_array_equal treats -0.0 == 0.0
    np.testing.assert_array_equal(np.signbit(gv), np.signbit(np.asarray(ev)), err_msg=what + " (sign of zeros)")


def _torch_pool(x, dims, kw):
    import torch

    f = getattr(torch.nn.functional, f"max_pool{dims}d")
    v, i = f(torch.from_numpy(x), return_indices=True, **kw)
    return v.numpy().astype(np.float64), i.numpy()


def _cases2d():
    for p in (1, 0):
        for cm in (False, True):
            yield dict(kernel_size=3, stride=2, padding=p, ceil_mode=cm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool2d_k3s2_vs_reference(kind, dtype, rng):
    for kw in _cases2d():
        for h in range(1, 8):
            for w in range(1, 71, 3 if h > 3 else 1):
                try:
                    exp = ref.max_pool2d(np.zeros((1, 1, h, w)), return_indices=True, **kw)
                except AssertionError:  # output size < 1
                    continue
                x = _data(rng, (1, 3, h, w), dtype, kind)
                exp = ref.max_pool2d(x, return_indices=True, **kw)
                _check(fmaconv.max_pool2d(x, return_indices=True, **kw), exp, x, f"{kind} {x.shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool1d_k3s2_vs_reference(kind, dtype, rng):
    for kw in _cases2d():
        for w in range(1, 71):
            try:
                ref.max_pool1d(np.zeros((1, 1, w)), return_indices=True, **kw)
            except AssertionError:
                continue
            x = _data(rng, (3, 5, w), dtype, kind)
            exp = ref.max_pool1d(x, return_indices=True, **kw)
            _check(fmaconv.max_pool1d(x, return_indices=True, **kw), exp, x, f"{kind} {x.shape} {kw}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool_k3s2_vs_torch(kind, dtype, rng):
    for kw in _cases2d():
        for h, w in ((1, 33), (2, 34), (3, 35), (5, 63), (8, 64), (9, 65), (12, 112), (7, 57)):
            x = _data(rng, (2, 4, h, w), dtype, kind)
            if h + 2 * kw["padding"] < 3:  # no output row
                continue
            _check(fmaconv.max_pool2d(x, return_indices=True, **kw), _torch_pool(x, 2, kw), x, f"2d {kind} {x.shape} {kw}")
            x1 = x.reshape(2, 4 * h, w)
            _check(fmaconv.max_pool1d(x1, return_indices=True, **kw), _torch_pool(x1, 1, kw), x1, f"1d {kind} {x1.shape} {kw}")


# other windows on the register paths with keys (stride 1 and 2, dilation, wider kernels)
OTHER = [(3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 1, 2), (5, 2, 2, 1), (2, 1, 1, 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ("zeros", "sparse_nan"))
@pytest.mark.parametrize("cfg", OTHER, ids=lambda c: "k%d_s%d_p%d_d%d" % c)
def test_max_pool2d_other_windows_vs_reference(cfg, kind, dtype, rng):
    k, st, p, d = cfg
    for cm in (False, True):
        kw = dict(kernel_size=k, stride=st, padding=p, dilation=d, ceil_mode=cm)
        for h in range(2, 6):
            for w in range(1, 41):
                try:
                    ref.max_pool2d(np.zeros((1, 1, h, w)), return_indices=True, **kw)
                except AssertionError:
                    continue
                x = _data(rng, (1, 2, h, w), dtype, kind)
                exp = ref.max_pool2d(x, return_indices=True, **kw)
                _check(fmaconv.max_pool2d(x, return_indices=True, **kw), exp, x, f"{kind} {x.shape} {kw}")


def test_max_pool_nan_rows_between_fast_rows(rng):
    """One NaN in a single row of a large plane: that output row follows PyTorch (the NaN and
    its index), its neighbours stay on the fast path."""
    x = rng.standard_normal((1, 2, 40, 112)).astype(np.float32)
    x[0, 1, 17, 50] = np.nan
    v, i = fmaconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    ev, ei = ref.max_pool2d(x, 3, 2, 1, return_indices=True)
    _check((v, i), (ev, ei), x, "one NaN")
    assert np.isnan(v[0, 1, 8:10, 25]).all() and (i[0, 1, 8:10, 25] == 17 * 112 + 50).all()
    assert not np.isnan(v[0, 1, :8]).any() and not np.isnan(v[0, 0]).any()


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__, timeout=600))

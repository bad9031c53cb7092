"""Max pooling keeps the FIRST maximum in scan order on ties, so among +0 and -0 the first one's
sign is returned (spec section 2). The values of ties are equal, so only the sign of a zero maximum
shows which one a kernel kept: these tests compare signs bit for bit (np.signbit), against the
NumPy reference (tests/reference.py) and, where installed, PyTorch.

Exact everywhere: 1-D pooling, windows one row (or one column, or one depth slice) long, every
path with indices, and windows whose elements are all +-0 (then every kernel's operand order
shows). Not checked: value-only windows over several rows AND columns that mix +-0 with smaller
values; those kernels take column maxima before row maxima (see README, "Known differences")."""

import itertools

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, have_torch

WIDTHS = (1, 5, 17, 70)


def _signed_zeros(rng, shape, dtype, neg_one=0.0):
    """+0 or -0 at random, and -1 at a share neg_one of the positions."""
    u = rng.random(shape)
    a = np.where(rng.random(shape) < 0.5, -0.0, 0.0)
    a[u < neg_one] = -1.0
    return a.astype(dtype)


def _same_bits(got, exp, what):
    exp = np.asarray(exp)
    assert got.shape == exp.shape, f"{what}: shape {got.shape} vs {exp.shape}"
    np.testing.assert_array_equal(got, exp.astype(got.dtype), err_msg=what)
    bad = np.signbit(got) != np.signbit(exp)
    assert not bad.any(), f"{what}: sign of zero differs at {np.argwhere(bad)[:5].tolist()}"


def _check(dims, x, idx=False, **kw):
    fn = getattr(fmaconv, f"max_pool{dims}d")
    got = fn(x, return_indices=idx, **kw)
    exp = getattr(ref, f"max_pool{dims}d")(x, return_indices=idx, **kw)
    what = f"max_pool{dims}d {x.shape} {x.dtype} {kw} indices={idx}"
    if idx:
        _same_bits(got[0], exp[0], what)
        np.testing.assert_array_equal(got[1], exp[1], err_msg=what)
        got = got[0]
    else:
        _same_bits(got, exp, what)
    if have_torch():
        import torch
        t = getattr(torch.nn.functional, f"max_pool{dims}d")(torch.from_numpy(x), return_indices=idx, **kw)
        _same_bits(got, (t[0] if idx else t).numpy(), what + " (torch)")


def _valid(k, s, p, d, size):
    return p <= k // 2 and size + 2 * p >= (k - 1) * d + 1


CFG = [(k, s, p, d, cm) for k, s, p, d, cm in itertools.product((2, 3, 4), (1, 2, 3), (0, 1), (1, 2), (False, True))]


def _half(cfgs, dtype):
    """Every other configuration, the other half for the other dtype (the sweep stays short)."""
    return cfgs[DTYPES.index(dtype)::2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx", [False, True])
def test_1d(rng, dtype, idx):
    for W in WIDTHS:
        x = _signed_zeros(rng, (2, 3, W), dtype, neg_one=0.2)
        for k, s, p, d, cm in _half(CFG, dtype):
            if _valid(k, s, p, d, W):
                _check(1, x, idx, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=cm)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("line", ["row", "column"])
def test_2d_line_windows(rng, dtype, line):
    """Windows one row (1 x k) or one column (k x 1) long, value only."""
    for W in WIDTHS:
        x = _signed_zeros(rng, (1, 3, 7, W), dtype, neg_one=0.2)
        for k, s, p, d, cm in _half(CFG, dtype):
            if not _valid(k, s, p, d, W if line == "row" else 7):
                continue
            ln = (lambda v, other: (other, v)) if line == "row" else (lambda v, other: (v, other))
            kw = dict(kernel_size=ln(k, 1), stride=ln(s, 1), padding=ln(p, 0), dilation=ln(d, 1), ceil_mode=cm)
            _check(2, x, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_3d_line_windows(rng, dtype):
    """Windows along one axis of three, value only."""
    x = _signed_zeros(rng, (1, 2, 5, 6, 17), dtype, neg_one=0.2)
    for axis, (k, s, p) in itertools.product(range(3), [(2, 1, 0), (3, 2, 1), (3, 1, 1)]):
        kk, ss, pp = [1, 1, 1], [1, 1, 1], [0, 0, 0]
        kk[axis], ss[axis], pp[axis] = k, s, p
        _check(3, x, kernel_size=tuple(kk), stride=tuple(ss), padding=tuple(pp))


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx", [False, True])
def test_all_zero_windows(rng, dims, dtype, idx):
    """Only +-0 in the input: every window's elements tie, so each kernel's combination order
    decides the sign; the first in scan order must win. With indices, -1 mixed in as well."""
    for W in WIDTHS:
        shape = (1, 2, 7, W) if dims == 2 else (1, 2, 3, 5, W)
        x = _signed_zeros(rng, shape, dtype, neg_one=0.2 if idx else 0.0)
        for k, s, p, d, cm in _half(CFG, dtype):
            if dims == 3 and (k == 4 or d == 2 or s == 3):
                continue  # keep the 3-D sweep short
            if not all(_valid(k, s, p, d, n) for n in shape[2:]):
                continue
            _check(dims, x, idx, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=cm)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive(rng, dtype):
    """Adaptive max pooling: 1-D with smaller values mixed in, 2-D with +-0 only."""
    for W, O in itertools.product((5, 16, 33), (1, 2, 3, 7)):
        cases = [(1, _signed_zeros(rng, (2, 3, W), dtype, neg_one=0.2)), (2, _signed_zeros(rng, (1, 3, 6, W), dtype))]
        for dims, x in cases:
            got = getattr(fmaconv, f"adaptive_max_pool{dims}d")(x, O)
            exp = getattr(ref, f"adaptive_max_pool{dims}d")(x, O)
            _same_bits(got, exp, f"adaptive_max_pool{dims}d {x.shape} {O}")


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_of_zeros(rng, dims, dtype):
    """Average pooling sums from +0 (spec; PyTorch's sums start at 0), so a window of -0 averages
    to +0 on every kernel: all -0, and -0 mixed with +0."""
    n = 0
    for W in (1, 5, 7, 8, 13, 17, 20, 70):
        shape = {1: (2, 3, W * 3), 2: (1, 3, 9, W), 3: (1, 2, 4, 5, W)}[dims]
        for x in (np.full(shape, -0.0, dtype), _signed_zeros(rng, shape, dtype)):
            for k, s, p, cm, cip, div in ((2, 2, 0, False, True, None), (3, 2, 1, True, False, None), (3, 1, 1, False, True, None),
                                          (5, 1, 2, False, False, None), (5, 3, 2, True, True, 7), (7, 1, 3, False, True, None),
                                          (4, 4, 0, False, True, None), (1, 1, 0, False, True, None), (3, 3, 0, True, False, 2)):
                if any(k > m + 2 * p for m in shape[2:]) or (dims == 3 and k > min(shape[2:])):
                    continue
                kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm, count_include_pad=cip, divisor_override=div)
                got = getattr(fmaconv, f"avg_pool{dims}d")(x, **kw)
                _same_bits(got, getattr(ref, f"avg_pool{dims}d")(x, **kw), f"avg_pool{dims}d {x.shape} {kw}")
                n += 1
            for o in (1, 2, 3, 6):
                got = getattr(fmaconv, f"adaptive_avg_pool{dims}d")(x, o)
                _same_bits(got, getattr(ref, f"adaptive_avg_pool{dims}d")(x, o), f"adaptive_avg_pool{dims}d {x.shape} {o}")
    assert n > 50

"""The NumPy reference pools one kernel tap at a time over all output positions (fast enough
for the big sweeps); its per-output-position form (max_pool_loops / avg_pool_loops, the spec's
rules read literally) must give the same results.  Needs neither torch nor fmaconv."""

import numpy as np
import pytest

import reference as ref


def _special(rng, shape):
    x = rng.integers(-3, 4, size=shape).astype(np.float64)  # small ints: many ties
    u = rng.random(shape)
    x[u < 0.05] = np.nan
    x[(u >= 0.05) & (u < 0.1)] = -np.inf
    x[(u >= 0.1) & (u < 0.13)] = np.inf
    x[(u >= 0.13) & (u < 0.2)] = -0.0
    return x


def _cases(seed, n):
    rng = np.random.default_rng(seed)
    while n:
        D = int(rng.integers(1, 4))
        k = tuple(int(v) for v in rng.integers(1, 5, size=D))
        kw = dict(kernel_size=k, stride=tuple(int(v) for v in rng.integers(1, 4, size=D)),
                  padding=tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k), ceil_mode=bool(rng.integers(2)))
        x = _special(rng, (2, 2) + tuple(int(v) for v in rng.integers(1, 9, size=D)))
        dil = tuple(int(v) for v in rng.integers(1, 3, size=D))
        try:
            ref.max_pool_loops(x, dilation=dil, dims=D, **kw)
        except AssertionError:  # no output position
            continue
        n -= 1
        yield D, x, dil, kw


@pytest.mark.parametrize("seed", [0, 1])
def test_max_pool_forms_agree(seed):
    for D, x, dil, kw in _cases(seed, 120):
        a = ref.max_pool_loops(x, dilation=dil, return_indices=True, dims=D, **kw)
        b = ref.max_pool(x, dilation=dil, return_indices=True, dims=D, **kw)
        what = f"{x.shape} {kw} dilation={dil}"
        np.testing.assert_array_equal(a[0], b[0], err_msg=what)
        np.testing.assert_array_equal(np.signbit(a[0]), np.signbit(b[0]), err_msg=what)
        np.testing.assert_array_equal(a[1], b[1], err_msg=what)


@pytest.mark.parametrize("seed", [2, 3])
def test_avg_pool_forms_agree(seed):
    for D, x, _, kw in _cases(seed, 120):
        for cip in (False, True):
            for div in (None, 3):
                a = ref.avg_pool_loops(x, count_include_pad=cip, divisor_override=div, dims=D, **kw)
                b = ref.avg_pool(x, count_include_pad=cip, divisor_override=div, dims=D, **kw)
                assert a.shape == b.shape
                np.testing.assert_allclose(b, a, rtol=1e-14, atol=0, equal_nan=True,
                                           err_msg=f"{x.shape} {kw} cip={cip} div={div}")

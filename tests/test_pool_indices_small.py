"""Max pooling with indices on small planes (LeNet-like shapes), on every kernel set.

Focus: windows that tile the input (kernel = stride, no padding: the flat two-pass kernel with
keys), next to the same windows on sizes they do not tile (ceil_mode overhang, odd widths), over
widths 1..40, heights 1..9 and 1..70 planes, with ties, NaN, -inf and +inf, 1 and 2 threads (the
thread split cuts planes mid-way). Values and indices must equal PyTorch's bit for bit (first
maximum, last NaN); the NumPy reference (tests/reference.py) is the oracle without torch and
checks a subset always. Other kernel sets rerun this file in a subprocess (FMACONV_ISA)."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_indices, assert_result, have_torch, random_array, isa_rerun_tests

PLANES = (1, 2, 15, 16, 17, 33, 70)
# 2-D (kernel, stride); every config also runs with ceil_mode
CONFIGS2 = [((2, 2), (2, 2)), ((1, 2), (1, 2)), ((2, 1), (2, 1)), ((3, 3), (3, 3)), ((2, 4), (2, 4)),
            ((1, 1), (1, 1))]


def _threads(n):
    old = fmaconv.get_num_threads()
    fmaconv.set_num_threads(n)
    return old


def _check(x, kw, oracle, what):
    ev, ei = oracle(x, kw)
    for t in (1, 2):
        old = _threads(t)
        try:
            gv, gi = fmaconv.max_pool2d(x, return_indices=True, **kw) if x.ndim == 4 else \
                fmaconv.max_pool3d(x, return_indices=True, **kw)
            g2 = (fmaconv.max_pool2d(x, **kw) if x.ndim == 4 else fmaconv.max_pool3d(x, **kw)) if t == 1 else None
        finally:
            fmaconv.set_num_threads(old)
        w = f"{what} {x.shape} {kw} threads={t}"
        assert_result(gv, ev, x.dtype, exact=True, what=w)
        assert_indices(gi, ei, what=w)
        if g2 is not None:
            assert_result(g2, ev, x.dtype, exact=True, what=w + " (values only)")


def _torch_oracle(x, kw):
    import torch

    f = torch.nn.functional.max_pool2d if x.ndim == 4 else torch.nn.functional.max_pool3d
    v, i = f(torch.from_numpy(x), return_indices=True, **kw)
    return v.numpy().astype(np.float64), i.numpy()


def _ref_oracle(x, kw):
    f = ref.max_pool2d if x.ndim == 4 else ref.max_pool3d
    return f(x, return_indices=True, **kw)


def _out_ok(h, w, k):
    return h >= k[0] and w >= k[1]


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the NumPy reference test covers a subset)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
@pytest.mark.parametrize("cfg", CONFIGS2, ids=lambda c: "k%d%d_s%d%d" % (c[0] + c[1]))
def test_max_pool2d_indices_sweep_vs_torch(cfg, kind, dtype, rng):
    k, s = cfg
    i = 0
    for w in range(1, 41):
        for h in range(1, 10):
            if not _out_ok(h, w, k):
                continue
            c = PLANES[i % len(PLANES)]
            i += 1
            x = random_array(rng, (1, c, h, w), dtype, kind)
            for cm in (False, True):
                _check(x, dict(kernel_size=k, stride=s, ceil_mode=cm), _torch_oracle, kind)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS2[:4], ids=lambda c: "k%d%d_s%d%d" % (c[0] + c[1]))
def test_max_pool2d_indices_vs_reference(cfg, dtype, rng):
    # the same sweep on fewer sizes against the NumPy reference (runs without torch)
    k, s = cfg
    i = 0
    for w in (1, 2, 3, 5, 8, 10, 15, 16, 17, 28, 33, 40):
        for h in (1, 2, 3, 4, 7, 9):
            if not _out_ok(h, w, k):
                continue
            c = PLANES[i % len(PLANES)]
            i += 1
            x = random_array(rng, (1, c, h, w), dtype, "special")
            for cm in (False, True):
                _check(x, dict(kernel_size=k, stride=s, ceil_mode=cm), _ref_oracle, "special")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(64, 16, 10, 10), (64, 6, 28, 28), (3, 5, 4, 6), (2, 70, 2, 2)])
def test_lenet_shapes(shape, dtype, rng):
    # the training shapes themselves, with many ties and NaN / -inf (NumPy reference)
    x = random_array(rng, shape, dtype, "special")
    _check(x, dict(kernel_size=2, stride=2), _ref_oracle, "special")


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_minus_inf_and_all_nan_windows(dtype):
    # an all -inf window keeps its first element; an all NaN window takes its last; ties take
    # the first (row-major in the window)
    x = np.array([[[[-np.inf, -np.inf, np.nan, np.nan, 1, 1, 2, 0],
                    [-np.inf, -np.inf, np.nan, np.nan, 1, 1, 0, 2]]]], dtype=dtype)
    v, i = fmaconv.max_pool2d(x, 2, 2, return_indices=True)
    np.testing.assert_array_equal(v[0, 0, 0], np.array([-np.inf, np.nan, 1, 2]))
    np.testing.assert_array_equal(i[0, 0, 0], np.array([0, 11, 4, 6]))
    _check(x, dict(kernel_size=2, stride=2), _ref_oracle, "fixed")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [(2, 2, 2), (1, 2, 2), (2, 1, 3), (3, 2, 1)])
def test_max_pool3d_tiled_indices(k, dtype, rng):
    # 3-D tiled windows: the depth bands' keys (NumPy reference)
    for w in (1, 3, 6, 10, 17, 34):
        for c in (1, 17):
            shape = (1, c, 2 * k[0], 2 * k[1], w)
            if w < k[2]:
                continue
            x = random_array(rng, shape, dtype, "special")
            for cm in (False, True):
                _check(x, dict(kernel_size=k, stride=k, ceil_mode=cm), _ref_oracle, "special")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

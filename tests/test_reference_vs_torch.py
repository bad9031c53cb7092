"""Prove the NumPy reference (tests/reference.py) against PyTorch, the judge.

Every other test trusts reference.py, so it is checked here on random cases of every op and on
the spec's known traps.  Needs torch (skipped otherwise); does not need fmaconv.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings

import reference as ref
import strategies as S
import torch_ref
from helpers import TOL, n_examples

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _compare(case, mine, theirs):
    """mine: float64 reference; theirs: torch output in the case's dtype."""
    what = S.describe(case)
    dtype = case["x"].dtype
    if isinstance(mine, tuple):
        (mv, mi), (tv, ti) = mine, theirs
        np.testing.assert_array_equal(mi, ti, err_msg=what)
        mine, theirs = mv, tv
    assert mine.shape == theirs.shape, what
    if case["exact"]:
        np.testing.assert_array_equal(mine, theirs.astype(np.float64), err_msg=what)
    else:
        np.testing.assert_allclose(mine, theirs.astype(np.float64), equal_nan=True, err_msg=what,
                                   **TOL[np.dtype(dtype)])


def _check(case):
    _compare(case, S.run_case(ref, case), S.run_case(torch_ref, case))


@settings(max_examples=n_examples(150))
@given(S.conv_cases())
def test_conv_matches_torch(case):
    _check(case)


@settings(max_examples=n_examples(150))
@given(S.max_pool_cases())
def test_max_pool_matches_torch(case):
    _check(case)


@settings(max_examples=n_examples(150))
@given(S.avg_pool_cases())
def test_avg_pool_matches_torch(case):
    _check(case)


@settings(max_examples=n_examples(100))
@given(S.adaptive_cases("avg"))
def test_adaptive_avg_pool_matches_torch(case):
    _check(case)


@settings(max_examples=n_examples(100))
@given(S.adaptive_cases("max"))
def test_adaptive_max_pool_matches_torch(case):
    _check(case)


# ----------------------------------------------------------------- the spec's traps, explicitly

def test_ceil_mode_last_window_rule():
    # i=32, k=1, s=2, ceil -> 16 (not 17)
    assert ref.pool_out_size(32, 1, 2, 0, 1, True) == 16
    assert F.max_pool1d(torch.zeros(1, 1, 32), 1, 2, ceil_mode=True).shape[-1] == 16
    for i in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for d in (1, 2):
                        if i + 2 * p < d * (k - 1) + 1:
                            continue
                        for ceil in (False, True):
                            t = F.max_pool1d(torch.zeros(1, 1, i), k, s, p, d, ceil_mode=ceil)
                            assert ref.pool_out_size(i, k, s, p, d, ceil) == t.shape[-1], (i, k, s, p, d, ceil)


def test_avg_pool_ceil_overhang_not_counted_padding_counted():
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    for cip in (True, False):
        mine = ref.avg_pool1d(x, 2, 2, padding=1, ceil_mode=True, count_include_pad=cip)
        theirs = torch_ref.avg_pool1d(x, 2, 2, padding=1, ceil_mode=True, count_include_pad=cip)
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    # windows [-1,1) [1,3) [3,5): pad counted at the left when count_include_pad
    np.testing.assert_allclose(ref.avg_pool1d(x, 2, 2, padding=1, ceil_mode=True),
                               [[[0.5, 2.5, 4.5]]])
    # i=5, k=3, s=2, ceil: windows [0,3) [2,5) ; overhang of a third window is not produced
    x = np.arange(1.0, 7.0).reshape(1, 1, 6)
    mine = ref.avg_pool1d(x, 3, 2, ceil_mode=True)
    theirs = torch_ref.avg_pool1d(x, 3, 2, ceil_mode=True)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12)
    assert mine[0, 0, -1] == (5 + 6) / 2  # last window [4,7) clipped to [4,6): divisor 2, not 3


def test_dilated_max_pool_window_without_valid_tap():
    # H=1, d=2, p=1: the window's taps are -1 and 1, none inside -> -inf
    x = np.array([[[[1.0, 2.0, 3.0]]]])
    mv, mi = ref.max_pool2d(x, (2, 1), 1, (1, 0), (2, 1), return_indices=True)
    tv, ti = torch_ref.max_pool2d(x, (2, 1), 1, (1, 0), (2, 1), return_indices=True)
    assert np.all(np.isneginf(mv))
    np.testing.assert_array_equal(mv, tv)
    np.testing.assert_array_equal(mi, ti)
    for D, fn in ((1, ref.max_pool1d), (3, ref.max_pool3d)):
        shape = (1, 1) + (1,) * (D - 1) + (1,)
        x = np.full(shape, 5.0)
        mv, mi = fn(x, 2, 1, 1, 2, return_indices=True)
        tv, ti = torch_ref.call(f"max_pool{D}d", x, 2, 1, 1, 2, return_indices=True)
        np.testing.assert_array_equal(mv, tv)
        np.testing.assert_array_equal(mi, ti)


def test_max_pool_nan_last_and_ties_first():
    x = np.array([[[np.nan, 1.0, np.nan, 3.0, 3.0, 2.0, 3.0, -np.inf, -np.inf]]])
    for k in (1, 2, 3, 4, 9):
        for s in (1, 2):
            mine = ref.max_pool1d(x, k, s, return_indices=True)
            theirs = torch_ref.max_pool1d(x, k, s, return_indices=True)
            np.testing.assert_array_equal(mine[0], theirs[0])
            np.testing.assert_array_equal(mine[1], theirs[1])
    v, i = ref.max_pool1d(x, 9, return_indices=True)
    assert np.isnan(v[0, 0, 0]) and i[0, 0, 0] == 2
    v, i = ref.max_pool1d(x[..., 3:], 4, return_indices=True)
    assert v[0, 0, 0] == 3.0 and i[0, 0, 0] == 0
    v, i = ref.max_pool1d(x[..., 7:], 2, return_indices=True)
    assert np.isneginf(v[0, 0, 0]) and i[0, 0, 0] == 0


@pytest.mark.parametrize("k,d", [(1, 1), (2, 1), (3, 1), (4, 1), (3, 2), (2, 3), (4, 2)])
def test_same_padding_split(k, d):
    # odd total padding: the extra element goes to the right
    rng = np.random.default_rng(k * 10 + d)
    x = rng.standard_normal((1, 2, 7, 6))
    w = rng.standard_normal((3, 2, k, k))
    mine = ref.conv2d(x, w, padding="same", dilation=d)
    theirs = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=d).numpy()
    assert mine.shape == x.shape[:1] + (3,) + x.shape[2:]
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_against_torch_layer(mode):
    """torch.nn.Conv2d with padding_mode is the definition of fmaconv's padding_mode."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 5, 4))
    layer = torch.nn.Conv2d(2, 4, (3, 2), padding=(2, 1), padding_mode=mode, dilation=(1, 2), groups=2,
                            dtype=torch.float64)
    with torch.no_grad():
        theirs = layer(torch.from_numpy(x)).numpy()
    mine = ref.conv2d(x, layer.weight.detach().numpy(), layer.bias.detach().numpy(), padding=(2, 1),
                      dilation=(1, 2), groups=2, padding_mode=mode)
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10)


def test_reflect_mapping_example():
    # d c b | a b c d -> a pad of 1 gives b (spec example, on the left: a b c d -> b | a b c d)
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    padded = ref.pad_input(x, [2], [3], "reflect")
    np.testing.assert_array_equal(padded[0, 0], [3, 2, 1, 2, 3, 4, 3, 2, 1])
    np.testing.assert_array_equal(ref.pad_input(x, [2], [1], "replicate")[0, 0], [1, 1, 1, 2, 3, 4, 4])
    np.testing.assert_array_equal(ref.pad_input(x, [4], [2], "circular")[0, 0], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    np.testing.assert_array_equal(
        ref.pad_input(x, [2], [3], "reflect")[0, 0],
        F.pad(torch.from_numpy(x), (2, 3), mode="reflect").numpy()[0, 0])


@pytest.mark.parametrize("D", [1, 2, 3])
def test_pool_padding_limit_is_raw_kernel_half(D):
    """PyTorch 2.13 checks p <= k//2 (raw kernel) for max pooling of EVERY rank, also with dilation.

    The spec sheet says 2-D uses the effective kernel (p <= e//2); PyTorch disagrees and wins:
    k=2, d=3 (e=4), p=2 is rejected in 2-D as well.  test_errors.py holds fmaconv to this.
    """
    x = torch.zeros((1, 1) + (10,) * D)
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[D]
    with pytest.raises(RuntimeError):
        fn(x, 2, 1, 2, 3)
    with pytest.raises(RuntimeError):
        fn(x, 2, 1, 2, 3, return_indices=True)
    assert fn(x, 2, 1, 1, 3).shape[-1] == 10 + 2 - 4 + 1  # p == k//2 is fine


@pytest.mark.parametrize("D", [1, 2, 3])
def test_output_shape_formulas(D):
    rng = np.random.default_rng(D)
    for _ in range(30):
        ks = tuple(int(v) for v in rng.integers(1, 4, D))
        s = tuple(int(v) for v in rng.integers(1, 4, D))
        d = tuple(int(v) for v in rng.integers(1, 3, D))
        p = tuple(int(v) for v in rng.integers(0, 3, D))
        sp = tuple(max(1, d[a] * (ks[a] - 1) + 1 - 2 * p[a]) + int(rng.integers(0, 4)) for a in range(D))
        x = torch.zeros((2, 4) + sp)
        w = torch.zeros((6, 2) + ks)
        conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[D]
        assert ref.conv_output_shape(x.shape, w.shape, s, p, d, 2) == tuple(
            conv(x, w, stride=s, padding=p, dilation=d, groups=2).shape)
        assert ref.conv_output_shape(x.shape[1:], w.shape, s, p, d, 2) == tuple(
            conv(x[0], w, stride=s, padding=p, dilation=d, groups=2).shape)
        assert ref.conv_output_shape(x.shape, w.shape, 1, "same", d, 2) == tuple(
            conv(x, w, padding="same", dilation=d, groups=2).shape)
        pp = tuple(min(a, k // 2) for a, k in zip(p, ks))
        mp = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[D]
        for ceil in (False, True):
            expected = ref.pool_output_shape(x.shape, ks, s, pp, d, ceil)
            if min(expected[2:]) < 1:  # "output size is too small"
                with pytest.raises(RuntimeError):
                    mp(x, ks, s, pp, d, ceil_mode=ceil)
                continue
            assert expected == tuple(mp(x, ks, s, pp, d, ceil_mode=ceil).shape)
            assert ref.pool_output_shape(x.shape[1:], ks, s, pp, d, ceil, dims=D) == tuple(
                mp(x[0], ks, s, pp, d, ceil_mode=ceil).shape)


def test_adaptive_windows():
    for i in range(1, 12):
        for O in range(1, 14):
            x = np.arange(float(i)).reshape(1, 1, i)
            np.testing.assert_allclose(ref.adaptive_avg_pool1d(x, O), torch_ref.adaptive_avg_pool1d(x, O),
                                       rtol=1e-12)
            for a, b in (ref.adaptive_window(o, i, O) for o in range(O)):
                assert a == math.floor(0 + (a)) and b > a


def test_adaptive_output_size_zero_gives_empty():
    x = np.ones((1, 2, 4, 5))
    assert ref.adaptive_avg_pool2d(x, (0, 3)).shape == tuple(F.adaptive_avg_pool2d(torch.ones(1, 2, 4, 5), (0, 3)).shape)
    assert ref.adaptive_max_pool2d(x, (0, 3)).shape == tuple(F.adaptive_max_pool2d(torch.ones(1, 2, 4, 5), (0, 3)).shape)


def test_conv_nan_and_inf_propagation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 8, 8))
    x[0, 1, 3, 3] = np.nan
    x[0, 2, 6, 1] = np.inf
    x[0, 0, 0, 7] = -np.inf
    w = rng.standard_normal((4, 3, 3, 3))
    mine = ref.conv2d(x, w, padding=1)
    theirs = torch_ref.conv2d(x, w, padding=1)
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-10, equal_nan=True)
    assert np.isnan(mine).sum() == 4 * 9 and np.isinf(mine).sum() > 0


def test_avg_pool3d_requires_input_at_least_kernel():
    """PyTorch 2.13's avg_pool3d (only 3-D) rejects an input smaller than the kernel on any axis,
    even when padding would make the output non-empty.  Not in the spec sheet; PyTorch wins."""
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        F.avg_pool3d(torch.ones(1, 1, 1, 3, 3), (2, 1, 1), 1, (1, 0, 0))
    assert F.avg_pool2d(torch.ones(1, 1, 1, 3), (2, 1), 1, (1, 0)).shape == (1, 1, 2, 3)
    assert F.avg_pool1d(torch.ones(1, 1, 1), 2, 1, 1).shape == (1, 1, 2)


def test_negative_divisor_override_is_allowed_by_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(ref.avg_pool2d(x, 2, divisor_override=-2),
                               torch_ref.avg_pool2d(x, 2, divisor_override=-2), rtol=1e-12)

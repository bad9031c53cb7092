"""Stride-1 2-D max and average windows without dilation (SPPF 5x5, SPP 13x13, Inception's 7x7
average), on every kernel set. On AVX-512 they go through the separable kernels of
csrc/kernels/generic/pool_sliding.h (padded rows of up to 4 vectors): columns by doubling in
registers, then rows in groups sharing their common window rows; float32 5x5 windows with
padding 2 on planes of up to 2048 elements through the flat kernel at its end (whole planes as
runs of vectors, columns first unless a plane holds a NaN or zeros of both signs; the partial
planes at the ends of a thread's range in scan order), and 3x3 windows with padding 1 on rows
narrower than a vector through the same kernel.

- widths and heights around the vector lengths and the 4-vector limit of the padded row (1..40
  and 57..66), kernels 4..13 (square and not), every padding 0..k//2, ceil_mode;
- data: ties (small integers), NaN / -inf / +inf, a single NaN at each position of a plane
  (propagates to exactly the windows holding it), zeros of both signs among smaller values (the
  first maximum in PyTorch's scan order keeps its sign: exact on AVX-512; elsewhere only windows
  of nothing but zeros are, see README "Known differences");
- average: count_include_pad, divisor_override;
- float32 and float64, 1 to 3 threads (ranges starting inside a plane), dilated windows (which
  go elsewhere).

Oracles: tests/reference.py (NumPy, written from the spec), and PyTorch where installed."""

import os

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, RERUN_VAR, assert_result, current_isa, isa_rerun_tests, misaligned_pool_values, pool_values

globals().update(isa_rerun_tests(__file__))

SIZES = (1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 20, 23, 31, 32, 33, 39, 40, 57, 61, 63, 64, 66)


def _separable(H, W, kh, kw, pw, dtype):
    """Does this max window run in the separable kernels (so zero signs are exact in scan order)?
    Mirrors sliding_max_ok in pool_sliding.h."""
    vl = 64 // np.dtype(dtype).itemsize
    return current_isa() == "avx512" and kw - 1 < vl and kh <= 32 and W + 2 * pw <= 4 * vl and kh * kw > 9


def _exact_signs(H, W, k):
    """Zero signs exact for a k x k, padding k // 2 float32 max (the separable kernels, or the flat
    kernel, which hands planes holding both zero signs to them). Mirrors flat_slide_ok."""
    if k == 3:
        return current_isa() == "avx512" and W < 16 and H * W <= 2048
    return _separable(H, W, k, k, k // 2, np.float32)


def _signed_zeros(rng, shape, dtype):
    """-1, -2 and zeros of both signs: most windows' maximum is a zero, its sign the first one's."""
    a = -rng.integers(0, 3, size=shape).astype(np.float64)
    a[a == 0] = np.where(rng.random(int((a == 0).sum())) < 0.5, -0.0, 0.0)
    return a.astype(dtype)


def _check_max(x, kw, what, signs=True):
    got = fmaconv.max_pool2d(x, **kw)
    exp = ref.max_pool2d(x, **kw)
    assert_result(got, exp, x.dtype, exact=True, what=what)
    if signs:
        bad = np.signbit(got) != np.signbit(exp)
        assert not bad.any(), f"{what}: sign of a zero differs at {np.argwhere(bad)[:5].tolist()}"
    return got


def _check_avg(x, kw, what):
    got = fmaconv.avg_pool2d(x, **kw)
    assert_result(got, ref.avg_pool2d(x, **kw), x.dtype, what=what)
    return got


def _cases(rng, n):
    """n random (H, W, kh, kw, ph, pw) with a valid output (a third as many in the reruns under
    the other kernel sets, which check that these windows go elsewhere correctly)."""
    if os.environ.get(RERUN_VAR) == "1":
        n = max(1, n // 3)
    out = []
    while len(out) < n:
        H, W = (int(v) for v in rng.choice(SIZES, 2))
        kh, kw = int(rng.integers(1, 14)), int(rng.integers(4, 14))
        if rng.random() < 0.4:
            kh = kw
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        if H + 2 * ph >= kh and W + 2 * pw >= kw:
            out.append((H, W, kh, kw, ph, pw))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special", "zeros"])
def test_max_vs_reference(kind, dtype, rng):
    for H, W, kh, kw, ph, pw in _cases(rng, 60):
        shape = (1, 3, H, W)
        x = _signed_zeros(rng, shape, dtype) if kind == "zeros" else pool_values(rng, shape, dtype, kind)
        for cm in (False, True):
            kwargs = dict(kernel_size=(kh, kw), stride=1, padding=(ph, pw), ceil_mode=cm)
            _check_max(x, kwargs, f"{kind} {x.shape} {x.dtype} {kwargs}", signs=kind != "zeros" or _separable(H, W, kh, kw, pw, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_all_zero_windows(dtype, rng):
    """Only +-0: every kernel must keep the first zero's sign in scan order."""
    for H, W, kh, kw, ph, pw in _cases(rng, 30):
        x = np.where(rng.random((1, 2, H, W)) < 0.5, -0.0, 0.0).astype(dtype)
        kwargs = dict(kernel_size=(kh, kw), stride=1, padding=(ph, pw))
        _check_max(x, kwargs, f"zeros {x.shape} {x.dtype} {kwargs}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_nan_each_position(dtype):
    """One NaN (or -inf, or +inf) per plane, at every position in turn: exactly the windows that
    hold it are NaN (inf); the rest are the plain maximum."""
    for (H, W, k, p) in [(7, 20, 5, 2), (6, 17, 7, 3), (4, 13, 13, 6)]:
        base = np.arange(H * W, dtype=np.float64).reshape(H, W) % 7 - 3
        x = np.repeat(base[None], H * W, axis=0)
        for v in (np.nan, np.inf, -np.inf):
            x2 = x.copy()
            x2.reshape(H * W, H * W)[np.arange(H * W), np.arange(H * W)] = v
            x2 = x2[None].astype(dtype)
            _check_max(x2, dict(kernel_size=k, stride=1, padding=p), f"{v} {H}x{W} k{k} p{p} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cip", [True, False])
def test_avg_vs_reference(cip, dtype, rng):
    for i, (H, W, kh, kw, ph, pw) in enumerate(_cases(rng, 50)):
        x = pool_values(rng, (1, 3, H, W), dtype, "normal")
        div = (None, 7, 1)[i % 3]
        kwargs = dict(kernel_size=(kh, kw), stride=1, padding=(ph, pw), ceil_mode=i % 2 == 1,
                      count_include_pad=cip, divisor_override=div)
        _check_avg(x, kwargs, f"{x.shape} {x.dtype} {kwargs}")


def test_avg_special_values(rng):
    """NaN and infinities spread to the windows that hold them (inf - inf: NaN)."""
    for H, W, kh, kw, ph, pw in _cases(rng, 20):
        x = pool_values(rng, (1, 2, H, W), np.float32, "special")
        kwargs = dict(kernel_size=(kh, kw), stride=1, padding=(ph, pw), count_include_pad=False)
        _check_avg(x, kwargs, f"{x.shape} {kwargs}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dilated_and_strided_neighbours(dtype, rng):
    """Windows next to the separable kernels' conditions go elsewhere and stay right: dilation 2,
    stride 2 along one axis, kernel 1 along one axis, rows just past 4 vectors."""
    x = pool_values(rng, (1, 2, 21, 33), dtype, "special")
    for kwargs in [dict(kernel_size=5, stride=1, padding=2, dilation=2), dict(kernel_size=5, stride=(1, 2), padding=2),
                   dict(kernel_size=(1, 7), stride=1, padding=(0, 3)), dict(kernel_size=(7, 1), stride=1, padding=(3, 0)),
                   dict(kernel_size=(2, 9), stride=1, padding=(1, 4))]:
        _check_max(x, kwargs, f"{dtype} {kwargs}", signs=False)
        if "dilation" not in kwargs:
            _check_avg(x, kwargs, f"{dtype} {kwargs}")
    wide = 64 // np.dtype(dtype).itemsize * 4  # padded row one past 4 vectors
    x = pool_values(rng, (1, 2, 9, wide - 3), dtype, "special")
    _check_max(x, dict(kernel_size=5, stride=1, padding=2), f"{dtype} W={wide - 3}", signs=False)
    _check_avg(x, dict(kernel_size=5, stride=1, padding=2), f"{dtype} W={wide - 3}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_1d_and_3d(dtype, rng):
    """1-D windows (one row) and 3-D windows one slice deep (each depth slice a 2-D plane)."""
    for L, k, p in [(20, 9, 4), (33, 13, 6), (7, 5, 0), (40, 11, 3)]:
        x = pool_values(rng, (2, 3, L), dtype, "special")
        got = fmaconv.max_pool1d(x, k, 1, p)
        assert_result(got, ref.max_pool1d(x, k, 1, p), dtype, exact=True, what=f"max_pool1d {L} {k} {p}")
        xa = pool_values(rng, (2, 3, L), dtype, "normal")
        for cip in (True, False):
            got = fmaconv.avg_pool1d(xa, k, 1, p, count_include_pad=cip)
            assert_result(got, ref.avg_pool1d(xa, k, 1, p, count_include_pad=cip), dtype, what=f"avg_pool1d {L} {k} {p}")
    x = pool_values(rng, (1, 2, 3, 9, 20), dtype, "special")
    kw = dict(kernel_size=(1, 5, 7), stride=1, padding=(0, 2, 3))
    assert_result(fmaconv.max_pool3d(x, **kw), ref.max_pool3d(x, **kw), dtype, exact=True, what="max_pool3d (1,5,7)")
    xa = pool_values(rng, (1, 2, 3, 9, 20), dtype, "normal")
    assert_result(fmaconv.avg_pool3d(xa, **kw), ref.avg_pool3d(xa, **kw), dtype, what="avg_pool3d (1,5,7)")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads(threads, rng, restore_threads):
    """Ranges of output rows start inside planes (5 planes, 2 or 3 shares): same as one thread
    and the reference."""
    x = pool_values(rng, (1, 5, 40, 20), np.float32, "special")
    xa = pool_values(rng, (1, 5, 40, 17), np.float32, "normal")
    res = {}
    for t in sorted({1, threads}):
        fmaconv.set_num_threads(t)
        res[t] = (fmaconv.max_pool2d(x, 5, 1, 2), fmaconv.max_pool2d(x, 13, 1, 6),
                  fmaconv.avg_pool2d(xa, 7, 1, 3, count_include_pad=False))
    for a, b in zip(res[1], res[threads]):
        np.testing.assert_array_equal(a, b)
    assert_result(res[threads][0], ref.max_pool2d(x, 5, 1, 2), np.float32, exact=True, what="5x5")
    assert_result(res[threads][1], ref.max_pool2d(x, 13, 1, 6), np.float32, exact=True, what="13x13")
    assert_result(res[threads][2], ref.avg_pool2d(xa, 7, 1, 3, count_include_pad=False), np.float32, what="avg 7x7")


# 5x5, padding 2, float32 planes of up to 2048 elements: the flat kernel at the end of
# pool_sliding.h (whole planes as runs of vectors; columns first unless the plane holds a NaN or
# zeros of both signs) where the row kernel's padded rows would leave many lanes idle (widths
# below 16, 16..22, 31..34, 41..45). Widths around 16, 20, 32 and the 60 limit, both sides of
# those ranges and of 2048-element planes.
FLAT_SIZES = ((20, 20), (13, 13), (1, 1), (1, 40), (40, 1), (2, 16), (16, 2), (3, 15), (5, 17), (7, 19),
              (9, 21), (10, 22), (4, 23), (11, 31), (8, 32), (6, 33), (5, 35), (4, 60), (34, 60), (64, 32), (65, 31),
              (45, 45), (46, 45), (2, 3))


def _one_sign_zeros(rng, shape, sign):
    """Negative values and zeros of one sign only (ReLU-like): equal maxima are then identical."""
    a = -rng.integers(0, 3, size=shape).astype(np.float32)
    return np.where(a == 0, np.float32(sign * 0.0), a).astype(np.float32)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("kind", ["ints", "special", "many_nan", "normal", "neg_inf", "zeros", "pos_zeros", "neg_zeros"])
def test_flat_5x5(kind, k, rng):
    for H, W in FLAT_SIZES:
        for C in (1, 3, 7):
            shape = (2, C, H, W)
            if kind == "zeros":
                x = _signed_zeros(rng, shape, np.float32)
            elif kind in ("pos_zeros", "neg_zeros"):
                x = _one_sign_zeros(rng, shape, 1 if kind == "pos_zeros" else -1)
            elif kind == "many_nan":  # past the per-NaN fix-up's limit (1 in 32): redone with vmax_nan
                x = pool_values(rng, shape, np.float32, "ints")
                x[rng.random(shape) < 0.2] = np.nan
            else:
                x = pool_values(rng, shape, np.float32, kind)
            signs = kind != "zeros" or _exact_signs(H, W, k)
            _check_max(x, dict(kernel_size=k, stride=1, padding=k // 2), f"{k}x{k} {kind} {shape}", signs=signs)


def test_flat_5x5_misaligned(rng):
    """Planes starting off a 64-byte boundary (the input a view one element into a buffer)."""
    for H, W in ((20, 20), (13, 13), (7, 33)):
        for kind in ("special", "ints"):
            x = misaligned_pool_values(rng, (3, 4, H, W), np.float32, kind)
            _check_max(x, dict(kernel_size=5, stride=1, padding=2), f"misaligned {kind} {x.shape}")


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("H, W", [(6, 20), (5, 13), (3, 33), (9, 14)])
def test_flat_5x5_zero_pair_each_position(H, W, k):
    """Plane i holds -0 at position i and +0 at the next one (everything else negative): the
    windows holding both keep the first in scan order, PyTorch's sign."""
    n = H * W
    base = -(np.arange(n, dtype=np.float32) % 3 + 1)
    for first in (-0.0, 0.0):
        x = np.repeat(base[None], n - 1, axis=0)
        i = np.arange(n - 1)
        x[i, i] = first
        x[i, i + 1] = -first
        x = x.reshape(1, n - 1, H, W)
        _check_max(x, dict(kernel_size=k, stride=1, padding=k // 2), f"{k}x{k} zero pair {H}x{W} first {first}",
                   signs=_exact_signs(H, W, k))


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("threads", [2, 3])
def test_flat_5x5_threads(threads, k, rng, restore_threads):
    """Enough rows that the work is split: ranges start and end inside planes (those partial
    planes take the in-order path), same as one thread and the reference."""
    xs = [pool_values(rng, (2, 7, 40, 20), np.float32, "special"), _signed_zeros(rng, (2, 7, 40, 20), np.float32),
          _one_sign_zeros(rng, (3, 5, 33, 19), 1), pool_values(rng, (2, 9, 23, 33), np.float32, "ints")]
    xs += [pool_values(rng, (3, 7, 30, 14), np.float32, "special"), _signed_zeros(rng, (2, 9, 17, 13), np.float32)]
    kw = dict(kernel_size=k, stride=1, padding=k // 2)
    for x in xs:
        res = {}
        for t in (1, threads):
            fmaconv.set_num_threads(t)
            res[t] = fmaconv.max_pool2d(x, **kw)
        np.testing.assert_array_equal(res[1], res[threads])
        np.testing.assert_array_equal(np.signbit(res[1]), np.signbit(res[threads]))
        _check_max(x, kw, f"threads {threads} {x.shape}", signs=_exact_signs(x.shape[2], x.shape[3], k))


@pytest.mark.skipif(os.environ.get(RERUN_VAR) == "1", reason="torch is compared in the parent run (keeps the ISA reruns short)")
def test_vs_torch(rng):
    """The bench shapes (SPPF, SPP, Inception) and a few others against PyTorch."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for shape, k, p in [((2, 8, 20, 20), 5, 2), ((2, 8, 20, 20), 9, 4), ((1, 8, 20, 20), 13, 6),
                        ((1, 8, 17, 17), 7, 3), ((1, 4, 33, 31), (4, 6), (2, 3)), ((1, 4, 3, 40), (3, 11), (1, 5))]:
        for dtype in DTYPES:
            x = pool_values(rng, shape, dtype, "special")
            t = torch.from_numpy(x)
            got = fmaconv.max_pool2d(x, k, 1, p)
            exp = F.max_pool2d(t, k, 1, p).numpy()
            np.testing.assert_array_equal(got, exp, err_msg=f"max {shape} {k} {p}")
            z = _signed_zeros(rng, shape, dtype)
            got = fmaconv.max_pool2d(z, k, 1, p)
            exp = F.max_pool2d(torch.from_numpy(z), k, 1, p).numpy()
            kh, kw = (k, k) if isinstance(k, int) else k
            if _separable(shape[2], shape[3], kh, kw, p if isinstance(p, int) else p[1], dtype):
                np.testing.assert_array_equal(np.signbit(got), np.signbit(exp), err_msg=f"zero signs {shape} {k} {p}")
            xn = pool_values(rng, shape, dtype, "normal")
            for cip, div in [(True, None), (False, None), (True, 5)]:
                got = fmaconv.avg_pool2d(xn, k, 1, p, count_include_pad=cip, divisor_override=div)
                exp = F.avg_pool2d(torch.from_numpy(xn), k, 1, p, count_include_pad=cip, divisor_override=div).numpy()
                assert_result(got, exp.astype(np.float64), dtype, what=f"avg {shape} {k} {p} {cip} {div}")

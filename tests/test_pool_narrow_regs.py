"""The register kernels for rows of one to four vectors (AVX-512; the other kernel sets run the same
cases on their general kernels), on every kernel set:

- 3x3 max pooling with dilated columns (2-D, stride 1, no indices): the output rows of one class
  modulo the row dilation slide along the input rows, the column taps are permutes with -inf
  lanes outside the row, and a row whose window read a NaN is redone with NaN propagation.
  Widths from one to four vectors of each dtype (and just past), row and column dilations and
  paddings, NaN/+-inf, rows of -inf, thread splits.
- 3x3 (undilated too) and 5x5 max pooling, stride 1, in the same kernel (5x5: YOLO's SPPF
  pooling; rows of half a vector and up for 5x5).
- 3-D average pooling, stride 1, 3x3 in-plane window with column padding 1: depth sums of the
  input rows slide through a 3-row window; two interior depth outputs share their common slices.
  Widths 3 .. four vectors, depth kernels 2..5 with every padding, row padding 0/1,
  count_include_pad, divisor_override, ceil_mode, thread splits (ranges starting inside a depth
  output and inside a pair).

Oracles: NumPy over shifted views of the padded input (max: np.maximum, NaN propagates; avg: sums
and the spec's divisor in float64), checked against tests/reference.py on small shapes, and
PyTorch where installed."""

import itertools

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_result, have_torch, isa_rerun_tests, pool_values


def _max_oracle(x, p, d, k=3):
    """kxk stride-1 max pooling of NCHW x, padding p = (ph, pw), dilation d = (dh, dw)."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * p[0], w + 2 * p[1]), -np.inf, dtype=np.float64)
    xp[:, :, p[0]:p[0] + h, p[1]:p[1] + w] = x
    oh, ow = h + 2 * p[0] - (k - 1) * d[0], w + 2 * p[1] - (k - 1) * d[1]
    out = None
    for i in range(k):
        for j in range(k):
            v = xp[:, :, i * d[0]:i * d[0] + oh, j * d[1]:j * d[1] + ow]
            out = v if out is None else np.maximum(out, v)
    return out


def _avg_oracle(x, kd, pd, ph, cip, div):
    """Stride-1 average pooling of NCDHW x with window (kd, 3, 3), padding (pd, ph, 1)."""
    n, c, D, H, W = x.shape
    p = (pd, ph, 1)
    k = (kd, 3, 3)
    xp = np.zeros((n, c, D + 2 * pd, H + 2 * ph, W + 2), dtype=np.float64)
    xp[:, :, pd:pd + D, ph:ph + H, 1:1 + W] = x
    out_sz = [i + 2 * q - kk + 1 for i, q, kk in zip((D, H, W), p, k)]
    s = np.zeros((n, c, *out_sz))
    for a, b, e in itertools.product(range(kd), range(3), range(3)):
        s += xp[:, :, a:a + out_sz[0], b:b + out_sz[1], e:e + out_sz[2]]
    if div:
        return s / div
    if cip:
        return s / (kd * 9)
    counts = []
    for i, q, kk, o in zip((D, H, W), p, k, out_sz):
        st = np.arange(o) - q
        counts.append(np.minimum(st + kk, i) - np.maximum(st, 0))
    return s / (counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :])


def _eq(got, exp, x, what):
    assert got.dtype == x.dtype and got.shape == np.shape(exp), f"{what}: {got.dtype} {got.shape} vs {np.shape(exp)}"
    np.testing.assert_array_equal(got, np.asarray(exp).astype(x.dtype), err_msg=what)


# one to four vectors of 16 floats / 8 doubles, and one past (the general kernels)
MAX_WIDTHS = {np.float32: (16, 17, 31, 33, 48, 56, 63, 64, 65), np.float64: (8, 9, 15, 17, 24, 31, 32, 33)}
# (dh, dw): column dilations up to the permute reach (2 * dw < lanes)
MAX_DILATIONS = {np.float32: ((1, 2), (2, 2), (3, 2), (2, 3), (1, 5), (4, 7)), np.float64: ((1, 2), (2, 2), (3, 3))}


def test_oracles_match_reference(rng):
    for (h, w), (dh, dw), (ph, pw) in itertools.product(((7, 9), (9, 8)), ((1, 2), (2, 3)), ((0, 0), (1, 1), (0, 1))):
        x = pool_values(rng, (1, 2, h, w), np.float64, "special")
        np.testing.assert_array_equal(_max_oracle(x, (ph, pw), (dh, dw)),
                                      ref.max_pool2d(x, 3, 1, (ph, pw), (dh, dw)), err_msg=str((h, w, dh, dw, ph, pw)))
    for (dh, dw), (ph, pw) in itertools.product(((1, 1), (2, 1)), ((0, 0), (2, 2), (1, 0))):
        x = pool_values(rng, (1, 2, 11, 10), np.float64, "special")
        np.testing.assert_array_equal(_max_oracle(x, (ph, pw), (dh, dw), 5),
                                      ref.max_pool2d(x, 5, 1, (ph, pw), (dh, dw)), err_msg=str((5, dh, dw, ph, pw)))
    for kd, pd, ph, (cip, div) in itertools.product((2, 3), (0, 1), (0, 1), ((True, None), (False, None), (True, 5))):
        x = pool_values(rng, (1, 2, 4, 5, 6), np.float64, "normal")
        np.testing.assert_allclose(_avg_oracle(x, kd, pd, ph, cip, div),
                                   ref.avg_pool3d(x, (kd, 3, 3), 1, (pd, ph, 1), False, cip, div), rtol=1e-12, atol=1e-14,
                                   err_msg=str((kd, pd, ph, cip, div)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_dilated_columns(dtype, rng):
    n = 0
    for w in MAX_WIDTHS[dtype]:
        for (dh, dw), (ph, pw) in itertools.product(MAX_DILATIONS[dtype], ((0, 0), (1, 1), (1, 0), (0, 1))):
            h = 2 * dh + 1 - 2 * ph + int(rng.integers(0, 2 * dh + 4))
            if w + 2 * pw - 2 * dw < 1:
                continue
            for kind in ("ints", "special", "neg_inf_rows") if (w + dw) % 2 else ("normal",):
                x = pool_values(rng, (1, 2, h, w), dtype, kind)
                kw = dict(kernel_size=3, stride=1, padding=(ph, pw), dilation=(dh, dw), ceil_mode=bool(rng.integers(2)))
                _eq(fmaconv.max_pool2d(x, **kw), _max_oracle(x, (ph, pw), (dh, dw)), x, f"{kind} {x.shape} {kw}")
                n += 1
    assert n > 100


# (k, (dh, dw)): undilated 3x3 and 5x5, and dilated 5x5 up to the permute reach (4 * dw < lanes)
K_DIL = {np.float32: ((3, (1, 1)), (5, (1, 1)), (5, (2, 1)), (5, (1, 3))), np.float64: ((3, (1, 1)), (5, (1, 1)), (5, (2, 1)))}
K_WIDTHS = {np.float32: (8, 9, 13, 15, 16, 17, 20, 31, 33, 48, 63, 64, 65), np.float64: (8, 9, 13, 16, 17, 24, 32, 33)}


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_k3_k5_stride1(dtype, rng):
    n = 0
    for w in K_WIDTHS[dtype]:
        for k, (dh, dw) in K_DIL[dtype]:
            for ph, pw in {(0, 0), (k // 2, k // 2), (1, 0), (0, k // 2)}:
                h = (k - 1) * dh + 1 - 2 * ph + int(rng.integers(0, 2 * dh + 4))
                if w + 2 * pw - (k - 1) * dw < 1 or h < 1 or 2 * max(ph, pw) > (k - 1) * max(dh, dw) + 1:
                    continue
                kind = ("ints", "special", "neg_inf_rows", "normal")[(w + ph + pw + k) % 4]
                x = pool_values(rng, (1, 2, h, w), dtype, kind)
                kw = dict(kernel_size=k, stride=1, padding=(ph, pw), dilation=(dh, dw), ceil_mode=bool(rng.integers(2)))
                _eq(fmaconv.max_pool2d(x, **kw), _max_oracle(x, (ph, pw), (dh, dw), k), x, f"{kind} {x.shape} {kw}")
                n += 1
    assert n > 80


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_k5_nan_in_one_row(dtype, rng):
    for w in (13, 20, K_WIDTHS[dtype][-2]):
        x = pool_values(rng, (1, 1, 11, w), dtype, "normal")
        for i, j in ((0, 0), (10, w - 1), (5, w // 2), (4, 1)):
            xi = x.copy()
            xi[0, 0, i, j] = np.nan
            _eq(fmaconv.max_pool2d(xi, 5, 1, 2), _max_oracle(xi, (2, 2), (1, 1), 5), xi, f"NaN at {(i, j)} W={w}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_nan_in_one_row(dtype, rng):
    """A NaN makes just the output rows whose window holds its row take the redo."""
    for w, (dh, dw) in ((MAX_WIDTHS[dtype][1], (2, 2)), (MAX_WIDTHS[dtype][-2], (3, 2)), (MAX_WIDTHS[dtype][3], (1, 3))):
        x = pool_values(rng, (1, 1, 13, w), dtype, "normal")
        for i, j in ((0, 0), (12, w - 1), (6, w // 2), (5, 1)):
            xi = x.copy()
            xi[0, 0, i, j] = np.nan
            _eq(fmaconv.max_pool2d(xi, 3, 1, 1, (dh, dw)), _max_oracle(xi, (1, 1), (dh, dw)), xi, f"NaN at {(i, j)} W={w}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg3d_stride1(dtype, rng):
    n = 0
    widths = (3, 5, 7, 8, 9, 15, 16, 17, 28, 31, 32, 33, 47, 63, 64, 65)
    for w in widths:
        for kd in (2, 3, 4, 5):
            for pd, ph in itertools.product(range(kd // 2 + 1), (0, 1)):
                d = kd + int(rng.integers(0, 4))
                h = 3 + int(rng.integers(0, 4))
                rules = [(True, None), (False, None), (True, 7)] if (w + kd + pd) % 3 == 0 else [(bool((w + pd) % 2), None)]
                x = pool_values(rng, (1, 2, d, h, w), dtype, "normal" if (w + ph) % 2 else "ints")
                for cip, div in rules:
                    kw = dict(kernel_size=(kd, 3, 3), stride=1, padding=(pd, ph, 1), ceil_mode=bool(rng.integers(2)),
                              count_include_pad=cip, divisor_override=div)
                    assert_result(fmaconv.avg_pool3d(x, **kw), _avg_oracle(x, kd, pd, ph, cip, div), dtype,
                                  what=f"{x.shape} {kw}")
                    n += 1
    assert n > 300


def test_avg3d_inf_nan(rng):
    """inf and NaN reach exactly the outputs whose windows hold them."""
    for dtype in DTYPES:
        x = pool_values(rng, (1, 2, 5, 6, 20), dtype, "normal")
        x[0, 0, 2, 3, 0] = np.nan
        x[0, 1, 0, 5, 19] = np.inf
        x[0, 1, 4, 0, 7] = -np.inf
        assert_result(fmaconv.avg_pool3d(x, 3, 1, 1), _avg_oracle(x, 3, 1, 1, True, None), dtype)


@pytest.mark.parametrize("threads", (1, 2, 3))
def test_thread_splits(threads, restore_threads, rng):
    """Ranges start and end anywhere: inside a plane, a depth output, a pair of depth outputs."""
    fmaconv.set_num_threads(threads)
    for dtype in DTYPES:
        for shape, (dh, dw) in (((2, 5, 37, 40), (2, 2)), ((1, 64, 56, 56), (2, 2)), ((3, 3, 29, 17), (3, 2))):
            x = pool_values(rng, shape, dtype, "normal")
            x[0, 1, 3, 5] = np.nan
            x[-1, -1, -1, -1] = np.nan
            _eq(fmaconv.max_pool2d(x, 3, 1, 1, (dh, dw)), _max_oracle(x, (1, 1), (dh, dw)), x, f"{threads} threads {shape}")
            _eq(fmaconv.max_pool2d(x, 5, 1, 2), _max_oracle(x, (2, 2), (1, 1), 5), x, f"5x5 {threads} threads {shape}")
        for shape, kd, pd in (((1, 16, 8, 28, 28), 3, 1), ((2, 3, 9, 7, 33), 3, 1), ((1, 5, 7, 4, 12), 4, 2)):
            x = pool_values(rng, shape, dtype, "normal")
            for cip in (True, False):
                kw = dict(kernel_size=(kd, 3, 3), stride=1, padding=(pd, 1, 1), count_include_pad=cip)
                assert_result(fmaconv.avg_pool3d(x, **kw), _avg_oracle(x, kd, pd, 1, cip, None), dtype,
                              what=f"{threads} threads {shape} {kw}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the oracle tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for w in MAX_WIDTHS[dtype][::2]:
        for (dh, dw), p in itertools.product(MAX_DILATIONS[dtype], (0, 1)):
            x = pool_values(rng, (2, 3, 2 * dh + 4, w), dtype, "special")
            kw = dict(kernel_size=3, stride=1, padding=p, dilation=(dh, dw))
            _eq(fmaconv.max_pool2d(x, **kw), F.max_pool2d(torch.from_numpy(x), **kw).numpy(), x, f"{x.shape} {kw}")
    for w, k in itertools.product(K_WIDTHS[dtype][::3], (3, 5)):
        x = pool_values(rng, (2, 3, 9, w), dtype, "special")
        kw = dict(kernel_size=k, stride=1, padding=k // 2)
        _eq(fmaconv.max_pool2d(x, **kw), F.max_pool2d(torch.from_numpy(x), **kw).numpy(), x, f"{x.shape} {kw}")
    for w, kd in itertools.product((5, 16, 28, 33, 64), (2, 3)):
        x = pool_values(rng, (2, 3, 6, 5, w), dtype, "normal")
        for cip, div in ((True, None), (False, None), (False, 3)):
            kw = dict(kernel_size=(kd, 3, 3), stride=1, padding=(1, 1, 1), count_include_pad=cip, divisor_override=div)
            exp = F.avg_pool3d(torch.from_numpy(x).double(), **kw).numpy()
            assert_result(fmaconv.avg_pool3d(x, **kw), exp, dtype, what=f"{x.shape} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

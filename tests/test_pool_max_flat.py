"""Max pooling without indices on the flat stride-1 kernel's plain-max path (2-D, stride 1 both
ways, windows up to 3x3, any padding and dilation): the rows pass takes a plain maximum and checks
every input vector for NaN on the side, a block of rows that read a NaN is redone with NaN
propagation; rows of two vectors or more do the column taps row by row with per-lane masks on
the edge chunks only; dilated windows take it on rows up to 256 bytes. On every kernel set.

Widths around one and two vectors of every set and around the 256-byte switch, heights across
the flat blocks (4096 / W rows), ceil_mode, NaN in one block only, +-inf, thread splits. Values
must equal the NumPy reference (tests/reference.py for the small shapes, a padded
np.maximum-over-shifts oracle checked against it for the large ones) and, where installed,
PyTorch. (No indices: the sign of a zero maximum is not part of the check.)"""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, have_torch, isa_rerun_tests, pool_values


def _oracle(x, k, p, d):
    """Stride-1 max pooling of NCHW x: np.maximum (NaN propagates) over the k*k shifted views of
    x padded with -inf. ceil_mode makes no difference at stride 1."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * p, w + 2 * p), -np.inf, dtype=np.float64)
    xp[:, :, p:p + h, p:p + w] = x
    oh, ow = h + 2 * p - d * (k - 1), w + 2 * p - d * (k - 1)
    out = None
    for i in range(k):
        for j in range(k):
            v = xp[:, :, i * d:i * d + oh, j * d:j * d + ow]
            out = v if out is None else np.maximum(out, v)
    return out


def _eq(got, exp, x, what):
    assert got.dtype == x.dtype and got.shape == np.shape(exp), f"{what}: {got.dtype} {got.shape} vs {np.shape(exp)}"
    np.testing.assert_array_equal(got, np.asarray(exp).astype(x.dtype), err_msg=what)


# widths around 1 and 2 vectors of 2, 4, 8 and 16 lanes, and around 256 bytes (64 floats, 32 doubles)
WIDTHS = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 48, 56, 63, 64, 65, 100)
CFGS = [(k, p, d) for k in (1, 2, 3) for p in range(k // 2 + 1) for d in (1, 2)]


def test_oracle_matches_reference(rng):
    for k, p, d in CFGS:
        for h, w in ((5, 7), (9, 4)):
            x = pool_values(rng, (1, 2, h, w), np.float64, "special")
            if h + 2 * p - d * (k - 1) < 1 or w + 2 * p - d * (k - 1) < 1:
                continue
            np.testing.assert_array_equal(_oracle(x, k, p, d), ref.max_pool2d(x, k, 1, p, d), err_msg=str((k, p, d)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ("ints", "special", "neg_inf"))
@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: "k%d_p%d_d%d" % c)
def test_flat_plain_vs_reference(cfg, kind, dtype, rng):
    k, p, d = cfg
    for w in WIDTHS:
        h = int(rng.integers(1, 12))
        if h + 2 * p - d * (k - 1) < 1 or w + 2 * p - d * (k - 1) < 1:
            continue
        kw = dict(kernel_size=k, stride=1, padding=p, dilation=d, ceil_mode=bool(rng.integers(2)))
        x = pool_values(rng, (1, 2, h, w), dtype, kind)
        _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{kind} {x.shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [(3, 1, 1), (3, 1, 2), (2, 0, 1), (3, 0, 2)], ids=lambda c: "k%d_p%d_d%d" % c)
def test_nan_in_one_block(cfg, dtype, rng):
    """Planes taller than a flat block (4096 / W rows): a NaN in one block makes that block (and only
    it) take the NaN-propagating redo; the NaN's window outputs are NaN and nothing else changes."""
    k, p, d = cfg
    for w in (17, 33, 56, 64):
        h = 4096 // w + 30
        x = pool_values(rng, (1, 1, h, w), dtype, "normal")
        for i, j in ((0, 0), (h - 1, w - 1), (4096 // w - 1, w // 2), (4096 // w + 1, 0), (h // 3, w - 1)):
            xi = x.copy()
            xi[0, 0, i, j] = np.nan
            _eq(fmaconv.max_pool2d(xi, k, 1, p, d), _oracle(xi, k, p, d), xi, f"NaN at {(i, j)} {xi.shape} {cfg}")


@pytest.mark.parametrize("threads", (1, 2, 3))
def test_thread_splits(threads, restore_threads, rng):
    """Ranges start and end anywhere in a plane (and a block); NaN in some planes only."""
    fmaconv.set_num_threads(threads)
    for shape, (k, p, d) in (((2, 5, 37, 40), (3, 1, 2)), ((1, 7, 23, 56), (3, 1, 1)), ((3, 3, 130, 33), (2, 0, 1)),
                             ((1, 64, 56, 56), (3, 1, 2))):
        for dtype in DTYPES:
            x = pool_values(rng, shape, dtype, "normal")
            x[0, 1, 3, 5] = np.nan
            x[-1, -1, -1, -1] = np.nan
            _eq(fmaconv.max_pool2d(x, k, 1, p, d), _oracle(x, k, p, d), x, f"{threads} threads {shape} {(k, p, d)}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_flat_plain_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for k, p, d in CFGS:
        for h, w in ((3, 16), (7, 33), (12, 56), (20, 65), (5, 100)):
            if h + 2 * p - d * (k - 1) < 1 or w + 2 * p - d * (k - 1) < 1:
                continue
            for kind in ("ints", "special"):
                kw = dict(kernel_size=k, stride=1, padding=p, dilation=d, ceil_mode=bool(rng.integers(2)))
                x = pool_values(rng, (2, 3, h, w), dtype, kind)
                _eq(fmaconv.max_pool2d(x, **kw), F.max_pool2d(torch.from_numpy(x), **kw).numpy(), x,
                    f"{kind} {x.shape} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

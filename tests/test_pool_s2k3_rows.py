"""Max pooling with 3 taps at stride 2 along the row (no dilation there), the row kernels on
AVX-512: values only (s2k3_plain: up to 3 window rows of any stride, padding and dilation) and
with indices (s2k3_idx_rows: rows taken in pairs that share a window row, the shared one carried;
blocks of up to 64 output rows, a block that read a NaN redone in the full order). Other kernel
sets take their usual paths (the file reruns under each).

Planes taller than a block (more than 64 output rows: block ends, pairs cut by a block or a
thread range, one NaN in a late block), row windows 1..3 tall at strides 1..3 with dilation 1 and
2 for the values-only kernel, widths around one and several vectors of every set, odd sizes,
padding both ways, ceil_mode. Values, indices and dtypes must equal the NumPy reference
(tests/reference.py; NaN where it has NaN, the sign of a zero maximum too when indices are asked
for) and, where installed, PyTorch."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, have_torch, random_array, isa_rerun_tests

KINDS = ("ints", "zeros", "special", "late_nan")


def _data(rng, shape, dtype, kind):
    if kind == "zeros":
        a = rng.choice(np.array([-0.0, 0.0, -1.0]), size=shape)
    elif kind == "late_nan":  # one NaN per plane, in the last rows (a later block than the first)
        a = rng.integers(-3, 4, size=shape).astype(np.float64)
        h, w = shape[-2:]
        for p in np.ndindex(*shape[:-2]):
            a[p + (int(rng.integers(max(0, h - 6), h)), int(rng.integers(w)))] = np.nan
    else:
        a = random_array(rng, shape, np.float64, kind)
    return np.ascontiguousarray(a, dtype=dtype)


def _eq(got, exp, x, what):
    if isinstance(exp, tuple):
        (gv, gi), (ev, ei) = got, exp
        assert gi.dtype == np.int64 and gi.shape == np.shape(ei), f"{what}: indices {gi.dtype} {gi.shape}"
        np.testing.assert_array_equal(gi, ei, err_msg=what + " (indices)")
        ev = np.asarray(ev).astype(x.dtype)
        np.testing.assert_array_equal(np.signbit(gv), np.signbit(ev), err_msg=what + " (sign of zero)")
    else:
        gv, ev = got, np.asarray(exp).astype(x.dtype)
    assert gv.dtype == x.dtype and gv.shape == ev.shape, f"{what}: {gv.dtype} {gv.shape} vs {ev.shape}"
    np.testing.assert_array_equal(gv, ev, err_msg=what)


def _valid(spatial, kw):
    try:
        ref.max_pool2d(np.zeros((1, 1) + tuple(spatial)), **kw)
        return True
    except AssertionError:  # output size < 1, or padding too large
        return False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("idx", (False, True), ids=("values", "indices"))
def test_tall_planes(idx, kind, dtype, rng):
    """3x3 s2 windows on planes of 129..140 rows (65..70 output rows: two blocks), widths around
    the vector lengths (every other shape per (kind, dtype), alternating), padding 0/1 per axis and
    ceil_mode drawn per shape."""
    shapes = ((129, 16), (130, 17), (131, 33), (140, 8), (133, 57), (136, 32))
    for h, w in shapes[(KINDS.index(kind) + DTYPES.index(dtype)) % 2::2]:
        kw = dict(kernel_size=3, stride=2, padding=(int(rng.integers(2)), int(rng.integers(2))),
                  ceil_mode=bool(rng.integers(2)), return_indices=idx)
        x = _data(rng, (1, 3, h, w), dtype, kind)
        _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{kind} {x.shape} {kw}")


# (kernel, stride, padding, dilation) along the rows; the row axis is k3 s2 d1
ROWS = [(1, 1, 0, 1), (1, 2, 0, 1), (2, 1, 0, 1), (2, 2, 1, 1), (3, 1, 1, 1), (3, 2, 0, 1), (3, 3, 1, 1),
        (2, 2, 0, 2), (3, 1, 1, 2), (3, 2, 1, 2)]
WIDTHS = (3, 7, 8, 9, 15, 16, 17, 23, 31, 32, 33, 40, 47, 48, 49, 57, 63, 64, 65, 97)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", ROWS, ids=lambda c: "kh%d_sh%d_ph%d_dh%d" % c)
def test_row_windows_values(rows, dtype, rng):
    """Values only, row windows of 1..3 live rows: every width above with its height drawn from
    1..9 and 20, the data kind, padding along the row and ceil_mode drawn per shape."""
    kh, sh, ph, dh = rows
    for w in WIDTHS:
        h = int(rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9, 20)))
        kw = dict(kernel_size=(kh, 3), stride=(sh, 2), padding=(ph, int(rng.integers(2))), dilation=(dh, 1),
                  ceil_mode=bool(rng.integers(2)))
        if not _valid((h, w), kw):
            continue
        kind = KINDS[int(rng.integers(len(KINDS)))]
        x = _data(rng, (2, 2, h, w), dtype, kind)
        _eq(fmaconv.max_pool2d(x, **kw), ref.max_pool2d(x, **kw), x, f"{kind} {x.shape} {kw}")


@pytest.mark.parametrize("threads", (2, 3))
@pytest.mark.parametrize("idx", (False, True), ids=("values", "indices"))
def test_thread_splits_tall(idx, threads, restore_threads, rng):
    """Work splits start and end anywhere in a tall plane: pairs and blocks are cut at the range
    ends, no row is done twice or skipped."""
    fmaconv.set_num_threads(threads)
    for shape, kw in (((1, 5, 137, 20), dict(kernel_size=3, stride=2, padding=1)),
                      ((1, 3, 135, 33), dict(kernel_size=3, stride=2, padding=0, ceil_mode=True))):
        for kind in ("ints", "late_nan"):
            x = _data(rng, shape, np.float32, kind)
            _eq(fmaconv.max_pool2d(x, return_indices=idx, **kw), ref.max_pool2d(x, return_indices=idx, **kw), x,
                f"{threads} threads {kind} {shape} {kw}")


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("idx", (False, True), ids=("values", "indices"))
def test_vs_torch(idx, dtype, rng):
    import torch

    F = torch.nn.functional
    for kind in KINDS:
        for (h, w), kw in ((((131, 57)), dict(kernel_size=3, stride=2, padding=1)),
                           (((140, 112)), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                           (((57, 33)), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0))),
                           (((41, 48)), dict(kernel_size=3, stride=(3, 2), padding=1, dilation=(2, 1)))):
            x = _data(rng, (2, 3, h, w), dtype, kind)
            t = F.max_pool2d(torch.from_numpy(x), return_indices=idx, **kw)
            exp = (t[0].numpy(), t[1].numpy()) if idx else t.numpy()
            _eq(fmaconv.max_pool2d(x, return_indices=idx, **kw), exp, x, f"{kind} {x.shape} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

"""Tiles whose input rows (or depth slices) lie wholly in the zero padding skip those kernel rows,
but only for output-channel blocks whose weights are all finite: an infinite or NaN weight times
a padding zero is NaN, and the result must say so (the spec's sum over the padded input). The
oracle is the NumPy reference written from the spec (torch's oneDNN kernels skip the padding
whatever the weights, its reference kernels do not)."""
import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import assert_result

# (input shape, weight shape, stride, padding, dilation): shapes big enough for the tiled kernels,
# with kernel rows in the padding at the top/bottom (and front/back for 3-D).
CASES = [
    ((1, 40, 14, 14), (72, 40, 3, 3), 1, 1, 1),        # channels-in-vector tiles, rows of 14
    ((1, 24, 20, 30), (16, 24, 3, 3), 1, 2, 2),        # dilated: two rows of padding taps
    ((1, 24, 21, 30), (20, 24, 5, 5), 2, 2, 1),        # strided, 5x5
    ((2, 8, 6, 9, 17), (40, 8, 3, 3, 3), 1, 1, 1),     # 3-D: depth slices in the padding
    ((1, 3, 40, 44), (64, 3, 7, 7), 2, 3, 1),          # stem-like: three padding rows
]


def _both(x, w, b, case, threads):
    """The functional result and PackedConv's, at `threads` threads."""
    _, _, st, p, d = case
    f = {4: fmaconv.conv2d, 5: fmaconv.conv3d}[x.ndim]
    old = fmaconv.get_num_threads()
    fmaconv.set_num_threads(threads)
    try:
        return (f(x, w, b, stride=st, padding=p, dilation=d),
                fmaconv.PackedConv(w, b, stride=st, padding=p, dilation=d)(x))
    finally:
        fmaconv.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[0])))
def test_finite_weights_match_reference(case, dtype, threads):
    xs, ws, st, p, d = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)  # outputs of order 1
    b = rng.standard_normal(ws[0]).astype(dtype)
    got, packed = _both(x, w, b, case, threads)
    expected = ref.conv(x, w, b, st, p, d)
    assert_result(got, expected, dtype)
    assert_result(packed, expected, dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[0])))
def test_non_finite_weight_reaches_padding_outputs(case, bad, threads):
    """One non-finite weight on the first kernel row of one output channel: every output of that
    channel is NaN or +-inf (the rows whose tap reads padding: NaN), the other channels stay as
    the reference has them."""
    xs, ws, st, p, d = case
    rng = np.random.default_rng(6)
    x = rng.standard_normal(xs)  # float64: the point is where NaN lands, not float32 rounding
    w = rng.standard_normal(ws)
    co = ws[0] - 1  # the last channel: its block is the last one
    w[(co, 0) + (0,) * (len(ws) - 2)] = bad
    got, packed = _both(x, w, None, case, threads)
    expected = ref.conv(x, w, None, st, p, d)
    # the first output row (and depth slice) reads padding through the bad tap: NaN there
    assert np.isnan(expected[(slice(None), co) + (0,) * (len(ws) - 2)]).all()
    assert_result(got, expected, np.float64)
    assert_result(packed, expected, np.float64)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [
    ((1, 16, 30, 33), (16, 16, 3, 3), 1, 1, 1),
    ((1, 16, 29, 37), (16, 16, 3, 3), 1, 2, 2),     # dilated
    ((1, 8, 23, 26), (16, 8, 5, 5), (2, 1), 2, 1),  # strided along H only
    ((2, 8, 5, 9, 17), (8, 8, 3, 3, 3), 1, 1, 1),   # 3-D
    ((1, 8, 20, 21), (8, 8, 4, 4), 1, "same", 1),   # 1 column on the left, 2 on the right
], ids=lambda c: "x".join(map(str, c[0])))
def test_padding_after_nan_call(case, dtype, threads, restore_threads):
    """Each thread keeps its padded-input buffer for the next call, and with several threads a
    task pads only the rows its tiles read. A call over NaN input with other sizes comes first:
    a padding element this call did not zero (or a row it read but did not fill) shows up as NaN
    in a finite output."""
    xs, ws, st, p, d = case
    rng = np.random.default_rng(8)
    f = {4: fmaconv.conv2d, 5: fmaconv.conv3d}[len(xs)]
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    fmaconv.set_num_threads(threads)
    for wide in (7, 19):  # rows of other lengths: NaN where this call's padding columns lie
        poison = np.full(xs[:-1] + (xs[-1] + wide,), np.nan, dtype)
        assert np.isnan(f(poison, w, stride=st, padding=p, dilation=d)).all()
        got = f(x, w, stride=st, padding=p, dilation=d)
        assert_result(got, ref.conv(x, w, None, st, p, d), dtype)

"""Sweeps around the kernels' blocking: output widths below, at, above and at multiples of the
register tile's NR (8/16/48 columns, 4/8/24 for float64) and of the position tile NC (~256);
output channels around MR (4/6/8); reduction lengths C_in*k around the KC blocks (128/384/512),
on the packed path and on the direct 1x1 path; depthwise with channel multipliers. CI runs this
file under every kernel set (FMACONV_ISA), so each set's tile sizes are crossed.
"""
import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_result, random_array

WIDTHS = [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 47, 48, 49, 95, 96, 97, 143, 144, 145, 239, 240,
          241, 255, 256, 257, 300, 481]
OUT_CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 25]
# (C_in, k): reductions of 127..129, 383..385, 511..513 and beyond, 1x1 (direct) and k=3 (packed)
REDUCTIONS = [(127, 1), (128, 1), (129, 1), (383, 1), (385, 1), (512, 1), (513, 1), (700, 1),
              (43, 3), (128, 3), (171, 3), (234, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ow", WIDTHS)
def test_output_widths(ow, dtype, rng):
    x = random_array(rng, (2, 5, ow + 2), dtype)
    w = random_array(rng, (7, 5, 3), dtype)
    b = random_array(rng, (7,), dtype)
    assert_result(fmaconv.conv1d(x, w, b), ref.conv1d(x, w, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cout", OUT_CHANNELS)
def test_output_channels(cout, dtype, rng):
    x = random_array(rng, (1, 3, 9, 53), dtype)
    w = random_array(rng, (cout, 3, 3, 3), dtype)
    assert_result(fmaconv.conv2d(x, w, padding=1), ref.conv2d(x, w, padding=1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cin,k", REDUCTIONS)
def test_reduction_lengths(cin, k, dtype, rng):
    # values in {-2..2} keep float32 sums exact, so long reductions compare tightly
    x = random_array(rng, (1, cin, 61), dtype, "ints")
    w = random_array(rng, (9, cin, k), dtype, "ints")
    b = random_array(rng, (9,), dtype, "ints")
    assert_result(fmaconv.conv1d(x, w, b), ref.conv1d(x, w, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw", [(1, 1), (7, 7), (14, 14), (16, 17), (23, 11)])
def test_direct_1x1_edges(hw, dtype, rng):
    # the direct path reads the input in place: the last, partial tile is copied aside
    x = random_array(rng, (3, 19) + hw, dtype)
    w = random_array(rng, (13, 19, 1, 1), dtype)
    assert_result(fmaconv.conv2d(x, w), ref.conv2d(x, w), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups,cin,cout", [(6, 6, 6), (6, 6, 18), (5, 5, 15), (4, 8, 12), (3, 9, 21)])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2)])
def test_grouped_and_depthwise(groups, cin, cout, stride, dilation, dtype, rng):
    x = random_array(rng, (2, cin, 13, 50), dtype)
    w = random_array(rng, (cout, cin // groups, 3, 3), dtype)
    b = random_array(rng, (cout,), dtype)
    kw = dict(stride=stride, padding=1, dilation=dilation, groups=groups)
    assert_result(fmaconv.conv2d(x, w, b, **kw), ref.conv2d(x, w, b, **kw), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ow", [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65])
@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), (2, 2, 0), (3, 1, 1), (4, 3, 2)])
def test_pool_widths(ow, kernel, stride, padding, dtype, rng):
    w_in = (ow - 1) * stride + kernel - 2 * padding
    x = random_array(rng, (2, 3, 5, max(w_in, 1)), dtype, "ints")  # ints: ties everywhere
    got_v, got_i = fmaconv.max_pool2d(x, kernel, stride, padding, return_indices=True)
    exp_v, exp_i = ref.max_pool2d(x, kernel, stride, padding, return_indices=True)
    assert_result(got_v, exp_v, dtype, exact=True)
    np.testing.assert_array_equal(got_i, exp_i)
    for cm in (False, True):
        got = fmaconv.avg_pool2d(x, kernel, stride, padding, ceil_mode=cm, count_include_pad=not cm)
        assert_result(got, ref.avg_pool2d(x, kernel, stride, padding, ceil_mode=cm, count_include_pad=not cm), dtype)


# Work splits of the direct convolution: by output channels when the weights outweigh the input
# (many channels, small planes), one padded image per task when the images share evenly over the
# threads, tile runs otherwise; and the GEMM fallback when the direct layout wastes most lanes
# (wide dilation). Each must give the reference's result, and the same bits at every thread count.
SPLITS = [
    # (x shape, w shape, kwargs)
    ((1, 96, 5, 5), (96, 96, 3, 3), dict(padding=1)),             # weights > input: channel split
    ((1, 40, 3, 30), (70, 40, 3, 3), dict(padding=1, stride=2)),  # channel split, strided phases
    ((4, 6, 9, 13), (10, 6, 3, 3), dict(padding=1)),              # 4 images over 2 threads: per image
    ((3, 6, 9, 13), (10, 6, 3, 3), dict(padding=1)),              # 3 images over 2 threads: tile runs
    ((2, 5, 4, 40), (7, 5, 1, 3), dict(dilation=(1, 19))),        # wide dilation: GEMM fallback
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,ws,kw", SPLITS)
def test_work_splits(xs, ws, kw, dtype, rng):
    x = random_array(rng, xs, dtype)
    # weights scaled by 1/sqrt(fan-in): outputs of order 1, so the absolute tolerance measures the
    # kernels, not float32 cancellation in sums of ~900 unscaled products
    w = (random_array(rng, ws, dtype) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = random_array(rng, ws[:1], dtype)
    expected = ref.conv2d(x, w, b, **kw)
    saved = fmaconv.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 3):
            fmaconv.set_num_threads(t)
            outs.append(fmaconv.conv2d(x, w, b, **kw))
    finally:
        fmaconv.set_num_threads(saved)
    assert_result(outs[0], expected, dtype)
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])

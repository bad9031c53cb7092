"""The SIMD pooling kernels against the reference, on every kernel set.

Sweeps output widths around every vector length (2..16 lanes), each stride phase, padding and
ceil_mode edge, dilation, 1-D/2-D/3-D, indices with ties and NaN/-inf everywhere (small-integer
inputs), adaptive windows and global average pooling over plane sizes around the vector length.
The tests run in this process (the default kernel set) and, through test_every_isa, again in a
subprocess per available kernel set (FMACONV_ISA)."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_indices, assert_result, random_array, isa_rerun_tests


# output widths around 2, 4, 8 and 16 lanes (SSE double .. AVX-512 float) and their multiples
OWS = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)

# (kernel, stride, padding, dilation) along the width; every config also runs with ceil_mode
WIDTH_CONFIGS = [
    (3, 2, 1, 1),
    (2, 2, 0, 1),
    (3, 1, 1, 1),
    (2, 1, 0, 2),
    (4, 3, 2, 1),
    (5, 3, 2, 2),
    (3, 4, 1, 1),
    (1, 1, 0, 1),
    (7, 2, 3, 1),
]


def _width_for(ow, k, s, p, d, extra):
    return max((ow - 1) * s + (k - 1) * d + 1 - 2 * p + extra, 1)


def _max_check(x, dims, kw, what):
    fn = getattr(fmaconv, f"max_pool{dims}d")
    rfn = getattr(ref, f"max_pool{dims}d")
    try:
        exp_v, exp_i = rfn(x, return_indices=True, **kw)
    except AssertionError:  # output size < 1: not a valid configuration
        return
    got_v, got_i = fn(x, return_indices=True, **kw)
    assert_result(got_v, exp_v, x.dtype, exact=True, what=what)
    assert_indices(got_i, exp_i, what=what)
    assert_result(fn(x, **kw), exp_v, x.dtype, exact=True, what=what + " (no indices)")


def _valid(i, k, s, p, d, cm):
    try:
        return ref.pool_out_size(i, k, s, p, d, cm) >= 1
    except Exception:
        return False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
@pytest.mark.parametrize("cfg", WIDTH_CONFIGS, ids=lambda c: "k%ds%dp%dd%d" % c)
def test_max_pool2d_widths(cfg, kind, dtype, rng):
    k, s, p, d = cfg
    for ow in OWS:
        for extra in (0, 1, s - 1):
            w = _width_for(ow, k, s, p, d, extra)
            if p > ((k - 1) * d + 1) // 2:
                continue
            x = random_array(rng, (2, 3, 4, w), dtype, kind)
            for cm in (False, True):
                kw = dict(kernel_size=(3, k), stride=(2, s), padding=(1, p), dilation=(1, d), ceil_mode=cm)
                _max_check(x, 2, kw, f"W={w} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [c for c in WIDTH_CONFIGS if c[3] == 1], ids=lambda c: "k%ds%dp%d" % c[:3])
def test_avg_pool2d_widths(cfg, dtype, rng):
    k, s, p, _ = cfg
    for ow in OWS:
        for extra in (0, 1, s - 1):
            w = _width_for(ow, k, s, p, 1, extra)
            x = random_array(rng, (2, 3, 5, w), dtype)
            for cm in (False, True):
                for cip in (True, False):
                    for div in (None, 3):
                        kw = dict(kernel_size=(2, k), stride=(1, s), padding=(1, p), ceil_mode=cm,
                                  count_include_pad=cip, divisor_override=div)
                        exp = ref.avg_pool2d(x, **kw)
                        assert_result(fmaconv.avg_pool2d(x, **kw), exp, dtype, what=f"W={w} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_tiled_segments_across_planes(dtype, rng):
    # tiling average windows without a depth window: segments of output rows run across plane
    # (and depth) ends and stop inside planes at thread range ends; NaN/inf stay in their window
    old = fmaconv.get_num_threads()
    try:
        for t in (1, 2, 3):
            fmaconv.set_num_threads(t)
            for kh, kw in ((2, 2), (1, 2), (3, 1), (3, 4), (2, 3), (1, 1)):
                for ow in (1, 3, 7, 15, 16, 17):
                    for kind in ("normal", "special"):
                        x = random_array(rng, (3, 5, 2 * kh, ow * kw), dtype, kind)
                        for div in (None, 3):
                            kwa = dict(kernel_size=(kh, kw), divisor_override=div)
                            assert_result(fmaconv.avg_pool2d(x, **kwa), ref.avg_pool2d(x, **kwa), dtype,
                                          what=f"threads={t} {x.shape} {kwa}")
            x = random_array(rng, (2, 3, 3, 4, 14), dtype, "special")
            kwa = dict(kernel_size=(1, 2, 2))
            assert_result(fmaconv.avg_pool3d(x, **kwa), ref.avg_pool3d(x, **kwa), dtype, what=f"3d {kwa}")
            x = random_array(rng, (4, 37, 14, 14), dtype, "special")
            assert_result(fmaconv.adaptive_avg_pool2d(x, 7), ref.adaptive_avg_pool2d(x, 7), dtype, what="14->7")
    finally:
        fmaconv.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_3tap_s1_flat(dtype, rng):
    # 3 taps along the row at stride 1 padding 1 (the register kernel: row sums shifted one lane
    # across chunk and row ends): widths around every vector length, edge rows of each row
    # window, NaN/inf next to the row ends, divisor rules, 2-D and depth-first 3-D, split ranges
    ws = (2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 47, 48, 49, 63, 64, 65)
    for w in ws:
        for kind in ("normal", "special"):
            x = random_array(rng, (1, 2, 5, w), dtype, kind)
            for kh, ph in ((3, 1), (1, 0), (2, 1), (5, 2), (4, 0)):
                for cip in (True, False):
                    for div in (None, 5):
                        kw = dict(kernel_size=(kh, 3), stride=1, padding=(ph, 1), count_include_pad=cip,
                                  divisor_override=div)
                        assert_result(fmaconv.avg_pool2d(x, **kw), ref.avg_pool2d(x, **kw), dtype, what=f"W={w} {kw}")
    for shape in [(1, 2, 4, 3, 17), (1, 1, 3, 6, 33), (2, 1, 3, 3, 5)]:
        x = random_array(rng, shape, dtype, "special")
        for kw in [dict(kernel_size=3, stride=1, padding=1),
                   dict(kernel_size=(2, 3, 3), stride=1, padding=(1, 1, 1), count_include_pad=False),
                   dict(kernel_size=(3, 1, 3), stride=1, padding=(1, 0, 1), divisor_override=4)]:
            assert_result(fmaconv.avg_pool3d(x, **kw), ref.avg_pool3d(x, **kw), dtype, what=f"{shape} {kw}")
    # ranges that start and end inside a plane (row splits across threads)
    x = random_array(rng, (1, 3, 13, 21), dtype, "special")
    old = fmaconv.get_num_threads()
    try:
        for t in (2, 3, 5):
            fmaconv.set_num_threads(t)
            for cip in (True, False):
                kw = dict(kernel_size=3, stride=1, padding=1, count_include_pad=cip)
                assert_result(fmaconv.avg_pool2d(x, **kw), ref.avg_pool2d(x, **kw), dtype, what=f"threads={t} {kw}")
    finally:
        fmaconv.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
def test_max_pool_rows_and_depth(kind, dtype, rng):
    # vertical windows: stride, dilation, padding and ceil_mode along rows and depth
    x = random_array(rng, (1, 3, 6, 11, 19), dtype, kind)
    for kw in [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=(2, 3, 2), stride=(1, 2, 3), padding=(1, 1, 1), dilation=(2, 1, 2)),
               dict(kernel_size=(3, 2, 4), stride=(3, 1, 2), padding=(0, 1, 2), ceil_mode=True),
               dict(kernel_size=2)]:
        _max_check(x, 3, kw, f"3d {kw}")
    x2 = random_array(rng, (2, 4, 13, 21), dtype, kind)
    for kw in [dict(kernel_size=(4, 3), stride=(3, 2), padding=(2, 1), dilation=(2, 1), ceil_mode=True),
               dict(kernel_size=(5, 1), stride=(1, 1), padding=(2, 0)),
               dict(kernel_size=(1, 5), stride=(1, 1), padding=(0, 2), dilation=(1, 2))]:
        _max_check(x2, 2, kw, f"2d {kw}")
    x1 = random_array(rng, (3, 5, 37), dtype, kind)
    for kw in [dict(kernel_size=4, stride=1, padding=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=5, stride=5, padding=2, dilation=1, ceil_mode=True),
               dict(kernel_size=2, stride=1, padding=1, dilation=3)]:
        _max_check(x1, 1, kw, f"1d {kw}")
        _max_check(x1[0], 1, kw, f"1d unbatched {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_rows_and_depth(dtype, rng):
    x = random_array(rng, (1, 3, 6, 11, 19), dtype)
    for kw in [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
               dict(kernel_size=(2, 3, 4), stride=(1, 2, 3), padding=(1, 1, 2), ceil_mode=True),
               dict(kernel_size=2, divisor_override=7)]:
        assert_result(fmaconv.avg_pool3d(x, **kw), ref.avg_pool3d(x, **kw), dtype, what=str(kw))
    x1 = random_array(rng, (3, 5, 37), dtype)
    for kw in [dict(kernel_size=4, stride=1, padding=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
               dict(kernel_size=5, stride=3, padding=2, ceil_mode=True, count_include_pad=False)]:
        assert_result(fmaconv.avg_pool1d(x1, **kw), ref.avg_pool1d(x1, **kw), dtype, what=str(kw))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
@pytest.mark.parametrize("threads", [1, 2])
def test_tiling_windows(threads, kind, dtype, rng):
    # kernel = stride, no padding, every input element in one window: output widths around the
    # vector lengths, output rows that end a thread's range, 1-D/2-D/3-D, every horizontal kernel
    old = fmaconv.get_num_threads()
    fmaconv.set_num_threads(threads)
    try:
        for k in (1, 2, 3, 4, 5):
            for ow in OWS:
                x = random_array(rng, (2, 3, 2 * 3, ow * k), dtype, kind)
                kw = dict(kernel_size=(2, k), stride=(2, k))
                _max_check(x, 2, kw, f"tiled {x.shape} {kw}")
                xa = random_array(rng, x.shape, dtype)
                for div in (None, 3):
                    exp = ref.avg_pool2d(xa, divisor_override=div, **kw)
                    assert_result(fmaconv.avg_pool2d(xa, divisor_override=div, **kw), exp, dtype, what=f"tiled {kw}")
        for shape, kw in [((1, 3, 4, 6, 34), dict(kernel_size=2)), ((2, 2, 3, 4, 12), dict(kernel_size=(3, 1, 4))),
                          ((1, 2, 2, 2, 8), dict(kernel_size=2))]:
            x = random_array(rng, shape, dtype, kind)
            _max_check(x, 3, kw, f"tiled 3d {shape} {kw}")
            xa = random_array(rng, shape, dtype)
            assert_result(fmaconv.avg_pool3d(xa, **kw), ref.avg_pool3d(xa, **kw), dtype, what=f"tiled 3d {kw}")
        for L, k in [(4096, 4), (40, 4), (12, 4), (30, 2), (7, 1), (96, 3)]:
            x = random_array(rng, (3, 5, L), dtype, kind)
            _max_check(x, 1, dict(kernel_size=k), f"tiled 1d L={L} k={k}")
            xa = random_array(rng, x.shape, dtype)
            assert_result(fmaconv.avg_pool1d(xa, k), ref.avg_pool1d(xa, k), dtype, what=f"tiled 1d L={L} k={k}")
        xa = random_array(rng, (4, 6, 14, 14), dtype)
        assert_result(fmaconv.adaptive_avg_pool2d(xa, 7), ref.adaptive_avg_pool2d(xa, 7), dtype, what="adaptive 14->7")
        v, i = fmaconv.adaptive_max_pool2d(xa, 7, return_indices=True)
        ev, ei = ref.adaptive_max_pool2d(xa, 7, return_indices=True)
        assert_result(v, ev, dtype, exact=True, what="adaptive max 14->7")
        assert_indices(i, ei)
        assert_result(fmaconv.adaptive_max_pool2d(xa, 7), ev, dtype, exact=True, what="adaptive max 14->7")
    finally:
        fmaconv.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
def test_stride1_row_pairs(kind, dtype, rng):
    # stride 1 along rows (and depth): consecutive output rows share window rows; odd and even
    # row counts, ranges split between threads, padding and ceil_mode rows
    old = fmaconv.get_num_threads()
    try:
        for threads in (1, 2):
            fmaconv.set_num_threads(threads)
            for w in (5, 16, 17, 28, 33):
                for h in (2, 5, 8):
                    x = random_array(rng, (1, 3, h, w), dtype, kind)
                    xa = random_array(rng, x.shape, dtype)
                    for kw in [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), stride=1),
                               dict(kernel_size=(4, 2), stride=(1, 1), padding=(2, 1), ceil_mode=True),
                               dict(kernel_size=(3, 3), stride=(2, 1), padding=1)]:
                        _max_check(x, 2, kw, f"pairs {x.shape} {kw}")
                        for cip in (True, False):
                            exp = ref.avg_pool2d(xa, count_include_pad=cip, **kw)
                            assert_result(fmaconv.avg_pool2d(xa, count_include_pad=cip, **kw), exp, dtype, what=f"pairs {kw}")
            x = random_array(rng, (1, 2, 4, 6, 28), dtype, kind)
            xa = random_array(rng, x.shape, dtype)
            for kw in [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3, 3), stride=1, padding=(0, 1, 1))]:
                _max_check(x, 3, kw, f"pairs 3d {kw}")
                assert_result(fmaconv.avg_pool3d(xa, **kw), ref.avg_pool3d(xa, **kw), dtype, what=f"pairs 3d {kw}")
    finally:
        fmaconv.set_num_threads(old)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_index_scan_order_across_rows(dtype):
    # a tie between (row 1, col 0) and (row 0, col 2) of one 3x3 window: scan order is row-major,
    # so (0, 2) comes first; among NaNs the LAST in scan order is reported.
    x = np.zeros((1, 1, 3, 3), dtype)
    x[0, 0, 1, 0] = x[0, 0, 0, 2] = 5
    v, i = fmaconv.max_pool2d(x, 3, return_indices=True)
    assert v.item() == 5 and i.item() == 2
    x[0, 0, 1, 0] = x[0, 0, 0, 2] = np.nan
    v, i = fmaconv.max_pool2d(x, 3, return_indices=True)
    assert np.isnan(v.item()) and i.item() == 3
    # the same across the vector: many windows side by side, stride 2 and 1
    for s in (1, 2, 3):
        w = 40
        x = np.zeros((1, 2, 3, w), dtype)
        x[0, 0, 1, :] = 1
        x[0, 0, 0, 2::3] = 1
        x[0, 1, 2, ::2] = np.nan
        x[0, 1, 0, 1::2] = np.nan
        v, i = fmaconv.max_pool2d(x, 3, stride=(1, s), padding=(0, 1), return_indices=True)
        ev, ei = ref.max_pool2d(x, 3, stride=(1, s), padding=(0, 1), return_indices=True)
        assert_result(v, ev, dtype, exact=True)
        assert_indices(i, ei)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_all_minus_inf_and_empty_windows(dtype):
    # all -inf: PyTorch keeps its initial index (first tap at or after 0 on each axis)
    x = np.full((2, 3, 5, 21), -np.inf, dtype)
    for kw in [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), dict(kernel_size=(2, 4), stride=1, padding=(1, 2), dilation=(2, 1))]:
        _max_check(x, 2, kw, str(kw))
    # windows whose taps all miss the input (dilation over padding)
    x = random_array(np.random.default_rng(0), (1, 2, 2, 2), dtype, "ints")
    _max_check(x, 2, dict(kernel_size=2, stride=1, padding=1, dilation=3), "empty windows")
    x = random_array(np.random.default_rng(0), (1, 2, 1, 19), dtype, "ints")
    x[..., 3] = -np.inf
    _max_check(x, 2, dict(kernel_size=(1, 2), stride=1, padding=(0, 1), dilation=(1, 3)), "empty windows")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["normal", "special"])
def test_adaptive_pools(kind, dtype, rng):
    x = random_array(rng, (2, 3, 11, 37), dtype, kind if kind != "normal" else "ints")
    for out in [(5, 7), (1, 1), (11, 37), (3, 16), (4, 33), (2, 1), (1, 9)]:
        v, i = fmaconv.adaptive_max_pool2d(x, out, return_indices=True)
        ev, ei = ref.adaptive_max_pool2d(x, out, return_indices=True)
        assert_result(v, ev, dtype, exact=True, what=str(out))
        assert_indices(i, ei, what=str(out))
        if kind == "normal":
            xn = random_array(rng, x.shape, dtype)
            assert_result(fmaconv.adaptive_avg_pool2d(xn, out), ref.adaptive_avg_pool2d(xn, out), dtype, what=str(out))
    x3 = random_array(rng, (1, 2, 5, 6, 17), dtype, "ints")
    for out in [(2, 3, 4), (1, 1, 1), (5, 1, 17)]:
        v, i = fmaconv.adaptive_max_pool3d(x3, out, return_indices=True)
        ev, ei = ref.adaptive_max_pool3d(x3, out, return_indices=True)
        assert_result(v, ev, dtype, exact=True)
        assert_indices(i, ei)
        assert_result(fmaconv.adaptive_avg_pool3d(x3, out), ref.adaptive_avg_pool3d(x3, out), dtype)
    x1 = random_array(rng, (3, 4, 50), dtype, "ints")
    for out in (1, 7, 16, 50):
        v, i = fmaconv.adaptive_max_pool1d(x1, out, return_indices=True)
        ev, ei = ref.adaptive_max_pool1d(x1, out, return_indices=True)
        assert_result(v, ev, dtype, exact=True)
        assert_indices(i, ei)
        assert_result(fmaconv.adaptive_avg_pool1d(x1, out), ref.adaptive_avg_pool1d(x1, out), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_average_pool_plane_sizes(dtype, rng):
    # plane sizes around the vector length, plane counts around the 16-plane groups
    for hw in [(1, 1), (1, 3), (2, 2), (3, 3), (1, 8), (3, 5), (4, 4), (1, 17), (7, 7), (5, 13), (1, 32), (6, 11)]:
        for planes in (1, 3, 15, 16, 17, 33, 48):
            x = random_array(rng, (1, planes) + hw, dtype)
            assert_result(fmaconv.adaptive_avg_pool2d(x, 1), ref.adaptive_avg_pool2d(x, 1), dtype, what=f"{hw} {planes}")
    x = random_array(rng, (3, 70, 7, 7), dtype, "special")
    assert_result(fmaconv.adaptive_avg_pool2d(x, 1), ref.adaptive_avg_pool2d(x, 1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_agree(dtype, rng):
    x = random_array(rng, (1, 8, 67, 45), dtype, "special")
    old = fmaconv.get_num_threads()
    try:
        res = []
        for t in (1, 2, 3):
            fmaconv.set_num_threads(t)
            res.append((fmaconv.max_pool2d(x, 3, 2, 1, return_indices=True),
                        fmaconv.avg_pool2d(np.nan_to_num(x), 3, 1, 1),
                        fmaconv.adaptive_avg_pool2d(np.nan_to_num(x), 1)))
    finally:
        fmaconv.set_num_threads(old)
    for r in res[1:]:
        np.testing.assert_array_equal(r[0][0], res[0][0][0])
        np.testing.assert_array_equal(r[0][1], res[0][0][1])
        np.testing.assert_array_equal(r[1], res[0][1])
        np.testing.assert_array_equal(r[2], res[0][2])


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__, timeout=600))

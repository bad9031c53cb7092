"""More pooling sweeps against the NumPy reference, on every kernel set (FMACONV_ISA subprocesses).

Focus: 3-D windows (depth folded before rows and columns), widths around the vector lengths
(4/8/16 lanes and multiples), every padding / ceil_mode edge along depth, count_include_pad and
divisor_override, NaN/inf/ties in max pooling, thread splits inside a (plane, depth) slice, and
depth windows deeper than the kernels' batch of slices."""

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_indices, assert_result, random_array, isa_rerun_tests

WIDTHS = (1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48)

# (kernel, stride, padding) along depth, rows and columns; every config runs with ceil_mode too
CONFIGS3 = [
    ((3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ((2, 3, 3), (1, 2, 2), (0, 1, 1)),
    ((3, 2, 2), (2, 2, 2), (1, 0, 0)),
    ((3, 1, 1), (1, 1, 1), (1, 0, 0)),
    ((4, 3, 5), (3, 1, 2), (2, 1, 2)),
    ((2, 2, 2), (1, 1, 1), (0, 0, 0)),
]


def _threads(n):
    old = fmaconv.get_num_threads()
    fmaconv.set_num_threads(n)
    return old


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS3, ids=lambda c: "k%s_s%s_p%s" % tuple("".join(map(str, t)) for t in c))
def test_avg_pool3d_depth_first(cfg, dtype, rng):
    k, s, p = cfg
    for w in WIDTHS:
        if w < k[2]:  # PyTorch's avg_pool3d rejects inputs smaller than the kernel
            continue
        x = random_array(rng, (2, 2, 5, 6, w), dtype)
        for cm in (False, True):
            for cip in (True, False):
                for dov in (None, 5):
                    kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm, count_include_pad=cip,
                              divisor_override=dov)
                    try:
                        exp = ref.avg_pool3d(x, **kw)
                    except AssertionError:  # output size < 1
                        continue
                    assert_result(fmaconv.avg_pool3d(x, **kw), exp, dtype, what=f"W={w} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
@pytest.mark.parametrize("cfg", CONFIGS3, ids=lambda c: "k%s_s%s_p%s" % tuple("".join(map(str, t)) for t in c))
def test_max_pool3d_depth_first(cfg, kind, dtype, rng):
    k, s, p = cfg
    for w in WIDTHS:
        x = random_array(rng, (1, 3, 5, 6, w), dtype, kind)
        for cm in (False, True):
            for d in (1, 2):
                kw = dict(kernel_size=k, stride=s, padding=p, dilation=(d, 1, d), ceil_mode=cm)
                if any(pp > ((kk - 1) * dd + 1) // 2 for pp, kk, dd in zip(p, k, (d, 1, d))):
                    continue
                try:
                    ev, ei = ref.max_pool3d(x, return_indices=True, **kw)
                except AssertionError:
                    continue
                assert_result(fmaconv.max_pool3d(x, **kw), ev, dtype, exact=True, what=f"W={w} {kw}")
                gv, gi = fmaconv.max_pool3d(x, return_indices=True, **kw)
                assert_result(gv, ev, dtype, exact=True, what=f"W={w} {kw} +idx")
                assert_indices(gi, ei, what=f"W={w} {kw} +idx")


@pytest.mark.parametrize("dtype", DTYPES)
def test_deep_depth_windows(dtype, rng):
    # more depth slices than one fold batch (64), partial padding along depth
    x = random_array(rng, (1, 2, 80, 3, 19), dtype)
    for kw in [dict(kernel_size=(70, 2, 3), stride=(5, 1, 2), padding=(0, 1, 1)),
               dict(kernel_size=(66, 1, 1), stride=1, count_include_pad=False)]:
        assert_result(fmaconv.avg_pool3d(x, **kw), ref.avg_pool3d(x, **kw), dtype, what=str(kw))
    xs = random_array(rng, (1, 2, 80, 3, 19), dtype, "special")
    kw = dict(kernel_size=(70, 2, 3), stride=(5, 1, 2), padding=(0, 1, 1))
    assert_result(fmaconv.max_pool3d(xs, **kw), ref.max_pool3d(xs, **kw), dtype, exact=True, what=str(kw))


@pytest.mark.parametrize("dtype", DTYPES)
def test_depth_first_thread_splits(dtype, rng):
    # thread ranges end inside a (plane, od) slice; tall planes (300 rows of 70) go in 2 row blocks
    x = random_array(rng, (1, 2, 3, 300, 70), dtype)
    xs = random_array(rng, (1, 2, 3, 300, 70), dtype, "special")
    for kw in [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3, 3), stride=(1, 2, 1))]:
        ea, em = ref.avg_pool3d(x, **kw), ref.max_pool3d(xs, **kw)
        for threads in (1, 2, 3):
            old = _threads(threads)
            try:
                ga, gm = fmaconv.avg_pool3d(x, **kw), fmaconv.max_pool3d(xs, **kw)
            finally:
                fmaconv.set_num_threads(old)
            assert_result(ga, ea, dtype, what=f"{kw} threads={threads}")
            assert_result(gm, em, dtype, exact=True, what=f"{kw} threads={threads}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["ints", "special"])
def test_max_pool2d_index_edges(kind, dtype, rng):
    # indices with ties / NaN at widths around the vector lengths, strides 1..3, dilation, ceil_mode
    for w in WIDTHS:
        x = random_array(rng, (2, 2, 9, w), dtype, kind)
        for k, s, p, d in [(3, 2, 1, 1), (3, 1, 1, 2), (2, 2, 1, 1), (3, 3, 1, 1), (5, 1, 2, 1)]:
            for cm in (False, True):
                kw = dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=cm)
                try:
                    ev, ei = ref.max_pool2d(x, return_indices=True, **kw)
                except AssertionError:
                    continue
                gv, gi = fmaconv.max_pool2d(x, return_indices=True, **kw)
                assert_result(gv, ev, dtype, exact=True, what=f"W={w} {kw}")
                assert_indices(gi, ei, what=f"W={w} {kw}")
                assert_result(fmaconv.max_pool2d(x, **kw), ev, dtype, exact=True, what=f"W={w} {kw} no idx")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_average_pool_many_planes(dtype, rng):
    # tiny planes (7x7, 14x14, 1x1, 3x5) and plane counts around the vector length, 1 and 2 threads
    for hw in [(7, 7), (14, 14), (1, 1), (3, 5), (4, 4)]:
        for c in (1, 15, 16, 17, 33, 512):
            x = random_array(rng, (2, c) + hw, dtype)
            for t in (1, 2):
                old = _threads(t)
                try:
                    got = fmaconv.adaptive_avg_pool2d(x, 1)
                finally:
                    fmaconv.set_num_threads(old)
                assert_result(got, ref.adaptive_avg_pool2d(x, 1), dtype, what=f"{x.shape} threads={t}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

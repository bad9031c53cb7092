"""The dedicated average-pool kernels against the NumPy reference (and torch where installed), on
every kernel set (FMACONV_ISA subprocesses).

- 3 taps at stride 2, padding 1 along the row (the 3x3 s2 p1 window; AVX-512 register kernel:
  rows summed, even/odd split, the odd column shifted in, masked loads past the row end):
  widths 1..70 (around 16 and 8 lanes and their multiples), heights 1..7, row windows with and
  without padding, ceil_mode (the overhang column), count_include_pad, divisor_override,
  1-D / 2-D / 3-D (depth kernel 1 and depth-first), NaN/inf next to the row ends, float32/64.
- thread splits: N*C planes odd and even, 1 and 2 threads, ranges that start inside a plane;
  the operators' split (one contiguous range of output rows per thread) on every pooling kind,
  bit-identical to one thread."""

import itertools

import numpy as np
import pytest

import fmaconv
import reference as ref
import torch_ref
from helpers import DTYPES, assert_result, random_array, isa_rerun_tests

S2_WIDTHS = tuple(range(1, 71))
# every height 1..7 for the widths at the vector edges, three for the others
FULL_WIDTHS = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 34, 57, 63, 64, 65, 66, 70)
# (kernel, stride, padding) along the rows
S2_ROWS = [(3, 2, 1), (1, 1, 0), (2, 2, 1), (3, 1, 1), (4, 3, 2), (5, 2, 2), (2, 1, 0)]


def _cases_2d():
    for w in S2_WIDTHS:
        for h in range(1, 8) if w in FULL_WIDTHS else sorted({w % 7 + 1, 3, 6}):
            for (kh, sh, ph) in S2_ROWS:
                if h + 2 * ph < kh:
                    continue
                yield w, h, kh, sh, ph


def _kw(kh, sh, ph, cm, cip, div):
    return dict(kernel_size=(kh, 3), stride=(sh, 2), padding=(ph, 1), ceil_mode=cm, count_include_pad=cip,
                divisor_override=div)


def _expected(fn, x, kw):
    try:
        return fn(x, **kw)
    except AssertionError:  # output size < 1
        return None


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_s2k3_rows_2d(dtype, rng):
    n = 0
    for w, h, kh, sh, ph in _cases_2d():
        # the divisor rules on a sample of shapes, every shape with the default rules and ceil_mode
        rules = [(True, None), (False, None), (True, 5)] if (w + h) % 3 == 0 or w in (1, 2, 16, 17, 33) else [(True, None)]
        kind = "special" if (w + kh) % 2 else "normal"
        x = random_array(rng, (1, 3, h, w), dtype, kind)
        for cm, (cip, div) in itertools.product((False, True), rules):
            kw = _kw(kh, sh, ph, cm, cip, div)
            exp = _expected(ref.avg_pool2d, x, kw)
            if exp is None:
                continue
            assert_result(fmaconv.avg_pool2d(x, **kw), exp, dtype, what=f"H={h} W={w} {kw}")
            n += 1
    assert n > 1500


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_s2k3_1d_and_3d(dtype, rng):
    for w in S2_WIDTHS:
        x = random_array(rng, (2, 3, w), dtype, "special" if w % 2 else "normal")
        for cm, cip, div in itertools.product((False, True), (True, False), (None, 4)):
            kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=cm, count_include_pad=cip, divisor_override=div)
            assert_result(fmaconv.avg_pool1d(x, **kw), ref.avg_pool1d(x, **kw), dtype, what=f"1-D W={w} {kw}")
    for w in (3, 4, 5, 16, 17, 31, 32, 33, 47, 64, 65):
        x = random_array(rng, (1, 2, 5, 4, w), dtype, "special")
        for (kd, sd, pd), cm, cip, div in itertools.product([(1, 1, 0), (1, 2, 0), (3, 2, 1), (2, 1, 1)], (False, True),
                                                            (True, False), (None, 7)):
            kw = dict(kernel_size=(kd, 3, 3), stride=(sd, 2, 2), padding=(pd, 1, 1), ceil_mode=cm,
                      count_include_pad=cip, divisor_override=div)
            exp = _expected(ref.avg_pool3d, x, kw)
            if exp is None:
                continue
            assert_result(fmaconv.avg_pool3d(x, **kw), exp, dtype, what=f"3-D W={w} {kw}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("planes", [(1, 1), (1, 3), (2, 2), (3, 5)])
def test_avg_s2k3_thread_splits(planes, threads, rng, restore_threads):
    fmaconv.set_num_threads(threads)
    for h, w in ((57, 57), (7, 70), (2, 33), (13, 16)):
        x = random_array(rng, planes + (h, w), np.float32, "special")
        for cm, cip in itertools.product((False, True), (True, False)):
            kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=cm, count_include_pad=cip)
            assert_result(fmaconv.avg_pool2d(x, **kw), ref.avg_pool2d(x, **kw), np.float32,
                          what=f"threads={threads} {planes} {h}x{w} {kw}")


# shapes large enough that 2 threads split them (one contiguous range of output rows each):
# N*C odd and even, ranges that start inside a plane; bit-identical to 1 thread (every output
# row is computed by one thread with the same code)
SPLIT_CASES = [
    ("avg_pool1d k4", (3, 5, 8192), lambda x: fmaconv.avg_pool1d(x, 4), lambda x: ref.avg_pool1d(x, 4)),
    ("avg_pool1d k3s2p1", (1, 1, 70001), lambda x: fmaconv.avg_pool1d(x, 3, 2, 1),
     lambda x: ref.avg_pool1d(x, 3, 2, 1)),
    ("avg_pool2d 3x3s2p1", (1, 3, 129, 67), lambda x: fmaconv.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
     lambda x: ref.avg_pool2d(x, 3, 2, 1, ceil_mode=True)),
    ("max_pool3d k2", (1, 3, 16, 64, 33), lambda x: fmaconv.max_pool3d(x, 2, 2), lambda x: ref.max_pool3d(x, 2, 2)),
    ("max_pool1d idx", (2, 3, 12001), lambda x: fmaconv.max_pool1d(x, 3, 2, 1, return_indices=True)[1],
     lambda x: ref.max_pool1d(x, 3, 2, 1, return_indices=True)[1]),
    ("global avg", (5, 37, 30, 30), lambda x: fmaconv.adaptive_avg_pool2d(x, 1),
     lambda x: ref.adaptive_avg_pool2d(x, 1)),
    ("adaptive avg", (2, 7, 66, 60), lambda x: fmaconv.adaptive_avg_pool2d(x, (5, 7)),
     lambda x: ref.adaptive_avg_pool2d(x, (5, 7))),
]


@pytest.mark.parametrize("case", SPLIT_CASES, ids=lambda c: c[0])
def test_thread_split_one_range_per_thread(case, rng, restore_threads):
    name, shape, fn, reffn = case
    x = random_array(rng, shape, np.float32, "ints" if "idx" in name else "normal")
    fmaconv.set_num_threads(1)
    one = fn(x)
    exp = reffn(x)
    for t in (2, 3):
        fmaconv.set_num_threads(t)
        got = fn(x)
        np.testing.assert_array_equal(got, one, err_msg=f"{name}: {t} threads != 1 thread")
    if "idx" in name:
        np.testing.assert_array_equal(one, exp, err_msg=name)
    else:
        assert_result(one, exp, np.float32, exact=name.startswith("max"), what=name)


def test_thread_split_large_repeated(rng, restore_threads):
    # inputs long enough (about 1 ms) that the second thread claims chunks from the back end
    # before the first reaches them; repeated, as the meeting point varies with scheduling
    x = random_array(rng, (8, 64, 8192), np.float32)
    xi = random_array(rng, (8, 32, 8191), np.float32, "ints")
    fmaconv.set_num_threads(1)
    one, (v1, i1) = fmaconv.avg_pool1d(x, 4), fmaconv.max_pool1d(xi, 3, 2, 1, return_indices=True)
    assert_result(one, x.reshape(8, 64, 2048, 4).astype(np.float64).mean(-1), np.float32,
                  what="avg_pool1d k4 (mean of groups of 4)")
    assert_result(v1, ref.max_pool1d(xi, 3, 2, 1), np.float32,
                  exact=True, what="max_pool1d")
    fmaconv.set_num_threads(2)
    for rep in range(12):
        np.testing.assert_array_equal(fmaconv.avg_pool1d(x, 4), one, err_msg=f"avg_pool1d run {rep}")
        v2, i2 = fmaconv.max_pool1d(xi, 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(v2, v1, err_msg=f"max_pool1d run {rep}")
        np.testing.assert_array_equal(i2, i1, err_msg=f"max_pool1d indices run {rep}")


def test_avg_s2k3_vs_torch(torch, rng):
    for (h, w), dtype in itertools.product([(57, 57), (1, 1), (6, 33), (7, 64), (5, 70)], DTYPES):
        x = random_array(rng, (2, 3, h, w), dtype)
        for (kh, sh, ph), cm, cip, div in itertools.product(S2_ROWS, (False, True), (True, False), (None, 3)):
            kw = _kw(kh, sh, ph, cm, cip, div)
            try:
                exp = torch_ref.avg_pool(x, dims=2, **kw)
            except RuntimeError:  # torch rejects the shape (output size < 1, padding > kernel / 2)
                continue
            assert_result(fmaconv.avg_pool2d(x, **kw), exp, dtype, what=f"vs torch {h}x{w} {kw}")


# The tests above, rerun once under every other kernel set.
globals().update(isa_rerun_tests(__file__))

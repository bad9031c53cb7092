"""Global pooling and adaptive pooling of narrow rows, on every kernel set:

- global max pooling (adaptive_max_pool*d(x, 1), or a max_pool window covering the whole plane):
  each plane is one contiguous run reduced with full vectors (the last one overlapping), VL planes
  folded together when no indices are asked for; with indices, two chains per plane and a
  cross-lane pick of the smallest offset holding the maximum. Plane sizes below, at and around the
  vector lengths, plane counts that are not a multiple of the 16-plane group, NaN (last NaN's
  index), ties, planes of -inf, and zeros of both signs (the first maximum's sign).
- global average pooling written as an avg_pool window (routed to the plane means).
- adaptive pooling of rows at most two vectors wide (AVX-512): window rows reduced in registers,
  output columns picked by permutes. Widths 1 .. two vectors and past, output widths 1 .. W,
  1-D/2-D/3-D, max with and without indices, average, thread splits.
- plain max/avg windows on the same narrow rows, through the same kernel (their live taps per
  axis): random kernels, strides, dilations, paddings, ceil_mode, divisor rules, 1-D/2-D/3-D,
  output rows just over two vectors (the general kernels).

Oracles: tests/reference.py (NumPy, written from the spec), and PyTorch where installed."""

import itertools

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_indices, assert_result, have_torch, isa_rerun_tests, pool_values

globals().update(isa_rerun_tests(__file__))

KINDS = ("normal", "ints", "special", "neg_inf")
PLANE_SIZES = (1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 49, 64, 196)


def _signed_zeros(rng, shape, dtype):
    """Zeros of both signs among negative values: the maximum is a zero, its sign the first one's."""
    a = -rng.integers(0, 3, size=shape).astype(np.float64)
    a[a == 0] = np.where(rng.random(int((a == 0).sum())) < 0.5, -0.0, 0.0)
    return a.astype(dtype)


def _check_max(got, exp, what):
    v, i = got if isinstance(got, tuple) else (got, None)
    ev, ei = exp if isinstance(exp, tuple) else (exp, None)
    assert_result(v, ev, v.dtype, exact=True, what=what)
    np.testing.assert_array_equal(np.signbit(v), np.signbit(ev), err_msg=f"{what}: sign of a zero")
    if i is not None:
        assert_indices(i, ei, what)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_max(dtype, rng):
    for n, planes in itertools.product(PLANE_SIZES, (1, 5, 16, 35)):
        h = next(d for d in (7, 4, 3, 1) if n % d == 0)
        for kind in KINDS if planes == 35 else ("special",):
            x = pool_values(rng, (1, planes, h, n // h), dtype, kind)
            for ri in (False, True):
                what = f"{kind} {x.shape} idx={ri}"
                exp = ref.adaptive_max_pool2d(x, 1, return_indices=ri)
                _check_max(fmaconv.adaptive_max_pool2d(x, 1, return_indices=ri), exp, what)
                _check_max(fmaconv.max_pool2d(x, (h, n // h), return_indices=ri), exp, f"max_pool2d {what}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_max_1d_3d(dtype, rng):
    for n in (5, 16, 40):
        x = pool_values(rng, (2, 19, n), dtype, "special")
        for ri in (False, True):
            exp = ref.adaptive_max_pool1d(x, 1, return_indices=ri)
            _check_max(fmaconv.adaptive_max_pool1d(x, 1, return_indices=ri), exp, f"1-D {x.shape}")
            _check_max(fmaconv.max_pool1d(x, n, return_indices=ri), exp, f"max_pool1d {x.shape}")
        x = pool_values(rng, (1, 18, 2, 3, n), dtype, "ints")
        for ri in (False, True):
            exp = ref.adaptive_max_pool3d(x, 1, return_indices=ri)
            _check_max(fmaconv.adaptive_max_pool3d(x, 1, return_indices=ri), exp, f"3-D {x.shape}")
            _check_max(fmaconv.max_pool3d(x, (2, 3, n), return_indices=ri), exp, f"max_pool3d {x.shape}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_max_signed_zeros_and_nan_position(dtype, rng):
    for n in (3, 16, 17, 49):
        x = _signed_zeros(rng, (2, 20, n), dtype)
        for ri in (False, True):
            _check_max(fmaconv.adaptive_max_pool1d(x, 1, return_indices=ri),
                       ref.adaptive_max_pool1d(x, 1, return_indices=ri), f"zeros {x.shape}")
        # a NaN at each position of one plane (the last NaN's index when there are two)
        for i in range(n):
            xi = pool_values(rng, (1, 3, n), dtype, "ints")
            xi[0, 1, i] = np.nan
            xi[0, 2, i] = np.nan
            xi[0, 2, (i * 7) % n] = np.nan
            _check_max(fmaconv.adaptive_max_pool1d(xi, 1, return_indices=True),
                       ref.adaptive_max_pool1d(xi, 1, return_indices=True), f"NaN at {i} of {n}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_window(dtype, rng):
    for n, planes in itertools.product((1, 7, 16, 17, 49, 196), (3, 33)):
        h = next(d for d in (7, 4, 1) if n % d == 0)
        x = pool_values(rng, (1, planes, h, n // h), dtype, "normal")
        for div in (None, 3):
            assert_result(fmaconv.avg_pool2d(x, (h, n // h), divisor_override=div),
                          ref.avg_pool2d(x, (h, n // h), divisor_override=div), dtype, what=f"{x.shape} div={div}")
    x = pool_values(rng, (2, 5, 3, 4, 6), dtype, "normal")
    assert_result(fmaconv.avg_pool3d(x, (3, 4, 6)), ref.avg_pool3d(x, (3, 4, 6)), dtype, what="3-D")


# rows of one and two vectors of each dtype, and past them (the general kernels)
WIDTHS = {np.float32: (1, 2, 5, 9, 13, 15, 16, 17, 24, 31, 32, 33), np.float64: (1, 3, 7, 8, 9, 13, 15, 16, 17)}


def _out_widths(w):
    return sorted({1, 2, max(1, w // 3), w // 2 + 1, w - 1, w} - {0})


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_narrow_rows(dtype, rng):
    n = 0
    for w in WIDTHS[dtype]:
        for ow in _out_widths(w):
            h = int(rng.integers(2, 10))
            oh = int(rng.integers(1, h + 1)) if ow > 1 else int(rng.integers(2, h + 1))
            kind = KINDS[(w + ow) % 3]
            x = pool_values(rng, (2, 3, h, w), dtype, kind)
            what = f"{kind} {x.shape} -> {(oh, ow)}"
            for ri in (False, True):
                _check_max(fmaconv.adaptive_max_pool2d(x, (oh, ow), return_indices=ri),
                           ref.adaptive_max_pool2d(x, (oh, ow), return_indices=ri), what)
            if kind != "neg_inf":
                assert_result(fmaconv.adaptive_avg_pool2d(x, (oh, ow)), ref.adaptive_avg_pool2d(x, (oh, ow)), dtype,
                              what=f"avg {what}")
            n += 1
    assert n > 40


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_narrow_1d_3d(dtype, rng):
    for w in WIDTHS[dtype][::3]:
        for ow in _out_widths(w)[1:]:
            x = pool_values(rng, (2, 3, w), dtype, "special")
            for ri in (False, True):
                _check_max(fmaconv.adaptive_max_pool1d(x, ow, return_indices=ri),
                           ref.adaptive_max_pool1d(x, ow, return_indices=ri), f"1-D {x.shape} -> {ow}")
            x = pool_values(rng, (1, 2, 5, 4, w), dtype, "ints")
            for od, oh in ((2, 3), (5, 1), (3, 4)):
                for ri in (False, True):
                    _check_max(fmaconv.adaptive_max_pool3d(x, (od, oh, ow), return_indices=ri),
                               ref.adaptive_max_pool3d(x, (od, oh, ow), return_indices=ri), f"3-D {x.shape} -> {(od, oh, ow)}")
                assert_result(fmaconv.adaptive_avg_pool3d(x, (od, oh, ow)), ref.adaptive_avg_pool3d(x, (od, oh, ow)),
                              dtype, what=f"avg 3-D {x.shape} -> {(od, oh, ow)}")


def _random_window(rng, dims, w):
    k = tuple(int(rng.integers(1, 8)) for _ in range(dims))
    d = (1,) * dims if rng.random() < 0.6 else tuple(int(rng.integers(1, 3)) for _ in range(dims))
    return dict(kernel_size=k, stride=tuple(int(rng.integers(1, 5)) for _ in range(dims)),
                padding=tuple(int(rng.integers(0, ((kk - 1) * dd + 1) // 2 + 1)) for kk, dd in zip(k, d)),
                dilation=d, ceil_mode=bool(rng.integers(2)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_windows_narrow_rows(dtype, rng):
    n = 0
    widths = WIDTHS[dtype] + (2 * WIDTHS[dtype][-1] - 2, 2 * WIDTHS[dtype][-1] - 3)  # just past
    for w in widths:
        for dims in (2, 2, 3, 1):
            kw = _random_window(rng, dims, w)
            lead = {1: (), 2: (int(rng.integers(1, 12)),), 3: (int(rng.integers(1, 5)), int(rng.integers(1, 6)))}[dims]
            x = pool_values(rng, (2, 3) + lead + (w,), dtype, ("special", "ints", "neg_inf")[n % 3])
            mp, rmp = {1: (fmaconv.max_pool1d, ref.max_pool1d), 2: (fmaconv.max_pool2d, ref.max_pool2d),
                       3: (fmaconv.max_pool3d, ref.max_pool3d)}[dims]
            try:
                got = mp(x, return_indices=True, **kw)
            except ValueError:  # an output size below 1
                continue
            exp = rmp(x, return_indices=True, **kw)
            _check_max(got, exp, f"{x.shape} {kw}")
            assert_result(mp(x, **kw), exp[0], dtype, exact=True, what=f"values {x.shape} {kw}")
            kw.pop("dilation")
            if any(p > k // 2 for p, k in zip(kw["padding"], kw["kernel_size"])):
                continue
            ap, rap = {1: (fmaconv.avg_pool1d, ref.avg_pool1d), 2: (fmaconv.avg_pool2d, ref.avg_pool2d),
                       3: (fmaconv.avg_pool3d, ref.avg_pool3d)}[dims]
            x = pool_values(rng, x.shape, dtype, "normal")
            for cip, div in ((True, None), (False, None), (False, 3)):
                try:  # (without the dilation, the input may be smaller than the kernel: PyTorch's error)
                    got = ap(x, count_include_pad=cip, divisor_override=div, **kw)
                except ValueError:
                    break
                assert_result(got, rap(x, count_include_pad=cip, divisor_override=div, **kw), dtype, what=f"avg {x.shape} {kw}")
            n += 1
    assert n > 25


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_windows_dead_taps_narrow_rows(dtype, rng):
    """Dilated windows with no live tap along an axis (the spec's -inf output, PyTorch's initial
    argmax for the index) on narrow rows: the table-driven narrow-row kernel must not take them
    (a window without taps has no first tap to repeat). Found by fuzzing against torch with that
    guard removed, which the random windows above did not catch."""
    for shape, dims, kw in (((2, 3, 2, 13), 2, dict(kernel_size=(2, 3), stride=(1, 2), padding=1, dilation=(3, 1))),
                            ((2, 3, 1, 25), 2, dict(kernel_size=(2, 5), stride=1, padding=(1, 0), dilation=(2, 1),
                                                    ceil_mode=True)),
                            ((2, 4, 1), 1, dict(kernel_size=2, stride=2, padding=1, dilation=2, ceil_mode=True)),
                            ((1, 2, 1, 3, 7), 3, dict(kernel_size=(2, 2, 3), stride=1, padding=1, dilation=2))):
        mp, rmp = {1: (fmaconv.max_pool1d, ref.max_pool1d), 2: (fmaconv.max_pool2d, ref.max_pool2d),
                   3: (fmaconv.max_pool3d, ref.max_pool3d)}[dims]
        x = pool_values(rng, shape, dtype, "ints")
        exp = rmp(x, return_indices=True, **kw)
        assert np.isneginf(exp[0]).all()  # every window dead: the case under test
        _check_max(mp(x, return_indices=True, **kw), exp, f"dead {shape} {kw}")
        assert_result(mp(x, **kw), exp[0], dtype, exact=True, what=f"dead values {shape} {kw}")


def test_adaptive_tall_output(rng):
    """More output rows than the per-call window-row table holds."""
    x = pool_values(rng, (1, 2, 600, 13), np.float32, "special")
    for ri in (False, True):
        _check_max(fmaconv.adaptive_max_pool2d(x, (300, 6), return_indices=ri),
                   ref.adaptive_max_pool2d(x, (300, 6), return_indices=ri), "tall")
    x = pool_values(rng, (1, 2, 600, 13), np.float32, "normal")
    assert_result(fmaconv.adaptive_avg_pool2d(x, (257, 6)), ref.adaptive_avg_pool2d(x, (257, 6)), np.float32, what="tall")


@pytest.mark.parametrize("threads", (1, 3))
def test_adaptive_row_blocks(threads, restore_threads, rng):
    """The general adaptive kernels work on blocks of 1024 / OW output rows (the average divides a
    block's sums; the maximum reduces a block's gathered taps (with indices: value, key pairs), a
    narrower window repeating its last tap): ranges of many blocks and cut inside one (output widths 1, 3, 37),
    1-D, 2-D and 3-D windows of uneven sizes, rows too wide for the narrow-row kernel; for the
    maximum NaN, +-inf and zeros of both signs (in 1-D and with indices the first maximum's sign;
    all -inf windows: the first tap's offset)."""
    fmaconv.set_num_threads(threads)
    cases = [((2, 40, 9, 70), (7, 3)), ((1, 3, 2100, 40), (1100, 1)), ((1, 5, 30, 80), (29, 37)),
             ((2, 3, 5, 11, 70), (3, 4, 3)), ((6, 4, 300), (13,))]
    for dtype in DTYPES:
        for shape, out in cases:
            nd = len(out)
            what = f"{shape} -> {out}"
            x = pool_values(rng, shape, dtype, "normal")
            got = getattr(fmaconv, f"adaptive_avg_pool{nd}d")(x, out)
            assert_result(got, getattr(ref, f"adaptive_avg_pool{nd}d")(x, out), dtype, what=what)
            for x in (pool_values(rng, shape, dtype, "special"), _signed_zeros(rng, shape, dtype)):
                got = getattr(fmaconv, f"adaptive_max_pool{nd}d")(x, out)
                exp = getattr(ref, f"adaptive_max_pool{nd}d")(x, out)
                if nd == 1:
                    _check_max(got, exp, what)
                else:  # (the README's known difference: a zero maximum's sign over rows and columns)
                    assert_result(got, exp, dtype, exact=True, what=what)
                _check_max(getattr(fmaconv, f"adaptive_max_pool{nd}d")(x, out, return_indices=True),
                           getattr(ref, f"adaptive_max_pool{nd}d")(x, out, return_indices=True), f"{what} indices")
            x = np.full(shape, -np.inf, dtype=dtype)  # windows of -inf: their first tap's offset
            _check_max(getattr(fmaconv, f"adaptive_max_pool{nd}d")(x, out, return_indices=True),
                       getattr(ref, f"adaptive_max_pool{nd}d")(x, out, return_indices=True), f"{what} -inf")


@pytest.mark.parametrize("threads", (2, 3))
def test_thread_splits(threads, restore_threads, rng):
    fmaconv.set_num_threads(threads)
    for dtype in DTYPES:
        x = pool_values(rng, (3, 37, 13, 13), dtype, "special")
        for ri in (False, True):
            _check_max(fmaconv.adaptive_max_pool2d(x, (6, 5), return_indices=ri),
                       ref.adaptive_max_pool2d(x, (6, 5), return_indices=ri), f"{threads} threads")
            _check_max(fmaconv.adaptive_max_pool2d(x, 1, return_indices=ri),
                       ref.adaptive_max_pool2d(x, 1, return_indices=ri), f"{threads} threads global")
        x = pool_values(rng, (3, 37, 13, 13), dtype, "normal")
        assert_result(fmaconv.adaptive_avg_pool2d(x, (6, 5)), ref.adaptive_avg_pool2d(x, (6, 5)), dtype)


@pytest.mark.skipif(not have_torch(), reason="torch comparison (the reference tests above cover the same cases)")
@pytest.mark.parametrize("dtype", DTYPES)
def test_vs_torch(dtype, rng):
    import torch

    F = torch.nn.functional
    for shape, out in (((2, 40, 13, 13), 6), ((1, 33, 7, 7), 1), ((2, 5, 14, 30), (6, 7)), ((1, 3, 9, 31), (4, 31))):
        x = pool_values(rng, shape, dtype, "special")
        t = torch.from_numpy(x)
        for ri in (False, True):
            _check_max(fmaconv.adaptive_max_pool2d(x, out, return_indices=ri),
                       tuple(a.numpy() for a in F.adaptive_max_pool2d(t, out, return_indices=ri)) if ri
                       else F.adaptive_max_pool2d(t, out).numpy(), f"{shape} -> {out}")
        x = pool_values(rng, shape, dtype, "normal")
        assert_result(fmaconv.adaptive_avg_pool2d(x, out), F.adaptive_avg_pool2d(torch.from_numpy(x), out).numpy(),
                      dtype, what=f"avg {shape} -> {out}")
    for shape, kw in (((2, 16, 14, 14), dict(kernel_size=3, stride=1, padding=1)),
                      ((1, 8, 17, 17), dict(kernel_size=5, stride=3)), ((1, 4, 9, 20), dict(kernel_size=(2, 7), stride=(1, 2), padding=(1, 3)))):
        x = pool_values(rng, shape, dtype, "special")
        t = torch.from_numpy(x)
        _check_max(fmaconv.max_pool2d(x, return_indices=True, **kw),
                   tuple(a.numpy() for a in F.max_pool2d(t, return_indices=True, **kw)), f"{shape} {kw}")
        x = pool_values(rng, shape, dtype, "normal")
        assert_result(fmaconv.avg_pool2d(x, count_include_pad=False, **kw),
                      F.avg_pool2d(torch.from_numpy(x), count_include_pad=False, **kw).numpy(), dtype, what=f"avg {shape} {kw}")
    x = _signed_zeros(rng, (2, 20, 49), dtype)
    for ri in (False, True):
        got = fmaconv.adaptive_max_pool1d(x, 1, return_indices=ri)
        exp = F.adaptive_max_pool1d(torch.from_numpy(x), 1, return_indices=ri)
        _check_max(got, tuple(a.numpy() for a in exp) if ri else exp.numpy(), "signed zeros")


@pytest.mark.parametrize("dtype", DTYPES)
def test_windows_of_contiguous_runs(dtype, rng):
    """Windows tiling the input as contiguous runs (1-D, or whole rows): one run per output, with
    the run's offset added to the index."""
    for k, L in ((16, 64), (17, 51), (33, 99), (64, 4096), (3, 12)):
        for kind in ("special", "ints"):
            x = pool_values(rng, (2, 3, L), dtype, kind)
            for ri in (False, True):
                _check_max(fmaconv.max_pool1d(x, k, return_indices=ri), ref.max_pool1d(x, k, return_indices=ri),
                           f"1-D {kind} {x.shape} k={k}")
                _check_max(fmaconv.adaptive_max_pool1d(x, L // k, return_indices=ri),
                           ref.adaptive_max_pool1d(x, L // k, return_indices=ri), f"adaptive 1-D {x.shape} k={k}")
        x = pool_values(rng, (2, 3, L), dtype, "normal")
        assert_result(fmaconv.avg_pool1d(x, k), ref.avg_pool1d(x, k), dtype, what=f"avg 1-D k={k}")
        assert_result(fmaconv.avg_pool1d(x, k, divisor_override=5), ref.avg_pool1d(x, k, divisor_override=5), dtype)
    for shape, k in (((1, 5, 6, 9), (2, 9)), ((2, 3, 8, 20), (4, 20)), ((1, 4, 3, 4, 10), (1, 2, 10)),
                     ((1, 4, 4, 3, 7), (2, 3, 7))):
        x = pool_values(rng, shape, dtype, "special")
        mp, ap = (fmaconv.max_pool2d, fmaconv.avg_pool2d) if len(k) == 2 else (fmaconv.max_pool3d, fmaconv.avg_pool3d)
        rmp, rap = (ref.max_pool2d, ref.avg_pool2d) if len(k) == 2 else (ref.max_pool3d, ref.avg_pool3d)
        for ri in (False, True):
            _check_max(mp(x, k, return_indices=ri), rmp(x, k, return_indices=ri), f"rows {shape} k={k}")
        x = pool_values(rng, shape, dtype, "normal")
        assert_result(ap(x, k), rap(x, k), dtype, what=f"avg rows {shape} k={k}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_depth_one_windows(dtype, rng):
    """Windows one slice deep (kernel 1, stride 1, no padding along depth) pool each slice as a 2-D
    plane: the slice's offset is added to the index."""
    for shape, kw in (((2, 3, 4, 9, 10), dict(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))),
                      ((1, 5, 3, 20, 40), dict(kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))),
                      ((1, 2, 5, 7, 7), dict(kernel_size=(1, 2, 2), stride=(1, 2, 2), ceil_mode=True)),
                      ((2, 2, 2, 6, 33), dict(kernel_size=(1, 3, 2), stride=(1, 1, 3), dilation=(3, 2, 1)))):
        x = pool_values(rng, shape, dtype, "special")
        for ri in (False, True):
            _check_max(fmaconv.max_pool3d(x, return_indices=ri, **kw), ref.max_pool3d(x, return_indices=ri, **kw),
                       f"{shape} {kw}")
        if "dilation" in kw:
            continue
        x = pool_values(rng, shape, dtype, "normal")
        for cip, div in ((True, None), (False, None), (True, 3)):
            assert_result(fmaconv.avg_pool3d(x, count_include_pad=cip, divisor_override=div, **kw),
                          ref.avg_pool3d(x, count_include_pad=cip, divisor_override=div, **kw), dtype,
                          what=f"avg {shape} {kw}")

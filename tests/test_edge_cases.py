"""Edge cases: special values, empty and unbatched inputs, memory layouts, threads, subnormals,
shape helpers and show_config.  Expected values always come from reference.py (proven against
PyTorch in test_reference_vs_torch.py) or from first principles, never from fmaconv."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, TOL, assert_indices, assert_result, random_array

inf, nan = np.inf, np.nan

ALL_POOL_OPS = [f"{k}_pool{D}d" for k in ("max", "avg", "adaptive_max", "adaptive_avg") for D in (1, 2, 3)]


def _pool_kwargs(op):
    if op.startswith("adaptive"):
        return dict(output_size=2)
    if op.startswith("max"):
        return dict(kernel_size=2, stride=1, padding=1, return_indices=True)
    return dict(kernel_size=2, stride=1, padding=1, count_include_pad=False)


def _exact(op):
    return op.startswith(("max", "adaptive_max"))


def _check_op(op, x, dtype, **kwargs):
    """Run a pool op through fmaconv and the reference and compare (values, and indices if any)."""
    got = getattr(fmaconv, op)(x, **kwargs)
    expected = getattr(ref, op)(x, **kwargs)
    if kwargs.get("return_indices"):
        assert isinstance(got, tuple) and len(got) == 2
        assert_indices(got[1], expected[1], op)
        got, expected = got[0], expected[0]
    assert_result(got, expected, dtype, exact=_exact(op), what=op)
    return got


# =========================================================== NaN / inf in max pooling

@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan_propagates_and_reports_last_nan(dtype):
    x = np.array([[[1.0, nan, 5.0, nan, 2.0, 7.0, 3.0, 3.0]]], dtype=dtype)
    v, i = fmaconv.max_pool1d(x, 8, return_indices=True)
    assert np.isnan(v[0, 0, 0])
    assert i[0, 0, 0] == 3  # the LAST NaN in scan order
    v, i = fmaconv.max_pool1d(x, 4, return_indices=True)
    assert np.isnan(v[0, 0, 0]) and i[0, 0, 0] == 3
    assert v[0, 0, 1] == 7.0 and i[0, 0, 1] == 5
    v, i = fmaconv.max_pool1d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(i[0, 0], [1, 1, 3, 3, 5, 5, 6])
    _check_op("max_pool1d", x, dtype, kernel_size=3, stride=1, padding=1, return_indices=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ties_keep_first(dtype):
    x = np.array([[[3.0, 3.0, 1.0, 3.0, -1.0, -1.0]]], dtype=dtype)
    v, i = fmaconv.max_pool1d(x, 6, return_indices=True)
    assert v[0, 0, 0] == 3.0 and i[0, 0, 0] == 0
    v, i = fmaconv.max_pool1d(x, 2, return_indices=True)
    np.testing.assert_array_equal(i[0, 0], [0, 3, 4])
    # 2-D: scan order is row by row; the first maximum in that order wins
    x2 = np.zeros((1, 1, 3, 3), dtype=dtype)
    x2[0, 0, 1, 2] = 5
    x2[0, 0, 2, 0] = 5
    v, i = fmaconv.max_pool2d(x2, 3, return_indices=True)
    assert i[0, 0, 0, 0] == 1 * 3 + 2
    # 3-D: depth before rows
    x3 = np.zeros((1, 1, 2, 2, 2), dtype=dtype)
    x3[0, 0, 1, 0, 0] = 4
    x3[0, 0, 0, 1, 1] = 4
    v, i = fmaconv.max_pool3d(x3, 2, return_indices=True)
    assert i[0, 0, 0, 0, 0] == 0 * 4 + 1 * 2 + 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
def test_max_pool_all_neg_inf_window(dtype, D):
    x = np.full((1, 2) + (4,) * D, -inf, dtype=dtype)
    v, i = getattr(fmaconv, f"max_pool{D}d")(x, 2, return_indices=True)
    assert np.all(np.isneginf(v))
    # nothing beats -inf: the index stays at the first tap of each window
    _, ei = getattr(ref, f"max_pool{D}d")(x, 2, return_indices=True)
    assert_indices(i, ei)
    _check_op(f"max_pool{D}d", x, dtype, kernel_size=3, stride=2, padding=1, return_indices=True)


@pytest.mark.parametrize("D", [1, 2, 3])
def test_dilated_max_pool_without_valid_tap_is_neg_inf(D):
    # size-1 axes, k=2, d=2, p=1: taps at -1 and 1, neither inside the input
    x = np.full((1, 1) + (1,) * D, 5.0, dtype=np.float32)
    v = getattr(fmaconv, f"max_pool{D}d")(x, 2, stride=1, padding=1, dilation=2)
    assert v.shape == (1, 1) + (1,) * D
    assert np.all(np.isneginf(v))
    _check_op(f"max_pool{D}d", x, np.float32, kernel_size=2, stride=1, padding=1, dilation=2,
              return_indices=True)
    # one axis without valid taps is enough
    x = np.arange(1, 1 + 3 ** (D - 1), dtype=np.float64).reshape((1, 1, 1) + (3,) * (D - 1))
    k = (2,) + (1,) * (D - 1)
    v = getattr(fmaconv, f"max_pool{D}d")(x, k, stride=1, padding=(1,) + (0,) * (D - 1),
                                          dilation=(2,) + (1,) * (D - 1))
    assert np.all(np.isneginf(v))


@pytest.mark.parametrize("D", [1, 2, 3])
def test_adaptive_max_pool_nan_and_ties(D):
    rng = np.random.default_rng(D)
    x = random_array(rng, (2, 3) + (5,) * D, np.float32, "special")
    _check_op(f"adaptive_max_pool{D}d", x, np.float32, output_size=3, return_indices=True)
    x = np.zeros((1, 1) + (4,) * D)
    v, i = getattr(fmaconv, f"adaptive_max_pool{D}d")(x, 1, return_indices=True)
    assert v.ravel()[0] == 0 and i.ravel()[0] == 0
    x.reshape(-1)[[1, x.size - 2]] = nan
    v, i = getattr(fmaconv, f"adaptive_max_pool{D}d")(x, 1, return_indices=True)
    assert np.isnan(v.ravel()[0]) and i.ravel()[0] == x.size - 2  # the last NaN


@pytest.mark.parametrize("D", [1, 2, 3])
def test_avg_pool_inf_and_nan(D):
    x = np.ones((1, 1) + (4,) * D)
    x.reshape(-1)[0] = inf
    x.reshape(-1)[-1] = nan
    got = _check_op(f"avg_pool{D}d", x, np.float64, kernel_size=2)
    assert np.isinf(got.reshape(-1)[0]) and np.isnan(got.reshape(-1)[-1])
    x.reshape(-1)[1] = -inf  # inf + -inf in one window -> NaN
    got = _check_op(f"avg_pool{D}d", x, np.float64, kernel_size=2)
    assert np.isnan(got.reshape(-1)[0])
    _check_op(f"adaptive_avg_pool{D}d", x, np.float64, output_size=3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_nan_inf_propagate_only_to_their_windows(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 3, 8, 8)).astype(dtype)
    x[0, 1, 3, 3] = nan
    x[0, 2, 6, 1] = inf
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    got = fmaconv.conv2d(x, w, padding=1)
    expected = ref.conv2d(x, w, padding=1)
    assert_result(got, expected, dtype)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    assert np.isnan(got[:, :, 2:5, 2:5]).all()
    assert np.isnan(got).sum() == 4 * 9


# =========================================================== empty batch / unbatched

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("D", [1, 2, 3])
def test_conv_empty_batch(dtype, D):
    x = np.zeros((0, 4) + (5,) * D, dtype=dtype)
    w = np.ones((6, 2) + (3,) * D, dtype=dtype)
    y = getattr(fmaconv, f"conv{D}d")(x, w, np.ones(6, dtype), padding=1, groups=2)
    assert y.shape == (0, 6) + (5,) * D and y.dtype == dtype
    y = getattr(fmaconv, f"conv{D}d")(x, w, stride=2, groups=2)
    assert y.shape == (0, 6) + (2,) * D


@pytest.mark.parametrize("op", ALL_POOL_OPS)
def test_pool_empty_batch(op):
    x = np.zeros((0, 3, 5, 5, 5)[: 2 + int(op[-2])], dtype=np.float32)
    kwargs = _pool_kwargs(op)
    got = getattr(fmaconv, op)(x, **kwargs)
    expected = getattr(ref, op)(x, **kwargs)
    if kwargs.get("return_indices"):
        assert got[1].shape == expected[1].shape and got[1].dtype == np.int64
        got, expected = got[0], expected[0]
    assert got.shape == expected.shape and got.shape[0] == 0 and got.dtype == np.float32


@pytest.mark.parametrize("D", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_unbatched_equals_batched(D, dtype, rng):
    x = random_array(rng, (4,) + (6,) * D, dtype)
    w = random_array(rng, (6, 2) + (3,) * D, dtype)
    b = random_array(rng, (6,), dtype)
    f = getattr(fmaconv, f"conv{D}d")
    y = f(x, w, b, stride=2, padding=1, groups=2)
    assert y.shape == (6,) + (3,) * D
    np.testing.assert_array_equal(y, f(x[None], w, b, stride=2, padding=1, groups=2)[0])
    assert_result(y, ref.conv(x, w, b, stride=2, padding=1, groups=2), dtype)


@pytest.mark.parametrize("op", ALL_POOL_OPS)
def test_pool_unbatched_equals_batched(op, rng):
    D = int(op[-2])
    x = random_array(rng, (3,) + (5,) * D, np.float64, "ints")
    kwargs = _pool_kwargs(op)
    f = getattr(fmaconv, op)
    un, ba = f(x, **kwargs), f(x[None], **kwargs)
    if kwargs.get("return_indices"):
        np.testing.assert_array_equal(un[1], ba[1][0])
        un, ba = un[0], ba[0]
    assert un.shape == ba.shape[1:]
    np.testing.assert_array_equal(un, ba[0])
    _check_op(op, x, np.float64, **kwargs)


# =========================================================== layouts and array-likes

def _unaligned(a):
    """Same values, in a buffer at a 1-byte offset (not aligned for the dtype)."""
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    u = np.ndarray(a.shape, dtype=a.dtype, buffer=buf, offset=1)
    u[...] = a
    assert not u.flags.aligned
    return u


LAYOUTS = {
    "noncontig": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "negstride": lambda a: a[..., ::-1].copy()[..., ::-1],
    "fortran": np.asfortranarray,
    "transposed_view": lambda a: np.ascontiguousarray(np.swapaxes(a, 0, -1)).swapaxes(0, -1),
    "readonly": lambda a: _readonly(a),
    "unaligned": _unaligned,
    "bigendian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


def _readonly(a):
    r = a.copy()
    r.flags.writeable = False
    return r


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_input_layouts(layout, dtype, rng):
    x = random_array(rng, (2, 4, 7, 9), dtype)
    w = random_array(rng, (6, 2, 3, 3), dtype)
    b = random_array(rng, (6,), dtype)
    expected = ref.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
    base = fmaconv.conv2d(x, w, b, stride=(1, 2), padding=1, groups=2)
    mk = LAYOUTS[layout]
    for args in ((mk(x), w, b), (x, mk(w), b), (x, w, mk(b)), (mk(x), mk(w), mk(b))):
        before = [a.copy() for a in args]
        got = fmaconv.conv2d(*args, stride=(1, 2), padding=1, groups=2)
        assert_result(got, expected, dtype, what=layout)
        np.testing.assert_array_equal(got, base)  # the layout never changes a bit of the result
        for a, b4 in zip(args, before):
            np.testing.assert_array_equal(a, b4)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool3d", "adaptive_max_pool1d", "adaptive_avg_pool2d",
                                "max_pool1d", "avg_pool1d"])
def test_pool_input_layouts(layout, op, rng):
    D = int(op[-2])
    x = random_array(rng, (2, 3) + (6,) * D, np.float32, "ints")
    y = LAYOUTS[layout](x)
    _check_op(op, y, np.float32, **_pool_kwargs(op))


def test_really_unaligned_strided_float32_from_uint8_buffer(rng):
    # a float32 array built from a uint8 buffer with offset 1, and non-contiguous on top
    x = random_array(rng, (1, 2, 6, 10), np.float32)
    u = _unaligned(np.repeat(x, 2, axis=-1))[..., ::2]
    assert not u.flags.aligned and not u.flags.c_contiguous
    w = random_array(rng, (3, 2, 3, 3), np.float32)
    assert_result(fmaconv.conv2d(u, w, padding=1), ref.conv2d(x, w, padding=1), np.float32)
    _check_op("max_pool2d", u, np.float32, kernel_size=3, stride=2, padding=1, return_indices=True)


def test_list_input():
    x = [[[1.0, 2.0, 3.0, 4.0, 5.0]]]
    w = [[[1.0, 0.5]]]
    y = fmaconv.conv1d(x, w, [0.25])
    assert_result(y, ref.conv1d(x, w, [0.25]), np.float64)
    assert y.dtype == np.float64  # Python floats are float64; never downcast
    np.testing.assert_allclose(y, [[[2.25, 3.75, 5.25, 6.75]]], rtol=1e-15)
    v, i = fmaconv.max_pool1d([[3.0, 1.0, 4.0, 1.0, 5.0, 9.0]], 2, return_indices=True)
    np.testing.assert_array_equal(v, [[3.0, 4.0, 9.0]])
    np.testing.assert_array_equal(i, [[0, 2, 5]])
    np.testing.assert_allclose(fmaconv.avg_pool2d([[[1.0, 2.0], [3.0, 4.0]]], 2), [[[2.5]]])
    np.testing.assert_allclose(fmaconv.adaptive_avg_pool1d([[1.0, 2.0, 6.0]], 1), [[3.0]])
    # tuple input too
    np.testing.assert_allclose(fmaconv.adaptive_max_pool1d(((1.0, 2.0, 6.0),), 1), [[6.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified_and_outputs_fresh(dtype, rng):
    x = random_array(rng, (2, 4, 6, 6), dtype)
    w = random_array(rng, (4, 4, 3, 3), dtype)
    b = random_array(rng, (4,), dtype)
    xs, ws, bs = x.copy(), w.copy(), b.copy()
    outs = [
        fmaconv.conv2d(x, w, b, padding=1),
        fmaconv.conv2d(x, w, b, padding=2, padding_mode="reflect"),
        fmaconv.conv2d(x, w, b, padding="same", padding_mode="circular"),
        fmaconv.max_pool2d(x, 2),
        fmaconv.max_pool2d(x, 3, 1, 1, return_indices=True)[0],
        fmaconv.avg_pool2d(x, 3, 1, 1),
        fmaconv.adaptive_avg_pool2d(x, 3),
        fmaconv.adaptive_max_pool2d(x, (3, None)),
        fmaconv.conv2d(x, w[:, :1], None, groups=4),
    ]
    for a, s in ((x, xs), (w, ws), (b, bs)):
        np.testing.assert_array_equal(a, s)
    for y in outs:
        assert y.dtype == dtype and y.flags.c_contiguous and y.flags.writeable
        assert not np.shares_memory(y, x) and not np.shares_memory(y, w)


def test_identity_like_ops_still_return_new_arrays(rng):
    """k=1 pools and adaptive pools to the same size are copies, never views of the input."""
    x = random_array(rng, (1, 2, 4, 4), np.float32)
    for y in (fmaconv.max_pool2d(x, 1), fmaconv.avg_pool2d(x, 1), fmaconv.adaptive_avg_pool2d(x, 4),
              fmaconv.adaptive_max_pool2d(x, (None, None)),
              fmaconv.conv2d(x, np.ones((2, 1, 1, 1), np.float32), groups=2)):
        np.testing.assert_array_equal(y, x)
        assert not np.shares_memory(y, x)
        assert y.flags.c_contiguous and y.dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["conv", "max", "avg", "amax", "aavg"])
def test_output_dtype_and_c_contiguous(dtype, op, rng):
    x = np.asfortranarray(random_array(rng, (2, 3, 5, 6), dtype))
    if op == "conv":
        y = fmaconv.conv2d(x, random_array(rng, (4, 3, 2, 2), dtype))
    elif op == "max":
        y, i = fmaconv.max_pool2d(x, 2, return_indices=True)
        assert i.dtype == np.int64 and i.flags.c_contiguous
    elif op == "avg":
        y = fmaconv.avg_pool2d(x, 2)
    elif op == "amax":
        y, i = fmaconv.adaptive_max_pool2d(x, 2, return_indices=True)
        assert i.dtype == np.int64 and i.flags.c_contiguous
    else:
        y = fmaconv.adaptive_avg_pool2d(x, 2)
    assert isinstance(y, np.ndarray) and type(y) is np.ndarray
    assert y.dtype == dtype and y.flags.c_contiguous


def test_return_indices_false_gives_a_plain_array(rng):
    x = random_array(rng, (1, 1, 4, 4), np.float32)
    assert isinstance(fmaconv.max_pool2d(x, 2), np.ndarray)
    assert isinstance(fmaconv.adaptive_max_pool2d(x, 2), np.ndarray)
    r = fmaconv.max_pool2d(x, 2, return_indices=True)
    assert isinstance(r, tuple) and len(r) == 2


def test_float64_is_computed_natively_not_downcast():
    # differences far below float32 resolution survive every op
    base = 1.0 + np.arange(12, dtype=np.float64) * 1e-12
    x = base.reshape(1, 1, 12)
    w = np.ones((1, 1, 2))
    np.testing.assert_allclose(fmaconv.conv1d(x, w)[0, 0] - 2.0, (base[:-1] + base[1:]) - 2.0, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(fmaconv.max_pool1d(x, 2), ref.max_pool1d(x, 2))
    np.testing.assert_allclose(fmaconv.avg_pool1d(x, 3) - 1.0, ref.avg_pool1d(x, 3) - 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fmaconv.adaptive_avg_pool1d(x, 5) - 1.0, ref.adaptive_avg_pool1d(x, 5) - 1.0,
                               rtol=0, atol=1e-15)


def test_stride_none_means_kernel_and_defaults(rng):
    x = random_array(rng, (1, 2, 9, 9), np.float32)
    np.testing.assert_array_equal(fmaconv.max_pool2d(x, 3), fmaconv.max_pool2d(x, 3, stride=3))
    np.testing.assert_array_equal(fmaconv.max_pool2d(x, 3, None), fmaconv.max_pool2d(x, 3, 3, 0, 1, False))
    np.testing.assert_array_equal(fmaconv.avg_pool2d(x, 3, padding=1),
                                  fmaconv.avg_pool2d(x, 3, 3, 1, False, True, None))
    np.testing.assert_array_equal(fmaconv.avg_pool1d(x[0], 2, None, 1, divisor_override=3),
                                  fmaconv.avg_pool1d(x[0], 2, 2, 1, False, True, 3))
    w = random_array(rng, (2, 2, 3, 3), np.float32)
    np.testing.assert_array_equal(fmaconv.conv2d(x, w), fmaconv.conv2d(x, w, None, 1, 0, 1, 1, "zeros"))
    np.testing.assert_array_equal(fmaconv.conv2d(x, w, padding="valid"), fmaconv.conv2d(x, w))


def test_negative_divisor_override_like_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    _check_op("avg_pool2d", x, np.float64, kernel_size=2, divisor_override=-2)


def test_adaptive_output_size_zero_gives_empty_like_torch():
    x = np.ones((1, 2, 4, 5), np.float32)
    assert fmaconv.adaptive_avg_pool2d(x, (0, 3)).shape == (1, 2, 0, 3)
    v, i = fmaconv.adaptive_max_pool2d(x, (0, 3), return_indices=True)
    assert v.shape == (1, 2, 0, 3) and i.shape == (1, 2, 0, 3)


def test_conv_without_input_channels_has_no_output_channels_like_torch():
    # PyTorch 2.13 returns (N, 0, *out) when C_in == 0, whatever weight.shape[0] is
    x = np.zeros((2, 0, 5, 5), np.float32)
    w = np.ones((3, 0, 3, 3), np.float32)
    assert fmaconv.conv2d(x, w, np.ones(3, np.float32)).shape == (2, 0, 3, 3)
    assert fmaconv.conv1d(np.zeros((2, 0, 5)), np.ones((3, 0, 3)), stride=2, padding=1).shape == (2, 0, 3)
    assert fmaconv.conv_output_shape((2, 0, 5, 5), (3, 0, 3, 3)) == (2, 0, 3, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_kernel_with_large_stride_is_exact(dtype):
    # Windows of ~2**31 taps, nearly all padding: only the few live taps may be visited (this
    # used to loop over ~2**30 taps per output). Expected values from the spec's formulas by hand.
    x = np.arange(1.0, 16.0).reshape(1, 1, 3, 5).astype(dtype)
    K, S, P = 2**31 - 1, 2**30, 2**30 - 1
    got = fmaconv.avg_pool2d(x, (1, K), (1, S), (0, P), ceil_mode=True)
    # o=0: window [-P, 2**30) counts K cells, covers all 5 columns; o=1: [1, 2**30 + 4) counts 2**30 + 3
    exp = np.stack([x[0, 0].sum(axis=1) / K, x[0, 0, :, 1:].sum(axis=1) / (2**30 + 3)], axis=1)
    assert_result(got, exp.reshape(1, 1, 3, 2).astype(dtype), dtype)
    v, i = fmaconv.max_pool2d(x, (1, 2**30 + 1), (1, 2**29), (0, 2**29), return_indices=True)
    # one window covering every column: the row maximum, at column 4
    np.testing.assert_array_equal(v, x[..., 4:5])
    np.testing.assert_array_equal(i, np.array([4, 9, 14]).reshape(1, 1, 3, 1))


# =========================================================== threads

def _workload(rng):
    x = random_array(rng, (2, 16, 23, 29), np.float32)
    w = random_array(rng, (32, 16, 3, 3), np.float32)
    b = random_array(rng, (32,), np.float32)
    xd = random_array(rng, (2, 6, 9, 10, 11), np.float64, "ints")
    wd = random_array(rng, (6, 3, 3, 3, 3), np.float64)
    return [
        lambda: fmaconv.conv2d(x, w, b, padding=1),
        lambda: fmaconv.conv2d(x, w[:, :8], b, stride=2, padding=2, dilation=2, groups=2),
        lambda: fmaconv.conv2d(x, w[:16, :1], None, padding="same", groups=16, padding_mode="reflect"),
        lambda: fmaconv.conv3d(xd, wd, None, padding=1, groups=2),
        lambda: fmaconv.max_pool2d(x, 3, 2, 1, return_indices=True),
        lambda: fmaconv.max_pool3d(xd, 2, 1, 1, 2, return_indices=True),
        lambda: fmaconv.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        lambda: fmaconv.avg_pool3d(xd, 3, 2, 1),
        lambda: fmaconv.adaptive_avg_pool2d(x, (5, 7)),
        lambda: fmaconv.adaptive_max_pool3d(xd, (4, None, 3), return_indices=True),
    ]


def _same(a, b):
    if isinstance(a, tuple):
        return all(_same(p, q) for p, q in zip(a, b))
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def test_thread_count_does_not_change_results(rng, restore_threads):
    work = _workload(rng)
    fmaconv.set_num_threads(1)
    assert fmaconv.get_num_threads() == 1
    one = [f() for f in work]
    fmaconv.set_num_threads(2)
    assert fmaconv.get_num_threads() == 2
    two = [f() for f in work]
    fmaconv.set_num_threads(5)  # more threads than cores is allowed
    assert fmaconv.get_num_threads() == 5
    five = [f() for f in work]
    for k, (a, b, c) in enumerate(zip(one, two, five)):
        assert _same(a, b), f"workload {k}: 1 vs 2 threads differ"
        assert _same(a, c), f"workload {k}: 1 vs 5 threads differ"


def test_threaded_result_is_right(rng, restore_threads):
    fmaconv.set_num_threads(2)
    x = random_array(rng, (3, 8, 17, 19), np.float64)
    w = random_array(rng, (12, 4, 3, 2), np.float64)
    assert_result(fmaconv.conv2d(x, w, None, (2, 1), (1, 0), (1, 2), 2),
                  ref.conv2d(x, w, None, (2, 1), (1, 0), (1, 2), 2), np.float64)


def test_concurrent_calls_from_python_threads(rng):
    work = _workload(rng)
    expected = [f() for f in work]
    errors = []
    barrier = threading.Barrier(6)

    def run(tid):
        barrier.wait()
        out = []
        for r in range(4):
            for k in range(len(work)):
                j = (k + tid + r) % len(work)
                out.append((j, work[j]()))
        return out

    with ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(run, range(6)))
    for out in results:
        for j, got in out:
            if not _same(got, expected[j]):
                errors.append(j)
    assert not errors, f"concurrent calls gave different results for workloads {sorted(set(errors))}"


def test_forked_child_keeps_thread_count(restore_threads):
    import multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    fmaconv.set_num_threads(1)
    fmaconv.conv2d(np.ones((1, 4, 16, 16), np.float32), np.ones((4, 4, 3, 3), np.float32))  # pool in use
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_report_threads_and_conv, args=(q,))
    p.start()
    got = q.get(timeout=60)
    p.join(timeout=60)
    assert got == (1, 4 * 9.0)


def _report_threads_and_conv(q):
    y = fmaconv.conv2d(np.ones((1, 4, 8, 8), np.float32), np.ones((1, 4, 3, 3), np.float32))
    q.put((fmaconv.get_num_threads(), float(y.max())))


def test_set_num_threads_roundtrip(restore_threads, capsys):
    n0 = restore_threads
    assert isinstance(n0, int) and n0 >= 1
    fmaconv.set_num_threads(3)
    assert fmaconv.get_num_threads() == 3
    assert fmaconv.show_config()["threads"] == 3
    fmaconv.set_num_threads(n0)
    assert fmaconv.get_num_threads() == n0


# =========================================================== subnormals

TINY = {np.float32: np.finfo(np.float32).smallest_subnormal, np.float64: np.finfo(np.float64).smallest_subnormal}


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_inputs_max_pool_exact(dtype):
    # distinct subnormal values: the max and its index must be exact (no flushing to zero
    # in comparisons, which would make them all ties)
    tiny = TINY[dtype]
    vals = np.array([3, 7, 2, 7, 1, 9, 4, 0, 5, 6, 8, 1], dtype=dtype) * tiny
    assert np.all(vals[vals != 0] < np.finfo(dtype).tiny)  # really subnormal
    x = vals.reshape(1, 1, 12)
    _check_op("max_pool1d", x, dtype, kernel_size=3, stride=2, padding=1, return_indices=True)
    v, i = fmaconv.max_pool1d(x, 12, return_indices=True)
    assert v[0, 0, 0] == 9 * tiny and i[0, 0, 0] == 5
    x2 = vals.reshape(1, 1, 3, 4)
    _check_op("max_pool2d", x2, dtype, kernel_size=2, stride=1, return_indices=True)
    _check_op("adaptive_max_pool2d", x2, dtype, output_size=(2, 3), return_indices=True)
    # negative subnormals against -0.0 and 0.0
    neg = -vals.reshape(1, 1, 12)
    _check_op("max_pool1d", neg, dtype, kernel_size=4, return_indices=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_inputs_conv_and_avg(dtype, rng):
    tiny = np.finfo(dtype).tiny  # smallest normal; inputs below it are subnormal
    x = (random_array(rng, (2, 3, 9, 9), dtype) * tiny / 4).astype(dtype)
    assert np.all(np.abs(x) < tiny)
    w = random_array(rng, (4, 3, 3, 3), dtype)
    b = random_array(rng, (4,), dtype)
    assert_result(fmaconv.conv2d(x, w, b, padding=1), ref.conv2d(x, w, b, padding=1), dtype)
    assert_result(fmaconv.conv2d(x, w, None, padding=1), ref.conv2d(x, w, None, padding=1), dtype)
    assert_result(fmaconv.avg_pool2d(x, 3, 1, 1), ref.avg_pool2d(x, 3, 1, 1), dtype)
    assert_result(fmaconv.adaptive_avg_pool2d(x, 4), ref.adaptive_avg_pool2d(x, 4), dtype)
    # subnormal weights too
    ws = (w * tiny / 8).astype(dtype)
    xn = random_array(rng, (2, 3, 9, 9), dtype)
    assert_result(fmaconv.conv2d(xn, ws, b, padding=1), ref.conv2d(xn, ws, b, padding=1), dtype)


def test_callers_floating_point_state_is_restored(rng):
    """Flushing subnormals (FTZ/DAZ) may happen inside the kernels only."""
    tiny32 = np.finfo(np.float32).smallest_subnormal
    tiny64 = np.finfo(np.float64).smallest_subnormal

    def caller_still_has_subnormals():
        a = np.array([3 * tiny32], dtype=np.float32)
        b = np.array([3 * tiny64])
        return (a * np.float32(1.0))[0] == 3 * tiny32 and (b / 3.0)[0] == tiny64 and \
            (np.array([1e-38], np.float32) / np.float32(100))[0] != 0

    assert caller_still_has_subnormals()
    x = random_array(rng, (1, 8, 12, 12), np.float32) * np.float32(1e-39)
    w = random_array(rng, (8, 8, 3, 3), np.float32)
    for f in (lambda: fmaconv.conv2d(x, w, padding=1), lambda: fmaconv.max_pool2d(x, 2),
              lambda: fmaconv.avg_pool2d(x, 2), lambda: fmaconv.adaptive_avg_pool2d(x, 3),
              lambda: fmaconv.conv2d(x.astype(np.float64), w.astype(np.float64))):
        f()
        assert caller_still_has_subnormals()


# =========================================================== shape helpers

SHAPE_CASES = [
    ((2, 3, 10), (4, 3, 3), dict()),
    ((3, 10), (4, 3, 3), dict(stride=2, padding=1)),
    ((1, 4, 9, 11), (6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ((4, 9, 11), (6, 2, 3, 2), dict(padding="same", dilation=2, groups=2)),
    ((1, 4, 9, 11), (6, 4, 4, 4), dict(padding="valid", stride=3)),
    ((0, 2, 5, 6, 7), (3, 2, 2, 3, 2), dict(padding=1, stride=(1, 2, 3))),
    ((2, 5, 6, 7), (3, 2, 2, 3, 2), dict(padding="same")),
]


@pytest.mark.parametrize("xs,ws,kw", SHAPE_CASES)
def test_conv_output_shape_agrees_with_output(xs, ws, kw):
    D = len(ws) - 2
    x = np.zeros(xs, np.float32)
    w = np.zeros(ws, np.float32)
    y = getattr(fmaconv, f"conv{D}d")(x, w, **kw)
    shape = fmaconv.conv_output_shape(xs, ws, **kw)
    assert shape == y.shape == ref.conv_output_shape(xs, ws, **kw)
    assert isinstance(shape, tuple) and all(type(v) is int for v in shape)
    assert fmaconv.functional.conv_output_shape(list(xs), list(ws), **kw) == shape


POOL_SHAPE_CASES = [
    (1, (2, 3, 32), 1, dict(stride=2, ceil_mode=True)),
    (1, (3, 31), 3, dict(stride=2, padding=1, ceil_mode=True)),
    (2, (1, 2, 7, 8), (3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (2, (2, 7, 8), (3, 3), dict(ceil_mode=True, stride=2)),
    (3, (1, 2, 5, 6, 7), (2, 3, 2), dict(stride=None, padding=(1, 1, 0), ceil_mode=True)),
    (3, (0, 2, 5, 6, 7), 2, dict()),
]


@pytest.mark.parametrize("D,xs,k,kw", POOL_SHAPE_CASES)
def test_pool_output_shape_agrees_with_output(D, xs, k, kw):
    x = np.zeros(xs, np.float32)
    mp = getattr(fmaconv, f"max_pool{D}d")(x, k, **kw)
    shape = fmaconv.pool_output_shape(xs, k, dims=D, **kw)
    assert shape == mp.shape == ref.pool_output_shape(xs, k, dims=D, **kw)
    kwa = {a: v for a, v in kw.items() if a != "dilation"}
    assert getattr(fmaconv, f"avg_pool{D}d")(x, k, **kwa).shape == fmaconv.pool_output_shape(xs, k, dims=D, **kwa)
    if isinstance(k, tuple):
        assert fmaconv.pool_output_shape(xs, k, **kw) == shape  # dims = len(kernel_size)


def test_pool_output_shape_dims_defaults():
    # a sequence kernel: dims = len(kernel_size), even a 1-element one
    assert fmaconv.pool_output_shape((3, 10), (2,)) == (3, 5)
    assert fmaconv.pool_output_shape((2, 3, 10), [2]) == (2, 3, 5)
    assert fmaconv.pool_output_shape((2, 8, 8), (2, 2)) == (2, 4, 4)  # unbatched 2-D
    # an int kernel: dims = len(input_shape) - 2
    assert fmaconv.pool_output_shape((2, 3, 8, 8), 2) == (2, 3, 4, 4)
    assert fmaconv.pool_output_shape((2, 3, 8, 8, 8), 2) == (2, 3, 4, 4, 4)
    assert fmaconv.pool_output_shape((2, 3, 8, 8), 2, dims=3) == (2, 1, 4, 4)  # unbatched 3-D (C=2)
    # the spec's ceil_mode trap
    assert fmaconv.pool_output_shape((1, 1, 32), 1, 2, ceil_mode=True) == (1, 1, 16)


# =========================================================== configuration

def test_show_config(capsys):
    cfg = fmaconv.show_config()
    out = capsys.readouterr().out
    assert isinstance(cfg, dict)
    for key in ("version", "compiler", "isa", "isa_available", "threads"):
        assert key in cfg, key
        assert key in out, f"show_config() did not print {key}"
    assert cfg["version"] == fmaconv.__version__
    assert cfg["isa"] in cfg["isa_available"]
    assert "scalar" in cfg["isa_available"]
    assert set(cfg["isa_available"]) <= {"scalar", "avx2", "avx512", "neon"}
    assert cfg["threads"] == fmaconv.get_num_threads()
    assert cfg["isa"] in out


def test_functional_namespace_matches_top_level():
    import fmaconv.functional as Fn

    names = ["conv1d", "conv2d", "conv3d", "conv_output_shape", "pool_output_shape"] + ALL_POOL_OPS
    for n in names:
        assert callable(getattr(Fn, n)), n
        assert callable(getattr(fmaconv, n)), n
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    np.testing.assert_array_equal(Fn.max_pool2d(x, 2), fmaconv.max_pool2d(x, 2))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself warns
def test_ndarray_subclass_input():
    # np.matrix keeps 2-D under reshape; the API must treat it as the plain array it holds
    x = np.matrix(np.arange(10, dtype=np.float32).reshape(2, 5))
    w = np.ones((3, 2, 2), np.float32)
    got = fmaconv.conv1d(x, w)
    want = fmaconv.conv1d(np.asarray(x), w)
    assert type(got) is np.ndarray and got.shape == (3, 4)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fmaconv.max_pool1d(x, 2), fmaconv.max_pool1d(np.asarray(x), 2))

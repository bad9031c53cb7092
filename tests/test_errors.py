"""Every error case of the spec (sections 1 and 2), plus dtype/type errors and absurd sizes.

Contract: ValueError (TypeError for wrong types / dtypes), raised before any computation, whose
message contains the argument's name exactly as in the signature and the repr of the value the
caller passed (for shape problems: the offending shape tuple).  Where an error involves several
arguments, naming any one of them (with its value) is accepted.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fmaconv

F32 = np.float32


def z(*shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


def expect(exc, fn, *fragments, any_of=()):
    """fn() raises exc; its message has every fragment and all of at least one any_of group."""
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in error message {msg!r}"
    if any_of:
        assert any(all(f in msg for f in g) for g in any_of), \
            f"error message {msg!r} names none of {list(any_of)!r}"
    return msg


CONV = {1: fmaconv.conv1d, 2: fmaconv.conv2d, 3: fmaconv.conv3d}
MAXP = {1: fmaconv.max_pool1d, 2: fmaconv.max_pool2d, 3: fmaconv.max_pool3d}
AVGP = {1: fmaconv.avg_pool1d, 2: fmaconv.avg_pool2d, 3: fmaconv.avg_pool3d}
AAVG = {1: fmaconv.adaptive_avg_pool1d, 2: fmaconv.adaptive_avg_pool2d, 3: fmaconv.adaptive_avg_pool3d}
AMAX = {1: fmaconv.adaptive_max_pool1d, 2: fmaconv.adaptive_max_pool2d, 3: fmaconv.adaptive_max_pool3d}
DS = [1, 2, 3]


def xin(D, N=1, C=2, size=6, dtype=F32):
    return z(*((N, C) + (size,) * D), dtype=dtype)


def wgt(D, Co=4, Ci=2, k=3, dtype=F32):
    return z(*((Co, Ci) + (k,) * D), dtype=dtype)


# ======================================================================== convolution

@pytest.mark.parametrize("D", DS)
def test_conv_input_rank_too_small(D):
    x = z(*(6,) * D)  # missing the channel axis
    expect(ValueError, lambda: CONV[D](x, wgt(D)), "input", repr(x.shape))


@pytest.mark.parametrize("D", DS)
def test_conv_input_rank_too_large(D):
    x = z(*((1, 1, 2) + (6,) * D))
    expect(ValueError, lambda: CONV[D](x, wgt(D)), "input", repr(x.shape))


@pytest.mark.parametrize("D", DS)
def test_conv_weight_rank_wrong(D):
    for w in (z(*((4, 2) + (3,) * (D - 1))), z(*((4, 2) + (3,) * (D + 1)))):
        expect(ValueError, lambda: CONV[D](xin(D), w), "weight", repr(w.shape))


def test_conv_weight_rank_not_input_rank():
    # a conv1d weight given to conv2d with a 4-D input
    expect(ValueError, lambda: fmaconv.conv2d(z(1, 2, 6, 6), z(4, 2, 3)), "weight", "(4, 2, 3)")


@pytest.mark.parametrize("groups", [0, -1])
def test_conv_groups_not_positive(groups):
    expect(ValueError, lambda: fmaconv.conv2d(xin(2), wgt(2), groups=groups), "groups", repr(groups))


def test_conv_in_channels_not_divisible_by_groups():
    expect(ValueError, lambda: fmaconv.conv2d(z(1, 3, 6, 6), z(4, 1, 3, 3), groups=2), "groups", "2")


def test_conv_out_channels_not_divisible_by_groups():
    expect(ValueError, lambda: fmaconv.conv2d(z(1, 4, 6, 6), z(3, 2, 3, 3), groups=2), "groups", "2",
           any_of=[("weight", "(3, 2, 3, 3)"), ("3",)])


@pytest.mark.parametrize("D", DS)
def test_conv_weight_channels_times_groups_not_input_channels(D):
    x = xin(D, C=4)
    w = wgt(D, Co=4, Ci=3)
    expect(ValueError, lambda: CONV[D](x, w), any_of=[("weight", repr(w.shape)), ("input", repr(x.shape))])
    w2 = wgt(D, Co=4, Ci=4)  # groups=2 wants Ci=2
    expect(ValueError, lambda: CONV[D](x, w2, groups=2),
           any_of=[("weight", repr(w2.shape)), ("input", repr(x.shape)), ("groups", "2")])


@pytest.mark.parametrize("bshape", [(4, 1), (5,), (3,), (), (1, 4)])
def test_conv_bias_shape(bshape):
    b = z(*bshape)
    expect(ValueError, lambda: fmaconv.conv2d(xin(2), wgt(2), b), "bias", repr(b.shape))


@pytest.mark.parametrize("name,value", [
    ("stride", 0), ("stride", (0, 1)), ("stride", (1, -2)), ("stride", -1),
    ("dilation", 0), ("dilation", (1, 0)), ("dilation", -3),
    ("padding", -1), ("padding", (0, -2)),
])
def test_conv_bad_int_args(name, value):
    expect(ValueError, lambda: fmaconv.conv2d(xin(2, size=8), wgt(2), **{name: value}), name, repr(value))


@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
def test_conv_wrong_sequence_length(D, name):
    for n in {0, 2, 3, 4} - {D}:
        value = (1,) * n
        expect(ValueError, lambda: CONV[D](xin(D, size=8), wgt(D), **{name: value}), name, repr(value))
    value = [1] * (D + 1)  # a list: its repr is the list
    expect(ValueError, lambda: CONV[D](xin(D, size=8), wgt(D), **{name: value}), name, repr(value))


@pytest.mark.parametrize("padding", ["full", "SAME", ""])
def test_conv_unknown_padding_string(padding):
    expect(ValueError, lambda: fmaconv.conv2d(xin(2), wgt(2), padding=padding), "padding", repr(padding))


@pytest.mark.parametrize("stride", [2, (1, 2)])
def test_conv_same_with_stride(stride):
    expect(ValueError, lambda: fmaconv.conv2d(xin(2), wgt(2), stride=stride, padding="same"),
           any_of=[("padding", "'same'"), ("stride", repr(stride))])


@pytest.mark.parametrize("mode", ["mirror", "zero", "REFLECT", "constant"])
def test_conv_unknown_padding_mode(mode):
    expect(ValueError, lambda: fmaconv.conv2d(xin(2), wgt(2), padding=1, padding_mode=mode),
           "padding_mode", repr(mode))


@pytest.mark.parametrize("D", DS)
def test_conv_reflect_pad_too_large(D):
    x = xin(D, size=3)
    w = wgt(D, k=1)
    expect(ValueError, lambda: CONV[D](x, w, padding=3, padding_mode="reflect"), "padding", "3")
    assert CONV[D](x, w, padding=2, padding_mode="reflect").shape[2:] == (7,) * D  # p < i is fine
    # via 'same': k=7 needs 3 on each side of a size-3 axis
    w7 = wgt(D, k=7)
    expect(ValueError, lambda: CONV[D](x, w7, padding="same", padding_mode="reflect"), "padding")


@pytest.mark.parametrize("D", DS)
def test_conv_circular_pad_too_large(D):
    x = xin(D, size=3)
    w = wgt(D, k=1)
    expect(ValueError, lambda: CONV[D](x, w, padding=4, padding_mode="circular"), "padding", "4")
    assert CONV[D](x, w, padding=3, padding_mode="circular").shape[2:] == (9,) * D  # p == i is fine


@pytest.mark.parametrize("D", DS)
def test_conv_kernel_larger_than_padded_input(D):
    x = xin(D, size=2)
    w = wgt(D, k=5)
    shapes = [("input", repr(x.shape)), ("weight", repr(w.shape))]
    expect(ValueError, lambda: CONV[D](x, w), any_of=shapes)
    expect(ValueError, lambda: CONV[D](x, w, padding=1), any_of=shapes)
    assert CONV[D](x, w, padding=2).shape[2:] == (2,) * D
    w3 = wgt(D, k=3)
    expect(ValueError, lambda: CONV[D](xin(D, size=5), w3, dilation=3),
           any_of=[("input", "(1, 2"), ("weight", repr(w3.shape)), ("dilation", "3")])
    # a replicate pad counts as padding
    assert CONV[D](x, w, padding=2, padding_mode="replicate").shape[2:] == (2,) * D


@pytest.mark.parametrize("D", DS)
def test_conv_zero_size_spatial_axis(D):
    x = z(*((1, 2) + (0,) + (4,) * (D - 1)))
    expect(ValueError, lambda: CONV[D](x, wgt(D, k=1)), "input", repr(x.shape))
    expect(ValueError, lambda: CONV[D](x, wgt(D, k=1), padding=1), "input", repr(x.shape))
    xu = z(*((2,) + (4,) * (D - 1) + (0,)))  # unbatched
    expect(ValueError, lambda: CONV[D](xu, wgt(D, k=1)), "input", repr(xu.shape))
    # N == 0 is not an error
    assert CONV[D](z(*((0, 2) + (4,) * D)), wgt(D, k=1)).shape == (0, 4) + (4,) * D


BAD_DTYPES = [np.int64, np.int32, np.float16, np.complex128, np.complex64, np.bool_, np.uint8, object]


def _dtype_name(dt):
    return np.dtype(dt).name


@pytest.mark.parametrize("dt", BAD_DTYPES, ids=_dtype_name)
def test_conv_unsupported_dtype(dt):
    name = _dtype_name(dt)
    x = np.zeros((1, 2, 6, 6), dtype=dt)
    expect(TypeError, lambda: fmaconv.conv2d(x, x[:1, :, :3, :3]), name)
    expect(TypeError, lambda: fmaconv.conv2d(x, wgt(2)), name)
    expect(TypeError, lambda: fmaconv.conv2d(xin(2), wgt(2).astype(dt)), name)
    expect(TypeError, lambda: fmaconv.conv2d(xin(2), wgt(2), np.zeros(4, dtype=dt)), name)


def test_conv_int_list_input_is_a_dtype_error():
    expect(TypeError, lambda: fmaconv.conv1d([[[1, 2, 3]]], [[[1]]]), "int")


@pytest.mark.parametrize("D", DS)
def test_conv_mismatched_dtypes(D):
    x32, x64 = xin(D), xin(D, dtype=np.float64)
    w32, w64 = wgt(D), wgt(D, dtype=np.float64)
    both = ("float32", "float64")
    expect(TypeError, lambda: CONV[D](x32, w64), *both)
    expect(TypeError, lambda: CONV[D](x64, w32), *both)
    expect(TypeError, lambda: CONV[D](x32, w32, z(4, dtype=np.float64)), "bias", *both)
    expect(TypeError, lambda: CONV[D](x64, w64, z(4)), "bias", *both)


# ======================================================================== pooling

POOLS = [("max", MAXP), ("avg", AVGP)]


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
def test_pool_input_rank(kind, fns, D):
    for x in (z(*(6,) * D), z(*((1, 1, 1) + (6,) * D))):
        expect(ValueError, lambda: fns[D](x, 2), "input", repr(x.shape))


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
def test_pool_kernel_size_not_positive(kind, fns, D):
    expect(ValueError, lambda: fns[D](xin(D), 0), "kernel_size", "0")
    expect(ValueError, lambda: fns[D](xin(D), -2), "kernel_size", "-2")
    k = (2,) * (D - 1) + (0,)
    expect(ValueError, lambda: fns[D](xin(D), k), "kernel_size", repr(k))


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
def test_pool_kernel_size_wrong_length(kind, fns, D):
    for n in {0, 2, 3, 4} - {D}:
        k = (2,) * n
        expect(ValueError, lambda: fns[D](xin(D), k), "kernel_size", repr(k))


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("name,bad", [("stride", 0), ("stride", -1), ("padding", -1)])
def test_pool_bad_int_args(kind, fns, D, name, bad):
    expect(ValueError, lambda: fns[D](xin(D), 2, **{name: bad}), name, repr(bad))
    value = (1,) * (D - 1) + (bad,)
    expect(ValueError, lambda: fns[D](xin(D), 2, **{name: value}), name, repr(value))


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("name", ["stride", "padding"])
def test_pool_wrong_sequence_length(kind, fns, D, name):
    value = (1,) * (D + 1)
    expect(ValueError, lambda: fns[D](xin(D), 2, **{name: value}), name, repr(value))


@pytest.mark.parametrize("D", DS)
def test_max_pool_dilation(D):
    for value in (0, -1, (1,) * (D - 1) + (0,)):
        expect(ValueError, lambda: MAXP[D](xin(D), 2, dilation=value), "dilation", repr(value))
    value = (1,) * (D + 1)
    expect(ValueError, lambda: MAXP[D](xin(D), 2, dilation=value), "dilation", repr(value))


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
def test_pool_padding_more_than_half_kernel(kind, fns, D):
    x = xin(D, size=8)
    expect(ValueError, lambda: fns[D](x, 3, 1, 2), "padding", "2")
    expect(ValueError, lambda: fns[D](x, 2, 1, 2), "padding", "2")
    expect(ValueError, lambda: fns[D](x, 1, 1, 1), "padding", "1")
    p = (0,) * (D - 1) + (3,)
    expect(ValueError, lambda: fns[D](x, 4, 1, p), "padding", repr(p))
    assert fns[D](x, 4, 1, 2).shape[2:] == (9,) * D  # p == k//2 is fine


@pytest.mark.parametrize("D", DS)
def test_max_pool_padding_limit_uses_raw_kernel_even_with_dilation(D):
    """PyTorch 2.13 rejects p > k//2 for every rank, dilated or not (the spec sheet's "2-D uses
    the effective kernel" is contradicted by PyTorch: see test_reference_vs_torch.py)."""
    x = xin(D, size=10)
    expect(ValueError, lambda: MAXP[D](x, 2, 1, 2, 3), "padding", "2")
    expect(ValueError, lambda: MAXP[D](x, 2, 1, 2, 3, return_indices=True), "padding", "2")
    expect(ValueError, lambda: MAXP[D](x, 3, 1, 2, 2), "padding", "2")
    assert MAXP[D](x, 2, 1, 1, 3).shape[2:] == (9,) * D


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_output_too_small(kind, fns, D, ceil_mode):
    x = xin(D, size=2)
    expect(ValueError, lambda: fns[D](x, 3, 1, ceil_mode=ceil_mode),
           any_of=[("input", repr(x.shape)), ("kernel_size", "3")])
    if kind == "max":
        x3 = xin(D, size=3)  # k=2, d=3: effective kernel 4 > 3
        expect(ValueError, lambda: fns[D](x3, 2, 1, 0, 3, ceil_mode=ceil_mode),
               any_of=[("input", repr(x3.shape)), ("kernel_size", "2"), ("dilation", "3")])


def test_avg_pool3d_input_smaller_than_kernel():
    """PyTorch's avg_pool3d rejects an input smaller than the kernel even when padding would
    give a non-empty output (test_reference_vs_torch.py proves it)."""
    x = z(1, 1, 1, 3, 3)
    expect(ValueError, lambda: fmaconv.avg_pool3d(x, (2, 1, 1), 1, (1, 0, 0)),
           any_of=[("input", repr(x.shape)), ("kernel_size", "(2, 1, 1)")])
    # 1-D and 2-D accept it
    assert fmaconv.avg_pool2d(z(1, 1, 1, 3), (2, 1), 1, (1, 0)).shape == (1, 1, 2, 3)
    assert fmaconv.avg_pool1d(z(1, 1, 1), 2, 1, 1).shape == (1, 1, 2)


@pytest.mark.parametrize("kind,fns", POOLS)
@pytest.mark.parametrize("D", DS)
def test_pool_zero_size_spatial_axis(kind, fns, D):
    x = z(*((1, 2) + (4,) * (D - 1) + (0,)))
    expect(ValueError, lambda: fns[D](x, 1), "input", repr(x.shape))


@pytest.mark.parametrize("D", DS)
def test_avg_pool_divisor_override_zero(D):
    expect(ValueError, lambda: AVGP[D](xin(D), 2, divisor_override=0), "divisor_override", "0")


@pytest.mark.parametrize("value", [1.5, "2"])
def test_avg_pool_divisor_override_type(value):
    expect(TypeError, lambda: fmaconv.avg_pool2d(xin(2), 2, divisor_override=value), "divisor_override",
           repr(value))


@pytest.mark.parametrize("name,value", [("kernel_size", 2.5), ("stride", 1.0), ("padding", "1"),
                                        ("kernel_size", (2, 2.0))])
def test_pool_non_int_arguments(name, value):
    kwargs = {"kernel_size": 2, name: value}
    expect(TypeError, lambda: fmaconv.max_pool2d(xin(2), **kwargs), name, repr(value))


def test_conv_non_int_arguments():
    expect(TypeError, lambda: fmaconv.conv2d(xin(2), wgt(2), stride=2.0), "stride", "2.0")
    expect((TypeError, ValueError), lambda: fmaconv.conv2d(xin(2), wgt(2), groups=1.5), "groups", "1.5")


@pytest.mark.parametrize("name", ["ceil_mode", "count_include_pad"])
def test_pool_bool_arguments(name):
    expect(TypeError, lambda: fmaconv.avg_pool2d(xin(2), 2, **{name: "yes"}), name, "'yes'")


@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("fns", [AAVG, AMAX], ids=["avg", "max"])
def test_adaptive_negative_output_size(D, fns):
    expect(ValueError, lambda: fns[D](xin(D), -1), "output_size", "-1")
    size = (2,) * (D - 1) + (-1,)
    expect(ValueError, lambda: fns[D](xin(D), size), "output_size", repr(size))


@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("fns", [AAVG, AMAX], ids=["avg", "max"])
def test_adaptive_output_size_wrong_length(D, fns):
    for n in {2, 3, 4} - {D}:
        size = (2,) * n
        expect(ValueError, lambda: fns[D](xin(D), size), "output_size", repr(size))


@pytest.mark.parametrize("D", DS)
@pytest.mark.parametrize("fns", [AAVG, AMAX], ids=["avg", "max"])
def test_adaptive_input_rank_and_empty_axis(D, fns):
    x = z(*(6,) * D)
    expect(ValueError, lambda: fns[D](x, 2), "input", repr(x.shape))
    x = z(*((1, 2) + (4,) * (D - 1) + (0,)))
    expect(ValueError, lambda: fns[D](x, 2), "input", repr(x.shape))


POOL_CALLS = {
    "max_pool2d": lambda x: fmaconv.max_pool2d(x, 2),
    "avg_pool1d": lambda x: fmaconv.avg_pool1d(x[0], 2),
    "avg_pool3d": lambda x: fmaconv.avg_pool3d(x[None], 1),
    "adaptive_avg_pool2d": lambda x: fmaconv.adaptive_avg_pool2d(x, 2),
    "adaptive_max_pool1d": lambda x: fmaconv.adaptive_max_pool1d(x[0], 2),
    "max_pool3d": lambda x: fmaconv.max_pool3d(x[None], 1, return_indices=True),
}


@pytest.mark.parametrize("op", sorted(POOL_CALLS))
@pytest.mark.parametrize("dt", BAD_DTYPES, ids=_dtype_name)
def test_pool_unsupported_dtype(op, dt):
    x = np.zeros((1, 2, 4, 4), dtype=dt)
    expect(TypeError, lambda: POOL_CALLS[op](x), _dtype_name(dt))


def test_pool_int_list_input_is_a_dtype_error():
    expect(TypeError, lambda: fmaconv.max_pool1d([[1, 2, 3, 4]], 2), "int")


# ======================================================================== limits and PyTorch quirks

@pytest.mark.parametrize("name", ["stride", "padding", "dilation"])
def test_conv_geometry_beyond_int32(name):
    # PyTorch's own pooling limit, applied to conv too: int64 index arithmetic can't overflow
    expect(ValueError, lambda: fmaconv.conv1d(z(1, 1, 5), z(1, 1, 1), **{name: 2**63 - 1}), name, str(2**63 - 1))
    expect(ValueError, lambda: fmaconv.conv1d(z(1, 1, 5), z(1, 1, 1), **{name: 2**31}), name, str(2**31))


@pytest.mark.parametrize("name", ["kernel_size", "stride", "padding", "dilation"])
def test_pool_geometry_beyond_int32(name):
    args = {"kernel_size": 2, name: 2**31}
    if name == "padding":
        args["kernel_size"] = 2**31 - 1
    expect(ValueError, lambda: fmaconv.max_pool1d(z(1, 1, 5), **args), name, str(2**31))


def test_conv_weight_without_output_channels():
    expect(ValueError, lambda: fmaconv.conv2d(z(1, 2, 5, 5), z(0, 2, 3, 3)), "weight", "(0, 2, 3, 3)")


@pytest.mark.parametrize("mode", ["replicate", "circular", "reflect"])
def test_conv_padding_mode_on_empty_axis(mode):
    # no input channels makes a zero-size spatial axis legal; a non-zero padding mode can't pad it
    expect(ValueError, lambda: fmaconv.conv2d(z(1, 0, 0, 4), z(2, 0, 1, 1), padding=1, padding_mode=mode),
           "padding_mode", repr(mode))


def test_avg_pool_divisor_override_beyond_int64():
    expect(ValueError, lambda: fmaconv.avg_pool1d(z(1, 1, 4), 2, divisor_override=2**63), "divisor_override",
           str(2**63))


@pytest.mark.parametrize("n", [0, 4097, 2**40])
def test_set_num_threads_out_of_range(n):
    expect(ValueError, lambda: fmaconv.set_num_threads(n), "n", str(n))


@pytest.mark.parametrize("fns", [AAVG, AMAX], ids=["avg", "max"])
def test_adaptive_output_size_none_rules(fns):
    # as PyTorch 2.13: None alone is a type error; None entries only in 2-D/3-D; no 1-element expansion
    expect(TypeError, lambda: fns[2](xin(2), None), "output_size", "None")
    expect(TypeError, lambda: fns[1](xin(1), (None,)), "output_size", "(None,)")
    expect(ValueError, lambda: fns[2](xin(2), (3,)), "output_size", "(3,)")


def test_core_rejects_out_of_range_geometry():
    # a direct caller of the private core gets an exception, never a crash
    from fmaconv import _core
    x = z(1, 1, 1, 1, 1)
    with pytest.raises(ValueError):
        _core.max_pool(x, [1, 2, 1], [1, 1, 1], [0, 2**63 - 1, 0], [1, 3, 1], [1, 1, 1], False)
    with pytest.raises(ValueError):
        _core.avg_pool(x, [1, 1, 2**40], [1, 1, 1], [0, 0, 0], [1, 1, 1], True, 0)
    with pytest.raises(ValueError):
        _core.conv(x, z(1, 1, 1, 1, 1), None, [1, 1, 2**62], [0, 0, 0], [1, 1, 1], 1, [1, 1, 1])
    with pytest.raises(ValueError):
        _core.pad(x, [0, 0, 0, 0, 2**40, 0], 2)


# ======================================================================== shape helpers

def test_conv_output_shape_errors():
    expect(ValueError, lambda: fmaconv.conv_output_shape((1, 2, 6, 6), (4, 2, 3, 3), stride=0), "stride", "0")
    expect(ValueError, lambda: fmaconv.conv_output_shape((1, 2, 2, 2), (4, 2, 3, 3)),
           any_of=[("input", "(1, 2, 2, 2)"), ("weight", "(4, 2, 3, 3)")])
    expect(ValueError, lambda: fmaconv.conv_output_shape((1, 2, 6, 6), (4, 2, 3, 3), stride=2, padding="same"),
           any_of=[("padding", "'same'"), ("stride", "2")])
    expect(ValueError, lambda: fmaconv.conv_output_shape((1, 3, 6, 6), (4, 2, 3, 3), groups=2), "groups", "2")


def test_pool_output_shape_errors():
    expect(ValueError, lambda: fmaconv.pool_output_shape((1, 2, 6, 6), 3, padding=2), "padding", "2")
    expect(ValueError, lambda: fmaconv.pool_output_shape((1, 2, 2, 2), 3),
           any_of=[("input", "(1, 2, 2, 2)"), ("kernel_size", "3")])
    expect(ValueError, lambda: fmaconv.pool_output_shape((1, 2, 6, 6), (2, 0)), "kernel_size", "(2, 0)")


# ======================================================================== absurd sizes

ABSURD_SCRIPT = r"""
import json, sys
import numpy as np
from numpy.lib.stride_tricks import as_strided
import fmaconv

def huge(shape, dtype=np.float32):
    # a giant array that takes no memory: every stride is 0
    return as_strided(np.zeros(1, dtype=dtype), shape=shape, strides=(0,) * len(shape))

small = np.zeros((1, 1, 4), np.float32)
cases = {
    "conv1d_huge_input": lambda: fmaconv.conv1d(huge((2**21, 1, 2**41)), np.ones((1, 1, 1), np.float32)),
    "conv2d_huge_batch_channels": lambda: fmaconv.conv2d(huge((2**31, 2**31, 1, 1)), huge((2**31, 2**31, 1, 1))),
    "conv1d_huge_padding": lambda: fmaconv.conv1d(small, np.ones((1, 1, 1), np.float32), padding=2**61),
    "conv1d_padding_2_64": lambda: fmaconv.conv1d(small, np.ones((1, 1, 1), np.float32), padding=2**64),
    "conv1d_huge_dilation": lambda: fmaconv.conv1d(small, np.ones((1, 1, 3), np.float32), dilation=2**62),
    "conv2d_huge_out_channels": lambda: fmaconv.conv2d(np.zeros((1, 1, 1, 1), np.float32), huge((2**62, 1, 1, 1))),
    "max_pool1d_huge": lambda: fmaconv.max_pool1d(huge((1, 2**31, 2**31)), 1),
    "max_pool1d_huge_indices": lambda: fmaconv.max_pool1d(huge((1, 2**31, 2**31)), 1, return_indices=True),
    "avg_pool2d_huge": lambda: fmaconv.avg_pool2d(huge((2**20, 2**20, 2**11, 2**11)), 1),
    "max_pool1d_huge_kernel": lambda: fmaconv.max_pool1d(small, 2**62),
    # output size 5, but a window of 2**62 taps; PyTorch rejects it ("value cannot be converted
    # to type int without overflow")
    "avg_pool1d_huge_padding": lambda: fmaconv.avg_pool1d(small, 2**62, 1, 2**61),
    "adaptive_avg_pool1d_huge_output": lambda: fmaconv.adaptive_avg_pool1d(small, 2**62),
    "adaptive_max_pool1d_huge_output": lambda: fmaconv.adaptive_max_pool1d(small, 2**62, return_indices=True),
    "adaptive_avg_pool3d_huge_output": lambda: fmaconv.adaptive_avg_pool3d(small[None], (2**21, 2**21, 2**21)),
}
which = sys.argv[1:] or list(cases)
for name in which:
    print(json.dumps({"start": name}), flush=True)
    try:
        r = cases[name]()
        out = {"name": name, "result": "returned", "shape": str(getattr(r, "shape", None))}
    except BaseException as e:
        out = {"name": name, "result": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__],
               "message": str(e)[:300]}
    print(json.dumps(out), flush=True)
"""

ABSURD_NAMES = ["conv1d_huge_input", "conv2d_huge_batch_channels", "conv1d_huge_padding", "conv1d_padding_2_64",
                "conv1d_huge_dilation", "conv2d_huge_out_channels", "max_pool1d_huge", "max_pool1d_huge_indices",
                "avg_pool2d_huge", "max_pool1d_huge_kernel", "avg_pool1d_huge_padding",
                "adaptive_avg_pool1d_huge_output", "adaptive_max_pool1d_huge_output",
                "adaptive_avg_pool3d_huge_output"]


@pytest.fixture(scope="module")
def absurd_results():
    """Run the absurd cases in a subprocess (a crash or hang must not take the test run down).

    A case that kills the process is recorded as CRASH, one that runs > 15 s as HANG (both
    failures); the remaining cases then run in a fresh process."""
    env = dict(os.environ)
    env["PYTHONFAULTHANDLER"] = "1"
    results = {}
    todo = list(ABSURD_NAMES)
    while todo:
        p = subprocess.Popen([sys.executable, "-c", ABSURD_SCRIPT] + todo, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            out, err = p.communicate(timeout=15)
            verdict = f"CRASH (exit code {p.returncode})"
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            verdict = "HANG (still running after 15 s; killed)"
        started = None
        for line in out.splitlines():
            d = json.loads(line)
            if "start" in d:
                started = d["start"]
            else:
                results[d["name"]] = d
                started = None
        if p.returncode == 0:
            break
        culprit = started or todo[0]
        results[culprit] = {"name": culprit, "result": verdict, "mro": [], "message": err[-800:]}
        todo = [n for n in todo if n not in results]
    return results


@pytest.mark.parametrize("name", ABSURD_NAMES)
def test_absurd_sizes_raise_value_or_memory_error(name, absurd_results):
    r = absurd_results[name]
    assert r["result"] != "returned", f"{name} returned an array of shape {r.get('shape')}"
    assert "ValueError" in r["mro"] or "MemoryError" in r["mro"], \
        f"{name}: expected ValueError or MemoryError, got {r['result']}: {r['message']}"

"""Hypothesis property tests: fmaconv against the NumPy reference (and PyTorch when importable)
on random small shapes and parameters for every op.

float32 results: rtol 1e-4 / atol 1e-5 against float64 results; float64: 1e-10.  Shapes, dtypes,
max-pool values and indices: exactly.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fmaconv
import reference as ref
import strategies as S
import torch_ref
from helpers import TOL, assert_indices, assert_result, have_torch, n_examples

HAVE_TORCH = have_torch()


def _check_against(expected, got, case, source):
    what = f"[vs {source}] {S.describe(case)}"
    dtype = case["x"].dtype
    if case["kwargs"].get("return_indices"):
        assert isinstance(got, tuple) and len(got) == 2, what
        (got, gi), (expected, ei) = got, expected
        assert_indices(gi, ei, what)
    assert_result(got, np.asarray(expected, dtype=np.float64), dtype, exact=case["exact"], what=what)


def check(case):
    x_before = case["x"].copy()
    got = S.run_case(fmaconv, case)
    np.testing.assert_array_equal(case["x"], x_before)  # input untouched
    _check_against(S.run_case(ref, case), got, case, "reference")
    if HAVE_TORCH:
        # PyTorch in the case's own dtype; the same tolerances (both are float32 roundings of the
        # same exact value, so this is at most twice as strict as the reference check).
        _check_against(S.run_case(torch_ref, case), got, case, "torch")


@settings(max_examples=n_examples(300))
@given(S.conv_cases())
def test_conv(case):
    check(case)


@settings(max_examples=n_examples(60))
@given(S.conv_cases(big=True))
def test_conv_more_channels_wider_rows(case):
    check(case)


@settings(max_examples=n_examples(300))
@given(S.max_pool_cases())
def test_max_pool(case):
    check(case)


@settings(max_examples=n_examples(250))
@given(S.avg_pool_cases())
def test_avg_pool(case):
    check(case)


@settings(max_examples=n_examples(60))
@given(st.one_of(S.max_pool_cases(big=True), S.avg_pool_cases(big=True)))
def test_pools_more_channels_wider_rows(case):
    check(case)


@settings(max_examples=n_examples(150))
@given(S.adaptive_cases("avg"))
def test_adaptive_avg_pool(case):
    check(case)


@settings(max_examples=n_examples(150))
@given(S.adaptive_cases("max"))
def test_adaptive_max_pool(case):
    check(case)


# --------------------------------------------------------------- shape functions

@settings(max_examples=n_examples(150))
@given(S.conv_cases())
def test_conv_output_shape_matches_output(case):
    kw = {k: v for k, v in case["kwargs"].items() if k != "padding_mode"}
    shape = fmaconv.conv_output_shape(case["x"].shape, case["w"].shape, **kw)
    assert isinstance(shape, tuple)
    assert all(type(v) is int for v in shape), shape
    assert shape == ref.conv_output_shape(case["x"].shape, case["w"].shape, **kw), S.describe(case)


@settings(max_examples=n_examples(150))
@given(st.one_of(S.max_pool_cases(), S.avg_pool_cases()))
def test_pool_output_shape_matches_reference(case):
    kw = dict(case["kwargs"])
    D = int(case["op"][-2])
    args = dict(kernel_size=kw["kernel_size"], stride=kw.get("stride"), padding=kw.get("padding", 0),
                dilation=kw.get("dilation", 1), ceil_mode=kw.get("ceil_mode", False))
    expected = ref.pool_output_shape(case["x"].shape, dims=D, **args)
    got = fmaconv.pool_output_shape(case["x"].shape, dims=D, **args)
    assert isinstance(got, tuple) and all(type(v) is int for v in got), got
    assert got == expected, S.describe(case)
    if not isinstance(kw["kernel_size"], int):
        # dims defaults to len(kernel_size) for a sequence
        assert fmaconv.pool_output_shape(case["x"].shape, **args) == expected
    elif case["x"].ndim == D + 2:
        # ... and to len(input_shape) - 2 for an int
        assert fmaconv.pool_output_shape(case["x"].shape, **args) == expected


# --------------------------------------------------------------- layout invariance

@settings(max_examples=n_examples(80))
@given(st.one_of(S.conv_cases(kinds=("normal",)), S.max_pool_cases(), S.avg_pool_cases()),
       st.sampled_from(["fortran", "reversed", "strided", "readonly"]))
def test_layout_does_not_change_result(case, layout):
    """The same values in any memory layout give bit-identical results."""
    base = S.run_case(fmaconv, case)
    x = case["x"]
    if layout == "fortran":
        y = np.asfortranarray(x)
    elif layout == "reversed":
        # negative strides on every axis, then undo the order: same logical values
        y = np.ascontiguousarray(x[(slice(None, None, -1),) * x.ndim])[(slice(None, None, -1),) * x.ndim]
    elif layout == "strided":
        big = np.zeros(tuple(2 * n for n in x.shape), dtype=x.dtype)
        y = big[(slice(None, None, 2),) * x.ndim]
        y[...] = x
    else:
        y = x.copy()
        y.flags.writeable = False
    assert np.array_equal(y, x, equal_nan=True)
    other = S.run_case(fmaconv, case, x=y)
    if isinstance(base, tuple):
        np.testing.assert_array_equal(base[1], other[1])
        base, other = base[0], other[0]
    np.testing.assert_array_equal(base, other)

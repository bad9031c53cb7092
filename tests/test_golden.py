"""Replay PyTorch-generated golden vectors (tests/golden/golden.npz, made by gen_golden.py)
against fmaconv.  Needs no torch."""

import json
import os

import numpy as np
import pytest

import fmaconv
from helpers import assert_indices, assert_result

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "golden.npz")
_Z = np.load(GOLDEN, allow_pickle=False)
CASES = json.loads(str(_Z["cases"]))


def _untuple(v):
    """JSON turned tuples into lists: turn them back (the API takes tuples like PyTorch)."""
    if isinstance(v, list):
        return tuple(_untuple(a) for a in v)
    return v


def test_golden_file_is_small_and_complete():
    assert os.path.getsize(GOLDEN) < 1_000_000
    ops = {c["op"] for c in CASES}
    for D in (1, 2, 3):
        for name in ("conv", "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"):
            assert f"{name}{D}d" in ops
    meta = json.loads(str(_Z["meta"]))
    assert meta["torch"].startswith("2.")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case):
    key = case["key"]
    x = _Z[f"{key}_x"]
    kwargs = {k: _untuple(v) for k, v in case["kwargs"].items()}
    fn = getattr(fmaconv, case["op"])
    x_before = x.copy()
    if case["op"].startswith("conv"):
        w = _Z[f"{key}_w"]
        b = _Z[f"{key}_b"] if f"{key}_b" in _Z.files else None
        got = fn(x, w, b, **kwargs)
    else:
        got = fn(x, **kwargs)
    np.testing.assert_array_equal(x, x_before)  # input untouched
    expected = _Z[f"{key}_y"]
    exact = case["op"].startswith(("max", "adaptive_max"))
    what = case["name"]
    if kwargs.get("return_indices"):
        assert isinstance(got, tuple) and len(got) == 2, f"{what}: expected (values, indices)"
        got, idx = got
        assert_indices(idx, _Z[f"{key}_i"], what)
    assert_result(got, expected, case["dtype"], exact=exact, what=what)


def test_golden_functional_namespace_is_the_same():
    import fmaconv.functional as Fn

    for c in CASES:
        assert getattr(Fn, c["op"]) is not None
    case = next(c for c in CASES if c["name"] == "conv2d_mixed_float64")
    key = case["key"]
    kwargs = {k: _untuple(v) for k, v in case["kwargs"].items()}
    got = Fn.conv2d(_Z[f"{key}_x"], _Z[f"{key}_w"], _Z[f"{key}_b"], **kwargs)
    assert_result(got, _Z[f"{key}_y"], np.float64, what=case["name"])

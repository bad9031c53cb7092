"""Sanity checks of the benchmark's own peers (not benchmarks: skipped by
--benchmark-only).  The NumPy baseline and the ONNX models must compute the
same thing as torch, also for options the fixed suite does not exercise.

Run:  python -m pytest benchmarks -k peers
"""
import pytest

peers = pytest.importorskip("fmaconv.bench.peers", reason="fmaconv.bench not importable")
cases = pytest.importorskip("fmaconv.bench.cases")
pytest.importorskip("torch")

EXTRA = [
    cases.conv("c1d_s2_d3_g2", 2, 4, (19,), 6, 3, 2, 2, 3, 2),
    cases.conv("c2d_aniso", 2, 6, (11, 9), 4, (3, 2), (2, 1), (1, 0), (1, 2), 2),
    cases.conv("c3d_s2_g3", 1, 3, (7, 8, 9), 6, 3, 2, 1, 1, 3),
    cases.pool("mp1d_idx", cases.MAX_POOL, 2, 3, (17,), 4, 3, 2, 2, return_indices=True),
    cases.pool("mp2d_aniso_idx", cases.MAX_POOL, 2, 3, (13, 10), (3, 2), (2, 1), (1, 1), (2, 1),
               return_indices=True),
    cases.pool("mp3d_idx", cases.MAX_POOL, 1, 2, (6, 7, 8), 3, 2, 1, 1, return_indices=True),
    cases.pool("ap1d", cases.AVG_POOL, 2, 3, (17,), 4, 3, 2),
    cases.pool("ap3d", cases.AVG_POOL, 1, 2, (6, 7, 8), 3, 2, 1),
    cases.adaptive_avg_pool("aap2d_3x5", 2, 3, (10, 13), (3, 5)),
    cases.adaptive_avg_pool("aap3d_1", 2, 3, (4, 5, 6), 1),
]


def _check(case, impl, dtype, rtol, atol):
    arrays = case.make_inputs(dtype)
    ref = peers.to_numpy(peers.make_runner(peers.TORCH, case, arrays, 1)())
    try:
        run = peers.make_runner(impl, case, arrays, 1)
    except peers.Unavailable as e:
        pytest.skip(str(e))
    got = peers.to_numpy(run())
    # ORT's MaxPool indices are flat over the whole tensor, not per plane
    why = peers.compare(got, ref, rtol=rtol, atol=atol, check_indices=impl != peers.ORT)
    assert why is None, why


@pytest.mark.parametrize("case", EXTRA + list(cases.SUITE), ids=lambda c: c.name)
def test_numpy_baseline_matches_torch(case):
    _check(case, peers.NUMPY, "float64", 1e-10, 1e-12)


@pytest.mark.parametrize("case", EXTRA + list(cases.SUITE), ids=lambda c: c.name)
def test_onnx_model_matches_torch(case):
    _check(case, peers.ORT, "float32", 1e-4, 1e-5)   # ORT's Conv has no float64 kernel


@pytest.mark.parametrize("case", cases.SUITE, ids=lambda c: c.name)
def test_case_geometry(case):
    """Output shape and cost model agree with what torch produces."""
    arrays = case.make_inputs("float32")
    out = peers.to_numpy(peers.make_runner(peers.TORCH, case, arrays, 1)())
    assert out[0].shape == case.output_shape
    assert (case.flops > 0) == case.is_conv
    assert (case.bytes_moved(4) > 0) == (not case.is_conv)

"""One pytest-benchmark test per suite case, for fmaconv and (when importable) torch.

Cases and runners come from fmaconv.bench (cases, peers), so this file only
wires the shared suite into pytest-benchmark.  Each case is its own benchmark
group, so fmaconv and torch appear side by side.  Correctness is not checked
here (``python -m fmaconv.bench`` does that, and tests/ does it thoroughly).
"""
import pytest

peers = pytest.importorskip("fmaconv.bench.peers", reason="fmaconv.bench not importable")
SUITE = pytest.importorskip("fmaconv.bench.cases").SUITE

IMPLS = [peers.FMACONV,
         pytest.param(peers.TORCH, marks=pytest.mark.skipif(
             peers.torch_module() is None, reason="torch not installed"))]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", SUITE, ids=lambda c: c.name)
def test_case(benchmark, case, impl, bench_threads, bench_dtype):
    arrays = case.make_inputs(bench_dtype)
    try:
        run = peers.make_runner(impl, case, arrays, bench_threads)
    except peers.Unavailable as e:
        pytest.skip(str(e))
    peers.set_threads(bench_threads)
    benchmark.group = f"{case.name} ({case.summary()}, {bench_threads} thr, {bench_dtype})"
    benchmark.extra_info.update(flops=case.flops, bytes=case.bytes_moved(arrays["input"].itemsize),
                                threads=bench_threads, dtype=bench_dtype)
    benchmark(run)

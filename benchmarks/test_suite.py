"""One pytest-benchmark test per suite case, for fmaconv and (when importable) torch.

Runners come from fmaconv.bench.peers, so this file only wires the shared
suite into pytest-benchmark; results can be compared with
``--benchmark-group-by=param:case`` (the default grouping here is per case).
"""
import pytest

bench = pytest.importorskip("fmaconv.bench.peers", reason="fmaconv.bench not importable")
from fmaconv.bench.cases import SUITE  # noqa: E402

peers = bench
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

"""pytest-benchmark configuration for the fmaconv suite.

Run:  python -m pytest benchmarks --benchmark-only [--bench-threads N] [--bench-dtype float64]

The cases are fmaconv.bench.cases.SUITE, the same ones ``python -m
fmaconv.bench`` runs.  This directory is outside the ``testpaths`` of the
project, so ``python -m pytest`` / ``python -m pytest tests`` never collects it.
"""
import pytest


def pytest_addoption(parser):
    group = parser.getgroup("fmaconv bench")
    group.addoption("--bench-threads", type=int, default=1,
                    help="thread count for fmaconv and torch (default 1)")
    group.addoption("--bench-dtype", default="float32", choices=("float32", "float64"),
                    help="dtype of the benchmark arrays (default float32)")


@pytest.fixture(scope="session")
def bench_threads(request):
    return request.config.getoption("--bench-threads")


@pytest.fixture(scope="session")
def bench_dtype(request):
    return request.config.getoption("--bench-dtype")

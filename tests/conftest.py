import os
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

settings.register_profile(
    "fmaconv",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fmaconv"))


def pytest_configure(config):
    # PyTorch warns about even kernels with padding='same'; irrelevant to these tests.
    config.addinivalue_line("filterwarnings", "ignore:Using padding='same':UserWarning")


@pytest.fixture
def rng(request):
    """A deterministic generator per test (seeded from the test's node id)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture
def torch():
    """The torch module, or skip the test."""
    return pytest.importorskip("torch")


@pytest.fixture
def restore_threads():
    import fmaconv

    n = fmaconv.get_num_threads()
    yield n
    fmaconv.set_num_threads(n)

"""Shared helpers for the fmaconv test suite (importable: tests/ is on sys.path under pytest)."""

import contextlib
import importlib
import io
import os
import re
import subprocess
import sys

import numpy as np

# float32 results are compared with the float64 reference computed from the same (exactly
# upcast) inputs; float64 results with a tight tolerance.
TOL = {
    np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
    np.dtype(np.float64): dict(rtol=1e-10, atol=1e-10),
}

DTYPES = (np.float32, np.float64)


def have_torch():
    try:
        importlib.import_module("torch")
    except ImportError:
        return False
    return True


def assert_result(got, expected, dtype, exact=False, what=""):
    """got: fmaconv output; expected: float64 reference. Checks type, dtype, layout, shape, values."""
    dtype = np.dtype(dtype)
    assert isinstance(got, np.ndarray), f"{what}: expected ndarray, got {type(got)}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype} != {dtype}"
    assert got.flags.c_contiguous, f"{what}: output not C-contiguous"
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    if exact:
        # max pooling picks input elements: bit-for-bit equal values (NaN where NaN)
        np.testing.assert_array_equal(got.astype(np.float64), expected, err_msg=what)
    else:
        np.testing.assert_allclose(got.astype(np.float64), expected, equal_nan=True,
                                   err_msg=what, **TOL[dtype])


def assert_indices(got, expected, what=""):
    assert isinstance(got, np.ndarray), f"{what}: indices not an ndarray"
    assert got.dtype == np.int64, f"{what}: indices dtype {got.dtype} != int64"
    assert got.flags.c_contiguous, f"{what}: indices not C-contiguous"
    assert got.shape == np.shape(expected), f"{what}: indices shape {got.shape} != {np.shape(expected)}"
    np.testing.assert_array_equal(got, expected, err_msg=what)


def assert_message(excinfo, *fragments, any_of=()):
    """The exception message contains every fragment, and at least one group of `any_of`
    (each group a tuple of fragments that must all be present)."""
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in error message {msg!r}"
    if any_of:
        ok = any(all(f in msg for f in group) for group in any_of)
        assert ok, f"none of {any_of!r} fully present in error message {msg!r}"


def escape(*parts):
    """A regex matching all parts in order (for pytest.raises(match=...))."""
    return ".*".join(re.escape(str(p)) for p in parts)


def random_array(rng, shape, dtype, kind="normal"):
    """kind: normal | ints (small integers: many ties) | special (ints with NaN/-inf/inf)."""
    if kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "ints":
        a = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif kind == "special":
        a = rng.integers(-3, 4, size=shape).astype(np.float64)
        u = rng.random(shape)
        a[u < 0.08] = np.nan
        a[(u >= 0.08) & (u < 0.14)] = -np.inf
        a[(u >= 0.14) & (u < 0.17)] = np.inf
    else:
        raise ValueError(kind)
    return np.asarray(a, dtype=dtype)


def pool_values(rng, shape, dtype, kind):
    """Pooling test data. kind: normal | ints (-50..49: ties) | special (ints with 1% NaN, 4% -inf,
    1% +inf) | neg_inf (70% -inf) | neg_inf_rows (-inf on about half the rows of axis 2)."""
    a = rng.integers(-50, 50, size=shape).astype(np.float64) if kind != "normal" else rng.standard_normal(shape)
    if kind == "special":
        u = rng.random(shape)
        a[u < 0.01] = np.nan
        a[(u >= 0.01) & (u < 0.05)] = -np.inf
        a[(u >= 0.05) & (u < 0.06)] = np.inf
    elif kind == "neg_inf":
        a[rng.random(shape) < 0.7] = -np.inf
    elif kind == "neg_inf_rows":
        a[:, :, rng.random(shape[2]) < 0.5, :] = -np.inf
    return np.ascontiguousarray(a, dtype=dtype)


def n_examples(n):
    """Hypothesis max_examples, scaled by FMACONV_TEST_SCALE (default 1) for longer local runs."""
    import os

    return max(1, int(n * float(os.environ.get("FMACONV_TEST_SCALE", "1"))))


def _config():
    import fmaconv

    with contextlib.redirect_stdout(io.StringIO()):
        return fmaconv.show_config()


def current_isa():
    """This process's kernel set."""
    return _config()["isa"]


def other_isas():
    """Kernel sets available here other than this process's."""
    cfg = _config()
    return [isa for isa in cfg["isa_available"] if isa != cfg["isa"]]


# Set in a file's rerun under another kernel set (see isa_rerun_tests).
RERUN_VAR = "FMACONV_ISA_RERUN_CHILD"


def rerun_under_isa(test_file, isa, timeout=900):
    """Runs the pytest file test_file again in a subprocess with FMACONV_ISA=isa and RERUN_VAR=1
    (so it does not rerun itself again), and asserts that its tests ran and passed."""
    here = os.path.dirname(os.path.abspath(test_file))
    env = dict(os.environ, FMACONV_ISA=isa, **{RERUN_VAR: "1"})
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", os.path.abspath(test_file)],
                       capture_output=True, text=True, env=env, timeout=timeout, cwd=here)
    assert p.returncode == 0, f"FMACONV_ISA={isa}:\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}"
    assert " passed" in p.stdout, p.stdout[-2000:]


def isa_rerun_tests(test_file, timeout=900):
    """Tests for a file that reruns itself under every kernel set: in the first run,
    test_every_isa (one rerun per other set, see rerun_under_isa); in a rerun, a check that the
    forced set is the one in use. A file takes them with
    ``globals().update(isa_rerun_tests(__file__))`` (.ci/run looks for that call: such files
    need no rerun of their own under each set)."""
    import pytest

    if os.environ.get(RERUN_VAR) != "1":
        @pytest.mark.parametrize("isa", other_isas())
        def test_every_isa(isa):
            rerun_under_isa(test_file, isa, timeout)

        return {"test_every_isa": test_every_isa}

    def test_child_runs_the_forced_isa():
        import fmaconv

        with contextlib.redirect_stdout(io.StringIO()):
            assert fmaconv.show_config()["isa"] == os.environ["FMACONV_ISA"]

    return {"test_child_runs_the_forced_isa": test_child_runs_the_forced_isa}


def guarded_array(shape, dtype):
    """An array filling the end (and one filling the start) of a page with inaccessible pages on
    both sides: a read past either end of the input faults. None where mprotect is unavailable."""
    import ctypes
    import mmap

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mprotect = libc.mprotect
    except (OSError, AttributeError):
        return None
    page = mmap.PAGESIZE
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    inner = -(-nbytes // page) * page
    buf = mmap.mmap(-1, inner + 2 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    if mprotect(base, page, 0) != 0 or mprotect(base + page + inner, page, 0) != 0:
        return None
    mem = np.frombuffer(buf, dtype=np.uint8)
    first = mem[page:page + nbytes].view(dtype).reshape(shape)  # starts right after a guard page
    last = mem[page + inner - nbytes:page + inner].view(dtype).reshape(shape)  # ends right before one
    return buf, first, last


def misaligned_pool_values(rng, shape, dtype, kind="normal"):
    """pool_values in an array starting one element past a 64-byte boundary (vectors start off
    it); the array keeps its buffer alive."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    buf = np.empty(n + 64 // dtype.itemsize + 1, dtype)
    skip = (-buf.ctypes.data % 64) // dtype.itemsize + 1
    x = buf[skip:skip + n].reshape(shape)
    x[...] = pool_values(rng, shape, dtype, kind)
    return x


def assert_same_bits_across_threads(call, what, threads=(1, 2, 3)):
    """call() at each thread count (rows split anywhere) returns the same bits as at the first."""
    import fmaconv

    before = fmaconv.get_num_threads()
    try:
        outs = []
        for t in threads:
            fmaconv.set_num_threads(t)
            outs.append(call())
    finally:
        fmaconv.set_num_threads(before)
    for t, o in zip(threads[1:], outs[1:]):
        np.testing.assert_array_equal(o.view(np.uint8), outs[0].view(np.uint8), err_msg=f"{what}: {t} threads")


def guarded_pool_inputs(shape, dtype, rng, kind="normal"):
    """Two arrays of pool_values, one starting right after an inaccessible page and one ending
    right before one (pytest skips where mprotect is unavailable); keep the first item, the
    mapping, alive while they are used."""
    import pytest

    g = guarded_array(shape, dtype)
    if g is None:
        pytest.skip("mprotect unavailable")
    buf, first, last = g
    for a in (first, last):
        a[...] = pool_values(rng, shape, dtype, kind)
    return buf, (first, last)


def assert_stride1_pools_match_torch(x, max_kernels=(3,)):
    """3x3 stride-1 averages (padding 1, count_include_pad on and off) and KxK stride-1 maxima
    (padding K // 2) of x against PyTorch's (call only where have_torch())."""
    import fmaconv
    import torch

    t = torch.from_numpy(x)
    tol = dict(rtol=1e-6 if x.dtype == np.float32 else 1e-13, atol=0, equal_nan=True)
    for cip in (True, False):
        np.testing.assert_allclose(fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip),
                                   torch.nn.functional.avg_pool2d(t, 3, 1, 1, count_include_pad=cip).numpy(), **tol)
    for k in max_kernels:
        np.testing.assert_array_equal(fmaconv.max_pool2d(x, k, 1, k // 2),
                                      torch.nn.functional.max_pool2d(t, k, 1, k // 2).numpy())


def assert_stride1_pools_match_reference(x, max_kernels=(3,), what=""):
    """The same pools as assert_stride1_pools_match_torch, against tests/reference.py."""
    import fmaconv
    import reference as ref

    for cip in (True, False):
        assert_result(fmaconv.avg_pool2d(x, 3, 1, 1, count_include_pad=cip),
                      ref.avg_pool2d(x, 3, 1, 1, count_include_pad=cip), x.dtype, what=f"{what} avg cip={cip}")
    for k in max_kernels:
        assert_result(fmaconv.max_pool2d(x, k, 1, k // 2), ref.max_pool2d(x, k, 1, k // 2), x.dtype, exact=True,
                      what=f"{what} max{k}")

"""The C++ fast path of conv1d/2d/3d (_core.conv_fast) against the Python path (functional._conv).

conv{N}d first tries _core.conv_fast, which runs the common case (exact ndarrays of one native
float dtype, C-contiguous and aligned, int/tuple geometry, padding_mode 'zeros', a valid
non-empty result) and returns None for anything else. Here every call is made both ways:
results must be bit-identical and errors identical (type and message), and the fast path must
take exactly the calls it is meant to take.
"""
import inspect
import itertools

import numpy as np
import pytest

import fmaconv
from fmaconv import _core
from fmaconv import functional as F

CONV = {1: fmaconv.conv1d, 2: fmaconv.conv2d, 3: fmaconv.conv3d}
DTYPES = [np.float32, np.float64]


def bound(dims, args, kwargs):
    b = inspect.signature(CONV[dims]).bind(*args, **kwargs)
    b.apply_defaults()
    return list(b.arguments.values())


def slow(dims, args, kwargs):
    return F._conv(f"conv{dims}d", dims, *bound(dims, args, kwargs))


def fast_result(dims, args, kwargs):
    return _core.conv_fast(dims, *bound(dims, args, kwargs))


def check(dims, *args, fast=None, **kwargs):
    """conv{dims}d(*args, **kwargs) equals the Python path, bit for bit or error for error.

    fast=True/False: the C++ fast path must / must not take the call."""
    try:
        expected = slow(dims, args, kwargs)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        with pytest.raises(type(exc)) as info:
            CONV[dims](*args, **kwargs)
        assert str(info.value) == str(exc)
        assert fast_result(dims, args, kwargs) is None
        return None
    got = CONV[dims](*args, **kwargs)
    assert type(got) is np.ndarray and got.dtype == expected.dtype and got.shape == expected.shape
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected, strict=True)
    assert got.tobytes() == expected.tobytes()  # bit-identical (signed zeros, NaN payloads)
    r = fast_result(dims, args, kwargs)
    if fast is not None:
        assert (r is not None) == fast, f"fast path {'skipped' if fast else 'taken'} for {args} {kwargs}"
    if r is not None:
        assert r.tobytes() == expected.tobytes() and r.shape == expected.shape
    return got


def data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def geometry(dims, rng):
    k = tuple(int(v) for v in rng.integers(1, 4, dims))
    s = tuple(int(v) for v in rng.integers(1, 3, dims))
    d = tuple(int(v) for v in rng.integers(1, 3, dims))
    p = tuple(int(v) for v in rng.integers(0, 3, dims))
    return k, s, d, p


# ----------------------------------------------------------------------------- results

@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_geometries_fast_equals_slow(dims, dtype, rng):
    for _ in range(25):
        k, s, d, p = geometry(dims, rng)
        groups = int(rng.choice([1, 2]))
        cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        n = int(rng.integers(1, 3))
        spatial = tuple(int(dd * (kk - 1) + 1 + rng.integers(0, 5)) for dd, kk in zip(d, k))
        x = data(rng, (n, cin) + spatial, dtype)
        w = data(rng, (cout, cin // groups) + k, dtype)
        b = data(rng, (cout,), dtype) if rng.random() < 0.5 else None
        check(dims, x, w, b, s, p, d, groups, fast=True)
        check(dims, x[0], w, b, s, p, d, groups, fast=True)  # unbatched
        check(dims, x, w, b, stride=s, padding=p, dilation=d, groups=groups, fast=True)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_every_argument_form(dims, rng):
    x = data(rng, (2, 4) + (7,) * dims, np.float32)
    w = data(rng, (6, 2) + (3,) * dims, np.float32)
    b = data(rng, (6,), np.float32)
    forms = {
        "stride": ([1, 2, (2,), (1,) * dims, (2,) * dims], [[2] * dims, np.int64(2), (np.int64(1),) * dims, np.array([2] * dims)]),
        "padding": ([0, 1, (1,), (1,) * dims, "same", "valid"], [[1] * dims, np.int32(1)]),
        "dilation": ([1, 2, (2,), (1,) * dims], [[1] * dims, np.int64(2)]),
        "groups": ([1, 2], [np.int64(2)]),
        "bias": ([None, b], [list(b), b[::-1].copy()[::-1]]),
    }
    for name, (fast_forms, slow_forms) in forms.items():
        for value, fast in itertools.chain(((v, True) for v in fast_forms), ((v, False) for v in slow_forms)):
            kwargs = {name: value, "groups": 2} if name != "groups" else {name: value}
            if name == "padding" and value == "same":
                kwargs["stride"] = 1
            check(dims, x, w, fast=fast, **kwargs)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_take_the_python_path(dims, mode, rng):
    x = data(rng, (1, 2) + (6,) * dims, np.float64)
    w = data(rng, (3, 2) + (3,) * dims, np.float64)
    check(dims, x, w, padding=1, padding_mode=mode, fast=False)
    check(dims, x, w, padding="same", padding_mode=mode, fast=False)
    check(dims, x, w, padding=0, padding_mode=mode, fast=False)
    check(dims, x, w, padding=1, padding_mode="zeros", fast=True)


def unaligned(a):
    buf = np.empty(a.nbytes + 1, dtype=np.uint8)
    u = buf[1:].view(a.dtype).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


class Sub(np.ndarray):
    pass


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_array_layouts(dims, dtype, rng):
    x = data(rng, (2, 2) + (6,) * dims, dtype)
    w = data(rng, (3, 2) + (2,) * dims, dtype)
    b = data(rng, (3,), dtype)
    readonly = x.copy()
    readonly.flags.writeable = False
    check(dims, readonly, w, b, fast=True)
    wide = data(rng, (2, 2) + (12,) * dims, dtype)
    variants = [
        wide[(Ellipsis, slice(None, None, 2))],       # non-contiguous
        np.asfortranarray(x),                          # Fortran order
        unaligned(x),                                  # unaligned
        x.astype(x.dtype.newbyteorder()),               # byte-swapped
        x.view(Sub),                                   # subclass
        x.tolist(),                                    # not an array
    ]
    for v in variants:
        check(dims, v, w, b, fast=False)
    for wv in (np.asfortranarray(w), unaligned(w), w.astype(w.dtype.newbyteorder()), w.tolist()):
        if not isinstance(wv, list) and wv.flags.c_contiguous and wv.flags.aligned and wv.dtype.isnative:
            continue
        check(dims, x, wv, b, fast=False)
    for bv in (unaligned(b), b.astype(b.dtype.newbyteorder()), np.repeat(b, 2)[::2], b.tolist()):
        check(dims, x, w, bv, fast=False)


# ----------------------------------------------------------------------------- errors and edges

@pytest.mark.parametrize("dims", [1, 2, 3])
def test_errors_identical(dims):
    z = lambda *s, dtype=np.float32: np.zeros(s, dtype=dtype)  # noqa: E731
    x = z(1, 4, *(6,) * dims)
    w = z(2, 4, *(3,) * dims)
    cases = [
        ((z(*(6,) * dims), w), {}),                                  # rank
        ((x, z(2, 4)), {}),                                          # weight rank
        ((x, z(2, 3, *(3,) * dims)), {}),                            # channels
        ((x, w), {"groups": 3}),
        ((x, w), {"groups": 0}),
        ((x, w), {"groups": 1.0}),
        ((x, w), {"groups": True}),
        ((x, w), {"stride": 0}),
        ((x, w), {"stride": -1}),
        ((x, w), {"stride": 2**31}),
        ((x, w), {"stride": 2**70}),
        ((x, w), {"stride": (1,) * (dims + 1)}),
        ((x, w), {"stride": 1.5}),
        ((x, w), {"stride": True}),
        ((x, w), {"padding": -1}),
        ((x, w), {"padding": 2**31}),
        ((x, w), {"padding": "full"}),
        ((x, w), {"padding": "same", "stride": 2}),
        ((x, w), {"dilation": 0}),
        ((x, w), {"dilation": 4}),                                   # kernel larger than input
        ((x, w), {"padding_mode": "zero"}),
        ((x, w), {"padding_mode": 0}),
        ((x, w, z(3)), {}),                                          # bias size
        ((x, w, z(2, dtype=np.float64)), {}),                        # bias dtype
        ((x, w.astype(np.float64)), {}),                             # weight dtype
        ((x.astype(np.float16), w), {}),
        ((x.astype(np.int32), w), {}),
        ((x, z(0, 4, *(3,) * dims)), {}),                            # no output channels
        ((x, z(2, 4, *(0,) * dims)), {}),                            # empty kernel
        (("abc", w), {}),
    ]
    for args, kwargs in cases:
        with pytest.raises((TypeError, ValueError)):
            slow(dims, args, kwargs)
        check(dims, *args, **kwargs)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_empty_results_take_the_python_path(dims):
    z = lambda *s: np.zeros(s, dtype=np.float32)  # noqa: E731
    check(dims, z(0, 2, *(5,) * dims), z(3, 2, *(3,) * dims), fast=False)   # empty batch
    check(dims, z(2, 0, *(5,) * dims), z(3, 0, *(3,) * dims), fast=False)   # no input channels
    check(dims, z(0, 2, *(0,) * dims), z(3, 2, *(3,) * dims), fast=False)


def test_special_values_bit_identical():
    x = np.array([[[0.0, -0.0, np.inf, -np.inf, np.nan, 1e-42, -1e-42, 3.0]]], dtype=np.float32)
    for w in ([[[1.0, -1.0]]], [[[0.0, 0.0]]], [[[1e-40, 2.0]]]):
        w = np.array(w, dtype=np.float32)
        check(1, x, w, fast=True)
        check(1, x, w, np.array([-0.0], dtype=np.float32), fast=True)


def test_large_call_matches_while_another_thread_runs(rng):
    # Above the GIL threshold (the GIL is released); another Python thread runs meanwhile.
    import threading
    x = data(rng, (2, 16, 24, 24), np.float32)
    w = data(rng, (16, 16, 3, 3), np.float32)
    expected = slow(2, (x, w), {})
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            fmaconv.conv2d(x[:1, :1, :5, :5], w[:1, :1])  # small calls keep the GIL

    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(5):
            assert fmaconv.conv2d(x, w).tobytes() == expected.tobytes()
    finally:
        stop.set()
        t.join()


def test_conv_fast_arguments():
    x = np.zeros((1, 1, 4), np.float32)
    with pytest.raises(TypeError):
        _core.conv_fast(1, x, x)
    with pytest.raises(ValueError):
        _core.conv_fast(4, x, x, None, 1, 0, 1, 1, "zeros")


# ----------------------------------------------------------------------------- pooling

MAXP = {d: getattr(fmaconv, f"max_pool{d}d") for d in (1, 2, 3)}
AVGP = {d: getattr(fmaconv, f"avg_pool{d}d") for d in (1, 2, 3)}
AAVG = {d: getattr(fmaconv, f"adaptive_avg_pool{d}d") for d in (1, 2, 3)}
AMAX = {d: getattr(fmaconv, f"adaptive_max_pool{d}d") for d in (1, 2, 3)}


def pool_paths(kind, dims):
    """(public function, Python path, C++ fast function) with the public function's signature."""
    pub = {"max": MAXP, "avg": AVGP, "aavg": AAVG, "amax": AMAX}[kind][dims]
    name = pub.__name__
    sig = inspect.signature(pub)

    def args_of(args, kwargs):
        b = sig.bind(*args, **kwargs)
        b.apply_defaults()
        return list(b.arguments.values())

    if kind == "max":
        return pub, lambda *a, **k: F._max_pool(name, dims, *args_of(a, k)), \
            lambda *a, **k: _core.max_pool_fast(dims, *args_of(a, k))
    if kind == "avg":
        return pub, lambda *a, **k: F._avg_pool(name, dims, *args_of(a, k)), \
            lambda *a, **k: _core.avg_pool_fast(dims, *args_of(a, k))
    is_max = kind == "amax"

    def slow_a(*a, **k):
        return F._adaptive(name, dims, *args_of(a, k), is_max) if not is_max else \
            F._adaptive(name, dims, *args_of(a, k)[:2], True, args_of(a, k)[2])

    def fast_a(*a, **k):
        v = args_of(a, k)
        return _core.adaptive_pool_fast(dims, v[0], v[1], is_max, v[2] if is_max else False)
    return pub, slow_a, fast_a


def same(got, expected):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            same(g, e)
        return
    assert type(got) is np.ndarray and got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def pcheck(kind, dims, *args, fast=None, **kwargs):
    pub, slow_fn, fast_fn = pool_paths(kind, dims)
    try:
        expected = slow_fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)) as info:
            pub(*args, **kwargs)
        assert str(info.value) == str(exc)
        assert fast_fn(*args, **kwargs) is None
        return
    same(pub(*args, **kwargs), expected)
    r = fast_fn(*args, **kwargs)
    if fast is not None:
        assert (r is not None) == fast, f"{kind}{dims}d fast path {'skipped' if fast else 'taken'}: {args} {kwargs}"
    if r is not None:
        same(r, expected)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pools_random_fast_equals_slow(dims, dtype, rng):
    for _ in range(25):
        k = tuple(int(v) for v in rng.integers(1, 4, dims))
        s = tuple(int(v) for v in rng.integers(1, 3, dims))
        d = tuple(int(v) for v in rng.integers(1, 3, dims))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        ceil = bool(rng.random() < 0.5)
        spatial = tuple(int(dd * (kk - 1) + 1 + rng.integers(0, 6)) for dd, kk in zip(d, k))
        x = data(rng, (int(rng.integers(1, 3)), int(rng.integers(1, 4))) + spatial, dtype)
        x.flat[:: 7] = np.nan if rng.random() < 0.2 else x.flat[::7]
        for xv in (x, x[0]):
            pcheck("max", dims, xv, k, s, p, d, ceil, False, fast=True)
            pcheck("max", dims, xv, k, s, p, d, ceil, True, fast=True)
            pcheck("max", dims, xv, k, None, p, d, ceil, True, fast=True)
            pcheck("avg", dims, xv, k, s, p, ceil, True, None, fast=dims < 3 or all(i >= kk for i, kk in zip(spatial, k)))
            pcheck("avg", dims, xv, k, s, p, ceil, False, 3)
            pcheck("avg", dims, xv, k, s, p, ceil, True, -2)
            o = tuple(int(v) for v in rng.integers(1, 5, dims))
            pcheck("aavg", dims, xv, o, fast=True)
            pcheck("amax", dims, xv, o, True, fast=True)
            pcheck("amax", dims, xv, o[0], False, fast=True)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pool_argument_forms(dims, rng):
    x = data(rng, (2, 3) + (9,) * dims, np.float32)
    for kw, fast in [
        (dict(kernel_size=2), True), (dict(kernel_size=(2,)), True), (dict(kernel_size=(3,) * dims), True),
        (dict(kernel_size=[2] * dims), False), (dict(kernel_size=np.int64(2)), False),
        (dict(kernel_size=2, stride=()), True), (dict(kernel_size=2, stride=[]), False),
        (dict(kernel_size=2, ceil_mode=np.bool_(True)), False), (dict(kernel_size=2, ceil_mode=1), False),
        (dict(kernel_size=3, padding=1, ceil_mode=True), True),
    ]:
        pcheck("max", dims, x, fast=fast, **kw)
        pcheck("avg", dims, x, fast=fast, **kw)
    pcheck("max", dims, x, 2, return_indices=np.bool_(True), fast=False)
    pcheck("avg", dims, x, 2, count_include_pad=np.bool_(False), fast=False)
    pcheck("avg", dims, x, 2, divisor_override=np.int64(2), fast=False)
    pcheck("avg", dims, x, 2, divisor_override=2**63 - 1, fast=True)
    pcheck("aavg", dims, x, 3, fast=True)
    pcheck("aavg", dims, x, [3] * dims, fast=False)
    pcheck("aavg", dims, x, np.int64(3), fast=False)
    pcheck("aavg", dims, x, (None,) * dims, fast=dims > 1)
    pcheck("amax", dims, x, (2,) * dims, return_indices=np.bool_(True), fast=False)
    if dims > 1:
        pcheck("aavg", dims, x, (None,) + (2,) * (dims - 1), fast=True)
        pcheck("amax", dims, x, (2,) + (None,) * (dims - 1), True, fast=True)
    for v in (x[..., ::2], np.asfortranarray(x), unaligned(x), x.astype(">f4"), x.view(Sub), x.tolist()):
        pcheck("max", dims, v, 2, fast=False)
        pcheck("avg", dims, v, 2, fast=False)
        pcheck("aavg", dims, v, 2, fast=False)
        pcheck("amax", dims, v, 2, True, fast=False)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pool_errors_identical(dims):
    x = np.zeros((1, 2) + (5,) * dims, np.float32)
    for kind, args, kwargs in [
        ("max", (x, 0), {}), ("max", (x, 2**31), {}), ("max", (x, 3), {"padding": 2}),
        ("max", (x, 2), {"stride": 0}), ("max", (x, 2), {"dilation": 0}), ("max", (x, 6), {}),
        ("max", (x, 2), {"ceil_mode": 1}), ("max", (x, 2), {"return_indices": "yes"}),
        ("max", (x, (2,) * (dims + 1)), {}), ("max", (np.zeros((1, 0) + (5,) * dims, np.float32), 2), {}),
        ("max", (np.zeros((5,) * dims if dims > 1 else (1, 1, 1, 5), np.float32), 2), {}),
        ("max", (x.astype(np.float16), 2), {}),
        ("avg", (x, 6), {}), ("avg", (x, 2), {"divisor_override": 0}), ("avg", (x, 2), {"divisor_override": 2**63}),
        ("avg", (x, 2), {"divisor_override": 1.5}), ("avg", (x, 2), {"count_include_pad": None}),
        ("avg", (x, 3), {"padding": 2}),
        ("aavg", (x, -1), {}), ("aavg", (x, (1,) * (dims + 1)), {}), ("aavg", (x, 1.0), {}),
        ("aavg", (x, (None,) * dims), {}), ("amax", (x, 2), {"return_indices": 0}),
        ("aavg", (np.zeros((1, 2) + (0,) * dims, np.float32), 2), {}),
    ]:
        pcheck(kind, dims, *args, **kwargs)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pool_empty_results(dims):
    x = np.zeros((0, 2) + (5,) * dims, np.float32)
    pcheck("max", dims, x, 2, return_indices=True, fast=False)
    pcheck("avg", dims, x, 2, fast=False)
    pcheck("aavg", dims, x, 2, fast=False)
    pcheck("aavg", dims, np.zeros((1, 2) + (5,) * dims, np.float32), 0, fast=False)
    pcheck("amax", dims, np.zeros((1, 2) + (5,) * dims, np.float32), 0, True, fast=False)
    # avg_pool3d rejects an input smaller than the kernel even with padding
    if dims == 3:
        pcheck("avg", 3, np.zeros((1, 1, 2, 5, 5), np.float32), 3, padding=1)


def test_pool_fast_arguments():
    x = np.zeros((1, 1, 4), np.float32)
    for f, n in ((_core.max_pool_fast, 8), (_core.avg_pool_fast, 8), (_core.adaptive_pool_fast, 5)):
        with pytest.raises(TypeError):
            f(1, x)
        with pytest.raises(ValueError):
            f(0, *([x] + [1] * (n - 2)))

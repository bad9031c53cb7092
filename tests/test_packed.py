"""fmaconv.PackedConv: the functional convNd with weights packed once.

Every result must be bit-identical to fmaconv.conv{N}d(input, weight, bias, ...) with the same
arguments; construction raises the functional API's errors for the arguments it is given,
calls raise its errors for the input.
"""
import pickle
import threading

import numpy as np
import pytest

import fmaconv
from fmaconv import PackedConv

CONV = {1: fmaconv.conv1d, 2: fmaconv.conv2d, 3: fmaconv.conv3d}
DTYPES = [np.float32, np.float64]
MODES = ["zeros", "reflect", "replicate", "circular"]


def data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def same_bits(got, expected):
    assert type(got) is np.ndarray
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


def random_case(rng, dims, dtype):
    groups = int(rng.choice([1, 1, 2, 3]))
    cin = groups * int(rng.integers(1, 4))
    cout = groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, dims))
    d = tuple(int(v) for v in rng.integers(1, 3, dims))
    mode = str(rng.choice(MODES))
    if rng.random() < 0.25:
        s, p = 1, str(rng.choice(["same", "valid"]))
    else:
        s = tuple(int(v) for v in rng.integers(1, 3, dims))
        p = tuple(int(v) for v in rng.integers(0, 3, dims))
        if rng.random() < 0.5:  # int forms too
            s, p = s[0], p[0]
    w = data(rng, (cout, cin // groups) + k, dtype)
    b = data(rng, (cout,), dtype) if rng.random() < 0.6 else None
    kwargs = dict(stride=s, padding=p, dilation=d, groups=groups, padding_mode=mode)
    return w, b, kwargs, cin


def input_for(rng, w, kwargs, cin, dims, dtype, n=None):
    d = kwargs["dilation"]
    k = w.shape[2:]
    # large enough for any padding mode (reflect needs padding < size)
    spatial = tuple(int(dd * (kk - 1) + 3 + rng.integers(0, 5)) for dd, kk in zip(d, k))
    n = int(rng.integers(1, 4)) if n is None else n
    return data(rng, (n, cin) + spatial, dtype)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_functional(dims, dtype, rng):
    for _ in range(20):
        w, b, kwargs, cin = random_case(rng, dims, dtype)
        pc = PackedConv(w, b, **kwargs)
        assert pc.ndim == dims
        for _ in range(3):  # batch and spatial sizes change between calls
            x = input_for(rng, w, kwargs, cin, dims, dtype)
            same_bits(pc(x), CONV[dims](x, w, b, **kwargs))
            same_bits(pc(x[0]), CONV[dims](x[0], w, b, **kwargs))  # unbatched


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_explicit_constructors(dims, rng):
    w = data(rng, (4, 2) + (3,) * dims, np.float32)
    x = data(rng, (2, 2) + (7,) * dims, np.float32)
    ctor = getattr(PackedConv, f"conv{dims}d")
    pc = ctor(w, None, 2, 1)
    assert isinstance(pc, PackedConv)
    same_bits(pc(x), CONV[dims](x, w, None, 2, 1))
    other = {1: 2, 2: 3, 3: 1}[dims]
    with pytest.raises(ValueError) as info:
        getattr(PackedConv, f"conv{other}d")(w)
    with pytest.raises(ValueError) as ref:
        CONV[other](np.zeros((1, 2) + (7,) * other, np.float32), w)
    assert str(info.value) == str(ref.value)


def test_weight_rank():
    with pytest.raises(ValueError, match=r"PackedConv: weight must be 3-D, 4-D or 5-D.*\(2, 3\)"):
        PackedConv(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="weight must be 3-D, 4-D or 5-D"):
        PackedConv(np.zeros((1,) * 6, np.float32))
    with pytest.raises(TypeError, match="weight"):
        PackedConv(np.zeros((2, 3, 3), np.int64))
    with pytest.raises(TypeError, match="weight"):
        PackedConv("abc")


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_construction_errors_are_the_functional_ones(dims):
    """Every input-independent error of convNd is raised at construction, with its message."""
    w = np.zeros((4, 2) + (3,) * dims, np.float32)
    x = np.zeros((1, 2) + (8,) * dims, np.float32)
    bad = [
        dict(stride=0), dict(stride=-2), dict(stride=1.5), dict(stride=(1,) * (dims + 1)), dict(stride=2**31),
        dict(stride="1"), dict(stride=True),
        dict(padding=-1), dict(padding="full"), dict(padding=(0,) * (dims + 1)), dict(padding=2**31),
        dict(padding="same", stride=2), dict(padding=1.0),
        dict(dilation=0), dict(dilation=(1, 2, 3, 4)), dict(dilation=None),
        dict(groups=0), dict(groups=-1), dict(groups=1.0), dict(groups=3), dict(groups=None),
        dict(padding_mode="zero"), dict(padding_mode=None),
    ]
    for kwargs in bad:
        with pytest.raises((TypeError, ValueError)) as ref:
            CONV[dims](x, w, **kwargs)
        with pytest.raises(type(ref.value)) as info:
            PackedConv(w, **kwargs)
        # The functional message may also mention the input where several arguments conflict;
        # construction reports the same check with the same text where it does not.
        if "input" not in str(ref.value):
            assert str(info.value) == str(ref.value), kwargs
    for wb, name in ((np.zeros((0, 2) + (3,) * dims, np.float32), "output channel"),
                     (np.zeros((4, 2) + (0,) * dims, np.float32), "kernel size")):
        with pytest.raises(ValueError) as ref:
            CONV[dims](x, wb)
        with pytest.raises(ValueError) as info:
            PackedConv(wb)
        assert str(info.value) == str(ref.value) and name in str(info.value)


def test_bias_errors():
    w = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: bias must be 1-D with 4 elements .*\(3,\)"):
        PackedConv(w, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"bias must be 1-D"):
        PackedConv(w, np.zeros((4, 1), np.float32))
    with pytest.raises(TypeError, match="conv2d: bias dtype float64 does not match weight dtype float32"):
        PackedConv(w, np.zeros(4, np.float64))
    with pytest.raises(TypeError, match="bias"):
        PackedConv(w, np.zeros(4, np.int32))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_call_errors(dims):
    w = np.zeros((4, 2) + (3,) * dims, np.float32)
    pc = PackedConv(w, padding=1)
    cases = [
        np.zeros((1, 3) + (5,) * dims, np.float32),        # channels
        np.zeros((1, 1, 2) + (5,) * dims, np.float32),     # rank
        np.zeros((5,) * dims, np.float32),                 # rank
        np.zeros((1, 2) + (5,) * dims, np.float64),        # dtype
        np.zeros((1, 2) + (5,) * dims, np.int32),          # dtype
        np.zeros((1, 2) + (0,) * dims, np.float32),        # empty spatial axis
        "input",
    ]
    for x in cases:
        with pytest.raises((TypeError, ValueError)) as ref:
            CONV[dims](x, w, padding=1)
        with pytest.raises(type(ref.value)) as info:
            pc(x)
        assert str(info.value) == str(ref.value)
    small = PackedConv(np.zeros((4, 2) + (5,) * dims, np.float32))
    with pytest.raises(ValueError, match="kernel size can't be greater than actual input size"):
        small(np.zeros((1, 2) + (3,) * dims, np.float32))
    refl = PackedConv(w, padding=3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        refl(np.zeros((1, 2) + (3,) * dims, np.float32))


def test_messages_name_the_call():
    pc = PackedConv(np.zeros((4, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^conv1d: .*expects 2 input channels"):
        pc(np.zeros((1, 3, 8), np.float32))
    with pytest.raises(TypeError, match=r"^conv1d: weight dtype float32 does not match input dtype float64"):
        pc(np.zeros((1, 2, 8), np.float64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_weights_are_copied(dtype, rng):
    w = data(rng, (3, 2, 3, 3), dtype)
    b = data(rng, (3,), dtype)
    x = data(rng, (2, 2, 6, 6), dtype)
    expected = fmaconv.conv2d(x, w, b, padding=1)
    pc = PackedConv(w, b, padding=1)
    same_bits(pc(x), expected)  # packed now
    w[...] = 0
    b[...] = 7
    same_bits(pc(x), expected)
    w *= 2
    same_bits(PackedConv(w, b, padding=1)(x), fmaconv.conv2d(x, w, b, padding=1))
    # the exposed arrays are read-only views of the private copies
    assert not pc.weight.flags.writeable and not pc.bias.flags.writeable
    with pytest.raises(ValueError):
        pc.weight[...] = 0
    with pytest.raises(ValueError):
        pc.weight.flags.writeable = True
    same_bits(pc(x), expected)


def test_accepts_array_likes_and_layouts(rng):
    w = data(rng, (4, 2, 3, 3), np.float64)
    b = data(rng, (4,), np.float64)
    x = data(rng, (2, 2, 9, 9), np.float64)
    expected = fmaconv.conv2d(x, w, b, stride=(2, 1), padding=[1, 0])
    for wv, bv in ((w.tolist(), b.tolist()), (np.asfortranarray(w), b[::-1].copy()[::-1]),
                   (w.astype(">f8"), b.astype(">f8"))):
        pc = PackedConv(wv, bv, stride=(2, 1), padding=[1, 0])
        assert pc.weight.dtype == np.float64 and pc.weight.dtype.isnative
        same_bits(pc(x), expected)
        for xv in (x[:, :, ::1, ::1], np.asfortranarray(x), x.astype(">f8"), x.tolist(), x[:, :, :, :]):
            same_bits(pc(xv), expected)
    wide = data(rng, (2, 2, 9, 18), np.float64)
    pc = PackedConv(w, b, stride=(2, 1), padding=[1, 0])
    same_bits(pc(wide[..., ::2]), fmaconv.conv2d(wide[..., ::2], w, b, stride=(2, 1), padding=[1, 0]))


def test_numpy_integer_geometry(rng):
    w = data(rng, (4, 4, 3, 3), np.float32)
    x = data(rng, (1, 4, 9, 9), np.float32)
    kw = dict(stride=np.int64(2), padding=(np.int32(1), 2), dilation=[1, np.int64(2)], groups=np.int64(2))
    pc = PackedConv(w[:, :2], None, **kw)
    assert pc._core.fast  # normalised for the core
    same_bits(pc(x), fmaconv.conv2d(x, w[:, :2], None, **kw))
    assert pc.stride is kw["stride"] and pc.padding is kw["padding"]


def test_empty_batch_and_no_input_channels():
    pc = PackedConv(np.ones((3, 2, 3), np.float32))
    same_bits(pc(np.zeros((0, 2, 5), np.float32)), fmaconv.conv1d(np.zeros((0, 2, 5), np.float32),
                                                                  np.ones((3, 2, 3), np.float32)))
    w0 = np.ones((3, 0, 3), np.float32)
    x0 = np.zeros((2, 0, 5), np.float32)
    same_bits(PackedConv(w0)(x0), fmaconv.conv1d(x0, w0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads(dtype, rng):
    w = data(rng, (16, 8, 3, 3), dtype)
    b = data(rng, (16,), dtype)
    pcs = [PackedConv(w, b, padding=1), PackedConv(w, b, padding=(1, 2), padding_mode="circular")]
    inputs = [data(rng, (n, 8, s, s + 1), dtype) for n, s in ((1, 5), (2, 12), (3, 20), (1, 33))]
    expected = [[fmaconv.conv2d(x, w, b, padding=1) for x in inputs],
                [fmaconv.conv2d(x, w, b, padding=(1, 2), padding_mode="circular") for x in inputs]]
    errors = []
    barrier = threading.Barrier(6)

    def worker(t):
        try:
            barrier.wait()
            for i in range(30):
                j = (i + t) % len(inputs)
                for p, exp in zip(pcs, expected):
                    got = p(inputs[j])
                    if got.tobytes() != exp[j].tobytes():
                        errors.append((t, i, j))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    # fresh objects: the first calls (which build the layouts) race too
    pcs = [PackedConv(w, b, padding=1), PackedConv(w, b, padding=(1, 2), padding_mode="circular")]
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_pickle(dims, rng):
    w = data(rng, (4, 2) + (2,) * dims, np.float64)
    b = data(rng, (4,), np.float64)
    x = data(rng, (2, 4) + (6,) * dims, np.float64)
    pc = PackedConv(w, b, stride=2, padding="valid", groups=2, padding_mode="replicate")
    expected = pc(x)
    for obj in (pc, PackedConv(w, b, stride=2, padding="valid", groups=2, padding_mode="replicate")):
        q = pickle.loads(pickle.dumps(obj))
        assert isinstance(q, PackedConv) and q.ndim == dims
        assert not q.weight.flags.writeable
        same_bits(q(x), expected)
        assert (q.stride, q.padding, q.groups, q.padding_mode) == (2, "valid", 2, "replicate")


def test_repr_and_attributes():
    pc = PackedConv(np.zeros((4, 2, 3, 3), np.float32), padding="same", dilation=(1, 2))
    r = repr(pc)
    assert r.startswith("PackedConv.conv2d(") and "padding='same'" in r and "dilation=(1, 2)" in r
    assert pc.bias is None and pc.weight.shape == (4, 2, 3, 3)
    assert pc.groups == 1 and pc.padding_mode == "zeros"
    assert "PackedConv" in fmaconv.__all__


def test_geometry_lists_are_snapshotted():
    # a list stride mutated after construction changes neither the fast nor the fallback path
    w = np.ones((2, 2, 3, 3), np.float32)
    x = np.ones((1, 2, 9, 9), np.float32)
    stride = [2, 2]
    pc = fmaconv.PackedConv(w, stride=stride)
    stride[0] = 1
    assert pc(x).shape == (1, 2, 4, 4)
    assert pc(np.asfortranarray(x)).shape == (1, 2, 4, 4)  # not C-contiguous: the Python path

"""fmaconv.nn layers, loss and fmaconv.optim.SGD.

Every layer's forward and backward is checked twice: against torch autograd (when torch is
installed) and, without torch, against float64 central finite differences (plus a NumPy
convolution written from the definition, tests/nn_reference.py)."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import fmaconv
from fmaconv import nn, optim

import nn_reference as R

# (layer name, positional args, keyword args, input shape) -- the same arguments are valid for
# torch.nn.<name>, so one table drives both oracles.
CASES = [
    ("Conv1d", (3, 4, 3), dict(stride=2, padding=1), (2, 3, 11)),
    ("Conv1d", (4, 6, 3), dict(groups=2, dilation=2, padding=2, padding_mode="reflect"), (2, 4, 9)),
    ("Conv1d", (2, 3, 2), dict(padding="same", padding_mode="circular"), (2, 6)),  # unbatched
    ("Conv2d", (3, 4, (3, 2)), dict(stride=(2, 1), padding=(1, 0)), (2, 3, 7, 6)),
    ("Conv2d", (4, 4, 3), dict(groups=4, padding="same", dilation=2, padding_mode="replicate"), (2, 4, 7, 7)),
    ("Conv2d", (2, 3, 3), dict(padding=1, padding_mode="circular", bias=False), (2, 5, 5)),  # unbatched
    ("Conv3d", (2, 3, 2), dict(stride=2, padding=1), (2, 2, 5, 4, 5)),
    ("Conv3d", (2, 2, 3), dict(padding=1, padding_mode="reflect"), (1, 2, 4, 4, 4)),
    ("MaxPool1d", (3,), dict(stride=2, padding=1), (2, 3, 9)),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 8)),
    ("MaxPool2d", ((3, 2),), dict(stride=(2, 1), padding=1, dilation=(1, 2), ceil_mode=True), (2, 2, 7, 8)),
    ("MaxPool2d", (3,), dict(stride=1), (3, 6, 6)),  # unbatched, overlapping windows
    ("MaxPool3d", (2,), dict(stride=1), (1, 2, 4, 4, 4)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 2, 8, 7)),
    ("AvgPool2d", (2,), dict(divisor_override=3), (2, 2, 6, 6)),
    ("AvgPool3d", (2,), dict(stride=(1, 2, 2)), (1, 2, 4, 5, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 2, 7, 5)),
    ("AdaptiveAvgPool2d", (3,), {}, (2, 7, 5)),  # unbatched
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 2, 7, 5)),
    ("AdaptiveMaxPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("Linear", (5, 4), {}, (3, 5)),
    ("Linear", (5, 4), dict(bias=False), (2, 3, 5)),
    ("ReLU", (), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("Sigmoid", (), {}, (3, 4)),
    ("Flatten", (), {}, (2, 3, 2, 2)),
    ("Flatten", (), dict(start_dim=0, end_dim=1), (2, 3, 2)),
    ("Identity", (), {}, (2, 3)),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def make(name, args, kwargs, dtype):
    cls = getattr(nn, name)
    kw = dict(kwargs)
    if "dtype" in inspect.signature(cls.__init__).parameters:
        kw["dtype"] = dtype
        kw["rng"] = 1
    return cls(*args, **kw)


def distinct_input(shape, dtype, seed=0):
    """Random values without ties (max pooling is not differentiable at a tie)."""
    rng = np.random.default_rng(seed)
    n = math.prod(shape)
    return (rng.permutation(n).reshape(shape) / n * 4 - 2 + rng.uniform(0, 0.1 / n, shape)).astype(dtype)


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_layer_backward_finite_differences(name, args, kwargs, shape):
    layer = make(name, args, kwargs, np.float64)
    x = distinct_input(shape, np.float64)
    y = layer(x)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    gx = layer.backward(gy)

    def f():
        return float((layer(x) * gy).sum())

    np.testing.assert_allclose(gx, R.numeric_grad(f, x), rtol=1e-6, atol=1e-8)
    for pname, p in layer.named_parameters():
        # p.data edits the parameter in place: the conv must notice and repack for f() to change
        np.testing.assert_allclose(p.grad, R.numeric_grad(f, p.data), rtol=1e-6, atol=1e-8, err_msg=pname)


@pytest.mark.parametrize("name,args,kwargs,shape", [c for c in CASES if c[0].startswith("Conv")],
                         ids=[i for i, c in zip(IDS, CASES) if c[0].startswith("Conv")])
def test_conv_layer_vs_numpy_definition(name, args, kwargs, shape):
    layer = make(name, args, kwargs, np.float64)
    x = distinct_input(shape, np.float64)
    batched = x.ndim == layer._dims + 2
    xb = x if batched else x[None]
    w = np.asarray(layer.weight)
    b = None if layer.bias is None else np.asarray(layer.bias)
    geo = (layer.stride, layer.padding, layer.dilation, layer.groups, layer.padding_mode)
    y = layer(x)
    np.testing.assert_allclose(y if batched else y[None], R.conv_forward(xb, w, b, *geo), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(3).standard_normal(y.shape)
    gx = layer.backward(gy)
    rgx, rgw, rgb = R.conv_backward(gy if batched else gy[None], xb, w, *geo)
    np.testing.assert_allclose(gx if batched else gx[None], rgx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, rgw, rtol=1e-12, atol=1e-12)
    if b is not None:
        np.testing.assert_allclose(layer.bias.grad, rgb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_layer_vs_torch(name, args, kwargs, shape, dtype):
    torch = pytest.importorskip("torch")
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tl = getattr(torch.nn, name)(*args, **kwargs).to(tdt)
    layer = make(name, args, kwargs, dtype)
    layer.load_state_dict(tl.state_dict())  # torch tensors load as they are
    x = distinct_input(shape, dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = tl(tx)
    y = layer(x)
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-12)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=atol)
    gy = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    gx = layer.backward(gy)
    g_rtol, g_atol = (1e-4, 1e-5) if dtype == np.float32 else (1e-12, 1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=g_rtol, atol=g_atol)
    tparams = dict(tl.named_parameters())
    for pname, p in layer.named_parameters():
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad, tparams[pname].grad.numpy(), rtol=g_rtol, atol=g_atol, err_msg=pname)


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    for name, args, kwargs, _ in CASES:
        tl = getattr(torch.nn, name)(*args, **kwargs)
        layer = make(name, args, kwargs, np.float32)
        assert list(layer.state_dict()) == list(tl.state_dict()), name
        assert repr(layer) == repr(tl), name
    tseq = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(3, 2)))
    seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2)))
    assert list(seq.state_dict()) == list(tseq.state_dict()) == ["0.weight", "0.bias", "2.0.weight", "2.0.bias"]
    assert repr(seq) == repr(tseq)


# ----------------------------------------------------------------------------- loss

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_finite_differences(reduction):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)) * 3
    t = np.array([0, 3, 1, 1, 2])
    loss = nn.CrossEntropyLoss(reduction)
    out = loss(x, t)
    w = rng.standard_normal(5) if reduction == "none" else 1.0
    g = loss.backward(w)

    def f():
        return float(np.sum(nn.CrossEntropyLoss(reduction)(x, t) * w))

    np.testing.assert_allclose(g, R.numeric_grad(f, x), rtol=1e-7, atol=1e-9)
    ref = np.log(np.exp(x).sum(1)) - x[np.arange(5), t]
    np.testing.assert_allclose(out, {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction], rtol=1e-12)


def test_cross_entropy_stable_and_vs_torch():
    x = np.array([[1000.0, 0.0, -1000.0], [-5e3, 5e3, 0.0]], np.float32)
    loss = nn.CrossEntropyLoss()
    val = loss(x, np.array([0, 2]))
    assert np.isfinite(val) and val.dtype == np.float32
    np.testing.assert_allclose(val, 2500.0, rtol=1e-6)
    np.testing.assert_allclose(loss.backward(), [[0, 0, 0], [0, 0.5, -0.5]], atol=1e-7)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z = rng.standard_normal((64, 10)).astype(np.float32)
    t = rng.integers(0, 10, 64)
    tz = torch.tensor(z, requires_grad=True)
    tval = torch.nn.functional.cross_entropy(tz, torch.tensor(t))
    tval.backward()
    np.testing.assert_allclose(loss(z, t), tval.item(), rtol=1e-6)
    np.testing.assert_allclose(loss.backward(), tz.grad.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(loss(z[0], t[0]), torch.nn.functional.cross_entropy(tz[0], torch.tensor(t[0])).item(),
                               rtol=1e-6)  # unbatched


def test_cross_entropy_errors():
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="reduction.*'avg'"):
        nn.CrossEntropyLoss("avg")
    with pytest.raises(TypeError, match="target.*float"):
        loss(np.zeros((2, 3), np.float32), np.zeros(2))
    with pytest.raises(ValueError, match=r"target values.*\[0, 3\)"):
        loss(np.zeros((2, 3), np.float32), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        loss(np.zeros((2, 3), np.float32), np.array([0]))
    with pytest.raises(ValueError, match="logits must be 1-D"):
        loss(np.zeros((2, 3, 1), np.float32), np.array([0, 1]))
    with pytest.raises(RuntimeError, match="no forward pass"):
        nn.CrossEntropyLoss().backward()


# ----------------------------------------------------------------------------- sequential, modes

def test_sequential_backward_finite_differences():
    net = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, dtype=np.float64, rng=0), nn.Tanh(), nn.MaxPool1d(2),
                        nn.Flatten(), nn.Linear(12, 4, dtype=np.float64, rng=1), nn.Sigmoid(),
                        nn.Linear(4, 3, dtype=np.float64, rng=2))
    x = distinct_input((2, 2, 8), np.float64)
    t = np.array([0, 2])
    loss = nn.CrossEntropyLoss()
    loss(net(x), t)
    gx = net.backward(loss.backward())

    def f():
        return float(loss(net(x), t))

    np.testing.assert_allclose(gx, R.numeric_grad(f, x), rtol=1e-6, atol=1e-9)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(p.grad, R.numeric_grad(f, p.data), rtol=1e-6, atol=1e-9, err_msg=name)
    # input_grad=False skips the first layer's input gradient but not the parameters'
    net.zero_grad()
    loss(net(x), t)
    assert net.backward(loss.backward(), input_grad=False) is None
    assert all(p.grad is not None for p in net.parameters())


def test_relu_nan_and_inplace_backward():
    x = np.array([-1.0, 0.0, 2.0, np.nan])
    for inplace in (False, True):
        r = nn.ReLU(inplace=inplace)
        y = r(x.copy())
        np.testing.assert_array_equal(y, [0, 0, 2, np.nan])
        g = np.array([np.inf, -np.inf, 1, 1])
        np.testing.assert_array_equal(r.backward(g), [0, 0, 1, 1])   # torch: zero where y <= 0 (a select)
        g = np.ones(4)
        out = r.backward(g)
        assert (out is g) == inplace                                  # in place only when asked
        np.testing.assert_array_equal(g, [0, 0, 1, 1] if inplace else [1, 1, 1, 1])
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    torch.relu(tx).backward(torch.ones(4))
    np.testing.assert_array_equal(tx.grad.numpy(), [0, 0, 1, 1])


def test_grad_accumulates_and_zero_grad():
    lin = nn.Linear(3, 2, dtype=np.float64, rng=0)
    x = np.ones((4, 3))
    lin(x)
    lin.backward(np.ones((4, 2)))
    g1 = lin.weight.grad.copy()
    lin(x)
    lin.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.weight.grad, 2 * g1)
    lin.zero_grad(set_to_none=False)
    assert np.all(lin.weight.grad == 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_train_eval_caches():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5))
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    assert net.training and all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    y1, y2 = net(x), net(x)
    np.testing.assert_array_equal(y1, y2)  # dropout is the identity in eval mode
    with pytest.raises(RuntimeError, match="Conv2d.backward: no forward pass"):
        net[0].backward(np.ones((2, 2, 4, 4), np.float32))
    net.train()
    net(x)
    assert net[0]._x is not None
    net.eval()
    assert net[0]._x is None and net[2]._cache is None  # eval() drops what training kept


def test_sequential_container():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Linear(2, 2)
    s = nn.Sequential(a, b)
    assert len(s) == 2 and s[0] is a and s[-1] is b and list(s) == [a, b]
    assert isinstance(s[1:], nn.Sequential) and s[1:][0] is b
    s.append(c)
    assert s[2] is c and list(s.state_dict()) == ["2.weight", "2.bias"]
    with pytest.raises(IndexError, match="index 5"):
        s[5]
    with pytest.raises(TypeError, match="Sequential: every item must be a Module, got int"):
        nn.Sequential(nn.ReLU(), 3)


# ----------------------------------------------------------------------------- init, dtype, RNG

@pytest.mark.parametrize("make_layer,fan_in", [
    (lambda rng: nn.Conv2d(6, 16, 5, rng=rng), 150),
    (lambda rng: nn.Conv1d(8, 4, 3, groups=2, rng=rng), 12),
    (lambda rng: nn.Conv3d(2, 64, (1, 2, 3), rng=rng), 12),
    (lambda rng: nn.Linear(400, 120, rng=rng), 400),
])
def test_init_distribution(make_layer, fan_in):
    layer = make_layer(0)
    bound = 1 / math.sqrt(fan_in)
    w = np.asarray(layer.weight, np.float64)
    assert layer.weight.dtype == np.float32
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(layer.bias) <= bound)
    # U(-b, b): mean 0, variance b^2/3 (loose: a few thousand draws)
    assert abs(w.mean()) < 0.1 * bound
    assert w.var() == pytest.approx(bound ** 2 / 3, rel=0.15)
    assert np.abs(w).max() > 0.9 * bound
    np.testing.assert_array_equal(make_layer(0).weight, layer.weight)       # same seed, same values
    assert not np.array_equal(make_layer(1).weight, layer.weight)
    g = np.random.default_rng(5)
    np.testing.assert_array_equal(make_layer(g).weight, make_layer(np.random.default_rng(5)).weight)


def test_init_bound_matches_torch():
    """torch's own initial values lie within our bound 1/sqrt(fan_in), and its weights come close to it."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for ours, theirs, fan_in in [(nn.Conv2d(6, 16, 5, groups=2), torch.nn.Conv2d(6, 16, 5, groups=2), 75),
                                 (nn.Linear(84, 10), torch.nn.Linear(84, 10), 84)]:
        bound = 1 / math.sqrt(fan_in)
        for name, p in ours.named_parameters():
            tp = np.abs(getattr(theirs, name).detach().numpy())
            assert tp.max() <= bound * (1 + 1e-6) and np.abs(p).max() <= bound, name
        assert np.abs(theirs.weight.detach().numpy()).max() > 0.95 * bound


def test_manual_seed_and_dtype():
    nn.manual_seed(123)
    a = nn.Conv2d(2, 3, 3)
    d1 = nn.Dropout(0.5)(np.ones((100,), np.float32))
    nn.manual_seed(123)
    b = nn.Conv2d(2, 3, 3)
    d2 = nn.Dropout(0.5)(np.ones((100,), np.float32))
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_array_equal(d1, d2)
    c = nn.Conv2d(2, 3, 3, dtype=np.float64, rng=0)
    assert c.weight.dtype == c.bias.dtype == np.float64
    assert c(np.zeros((1, 2, 5, 5))).dtype == np.float64
    assert nn.Linear(2, 2, dtype="float64").weight.dtype == np.float64


def test_dropout():
    x = np.ones((200, 100), np.float32)
    d = nn.Dropout(0.3, rng=0)
    y = d(x)
    zero = y == 0
    assert abs(zero.mean() - 0.3) < 0.02
    np.testing.assert_allclose(y[~zero], 1 / 0.7, rtol=1e-6)
    g = d.backward(np.full_like(x, 2.0))
    np.testing.assert_allclose(g, 2.0 * y, rtol=1e-6)   # the same mask and scale
    assert abs(y.mean() - 1.0) < 0.03                    # inverted dropout keeps the mean
    np.testing.assert_array_equal(nn.Dropout(0.3, rng=0)(x), y)
    assert np.all(nn.Dropout(1.0)(x) == 0) and np.all(nn.Dropout(0.0)(x) == x)
    d.eval()
    assert d(x) is x
    xi = x.copy()
    yi = nn.Dropout(0.5, inplace=True, rng=1)(xi)
    assert yi is xi
    with pytest.raises(ValueError, match="Dropout: p must be between 0 and 1, got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="Dropout: p must be a number"):
        nn.Dropout("0.5")


# ----------------------------------------------------------------------------- state dict, save/load, repack

def test_state_dict_round_trip_and_npz(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Flatten(), nn.Linear(8, 3, rng=1))
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["0.weight"][...] = 7  # a copy: the model does not change
    assert not np.any(net[0].weight == 7)
    other = nn.Sequential(nn.Conv2d(1, 2, 3, rng=5), nn.Flatten(), nn.Linear(8, 3, rng=6))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    other(x)  # packs its own weights first: loading must repack
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(x), net(x))
    path = tmp_path / "m.npz"
    net.save(path)
    third = nn.Sequential(nn.Conv2d(1, 2, 3, rng=7), nn.Flatten(), nn.Linear(8, 3, rng=8))
    third.load(path)
    np.testing.assert_array_equal(third(x), net(x))
    with np.load(path) as f:
        assert sorted(f.files) == sorted(sd)
    # float64 values load into float32 parameters (cast)
    third.load_state_dict({k: v.astype(np.float64) for k, v in net.state_dict().items()})
    assert third[0].weight.dtype == np.float32


def test_load_state_dict_errors():
    net = nn.Sequential(nn.Linear(2, 3, rng=0))
    sd = net.state_dict()
    before = net[0].weight.copy()
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\]"):
        net.load_state_dict({"0.weight": sd["0.weight"]})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**sd, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(2, 3\), the parameter has shape \(3, 2\)"):
        net.load_state_dict({"0.weight": np.zeros((2, 3)), "0.bias": np.ones(3)})
    np.testing.assert_array_equal(net[0].weight, before)  # a failed load changes nothing
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        net.load_state_dict([1, 2])
    keys = net.load_state_dict({"0.weight": np.ones((3, 2)), "extra": 1}, strict=False)
    assert keys.missing_keys == ["0.bias"] and keys.unexpected_keys == ["extra"]
    assert np.all(net[0].weight == 1)


def test_conv_repacks_when_weights_change():
    conv = nn.Conv2d(1, 1, 3, padding=1, rng=0)
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 5)).astype(np.float32)
    y0 = conv(x)                                    # new weights: the functional path, no pack
    assert conv._packed is None
    np.testing.assert_array_equal(conv(x), y0)      # the same weights again: packed, same result
    pc = conv._packed
    assert pc is not None
    conv(x)
    assert conv._packed is pc                       # unchanged weights: no repack
    conv.weight[0, 0, 1, 1] += 1                    # in-place edit
    np.testing.assert_allclose(conv(x), y0 + x, rtol=1e-5, atol=1e-6)
    conv.bias[...] = 0                              # in-place edit of the bias
    conv.weight[...] = 0
    np.testing.assert_array_equal(conv(x), np.zeros_like(y0))
    conv.weight = np.ones((1, 1, 3, 3), np.float32)  # replaced array
    assert isinstance(conv.weight, nn.Parameter)
    np.testing.assert_allclose(conv(x)[0, 0, 2, 2], x[0, 0, 1:4, 1:4].sum(), rtol=1e-5)
    conv.weight.grad = np.ones_like(conv.weight)
    optim.SGD([conv.weight], lr=0.5).step()        # optimizer step
    np.testing.assert_allclose(conv(x)[0, 0, 2, 2], 0.5 * x[0, 0, 1:4, 1:4].sum(), rtol=1e-5)


def test_linear_packs_only_unchanged_weights():
    # new weights run the functional path, the second call with the same weights packs: same results
    lin = nn.Linear(5, 3, rng=0)
    x = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    y0 = lin(x)
    assert lin._packed is None
    np.testing.assert_array_equal(lin(x), y0)
    assert lin._packed is not None
    np.testing.assert_allclose(y0, x.astype(np.float64) @ lin.weight.T + lin.bias, rtol=1e-5, atol=1e-6)
    lin.weight.grad = np.ones_like(lin.weight)
    optim.SGD([lin.weight], lr=0.5).step()            # a step: the functional path again
    y1 = lin(x)
    assert lin._packed is None
    np.testing.assert_allclose(y1, y0 - 0.5 * x.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(lin(x), y1)


def test_parameter_behaviour():
    lin = nn.Linear(3, 2, rng=0)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert all(isinstance(p, nn.Parameter) for p in lin.parameters())
    y = lin.weight * 2
    assert type(y) is np.ndarray                     # arithmetic gives plain arrays
    with pytest.raises(TypeError, match="cannot assign str to parameter 'weight'"):
        lin.weight = "x"
    with pytest.raises(TypeError, match="Parameter: data must be float32 or float64, got dtype int64"):
        nn.Parameter(np.arange(3))


# ----------------------------------------------------------------------------- SGD

@pytest.mark.parametrize("kw", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, weight_decay=1e-2),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    dict(lr=0.05, momentum=0.5, maximize=True),
])
def test_sgd_matches_formula_and_torch(kw):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(3)]
    p = nn.Parameter(p0)
    opt = optim.SGD([p], **kw)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    # the update written out (PyTorch's documented algorithm)
    lr, mom, damp = kw["lr"], kw.get("momentum", 0), kw.get("dampening", 0)
    wd, nest, maxi = kw.get("weight_decay", 0), kw.get("nesterov", False), kw.get("maximize", False)
    q, buf = p0.copy(), None
    for g in grads:
        g = -g if maxi else g
        g = g + wd * q
        if mom:
            buf = g.copy() if buf is None else mom * buf + (1 - damp) * g
            g = g + mom * buf if nest else buf
        q = q - lr * g
    np.testing.assert_allclose(p, q, rtol=1e-12)
    torch = pytest.importorskip("torch")
    tp = torch.nn.Parameter(torch.tensor(p0))
    topt = torch.optim.SGD([tp], **kw)
    for g in grads:
        tp.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=1e-12)


def test_sgd_skips_missing_grads_and_groups():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_allclose(a, 0.9)
    np.testing.assert_allclose(b, 1.0)
    b.grad = np.ones(2)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("kw,exc,msg", [
    (dict(lr=-1), ValueError, "SGD: lr must be >= 0.0, got -1.0"),
    (dict(lr="x"), TypeError, "SGD: lr must be a real number, got 'x'"),
    (dict(lr=0.1, momentum=-0.5), ValueError, "SGD: momentum must be >= 0.0, got -0.5"),
    (dict(lr=0.1, weight_decay=-1), ValueError, "SGD: weight_decay must be >= 0.0"),
    (dict(lr=0.1, nesterov=True), ValueError, "nesterov momentum requires momentum > 0"),
    (dict(lr=0.1, nesterov=1), TypeError, "SGD: nesterov must be a bool, got 1"),
])
def test_sgd_errors(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        optim.SGD([nn.Parameter(np.ones(2))], **kw)


def test_sgd_param_errors():
    with pytest.raises(ValueError, match="SGD: params is an empty list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="SGD: params must be fmaconv.nn.Parameter arrays, got ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="got a single array"):
        optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("factory,exc,msg", [
    (lambda: nn.Conv2d(0, 4, 3), ValueError, "Conv2d: in_channels must be positive, got 0"),
    (lambda: nn.Conv2d(2.0, 4, 3), TypeError, "Conv2d: in_channels must be an int, got 2.0"),
    (lambda: nn.Conv2d(2, -1, 3), ValueError, "Conv2d: out_channels must be positive, got -1"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "Conv2d: in_channels=3 must be divisible by groups=2"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ValueError, "Conv2d: out_channels=6 must be divisible by groups=4"),
    (lambda: nn.Conv2d(2, 4, 0), ValueError, "Conv2d: kernel_size must be positive, got 0"),
    (lambda: nn.Conv2d(2, 4, (3, 3, 3)), ValueError, r"Conv2d: kernel_size must be an int or a sequence of 2"),
    (lambda: nn.Conv1d(2, 4, 3, stride=0), ValueError, "Conv1d: stride must be positive, got 0"),
    (lambda: nn.Conv1d(2, 4, 3, padding=-1), ValueError, "Conv1d: padding must be non-negative, got -1"),
    (lambda: nn.Conv1d(2, 4, 3, padding="full"), ValueError, "Conv1d: padding must be 'valid', 'same'"),
    (lambda: nn.Conv1d(2, 4, 3, padding="same", stride=2), ValueError, "padding='same' is not supported for strided"),
    (lambda: nn.Conv3d(2, 4, 3, dilation=0), ValueError, "Conv3d: dilation must be positive, got 0"),
    (lambda: nn.Conv2d(2, 4, 3, padding_mode="mirror"), ValueError, "Conv2d: padding_mode must be one of"),
    (lambda: nn.Conv2d(2, 4, 3, bias=1), TypeError, "Conv2d: bias must be a bool, got 1"),
    (lambda: nn.Conv2d(2, 4, 3, dtype=np.int32), TypeError, "Conv2d: dtype must be float32 or float64"),
    (lambda: nn.Conv2d(2, 4, 3, rng="seed"), TypeError, "Conv2d: rng must be None, an int seed or a numpy"),
    (lambda: nn.Linear(0, 3), ValueError, "Linear: in_features must be positive, got 0"),
    (lambda: nn.Linear(3, 2.5), TypeError, "Linear: out_features must be an int, got 2.5"),
    (lambda: nn.MaxPool2d(0), ValueError, "MaxPool2d: kernel_size must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, "MaxPool2d: stride must be positive, got 0"),
    (lambda: nn.MaxPool1d(2, padding=2), ValueError, "MaxPool1d: padding should be at most half of kernel_size"),
    (lambda: nn.MaxPool3d(2, dilation=0), ValueError, "MaxPool3d: dilation must be positive, got 0"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, "MaxPool2d: ceil_mode must be a bool, got 1"),
    (lambda: nn.AvgPool2d(3, padding=2), ValueError, "AvgPool2d: padding should be at most half of kernel_size"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "AvgPool2d: divisor_override must be non-zero"),
    (lambda: nn.AvgPool3d(2, divisor_override=1.5), TypeError, "AvgPool3d: divisor_override must be an int"),
    (lambda: nn.AvgPool1d((2, 2)), ValueError, "AvgPool1d: kernel_size must be an int or a sequence of 1"),
    (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), ValueError, "AdaptiveAvgPool2d: output_size must be an int or a"),
    (lambda: nn.AdaptiveMaxPool1d(-1), ValueError, "AdaptiveMaxPool1d: output_size must be non-negative, got -1"),
    (lambda: nn.AdaptiveMaxPool1d(None), TypeError, "AdaptiveMaxPool1d: output_size must be an int"),
    (lambda: nn.ReLU(inplace=1), TypeError, "ReLU: inplace must be a bool, got 1"),
    (lambda: nn.Flatten(start_dim=1.0), TypeError, "Flatten: start_dim must be an int, got 1.0"),
    (lambda: nn.manual_seed(1.5), TypeError, "manual_seed: seed must be an int, got 1.5"),
])
def test_constructor_errors(factory, exc, msg):
    with pytest.raises(exc, match=msg):
        factory()


def test_input_errors():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d: input must be 3-D \(unbatched\) or 4-D \(batched\), got shape \(8, 8\)"):
        conv(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d: input has 2 channels \(shape \(1, 2, 8, 8\)\), expected in_channels=3"):
        conv(np.zeros((1, 2, 8, 8), np.float32))
    with pytest.raises(TypeError, match="Conv2d: input dtype float64 does not match the layer's dtype float32"):
        conv(np.zeros((1, 3, 8, 8)))
    lin = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"Linear: input's last dimension must be in_features=4, got shape \(2, 3\)"):
        lin(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="Linear: input dtype float64 does not match weight dtype float32"):
        lin(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Flatten: start_dim=3 and end_dim=-1 are out of range"):
        nn.Flatten(3)(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"MaxPool2d: input must be 3-D \(unbatched\) or 4-D \(batched\), got shape \(1, 1, 1, 2, 2\)"):
        nn.MaxPool2d(2)(np.zeros((1, 1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"AvgPool1d: input must be 2-D \(unbatched\) or 3-D"):
        nn.AvgPool1d(2)(np.zeros((4,), np.float32))
    with pytest.raises(ValueError, match=r"AdaptiveMaxPool3d: input must be 4-D \(unbatched\) or 5-D"):
        nn.AdaptiveMaxPool3d(2)(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="ReLU.backward: grad_output shape"):
        r = nn.ReLU()
        r(np.zeros(3))
        r.backward(np.zeros(4))


def test_deepcopy_and_pickle():
    import copy
    import pickle
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2, rng=1))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    y = net(x)
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(other(x), y)
        assert isinstance(other[0].weight, nn.Parameter)
        other[0].weight[...] = 0                      # independent copies
        assert not np.array_equal(other(x), y)
    np.testing.assert_array_equal(net(x), y)


def test_to_dtype():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Flatten(), nn.Linear(8, 2, rng=1))
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    y32 = net(x.astype(np.float32))
    assert net.double() is net and all(p.dtype == np.float64 for p in net.parameters())
    y64 = net(x)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y64, y32, rtol=1e-5, atol=1e-6)
    assert net.float()(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="Sequential.to: dtype must be float32 or float64"):
        net.to(np.float16)

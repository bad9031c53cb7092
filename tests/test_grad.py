"""fmaconv.grad: convolution and pooling gradients.

Oracles: PyTorch autograd (skipped without torch), the NumPy reference reference_grad.py (runs
without torch) and central finite differences of fmaconv's own forward ops (float64).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fmaconv
import reference as R
import reference_grad as RG
from fmaconv import grad as G
from helpers import TOL

# ----------------------------------------------------------------------------- cases
# (name, dims, x_shape (batched or not), weight_shape, stride, padding, dilation, groups, padding_mode)
CONV_CASES = [
    ("1d basic", 1, (2, 3, 11), (4, 3, 3), 1, 0, 1, 1, "zeros"),
    ("1d s2 p1", 1, (3, 2, 12), (5, 2, 4), 2, 1, 1, 1, "zeros"),
    ("1d s3 d2", 1, (2, 4, 17), (6, 2, 3), 3, 2, 2, 2, "zeros"),
    ("1d unbatched", 1, (3, 9), (2, 3, 2), 1, 1, 1, 1, "zeros"),
    ("1d same even", 1, (2, 3, 10), (4, 3, 4), 1, "same", 1, 1, "zeros"),
    ("1d reflect", 1, (2, 3, 9), (4, 3, 3), 1, 2, 1, 1, "reflect"),
    ("1d circular s2", 1, (2, 3, 9), (4, 3, 3), 2, 3, 1, 1, "circular"),
    ("2d basic", 2, (2, 3, 9, 8), (4, 3, 3, 3), 1, 1, 1, 1, "zeros"),
    ("2d valid", 2, (3, 2, 10, 12), (5, 2, 5, 5), 1, "valid", 1, 1, "zeros"),
    ("2d s2 p1", 2, (2, 4, 11, 10), (6, 4, 3, 3), 2, 1, 1, 1, "zeros"),
    ("2d s3 k2", 2, (2, 3, 13, 11), (4, 3, 2, 2), 3, 0, 1, 1, "zeros"),
    ("2d s2 d2", 2, (1, 3, 15, 14), (4, 3, 3, 3), 2, 2, 2, 1, "zeros"),
    ("2d s(1,2) d(2,1) p(2,0)", 2, (2, 3, 10, 11), (4, 3, 3, 4), (1, 2), (2, 0), (2, 1), 1, "zeros"),
    ("2d stride > extent", 2, (2, 3, 13, 13), (4, 3, 2, 2), 3, 1, 1, 1, "zeros"),
    ("2d padding beyond kernel", 2, (2, 2, 5, 6), (3, 2, 2, 2), 2, 3, 1, 1, "zeros"),
    ("2d 1x1 s2", 2, (2, 8, 7, 7), (5, 8, 1, 1), 2, 0, 1, 1, "zeros"),
    ("2d groups 2", 2, (2, 4, 9, 9), (6, 2, 3, 3), 1, 1, 1, 2, "zeros"),
    ("2d depthwise", 2, (2, 5, 10, 9), (5, 1, 3, 3), 1, 1, 1, 5, "zeros"),
    ("2d depthwise s2", 2, (2, 4, 11, 12), (4, 1, 5, 5), 2, 2, 1, 4, "zeros"),
    ("2d channel multiplier", 2, (2, 3, 9, 8), (6, 1, 3, 3), 1, 1, 2, 3, "zeros"),
    ("2d same even d2", 2, (2, 3, 9, 10), (4, 3, 4, 2), 1, "same", 2, 1, "zeros"),
    ("2d reflect", 2, (2, 3, 8, 9), (4, 3, 3, 3), 1, 2, 1, 1, "reflect"),
    ("2d replicate s2", 2, (2, 3, 9, 8), (4, 3, 3, 3), 2, 1, 1, 1, "replicate"),
    ("2d circular same", 2, (2, 3, 7, 8), (4, 3, 3, 4), 1, "same", 1, 1, "circular"),
    ("2d unbatched", 2, (3, 8, 9), (4, 3, 3, 3), 1, 1, 1, 1, "zeros"),
    ("2d batch 1 wide", 2, (1, 16, 20, 20), (24, 16, 3, 3), 1, 1, 1, 1, "zeros"),
    ("2d lenet conv1", 2, (4, 3, 32, 32), (6, 3, 5, 5), 1, 0, 1, 1, "zeros"),
    ("2d lenet conv2", 2, (5, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1, 1, "zeros"),
    ("2d many chunks", 2, (9, 2, 40, 36), (3, 2, 3, 5), 1, 0, 1, 1, "zeros"),
    ("2d 1100 out channels", 2, (2, 2, 20, 30), (1100, 2, 3, 3), 1, 1, 1, 1, "zeros"),
    ("3d basic", 3, (2, 2, 5, 6, 5), (3, 2, 3, 3, 3), 1, 1, 1, 1, "zeros"),
    ("3d s2 d2", 3, (1, 3, 9, 8, 9), (4, 3, 2, 3, 2), 2, 1, 2, 1, "zeros"),
    ("3d groups", 3, (2, 4, 5, 5, 6), (4, 2, 3, 1, 3), (1, 2, 1), (1, 0, 1), 1, 2, "zeros"),
    ("3d unbatched reflect", 3, (2, 5, 6, 5), (3, 2, 3, 3, 3), 1, 1, 1, 1, "reflect"),
    ("3d replicate", 3, (1, 2, 4, 5, 6), (2, 2, 2, 3, 2), 1, (1, 1, 0), 1, 1, "replicate"),
]
CASE_IDS = [c[0] for c in CONV_CASES]


def _arrays(rng, case, dtype):
    _, dims, xs, ws, s, p, d, g, mode = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    y = fmaconv.functional._conv("t", dims, x, w, None, s, p, d, g, mode)
    gy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, gy


def _torch_conv_grads(torch, case, x, w, gy):
    _, dims, xs, ws, s, p, d, g, mode = case
    F = torch.nn.functional
    tx = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    tw = torch.tensor(np.asarray(w, np.float64), requires_grad=True)
    tb = torch.zeros(ws[0], dtype=torch.float64, requires_grad=True)
    conv = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims](
        ws[1] * g, ws[0], ws[2:], stride=s, padding=p, dilation=d, groups=g, padding_mode=mode, bias=True,
        dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(tw)
        conv.bias.zero_()
    y = conv(tx)
    y.backward(torch.tensor(np.asarray(gy, np.float64)))
    return tx.grad.numpy(), conv.weight.grad.numpy(), conv.bias.grad.numpy()


def _close(got, expected, dtype, what):
    assert isinstance(got, np.ndarray) and got.dtype == np.dtype(dtype), what
    assert got.flags.c_contiguous, what
    assert got.shape == np.shape(expected), (what, got.shape, np.shape(expected))
    tol = dict(TOL[np.dtype(dtype)])
    # long reductions: scale the absolute tolerance with the gradient's magnitude
    scale = max(1.0, float(np.max(np.abs(expected))) if np.size(expected) else 1.0)
    tol["atol"] = tol["atol"] * scale
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, equal_nan=True, err_msg=what, **tol)


# ----------------------------------------------------------------------------- convolution

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_conv_backward_vs_torch(torch, rng, case, dtype):
    x, w, gy = _arrays(rng, case, dtype)
    _, dims, xs, ws, s, p, d, g, mode = case
    gx, gw, gb = G.conv_backward(gy, x, w, s, p, d, g, mode)
    ex, ew, eb = _torch_conv_grads(torch, case, x, w, gy)
    _close(gx, ex, dtype, "grad_input")
    _close(gw, ew, dtype, "grad_weight")
    _close(gb, eb, dtype, "grad_bias")


@pytest.mark.parametrize("case", CONV_CASES, ids=CASE_IDS)
def test_conv_backward_vs_reference(rng, case):
    x, w, gy = _arrays(rng, case, np.float64)
    _, dims, xs, ws, s, p, d, g, mode = case
    gx, gw, gb = G.conv_backward(gy, x, w, s, p, d, g, mode)
    ex, ew, eb = RG.conv_grads(gy, x, w, s, p, d, g, mode)
    _close(gx, ex, np.float64, "grad_input")
    _close(gw, ew, np.float64, "grad_weight")
    _close(gb, eb, np.float64, "grad_bias")


def test_reference_vs_torch(torch, rng):
    """The NumPy reference itself agrees with autograd (so the reference tests mean something)."""
    for case in CONV_CASES[::3]:
        x, w, gy = _arrays(rng, case, np.float64)
        _, dims, xs, ws, s, p, d, g, mode = case
        got = RG.conv_grads(gy, x, w, s, p, d, g, mode)
        for a, b in zip(got, _torch_conv_grads(torch, case, x, w, gy)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=case[0])


def _fd_conv(x, w, gy, args, h=1e-6):
    """Directional derivatives of L = sum(gy * conv(x, w)) along random directions."""
    rng = np.random.default_rng(1)
    vx, vw = rng.standard_normal(x.shape), rng.standard_normal(w.shape)

    def L(xx, ww):
        return float(np.sum(gy * fmaconv.functional._conv("fd", w.ndim - 2, xx, ww, None, *args)))

    dx = (L(x + h * vx, w) - L(x - h * vx, w)) / (2 * h)
    dw = (L(x, w + h * vw) - L(x, w - h * vw)) / (2 * h)
    return vx, dx, vw, dw


@pytest.mark.parametrize("name", ["1d s3 d2", "2d s2 d2", "2d reflect", "2d circular same", "3d groups",
                                  "2d depthwise s2"])
def test_conv_backward_finite_differences(rng, name):
    case = next(c for c in CONV_CASES if c[0] == name)
    x, w, gy = _arrays(rng, case, np.float64)
    args = case[4:]
    gx, gw, gb = G.conv_backward(gy, x, w, *args)
    vx, dx, vw, dw = _fd_conv(x, w, gy, args)
    assert abs(np.sum(gx * vx) - dx) <= 1e-6 * max(1.0, abs(dx))
    assert abs(np.sum(gw * vw) - dw) <= 1e-6 * max(1.0, abs(dw))
    # the bias: L grows by sum(gy[:, co]) per unit of b[co]
    axes = tuple(i for i in range(gy.ndim) if i != (1 if x.ndim == w.ndim else 0))
    np.testing.assert_allclose(gb, gy.sum(axis=axes), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask", [(True, False, False), (False, True, False), (False, False, True),
                                  (False, True, True), (True, True, False), (False, False, False)])
def test_output_mask(rng, mask):
    case = CONV_CASES[9]  # 2d s2 p1
    x, w, gy = _arrays(rng, case, np.float64)
    full = G.conv_backward(gy, x, w, *case[4:])
    got = G.conv_backward(gy, x, w, *case[4:], output_mask=mask)
    for want, f, r in zip(mask, full, got):
        if want:
            np.testing.assert_array_equal(r, f)
        else:
            assert r is None


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_torch_nn_grad_api(torch, rng, dims):
    """conv{1,2,3}d_input / _weight: torch.nn.grad's names and argument order."""
    xs = (2, 4) + (7, 8, 6)[:dims]
    ws = (6, 2) + (3, 2, 3)[:dims]
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    kw = dict(stride=2, padding=1, dilation=1, groups=2)
    y = getattr(fmaconv, f"conv{dims}d")(x, w, None, **kw)
    gy = rng.standard_normal(y.shape)
    tgi = getattr(torch.nn.grad, f"conv{dims}d_input")(xs, torch.tensor(w), torch.tensor(gy), **kw)
    tgw = getattr(torch.nn.grad, f"conv{dims}d_weight")(torch.tensor(x), ws, torch.tensor(gy), **kw)
    _close(getattr(G, f"conv{dims}d_input")(xs, w, gy, **kw), tgi.numpy(), np.float64, "input")
    _close(getattr(G, f"conv{dims}d_weight")(x, ws, gy, **kw), tgw.numpy(), np.float64, "weight")
    # positional order as torch: (input_size, weight, grad_output, stride, padding, dilation, groups)
    a = getattr(G, f"conv{dims}d_input")(list(xs), w.astype(np.float32), gy.astype(np.float32), 2, 1, 1, 2)
    assert a.dtype == np.float32 and a.shape == xs


def test_api_matches_conv_backward(rng):
    case = CONV_CASES[12]
    x, w, gy = _arrays(rng, case, np.float64)
    _, dims, xs, ws, s, p, d, g, _ = case
    gx, gw, _ = G.conv_backward(gy, x, w, s, p, d, g)
    np.testing.assert_array_equal(G.conv2d_input(xs, w, gy, s, p, d, g), gx)
    np.testing.assert_array_equal(G.conv2d_weight(x, ws, gy, s, p, d, g), gw)


def test_layouts_and_array_likes(rng):
    """Non-contiguous views, Fortran order, read-only and list inputs give the same result."""
    case = CONV_CASES[9]
    x, w, gy = _arrays(rng, case, np.float64)
    args = case[4:]
    ref = G.conv_backward(gy, x, w, *args)
    xv = np.ascontiguousarray(np.swapaxes(x, 2, 3)).swapaxes(2, 3)  # strided view
    wv = np.zeros((w.shape[0] * 2,) + w.shape[1:])[::2]
    wv[...] = w
    gyf = np.asfortranarray(gy)
    gyf.flags.writeable = False
    got = G.conv_backward(gyf, xv, wv, *args)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    got = G.conv_backward(gy.tolist(), x.tolist(), w.tolist(), *args)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty(dtype):
    x = np.zeros((0, 3, 8, 8), dtype)
    w = np.ones((4, 3, 3, 3), dtype)
    gy = np.zeros((0, 4, 6, 6), dtype)
    gx, gw, gb = G.conv_backward(gy, x, w)
    assert gx.shape == x.shape and gx.dtype == dtype
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    np.testing.assert_array_equal(gb, np.zeros(4))
    # no input channels: PyTorch's forward has no output channels either
    gx, gw, gb = G.conv_backward(np.zeros((2, 0, 6, 6), dtype), np.zeros((2, 0, 8, 8), dtype),
                                 np.zeros((4, 0, 3, 3), dtype))
    assert gx.shape == (2, 0, 8, 8) and gw.shape == (4, 0, 3, 3) and gb.shape == (4,)


def test_nonfinite_input_weight_gradient(torch, rng):
    """inf/NaN in x reach exactly the weight taps that read them (no NaN leaks from the
    zero-padded position grid into other taps)."""
    for xs, ws, s, p in (((2, 3, 12, 14), (4, 3, 3, 5), 1, 0), ((2, 3, 12, 14), (4, 3, 3, 3), 2, 1),
                         ((2, 3, 20, 20), (4, 3, 5, 5), 1, 2)):
        x = rng.standard_normal(xs)
        x[0, 1, 3, -1] = np.inf
        x[1, 2, -1, 0] = np.nan
        w = rng.standard_normal(ws)
        gy = rng.standard_normal(fmaconv.conv2d(x, w, None, s, p).shape)
        case = ("nf", 2, xs, ws, s, p, 1, 1, "zeros")
        ex, ew, eb = _torch_conv_grads(torch, case, x, w, gy)
        gx, gw, gb = G.conv_backward(gy, x, w, s, p)
        _close(gw, ew, np.float64, "grad_weight")
        assert np.isfinite(gw).sum() == np.isfinite(ew).sum() > 0


@pytest.mark.parametrize("where", ["weight", "grad_output"])
def test_nonfinite_input_gradient(torch, rng, where):
    """inf/NaN in the weights or grad_output reach exactly the input cells PyTorch's gradient
    gives them (never via padding zeros or the zero taps of a padding wider than the kernel)."""
    for xs, ws, s, p, d in (((2, 3, 9, 9), (4, 3, 3, 3), 1, 1, 1), ((2, 3, 9, 9), (4, 3, 3, 3), 2, 1, 1),
                            ((2, 2, 5, 6), (3, 2, 2, 2), 2, 3, 1), ((2, 2, 5, 6), (3, 2, 1, 1), 1, 2, 1),
                            ((2, 3, 9, 9), (4, 3, 3, 3), 2, 2, 2)):
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws)
        gy = rng.standard_normal(fmaconv.conv2d(x, w, None, s, p, d).shape)
        if where == "weight":
            w[1, 0, 0, -1] = np.inf
        else:
            gy[0, 1, 0, 0] = np.inf
            gy[1, 2, -1, 1] = np.nan
        case = ("nf", 2, xs, ws, s, p, d, 1, "zeros")
        ex, ew, _ = _torch_conv_grads(torch, case, x, w, gy)
        gx, gw, _ = G.conv_backward(gy, x, w, s, p, d)
        for got, exp in ((gx, ex), (gw, ew)):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(exp))
            np.testing.assert_array_equal(np.isinf(got), np.isinf(exp))
            fin = np.isfinite(exp)
            np.testing.assert_allclose(got[fin], exp[fin], rtol=1e-10, atol=1e-10)


def test_threads_bit_identical(rng, restore_threads):
    cases = [c for c in CONV_CASES if c[0] in ("2d many chunks", "2d s2 d2", "2d lenet conv2", "2d depthwise s2",
                                               "2d batch 1 wide", "3d groups")]
    for case in cases:
        for dtype in (np.float32, np.float64):
            x, w, gy = _arrays(rng, case, dtype)
            results = []
            for t in (1, 2, 3):
                fmaconv.set_num_threads(t)
                results.append(G.conv_backward(gy, x, w, *case[4:]))
            for r in results[1:]:
                for a, b in zip(r, results[0]):
                    np.testing.assert_array_equal(a, b, err_msg=case[0])


GUARD_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    from conv_tile_check import guarded_copy
    from fmaconv import grad as G
    import fmaconv
    rng = np.random.default_rng(0)
    for xs, ws in (((3, 2, 20, 20), (4, 2, 5, 5)), ((2, 3, 17, 30), (5, 3, 3, 2)), ((1, 1, 40, 16), (2, 1, 1, 4))):
        for dt in (np.float32, np.float64):
            x = guarded_copy(rng.standard_normal(xs).astype(dt))
            w = rng.standard_normal(ws).astype(dt)
            gy = guarded_copy(rng.standard_normal(fmaconv.conv2d(x, w).shape).astype(dt))
            gx, gw, gb = G.conv_backward(gy, x, w)
            assert np.isfinite(gw).all()
    print("ok")
""")


def test_weight_gradient_reads_in_bounds():
    """The weight gradient reads valid stride-1 inputs in place: up to the last byte of x, which
    is followed by a PROT_NONE page (an over-read kills the subprocess)."""
    script = GUARD_SCRIPT.format(tests=os.path.dirname(__file__))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, (r.returncode, r.stdout, r.stderr)


# ----------------------------------------------------------------------------- pooling

POOL_CASES = [
    # dims, x_shape, kernel, stride, padding, dilation (max only), ceil_mode
    (1, (2, 3, 11), 3, 2, 1, 1, False),
    (1, (2, 3, 12), 2, None, 0, 2, True),
    (1, (3, 10), 3, 1, 1, 1, False),
    (2, (2, 3, 9, 10), 2, 2, 0, 1, False),
    (2, (2, 3, 9, 10), 3, 2, 1, 1, True),
    (2, (2, 2, 11, 9), 3, 1, 1, 1, False),
    (2, (2, 2, 11, 9), (3, 2), (2, 1), (1, 0), (2, 1), True),
    (2, (3, 7, 8), 2, 2, 1, 1, True),
    (2, (4, 6, 28, 28), 2, 2, 0, 1, False),
    (3, (2, 2, 5, 6, 7), 2, 2, 0, 1, False),
    (3, (1, 2, 7, 6, 5), 3, 2, 1, 1, True),
    (3, (2, 5, 6, 5), (3, 2, 2), (1, 2, 1), (1, 1, 0), 1, False),
]


def _pool_ids():
    return [f"{c[0]}d-{c[1]}-k{c[2]}-s{c[3]}-p{c[4]}-d{c[5]}-{'ceil' if c[6] else 'floor'}" for c in POOL_CASES]


@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_ids())
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_backward(torch, rng, case, dtype):
    dims, xs, k, s, p, d, ceil = case
    x = rng.standard_normal(xs).astype(dtype)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    ty, tidx = getattr(torch.nn.functional, f"max_pool{dims}d")(tx, k, s, p, d, ceil, True)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy.astype(np.float64)))
    y, idx = getattr(fmaconv, f"max_pool{dims}d")(x, k, s, p, d, ceil, True)
    g = G.max_pool_backward(gy, idx, xs, dims=dims)
    _close(g, tx.grad.numpy(), dtype, "max pool grad")
    if dtype == np.float64:
        _close(g, RG.max_pool_grad(gy, x, k, s, p, d, ceil, dims=dims), dtype, "max pool grad vs reference")


@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_ids())
def test_max_pool_backward_reference(rng, case):
    dims, xs, k, s, p, d, ceil = case
    x = rng.integers(-2, 3, size=xs).astype(np.float64)  # ties: the first maximum takes the gradient
    y, idx = getattr(fmaconv, f"max_pool{dims}d")(x, k, s, p, d, ceil, True)
    gy = rng.standard_normal(y.shape)
    g = G.max_pool_backward(gy, idx, xs, dims=dims)
    _close(g, RG.max_pool_grad(gy, x, k, s, p, d, ceil, dims=dims), np.float64, "max pool grad")
    if len(xs) == dims + 2:  # rank inferred from input_shape vs grad_output
        np.testing.assert_array_equal(G.max_pool_backward(gy, idx, xs), g)


AVG_EDGES = [(cm, cip, dv) for cm in (False, True) for cip in (True, False) for dv in (None, 3, -2)]


@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_ids())
@pytest.mark.parametrize("edge", AVG_EDGES, ids=[f"ceil{a}-cip{b}-div{c}" for a, b, c in AVG_EDGES])
def test_avg_pool_backward(torch, rng, case, edge):
    dims, xs, k, s, p, _, _ = case
    ceil, cip, div = edge
    if dims == 3 and any(i < kk for i, kk in zip(xs[-3:], R.ntuple(k, 3))):
        pytest.skip("avg_pool3d rejects inputs smaller than the kernel")
    if dims == 1 and div is not None:
        div = None  # torch's avg_pool1d has no divisor_override (fmaconv accepts it: reference-checked below)
    x = rng.standard_normal(xs)
    tx = torch.tensor(x, requires_grad=True)
    F = torch.nn.functional
    if dims == 1:
        ty = F.avg_pool1d(tx, k, s, p, ceil, cip)
    else:
        ty = getattr(F, f"avg_pool{dims}d")(tx, k, s, p, ceil, cip, div)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    g = getattr(G, f"avg_pool{dims}d_backward")(gy, xs, k, s, p, ceil, cip, div)
    _close(g, tx.grad.numpy(), np.float64, "avg pool grad")
    g32 = getattr(G, f"avg_pool{dims}d_backward")(gy.astype(np.float32), xs, k, s, p, ceil, cip, div)
    _close(g32, tx.grad.numpy(), np.float32, "avg pool grad float32")


@pytest.mark.parametrize("case", POOL_CASES, ids=_pool_ids())
def test_avg_pool_backward_reference(rng, case):
    dims, xs, k, s, p, _, ceil = case
    if dims == 3 and any(i < kk for i, kk in zip(xs[-3:], R.ntuple(k, 3))):
        pytest.skip("avg_pool3d rejects inputs smaller than the kernel")
    for cip, div in ((True, None), (False, None), (True, 5)):
        y = getattr(fmaconv, f"avg_pool{dims}d")(np.zeros(xs), k, s, p, ceil, cip, div)
        gy = rng.standard_normal(y.shape)
        g = getattr(G, f"avg_pool{dims}d_backward")(gy, xs, k, s, p, ceil, cip, div)
        _close(g, RG.avg_pool_grad(gy, xs, k, s, p, ceil, cip, div, dims=dims), np.float64, "avg pool grad")


ADAPTIVE = [(1, (2, 3, 10), 4), (1, (3, 7), 7), (2, (2, 3, 9, 7), (4, 3)), (2, (2, 3, 8, 8), (4, None)),
            (2, (2, 3, 5, 6), 1), (2, (2, 3, 5, 6), (7, 9)), (3, (1, 2, 5, 6, 7), (2, 3, 4)), (3, (2, 4, 5, 6), 3)]


@pytest.mark.parametrize("case", ADAPTIVE, ids=[f"{c[0]}d-{c[1]}-{c[2]}" for c in ADAPTIVE])
def test_adaptive_backward(torch, rng, case):
    dims, xs, out = case
    x = rng.standard_normal(xs)
    F = torch.nn.functional
    for kind in ("avg", "max"):
        tx = torch.tensor(x, requires_grad=True)
        if kind == "avg":
            ty = getattr(F, f"adaptive_avg_pool{dims}d")(tx, out)
        else:
            ty, tidx = getattr(F, f"adaptive_max_pool{dims}d")(tx, out, True)
        gy = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(gy))
        if kind == "avg":
            g = G.adaptive_avg_pool_backward(gy, xs, dims=dims)
            ref = RG.adaptive_avg_pool_grad(gy, xs, dims)
        else:
            _, idx = getattr(fmaconv, f"adaptive_max_pool{dims}d")(x, out, True)
            g = G.max_pool_backward(gy, idx, xs, dims=dims)
            ref = RG.adaptive_max_pool_grad(gy, x, dims)
        _close(g, tx.grad.numpy(), np.float64, kind)
        _close(g, ref, np.float64, kind + " vs reference")
        gf = (G.adaptive_avg_pool_backward(gy.astype(np.float32), xs, dims=dims) if kind == "avg"
              else G.max_pool_backward(gy.astype(np.float32), idx, xs, dims=dims))
        _close(gf, tx.grad.numpy(), np.float32, kind + " float32")


def test_adaptive_reference_without_torch(rng):
    for dims, xs, out in ADAPTIVE:
        x = rng.standard_normal(xs)
        y = getattr(fmaconv, f"adaptive_avg_pool{dims}d")(x, out)
        gy = rng.standard_normal(y.shape)
        _close(G.adaptive_avg_pool_backward(gy, xs, dims=dims), RG.adaptive_avg_pool_grad(gy, xs, dims),
               np.float64, str(xs))


def test_pool_finite_differences(rng):
    """avg pooling is linear: <grad, v> equals the directional derivative of sum(gy * pool(x))."""
    h = 1e-6
    for dims, xs, k, s, p, ceil, cip in ((2, (2, 3, 9, 10), 3, 2, 1, True, False), (1, (2, 3, 11), 3, 2, 1, True, True),
                                         (3, (1, 2, 5, 6, 7), 2, 2, 1, True, False)):
        x = rng.standard_normal(xs)
        v = rng.standard_normal(xs)
        f = getattr(fmaconv, f"avg_pool{dims}d")
        gy = rng.standard_normal(f(x, k, s, p, ceil, cip).shape)
        d = (np.sum(gy * f(x + h * v, k, s, p, ceil, cip)) - np.sum(gy * f(x - h * v, k, s, p, ceil, cip))) / (2 * h)
        g = getattr(G, f"avg_pool{dims}d_backward")(gy, xs, k, s, p, ceil, cip)
        assert abs(np.sum(g * v) - d) < 1e-7 * max(1, abs(d))
        # max pooling away from ties: a small step keeps every argmax
        fm = getattr(fmaconv, f"max_pool{dims}d")
        y, idx = fm(x, k, s, p, 1, ceil, True)
        dm = (np.sum(gy * fm(x + h * v, k, s, p, 1, ceil)) - np.sum(gy * fm(x - h * v, k, s, p, 1, ceil))) / (2 * h)
        gm = G.max_pool_backward(gy, idx, xs)
        assert abs(np.sum(gm * v) - dm) < 1e-7 * max(1, abs(dm))


def test_pool_threads_bit_identical(rng, restore_threads):
    x = rng.standard_normal((8, 6, 19, 17))
    y, idx = fmaconv.max_pool2d(x, 3, 2, 1, return_indices=True)
    gy = rng.standard_normal(y.shape)
    outs = []
    for t in (1, 2, 3):
        fmaconv.set_num_threads(t)
        outs.append((G.max_pool_backward(gy, idx, x.shape), G.avg_pool2d_backward(gy, x.shape, 3, 2, 1),
                     G.adaptive_avg_pool_backward(gy, x.shape)))
    for o in outs[1:]:
        for a, b in zip(o, outs[0]):
            np.testing.assert_array_equal(a, b)


def test_pool_empty_batch():
    gy = np.zeros((0, 3, 4, 4), np.float32)
    assert G.max_pool_backward(gy, np.zeros(gy.shape, np.int64), (0, 3, 8, 8)).shape == (0, 3, 8, 8)
    assert G.avg_pool2d_backward(gy, (0, 3, 8, 8), 2).shape == (0, 3, 8, 8)
    assert G.adaptive_avg_pool_backward(gy, (0, 3, 8, 8)).shape == (0, 3, 8, 8)


# ----------------------------------------------------------------------------- errors

def _raises(exc, fn, *fragments):
    with pytest.raises(exc) as ei:
        fn()
    msg = str(ei.value)
    for f in fragments:
        assert f in msg, (f, msg)


def test_conv_errors(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 6, 6))
    cb = G.conv_backward
    _raises(ValueError, lambda: cb(gy[:, :, :5], x, w), "conv_backward", "grad_output shape (2, 4, 5, 6)", "(2, 4, 6, 6)")
    _raises(ValueError, lambda: cb(gy, x, w, stride=2), "conv_backward", "grad_output shape")
    _raises(ValueError, lambda: cb(gy[0], x, w), "conv_backward", "grad_output shape")
    _raises(TypeError, lambda: cb(gy.astype(np.float32), x, w), "conv_backward", "grad_output", "float32")
    _raises(TypeError, lambda: cb(gy, x.astype(np.float32), w), "conv_backward", "weight")
    _raises(TypeError, lambda: cb(gy, x.astype(np.int32), w), "conv_backward", "input", "int32")
    _raises(TypeError, lambda: cb(gy, x, w.astype(np.float16)), "conv_backward", "weight", "float16")
    _raises(ValueError, lambda: cb(gy, x, w[0, 0]), "conv_backward", "weight", "(3, 3)")
    _raises(ValueError, lambda: cb(gy, x, w, groups=2), "conv_backward", "groups=2")
    _raises(ValueError, lambda: cb(gy, x, w, padding="same", stride=2), "conv_backward", "same")
    _raises(ValueError, lambda: cb(gy, x, w, padding_mode="mirror"), "conv_backward", "padding_mode", "mirror")
    _raises(ValueError, lambda: cb(gy, x, w, padding=9, padding_mode="reflect"), "conv_backward", "reflect")
    _raises(ValueError, lambda: cb(gy, x, w, stride=0), "conv_backward", "stride")
    _raises(ValueError, lambda: cb(gy, x, w, dilation=-1), "conv_backward", "dilation")
    _raises(TypeError, lambda: cb(gy, x, w, output_mask=(True, False)), "conv_backward", "output_mask")
    _raises(TypeError, lambda: cb(gy, x, w, output_mask=(1, 0, 1)), "conv_backward", "output_mask")
    _raises(ValueError, lambda: cb(gy, x[:, :, :2], w), "conv_backward", "kernel size")
    _raises(TypeError, lambda: G.conv2d_input((2, 3, 8.0, 8), w, gy), "conv2d_input", "input_size")
    _raises(ValueError, lambda: G.conv2d_input((2, 3, 9, 8), w, gy), "conv2d_input", "grad_output shape")
    _raises(TypeError, lambda: G.conv2d_input(x.shape, w, gy.astype(np.float32)), "conv2d_input", "grad_output")
    _raises(ValueError, lambda: G.conv2d_weight(x, (4, 3, 3), gy), "conv2d_weight", "weight")
    _raises(ValueError, lambda: G.conv2d_weight(x, (4, 3, 3, 3), gy[:, :3]), "conv2d_weight", "grad_output shape")
    _raises(ValueError, lambda: G.conv1d_weight(x, (4, 3, 3, 3), gy), "conv1d_weight", "weight")
    _raises(ValueError, lambda: G.conv2d_weight(x, (4, -3, 3, 3), gy), "conv2d_weight", "weight_size")


def test_pool_errors(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    y, idx = fmaconv.max_pool2d(x, 2, return_indices=True)
    gy = rng.standard_normal(y.shape)
    mb = G.max_pool_backward
    _raises(TypeError, lambda: mb(gy, idx.astype(np.int32), x.shape), "max_pool_backward", "indices", "int32")
    _raises(ValueError, lambda: mb(gy, idx[:, :, :3], x.shape), "max_pool_backward", "indices shape")
    _raises(TypeError, lambda: mb(gy.astype(np.int64), idx, x.shape), "max_pool_backward", "grad_output")
    bad = idx.copy()
    bad[1, 2, 3, 3] = 64
    _raises(ValueError, lambda: mb(gy, bad, x.shape), "max_pool_backward", "64", "out of range")
    bad[1, 2, 3, 3] = -1
    _raises(ValueError, lambda: mb(gy, bad, x.shape), "max_pool_backward", "-1")
    _raises(ValueError, lambda: mb(gy, idx, (2, 3, 8)), "max_pool_backward", "rank")
    _raises(ValueError, lambda: mb(gy, idx, (2, 4, 8, 8), dims=2), "max_pool_backward", "batch/channel")
    _raises(ValueError, lambda: mb(gy, idx, (2, 3, 0, 8), dims=2), "max_pool_backward", "empty batch")
    _raises(ValueError, lambda: mb(gy, idx, x.shape, dims=4), "max_pool_backward", "dims")
    _raises(TypeError, lambda: mb(gy, idx, "2,3,8,8"), "max_pool_backward", "input_shape")
    ab = G.avg_pool2d_backward
    _raises(ValueError, lambda: ab(gy, x.shape, 3), "avg_pool2d_backward", "grad_output shape")
    _raises(ValueError, lambda: ab(gy, x.shape, 2, divisor_override=0), "avg_pool2d_backward", "divisor_override")
    _raises(TypeError, lambda: ab(gy, x.shape, 2, divisor_override=1.5), "avg_pool2d_backward", "divisor_override")
    _raises(ValueError, lambda: ab(gy, x.shape, 2, padding=2), "avg_pool2d_backward", "padding")
    _raises(TypeError, lambda: ab(gy, x.shape, 2, ceil_mode=1), "avg_pool2d_backward", "ceil_mode")
    _raises(TypeError, lambda: ab(gy.astype(np.complex128), x.shape, 2), "avg_pool2d_backward", "complex128")
    _raises(ValueError, lambda: G.avg_pool3d_backward(np.zeros((1, 1, 1, 2, 2)), (1, 1, 1, 3, 3), 2, padding=1),
            "avg_pool3d_backward", "smaller than kernel_size")
    _raises(ValueError, lambda: G.adaptive_avg_pool_backward(gy, (2, 3, 0, 8)), "adaptive_avg_pool_backward",
            "empty batch")
    _raises(ValueError, lambda: G.adaptive_avg_pool_backward(gy, (2, 3, 8)), "adaptive_avg_pool_backward", "rank")


def test_core_checks():
    """The compiled core rejects inconsistent buffers itself (memory safety for direct callers)."""
    c = fmaconv._core
    g = np.zeros((1, 2, 1, 3, 3))
    with pytest.raises(ValueError):
        c.conv_backward_input(g, np.zeros((3, 1, 1, 2, 2)), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1, (1, 4, 4))
    with pytest.raises(ValueError):
        c.max_pool_backward(g, np.zeros((1, 2, 1, 3, 2), np.int64), (1, 6, 6))
    with pytest.raises(TypeError):
        c.max_pool_backward(g, np.zeros((1, 2, 1, 3, 3), np.int32), (1, 6, 6))
    with pytest.raises(ValueError):
        c.pad_backward(g, (0, 0, 0, 0, 2, 2), 1)


def test_huge_input_size_errors():
    """A huge input shape with a small grad_output (huge stride or pooling input) is rejected naming
    the function and argument, before any allocation (NumPy's error named neither)."""
    w = np.ones((1, 1, 3, 3))
    s = 2**31 - 1
    H = 2**40
    oh = (H - 3) // s + 1
    _raises(ValueError, lambda: G.conv2d_input((1, 1, H, H), w, np.ones((1, 1, oh, oh)), stride=s),
            "conv2d_input", "input_size", str(H))
    one, idx = np.ones((1, 1, 1, 1)), np.zeros((1, 1, 1, 1), np.int64)
    _raises(ValueError, lambda: G.max_pool_backward(one, idx, (1, 1, H, H)), "max_pool_backward", "input_shape", str(H))
    _raises(ValueError, lambda: G.adaptive_avg_pool_backward(one, (1, 1, H, H)), "adaptive_avg_pool_backward",
            "input_shape", str(H))
    ph = (H - 2) // s + 1
    _raises(ValueError, lambda: G.avg_pool2d_backward(np.ones((1, 1, ph, ph)), (1, 1, H, H), 2, s),
            "avg_pool2d_backward", "input_shape", str(H))


def test_dims_type_errors(rng):
    x = rng.standard_normal((2, 3, 8, 8))
    y, idx = fmaconv.max_pool2d(x, 2, return_indices=True)
    for bad in ("2", 2.0, True):
        _raises(TypeError, lambda: G.max_pool_backward(y, idx, x.shape, dims=bad), "max_pool_backward", "dims",
                repr(bad))
        _raises(TypeError, lambda: G.adaptive_avg_pool_backward(y, x.shape, dims=bad), "adaptive_avg_pool_backward",
                "dims", repr(bad))
    _raises(ValueError, lambda: G.max_pool_backward(y, idx, x.shape, dims=0), "max_pool_backward", "dims", "0")
    assert G.max_pool_backward(y, idx, x.shape, dims=np.int64(2)).shape == x.shape


def test_max_pool_indices_of_windows_in_padding():
    """A dilated window lying wholly in the padding gives an output of -inf whose index (as torch's)
    lies past the plane; the backward rejects it (torch's own backward writes out of bounds there)."""
    x = np.random.default_rng(0).standard_normal((2, 2, 1, 10))
    y, idx = fmaconv.max_pool2d(x, (2, 1), (4, 3), (1, 0), (2, 1), True, return_indices=True)
    assert np.all(np.isneginf(y)) and idx.max() >= 10
    _raises(ValueError, lambda: G.max_pool_backward(np.ones(y.shape), idx, x.shape), "max_pool_backward",
            "out of range", "index 10")

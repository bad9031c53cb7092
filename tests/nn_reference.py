"""Plain NumPy gradients for the layer tests (an oracle independent of the C++ kernels and of
torch): convolution backward straight from the definition (spec section 3) with every padding
mode expressed as an index map, and max-pool backward by scatter-add of the indices."""
from __future__ import annotations

import itertools
import math

import numpy as np

_NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _tup(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


def _pads(padding, kernel, dilation):
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in tot]
    return [(p, p) for p in padding]


def conv_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """The forward pass by the same index map (used by finite differences)."""
    return _conv(x, w, b, stride, padding, dilation, groups, padding_mode, None)[0]


def conv_backward(gy, x, w, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """(grad_input, grad_weight, grad_bias) of conv{1,2,3}d for batched inputs."""
    return _conv(x, w, None, stride, padding, dilation, groups, padding_mode, gy)[1:]


def _conv(x, w, b, stride, padding, dilation, groups, mode, gy):
    dims = w.ndim - 2
    kernel = w.shape[2:]
    st, dl = _tup(stride, dims), _tup(dilation, dims)
    pads = _pads(padding if isinstance(padding, str) else _tup(padding, dims), kernel, dl)
    n, c = x.shape[:2]
    sp = x.shape[2:]
    size = math.prod(sp)
    idx = np.arange(size).reshape(sp)
    if mode == "zeros":
        idxp = np.pad(idx, pads, constant_values=size)   # index `size` is a zero column
    else:
        idxp = np.pad(idx, pads, mode=_NP_MODE[mode])
    xflat = np.concatenate([x.reshape(n, c, size), np.zeros((n, c, 1), x.dtype)], axis=2)
    xp = xflat[:, :, idxp]
    out = tuple((P - d * (k - 1) - 1) // s + 1 for P, k, d, s in zip(idxp.shape, kernel, dl, st))
    cout, cin_g = w.shape[:2]
    cout_g = cout // groups
    y = np.zeros((n, cout) + out, np.result_type(x, w))
    gxp = np.zeros_like(xp) if gy is not None else None
    gw = np.zeros_like(w) if gy is not None else None
    for j in itertools.product(*[range(k) for k in kernel]):
        sl = tuple(slice(jj * d, jj * d + s * (o - 1) + 1, s) for jj, d, s, o in zip(j, dl, st, out))
        for g in range(groups):
            ci, co = slice(g * cin_g, (g + 1) * cin_g), slice(g * cout_g, (g + 1) * cout_g)
            patch = xp[(slice(None), ci) + sl].reshape(n, cin_g, -1)
            wj = w[(co, slice(None)) + j]
            if gy is None:
                y[:, co] += np.einsum("ncp,oc->nop", patch, wj).reshape((n, cout_g) + out)
            else:
                gyg = gy[:, co].reshape(n, cout_g, -1)
                gw[(co, slice(None)) + j] += np.einsum("nop,ncp->oc", gyg, patch)
                gxp[(slice(None), ci) + sl] += np.einsum("nop,oc->ncp", gyg, wj).reshape((n, cin_g) + out)
    if gy is None:
        if b is not None:
            y += b.reshape((1, -1) + (1,) * dims)
        return y, None, None, None
    gx = np.zeros((n, c, size + 1), gxp.dtype)
    np.add.at(gx, (slice(None), slice(None), idxp.ravel()), gxp.reshape(n, c, -1))
    gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim)))
    return None, gx[:, :, :size].reshape(x.shape), gw, gb


def max_pool_backward(gy, idx, input_shape, dims):
    """Scatter-add ``gy`` at the flat per-plane ``idx`` (max pool and adaptive max pool)."""
    plane = math.prod(input_shape[-dims:])
    rows = math.prod(input_shape[:-dims])
    gx = np.zeros((rows, plane), gy.dtype)
    r = np.repeat(np.arange(rows), gy.size // max(rows, 1))
    np.add.at(gx, (r, idx.reshape(-1)), gy.reshape(-1))
    return gx.reshape(input_shape)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to the float64 array x (changed in place
    and restored)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g

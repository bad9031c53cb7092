"""Pure-NumPy baselines (the "vs numpy" column).

Convolution: im2col built from ``sliding_window_view`` on the padded input,
then one (batched) matmul per group.  Pooling: ``sliding_window_view`` on the
padded input (padded with -inf for max, 0 for avg) and a max/mean over the
window axes.  All handle stride, padding, dilation and groups; semantics are
PyTorch's with ceil_mode=False and count_include_pad=True.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .cases import ADAPTIVE_AVG_POOL, AVG_POOL, CONV, MAX_POOL, Case


def _windows(x, kernel, stride, padding, dilation, pad_value=0.0):
    """View of shape (N, C, *out, *kernel) over the padded input."""
    nd = x.ndim - 2
    if any(padding):
        x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding],
                   constant_values=pad_value)
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    win = sliding_window_view(x, extent, axis=tuple(range(2, 2 + nd)))
    return win[(slice(None), slice(None))
               + tuple(slice(None, None, s) for s in stride)
               + tuple(slice(None, None, d) for d in dilation)]


def conv(x, weight, bias=None, stride=(1,), padding=(0,), dilation=(1,), groups=1):
    nd = x.ndim - 2
    n, c = x.shape[:2]
    k_out, kernel = weight.shape[0], weight.shape[2:]
    win = _windows(x, kernel, stride, padding, dilation)
    out = win.shape[2:2 + nd]
    # im2col: (N, G, C/G * prod(kernel), prod(out)); the reshape copies.
    perm = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
    cols = win.transpose(perm).reshape(n, groups, (c // groups) * math.prod(kernel),
                                       math.prod(out))
    w = weight.reshape(groups, k_out // groups, -1)
    y = np.matmul(w, cols).reshape((n, k_out) + out)      # one GEMM per (n, group)
    if bias is not None:
        y += bias.reshape((1, k_out) + (1,) * nd)
    return y


def max_pool(x, kernel, stride, padding, dilation, return_indices=False):
    nd = x.ndim - 2
    win = _windows(x, kernel, stride, padding, dilation, pad_value=-np.inf)
    axes = tuple(range(-nd, 0))
    if not return_indices:
        return win.max(axis=axes)
    flat = win.reshape(win.shape[:2 + nd] + (-1,))
    arg = flat.argmax(axis=-1)                               # first max, like torch
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    # window offset -> flat index into each (unpadded) input plane
    offs = np.unravel_index(arg, kernel)
    idx = np.zeros(arg.shape, dtype=np.int64)
    for i, (L, s, p, d) in enumerate(zip(x.shape[2:], stride, padding, dilation)):
        o = np.arange(arg.shape[2 + i]).reshape((-1,) + (1,) * (nd - 1 - i))
        idx = idx * L + (o * s - p + offs[i] * d)
    return y, idx


def avg_pool(x, kernel, stride, padding):
    """count_include_pad=True: zero padding counts in the mean."""
    nd = x.ndim - 2
    win = _windows(x, kernel, stride, padding, (1,) * nd)
    return win.mean(axis=tuple(range(-nd, 0)))


def adaptive_avg_pool(x, output_size):
    nd = x.ndim - 2
    if all(o == 1 for o in output_size):
        return x.mean(axis=tuple(range(2, 2 + nd)), keepdims=True)
    for i, o in enumerate(output_size):                       # separable box means
        L, ax = x.shape[2 + i], 2 + i
        x = np.stack([x.take(range((j * L) // o, -(-((j + 1) * L) // o)), axis=ax)
                      .mean(axis=ax) for j in range(o)], axis=ax)
    return x


def make_runner(case: Case, arrays: dict):
    """Zero-argument callable computing ``case`` with NumPy."""
    x = arrays["input"]
    if case.op == CONV:
        w, b = arrays["weight"], arrays["bias"]
        return lambda: conv(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    if case.op == MAX_POOL:
        return lambda: max_pool(x, case.kernel, case.stride, case.padding, case.dilation,
                                case.return_indices)
    if case.op == AVG_POOL:
        return lambda: avg_pool(x, case.kernel, case.stride, case.padding)
    if case.op == ADAPTIVE_AVG_POOL:
        return lambda: adaptive_avg_pool(x, case.output_size)
    raise ValueError(case.op)

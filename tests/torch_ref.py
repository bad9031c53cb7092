"""PyTorch wrappers with fmaconv's signatures: NumPy in, NumPy out.

Used by test_reference_vs_torch.py, test_properties.py (when torch is importable) and
gen_golden.py.  Imports torch lazily so that importing this module never requires torch.
"""

import numpy as np


def _torch():
    import torch

    return torch


def _t(a):
    torch = _torch()
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def _np(t):
    return t.detach().cpu().numpy()


def _ntuple(v, D):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * D
    return tuple(int(a) for a in v)


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    torch = _torch()
    F = torch.nn.functional
    D = np.ndim(w) - 2
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[D]
    xt, wt, bt = _t(x), _t(w), _t(b)
    unbatched = xt.dim() == D + 1
    if unbatched:
        xt = xt.unsqueeze(0)
    if padding_mode != "zeros":
        # What torch.nn.ConvNd does: pad with the mode first, then convolve with no padding.
        ks = w.shape[2:]
        d = _ntuple(dilation, D)
        if padding == "same":
            lr = []
            for k, dd in zip(ks, d):
                t = dd * (k - 1)
                lr.append((t // 2, t - t // 2))
        elif padding == "valid":
            lr = [(0, 0)] * D
        else:
            lr = [(p, p) for p in _ntuple(padding, D)]
        pad = []
        for left, right in reversed(lr):  # F.pad wants the last axis first
            pad += [left, right]
        if any(pad):
            xt = F.pad(xt, pad, mode=padding_mode)
        padding = 0
    with torch.no_grad():
        y = fn(xt, wt, bt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if unbatched:
        y = y[0]
    return _np(y)


def conv1d(*a, **k):
    return conv(*a, **k)


conv2d = conv3d = conv1d


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             return_indices=False, dims=None):
    torch = _torch()
    F = torch.nn.functional
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[dims]
    r = fn(_t(x), kernel_size, stride=stride, padding=padding, dilation=dilation,
           ceil_mode=ceil_mode, return_indices=return_indices)
    if return_indices:
        return _np(r[0]), _np(r[1])
    return _np(r)


def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None, dims=None):
    torch = _torch()
    F = torch.nn.functional
    xt = _t(x)
    if dims == 1:
        # F.avg_pool1d has no divisor_override: use avg_pool2d with a height-1 kernel.
        k = _ntuple(kernel_size, 1)[0]
        s = k if stride is None else _ntuple(stride, 1)[0]
        p = _ntuple(padding, 1)[0]
        y = F.avg_pool2d(xt.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad, divisor_override=divisor_override)
        return _np(y.squeeze(-2))
    fn = {2: F.avg_pool2d, 3: F.avg_pool3d}[dims]
    return _np(fn(xt, kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                  count_include_pad=count_include_pad, divisor_override=divisor_override))


def adaptive_avg_pool(x, output_size, dims=None):
    torch = _torch()
    F = torch.nn.functional
    fn = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[dims]
    return _np(fn(_t(x), output_size))


def adaptive_max_pool(x, output_size, return_indices=False, dims=None):
    torch = _torch()
    F = torch.nn.functional
    fn = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}[dims]
    r = fn(_t(x), output_size, return_indices=return_indices)
    if return_indices:
        return _np(r[0]), _np(r[1])
    return _np(r)


def _mk(name, base, dims):
    def f(*a, **k):
        return base(*a, dims=dims, **k)

    f.__name__ = name
    return f


for _D in (1, 2, 3):
    globals()[f"max_pool{_D}d"] = _mk(f"max_pool{_D}d", max_pool, _D)
    globals()[f"avg_pool{_D}d"] = _mk(f"avg_pool{_D}d", avg_pool, _D)
    globals()[f"adaptive_avg_pool{_D}d"] = _mk(f"adaptive_avg_pool{_D}d", adaptive_avg_pool, _D)
    globals()[f"adaptive_max_pool{_D}d"] = _mk(f"adaptive_max_pool{_D}d", adaptive_max_pool, _D)


def call(op, *args, **kwargs):
    return globals()[op](*args, **kwargs)

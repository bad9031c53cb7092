"""The functional API: PyTorch's names, argument order, defaults and results, on NumPy arrays.

Every function accepts any array-like of float32 or float64 (lists, views with any strides,
read-only or unaligned buffers), never modifies it, and returns a new C-contiguous array of
the same dtype. Batched ``(N, C, *spatial)`` and unbatched ``(C, *spatial)`` inputs are accepted.
The GIL is released while the C++ core computes (unless the call is too small for that to pay).
Each function first tries the C++ fast path (``_core.*_fast``) for the common case and falls back
to the Python layer, which handles every other call and raises every error.
"""
from __future__ import annotations

import numpy as np

from . import _args as A
from . import _core

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "conv_output_shape", "pool_output_shape",
]

_PAD_MODE_CODE = {"reflect": 1, "replicate": 2, "circular": 3}


def _finish(y: np.ndarray, out_shape: tuple[int, ...], batched: bool) -> np.ndarray:
    y = y.reshape(out_shape)
    return y if batched else y[0]


# ----------------------------------------------------------------------------- convolution

_conv_fast = _core.conv_fast  # the common case in C++ (see _core.conv_fast); None: run _conv


def _conv(fname, dims, input, weight, bias, stride, padding, dilation, groups, padding_mode, packed=None):
    """The general path: every argument type, every check and error. ``packed`` (a
    ``_core.PackedConv`` holding ``weight`` and ``bias``) runs the core with its packed weights."""
    x = A.as_float_array(fname, "input", input)
    w = A.as_float_array(fname, "weight", weight)
    A.same_dtype(fname, "weight", w, x)
    plan = A.cached_plan(A.conv_plan, fname, dims, x.shape, w.shape, stride, padding, dilation, groups, padding_mode)
    b = None
    if bias is not None:
        b = A.as_float_array(fname, "bias", bias)
        A.same_dtype(fname, "bias", b, x)
        if b.shape != (w.shape[0],):
            raise ValueError(f"{fname}: bias must be 1-D with {w.shape[0]} elements (out channels), got shape {b.shape}")
        b = A.contiguous(b)
    if 0 in plan.out_shape:
        return _finish(np.zeros(plan.out_shape, dtype=x.dtype), plan.out_shape, plan.batched)
    if not plan.batched:
        x = x[None]
    x5 = A.to5d(A.contiguous(x), dims)
    w5 = A.to5d(A.contiguous(w), dims)
    if plan.mode_pads is not None:
        pads = (0, 0) * (3 - dims) + plan.mode_pads
        x5 = _core.pad(x5, pads, _PAD_MODE_CODE[padding_mode])
    if packed is None:
        y = _core.conv(x5, w5, b, A.pad3(plan.stride, 1), A.pad3(plan.pad_l, 0), A.pad3(plan.dilation, 1),
                       plan.groups, A.pad3(plan.out_shape[2:], 1))
    else:
        y = packed.conv(x5, A.pad3(plan.stride, 1), A.pad3(plan.pad_l, 0), A.pad3(plan.dilation, 1),
                        plan.groups, A.pad3(plan.out_shape[2:], 1))
    return _finish(y, plan.out_shape, plan.batched)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-D convolution (cross-correlation) of ``(N, C_in, L)`` by ``(C_out, C_in/groups, k)``.

    ``padding`` is an int, a 1-tuple, ``'valid'`` or ``'same'``; ``padding_mode`` is one of
    ``'zeros'``, ``'reflect'``, ``'replicate'``, ``'circular'``. Returns ``(N, C_out, L_out)``.
    """
    y = _conv_fast(1, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    if y is None:
        y = _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    return y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """2-D convolution of ``(N, C_in, H, W)`` by ``(C_out, C_in/groups, kH, kW)``; see :func:`conv1d`."""
    y = _conv_fast(2, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    if y is None:
        y = _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    return y


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-D convolution of ``(N, C_in, D, H, W)`` by ``(C_out, C_in/groups, kD, kH, kW)``; see :func:`conv1d`."""
    y = _conv_fast(3, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    if y is None:
        y = _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    return y


# ----------------------------------------------------------------------------- pooling

# The common cases in C++, as for convolution (None: run the Python path).
_max_pool_fast = _core.max_pool_fast
_avg_pool_fast = _core.avg_pool_fast
_adaptive_fast = _core.adaptive_pool_fast


def _max_pool(fname, dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x = A.as_float_array(fname, "input", input)
    plan = A.cached_plan(A.pool_plan, fname, dims, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = A.check_bool(fname, "return_indices", return_indices)
    x5 = A.to5d(A.contiguous(x if plan.batched else x[None]), dims)
    r = _core.max_pool(x5, A.pad3(plan.kernel, 1), A.pad3(plan.stride, 1), A.pad3(plan.padding, 0),
                       A.pad3(plan.dilation, 1), A.pad3(plan.out_shape[2:], 1), return_indices)
    if return_indices:
        return _finish(r[0], plan.out_shape, plan.batched), _finish(r[1], plan.out_shape, plan.batched)
    return _finish(r, plan.out_shape, plan.batched)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling. NaN propagates; ties keep the first maximum; padding acts as -inf.

    With ``return_indices=True`` also returns int64 flat indices into each input plane.
    """
    r = _max_pool_fast(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if r is None:
        r = _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return r


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling; see :func:`max_pool1d`. Indices are ``h * W + w``."""
    r = _max_pool_fast(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if r is None:
        r = _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return r


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling; see :func:`max_pool1d`. Indices are ``(t * H + h) * W + w``."""
    r = _max_pool_fast(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if r is None:
        r = _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return r


def _avg_pool(fname, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x = A.as_float_array(fname, "input", input)
    plan = A.cached_plan(A.pool_plan, fname, dims, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if dims == 3 and any(i < k for i, k in zip(x.shape[-3:], plan.kernel)):
        # PyTorch's avg_pool3d (only) rejects an input smaller than the kernel, padding or not.
        raise ValueError(f"{fname}: input shape {x.shape} is smaller than kernel_size={kernel_size!r}")
    count_include_pad = A.check_bool(fname, "count_include_pad", count_include_pad)
    div = A.divisor_override(fname, divisor_override)
    x5 = A.to5d(A.contiguous(x if plan.batched else x[None]), dims)
    y = _core.avg_pool(x5, A.pad3(plan.kernel, 1), A.pad3(plan.stride, 1), A.pad3(plan.padding, 0),
                       A.pad3(plan.out_shape[2:], 1), count_include_pad, div)
    return _finish(y, plan.out_shape, plan.batched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """1-D average pooling. The divisor counts padding when ``count_include_pad`` (never the
    ``ceil_mode`` overhang) unless ``divisor_override`` is given (accepted here, unlike PyTorch)."""
    y = _avg_pool_fast(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if y is None:
        y = _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
    return y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling; see :func:`avg_pool1d`."""
    y = _avg_pool_fast(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if y is None:
        y = _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
    return y


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling; see :func:`avg_pool1d`."""
    y = _avg_pool_fast(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    if y is None:
        y = _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                      divisor_override)
    return y


def _adaptive(fname, dims, input, output_size, is_max, return_indices=False):
    x = A.as_float_array(fname, "input", input)
    batched, xb = A.pool_input_shape(fname, x.shape, dims)
    out = A.adaptive_output(fname, output_size, dims, xb[2:])
    if is_max:
        return_indices = A.check_bool(fname, "return_indices", return_indices)
    out_shape = tuple(xb[:2]) + out
    A.check_size(fname, out_shape)
    if 0 in out_shape:  # PyTorch returns an empty result for a zero output size
        y = np.empty(out_shape, dtype=x.dtype)
        res = (y, np.empty(out_shape, dtype=np.int64)) if return_indices else y
    else:
        x5 = A.to5d(A.contiguous(x if batched else x[None]), dims)
        if is_max:
            res = _core.adaptive_max_pool(x5, A.pad3(out, 1), return_indices)
        else:
            res = _core.adaptive_avg_pool(x5, A.pad3(out, 1))
    if return_indices:
        return _finish(res[0], out_shape, batched), _finish(res[1], out_shape, batched)
    return _finish(res, out_shape, batched)


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling to ``output_size``: window ``[floor(o*i/O), ceil((o+1)*i/O))``."""
    y = _adaptive_fast(1, input, output_size, False, False)
    if y is None:
        y = _adaptive("adaptive_avg_pool1d", 1, input, output_size, False)
    return y


def adaptive_avg_pool2d(input, output_size):
    """2-D adaptive average pooling; ``None`` in ``output_size`` keeps that axis."""
    y = _adaptive_fast(2, input, output_size, False, False)
    if y is None:
        y = _adaptive("adaptive_avg_pool2d", 2, input, output_size, False)
    return y


def adaptive_avg_pool3d(input, output_size):
    """3-D adaptive average pooling; ``None`` in ``output_size`` keeps that axis."""
    y = _adaptive_fast(3, input, output_size, False, False)
    if y is None:
        y = _adaptive("adaptive_avg_pool3d", 3, input, output_size, False)
    return y


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling (max-pool rules for NaN, ties and int64 indices)."""
    r = _adaptive_fast(1, input, output_size, True, return_indices)
    if r is None:
        r = _adaptive("adaptive_max_pool1d", 1, input, output_size, True, return_indices)
    return r


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """2-D adaptive max pooling; see :func:`adaptive_max_pool1d`."""
    r = _adaptive_fast(2, input, output_size, True, return_indices)
    if r is None:
        r = _adaptive("adaptive_max_pool2d", 2, input, output_size, True, return_indices)
    return r


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """3-D adaptive max pooling; see :func:`adaptive_max_pool1d`."""
    r = _adaptive_fast(3, input, output_size, True, return_indices)
    if r is None:
        r = _adaptive("adaptive_max_pool3d", 3, input, output_size, True, return_indices)
    return r


# ----------------------------------------------------------------------------- shape helpers

def _shape_arg(fname: str, name: str, shape) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or not all(A._is_int(s) for s in shape):
        raise TypeError(f"{fname}: {name} must be a sequence of ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def conv_output_shape(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                      padding_mode="zeros"):
    """Output shape of ``conv{1,2,3}d`` (dimensionality from ``weight_shape``) without computing it."""
    fname = "conv_output_shape"
    xs = _shape_arg(fname, "input_shape", input_shape)
    ws = _shape_arg(fname, "weight_shape", weight_shape)
    if len(ws) not in (3, 4, 5):
        raise ValueError(f"{fname}: weight_shape must have 3, 4 or 5 entries, got {weight_shape!r}")
    plan = A.conv_plan(fname, len(ws) - 2, xs, ws, stride, padding, dilation, groups, padding_mode)
    return plan.out_shape if plan.batched else plan.out_shape[1:]


def pool_output_shape(input_shape, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *, dims=None):
    """Output shape of ``max_pool{1,2,3}d``/``avg_pool{1,2,3}d`` without computing it.

    ``dims`` (1, 2 or 3) defaults to ``len(kernel_size)`` for a sequence, else ``len(input_shape) - 2``.
    """
    fname = "pool_output_shape"
    xs = _shape_arg(fname, "input_shape", input_shape)
    if dims is None:
        dims = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else len(xs) - 2
    if not A._is_int(dims) or dims not in (1, 2, 3):
        raise ValueError(f"{fname}: dims must be 1, 2 or 3, got {dims!r} (input_shape {input_shape!r})")
    plan = A.pool_plan(fname, int(dims), xs, kernel_size, stride, padding, dilation, ceil_mode)
    return plan.out_shape if plan.batched else plan.out_shape[1:]

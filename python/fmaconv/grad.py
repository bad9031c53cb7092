"""Gradients of convolution and pooling (the training path), with PyTorch autograd's results.

Every function takes NumPy array-likes of float32 or float64 (one dtype per call), validates its
arguments like the forward functional API (errors name the function, argument and value), and
returns new C-contiguous arrays. The C++ core computes without the GIL, on fmaconv's threads;
results do not depend on the thread count.

- ``conv_backward``: all three gradients of ``conv{1,2,3}d`` (rank from ``weight.ndim``).
- ``conv{1,2,3}d_input`` / ``conv{1,2,3}d_weight``: ``torch.nn.grad``'s names and argument order.
- ``max_pool_backward``: from the forward's int64 ``indices`` (max pool and adaptive max pool).
- ``avg_pool{1,2,3}d_backward``, ``adaptive_avg_pool_backward``.
"""
from __future__ import annotations

import numpy as np

from . import _args as A
from . import _core

__all__ = [
    "conv_backward",
    "conv1d_input", "conv2d_input", "conv3d_input",
    "conv1d_weight", "conv2d_weight", "conv3d_weight",
    "max_pool_backward",
    "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "adaptive_avg_pool_backward",
]

_PAD_MODE_CODE = {"reflect": 1, "replicate": 2, "circular": 3}


def _shape_arg(fname: str, name: str, shape) -> tuple[int, ...]:
    if type(shape) is tuple and all(type(v) is int for v in shape):  # the common case, quickly
        if shape and min(shape) < 0:
            raise ValueError(f"{fname}: {name} must not contain negative sizes, got {shape!r}")
        return shape
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        shape = tuple(shape.tolist())
    if not isinstance(shape, (tuple, list)) or not all(A._is_int(s) for s in shape):
        raise TypeError(f"{fname}: {name} must be a sequence of ints, got {shape!r}")
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"{fname}: {name} must not contain negative sizes, got {shape!r}")
    return shape


def _check_input_size(fname: str, name: str, shape) -> None:
    # the gradient has the input's shape: reject what no float64 buffer can hold, naming the argument
    # (NumPy's own error would name neither the function nor the argument)
    total = 1
    for v in shape:
        total *= int(v)
    if total > 2**59:
        raise ValueError(f"{fname}: {name} {tuple(shape)} is too large ({total} elements)")


def _check_grad_shape(fname: str, gy: np.ndarray, expected: tuple[int, ...]) -> None:
    if tuple(gy.shape) != tuple(expected):
        raise ValueError(
            f"{fname}: grad_output shape {tuple(gy.shape)} does not match the forward output shape {tuple(expected)}"
        )


def _output_mask(fname: str, mask) -> tuple[bool, bool, bool]:
    if type(mask) is tuple and len(mask) == 3 and all(m is True or m is False for m in mask):
        return mask
    if not isinstance(mask, (tuple, list)) or len(mask) != 3:
        raise TypeError(f"{fname}: output_mask must be a sequence of 3 bools, got {mask!r}")
    return tuple(A.check_bool(fname, "output_mask", m) for m in mask)


# ----------------------------------------------------------------------------- convolution

def _conv_geometry(fname, dims, x_shape, w_shape, stride, padding, dilation, groups, padding_mode):
    """The checked plan and everything the core calls need, derived once per argument set."""
    plan = A.conv_plan(fname, dims, x_shape, w_shape, stride, padding, dilation, groups, padding_mode)
    _check_input_size(fname, "input_size" if fname.endswith("_input") else "input shape", x_shape)
    expected = plan.out_shape if plan.batched else plan.out_shape[1:]
    fill = (1,) * (3 - dims)
    xb = tuple(x_shape) if plan.batched else (1,) + tuple(x_shape)
    spatial = xb[2:]
    pads = None
    if plan.mode_pads is not None:
        pads = (0, 0) * (3 - dims) + plan.mode_pads
        spatial = tuple(i + plan.mode_pads[2 * a] + plan.mode_pads[2 * a + 1] for a, i in enumerate(spatial))
    return dict(
        plan=plan, expected=expected, pads=pads,
        empty=0 in plan.out_shape or 0 in x_shape,
        st=A.pad3(plan.stride, 1), pl=A.pad3(plan.pad_l, 0), dl=A.pad3(plan.dilation, 1),
        in3=A.pad3(spatial, 1), k3=A.pad3(tuple(w_shape[2:]), 1),
        x5=xb[:2] + fill + xb[2:], w5=tuple(w_shape[:2]) + fill + tuple(w_shape[2:]),
        gy5=plan.out_shape[:2] + fill + plan.out_shape[2:],
    )


def _conv_grads(fname, dims, gy, x, x_shape, w, w_shape, stride, padding, dilation, groups, padding_mode, want):
    """(grad_input, grad_weight, grad_bias), each None unless wanted. x / w may be None when only
    their shapes are known (then the gradient that needs them must not be wanted)."""
    geo = A.cached_plan(_conv_geometry, fname, dims, tuple(x_shape), tuple(w_shape), stride, padding, dilation,
                        groups, padding_mode)
    _check_grad_shape(fname, gy, geo["expected"])
    want_x, want_w, want_b = want
    dtype = gy.dtype
    gx = gw = gb = None
    if geo["empty"]:
        # nothing flows: every gradient is zero
        if want_x:
            gx = np.zeros(x_shape, dtype=dtype)
        if want_w:
            gw = np.zeros(w_shape, dtype=dtype)
        if want_b:
            gb = np.zeros((w_shape[0],), dtype=dtype)
        return gx, gw, gb
    plan, pads = geo["plan"], geo["pads"]
    gy5 = A.contiguous(gy).reshape(geo["gy5"])
    if want_x:
        g5 = _core.conv_backward_input(gy5, A.contiguous(w).reshape(geo["w5"]), geo["st"], geo["pl"], geo["dl"],
                                       plan.groups, geo["in3"])
        if pads is not None:
            g5 = _core.pad_backward(g5, pads, _PAD_MODE_CODE[padding_mode])
        gx = g5.reshape(x_shape)
    if want_w or want_b:
        x5 = A.contiguous(x).reshape(geo["x5"])
        if pads is not None:
            x5 = _core.pad(x5, pads, _PAD_MODE_CODE[padding_mode])
        gw, gb = _core.conv_backward_weight(x5, gy5, geo["k3"], geo["st"], geo["pl"], geo["dl"], plan.groups,
                                            bool(want_w), bool(want_b))
        if gw is not None:
            gw = gw.reshape(w_shape)
    return gx, gw, gb


def conv_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
                  output_mask=(True, True, True)):
    """Gradients of ``conv{1,2,3}d(input, weight, bias, ...)`` (rank from ``weight.ndim - 2``) for
    ``grad_output`` (the forward output's shape): ``(grad_input, grad_weight, grad_bias)``, each
    None where ``output_mask`` is False. ``grad_bias`` is the sum of ``grad_output`` over the batch
    and positions (whether or not the forward had a bias). Non-zero ``padding_mode``s add the padded
    cells' gradient back into the input cells they copy."""
    fname = "conv_backward"
    w = A.as_float_array(fname, "weight", weight)
    if w.ndim not in (3, 4, 5):
        raise ValueError(f"{fname}: weight must be 3-D, 4-D or 5-D (conv1d/2d/3d), got shape {w.shape}")
    dims = w.ndim - 2
    x = A.as_float_array(fname, "input", input)
    gy = A.as_float_array(fname, "grad_output", grad_output)
    A.same_dtype(fname, "weight", w, x)
    A.same_dtype(fname, "grad_output", gy, x)
    want = _output_mask(fname, output_mask)
    return _conv_grads(fname, dims, gy, x, x.shape, w, w.shape, stride, padding, dilation, groups, padding_mode, want)


def _conv_input(fname, dims, input_size, weight, grad_output, stride, padding, dilation, groups):
    x_shape = _shape_arg(fname, "input_size", input_size)
    w = A.as_float_array(fname, "weight", weight)
    gy = A.as_float_array(fname, "grad_output", grad_output)
    A.same_dtype(fname, "grad_output", gy, w)
    return _conv_grads(fname, dims, gy, None, x_shape, w, w.shape, stride, padding, dilation, groups, "zeros",
                       (True, False, False))[0]


def _conv_weight(fname, dims, input, weight_size, grad_output, stride, padding, dilation, groups):
    x = A.as_float_array(fname, "input", input)
    w_shape = _shape_arg(fname, "weight_size", weight_size)
    gy = A.as_float_array(fname, "grad_output", grad_output)
    A.same_dtype(fname, "grad_output", gy, x)
    return _conv_grads(fname, dims, gy, x, x.shape, None, w_shape, stride, padding, dilation, groups, "zeros",
                       (False, True, False))[1]


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv1d with respect to its input (of shape ``input_size``); as ``torch.nn.grad.conv1d_input``."""
    return _conv_input("conv1d_input", 1, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d with respect to its input; see :func:`conv1d_input`."""
    return _conv_input("conv2d_input", 2, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv3d with respect to its input; see :func:`conv1d_input`."""
    return _conv_input("conv3d_input", 3, input_size, weight, grad_output, stride, padding, dilation, groups)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv1d with respect to its weight (of shape ``weight_size``); as ``torch.nn.grad.conv1d_weight``."""
    return _conv_weight("conv1d_weight", 1, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv2d with respect to its weight; see :func:`conv1d_weight`."""
    return _conv_weight("conv2d_weight", 2, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    """Gradient of conv3d with respect to its weight; see :func:`conv1d_weight`."""
    return _conv_weight("conv3d_weight", 3, input, weight_size, grad_output, stride, padding, dilation, groups)


# ----------------------------------------------------------------------------- pooling

def _pool_rank(fname: str, x_shape: tuple[int, ...], gy_shape: tuple[int, ...], dims) -> tuple[int, bool]:
    """(dims, batched) of a pooling gradient. Without ``dims``: a 2-entry input_shape is 1-D
    unbatched; otherwise batched (dims = len - 2) unless the leading (N, C) differ from
    grad_output's, which makes it unbatched (dims = len - 1)."""
    if len(x_shape) != len(gy_shape):
        raise ValueError(f"{fname}: input_shape {x_shape} and grad_output shape {gy_shape} have different ranks")
    n = len(x_shape)
    if dims is not None:
        if not A._is_int(dims):
            raise TypeError(f"{fname}: dims must be an int (1, 2 or 3) or None, got {dims!r}")
        if int(dims) not in (1, 2, 3):
            raise ValueError(f"{fname}: dims must be 1, 2 or 3, got {dims!r}")
        dims = int(dims)
        if n not in (dims + 1, dims + 2):
            raise ValueError(f"{fname}: input_shape {x_shape} is not a {dims}-D pooling input")
        return dims, n == dims + 2
    if n == 2:
        return 1, False
    if n not in (3, 4, 5):
        raise ValueError(f"{fname}: input_shape must have 2 to 5 entries, got {x_shape}")
    if n == 5 or tuple(x_shape[:2]) == tuple(gy_shape[:2]):
        return n - 2, True
    return n - 1, False


def _pool_leading(fname, x_shape, gy_shape, batched):
    lead = 2 if batched else 1
    if tuple(x_shape[:lead]) != tuple(gy_shape[:lead]):
        raise ValueError(
            f"{fname}: grad_output shape {tuple(gy_shape)} does not match input_shape {tuple(x_shape)} in the "
            f"batch/channel axes"
        )
    if any(s == 0 for s in x_shape[lead:]):
        raise ValueError(f"{fname}: input_shape may only have an empty batch axis, got {x_shape}")


def _pool_geometry(fname, x_shape, gy_shape, dims):
    """(dims, batched, the core's 3 input sizes, grad_output's 5-D shape), checked."""
    d, batched = _pool_rank(fname, x_shape, gy_shape, dims)
    _pool_leading(fname, x_shape, gy_shape, batched)
    _check_input_size(fname, "input_shape", x_shape)
    xs = x_shape if batched else (1,) + tuple(x_shape)
    gs = tuple(gy_shape) if batched else (1,) + tuple(gy_shape)
    return d, batched, A.pad3(xs[2:], 1), gs[:2] + (1,) * (3 - d) + gs[2:]


def _finish(g5, x_shape):
    return g5.reshape(x_shape)


def max_pool_backward(grad_output, indices, input_shape, *, dims=None):
    """Gradient of ``max_pool{1,2,3}d`` / ``adaptive_max_pool{1,2,3}d`` from the forward's int64
    ``indices`` (flat offsets in each (n, c) plane): zeros, then ``grad_output`` added at each index
    (overlapping windows add up). ``dims`` (1, 2, 3) settles an ambiguous rank (see
    :func:`adaptive_avg_pool_backward`)."""
    fname = "max_pool_backward"
    gy = A.as_float_array(fname, "grad_output", grad_output)
    x_shape = _shape_arg(fname, "input_shape", input_shape)
    idx = np.asarray(indices)
    if idx.dtype != np.int64:
        raise TypeError(f"{fname}: indices must be int64 (as returned with return_indices=True), got dtype {idx.dtype}")
    if idx.shape != gy.shape:
        raise ValueError(f"{fname}: indices shape {idx.shape} does not match grad_output shape {gy.shape}")
    d, batched, in3, g5_shape = A.cached_plan(_pool_geometry, fname, x_shape, gy.shape, dims)
    if gy.size == 0 or 0 in x_shape:
        return np.zeros(x_shape, dtype=gy.dtype)
    gy5 = A.contiguous(gy).reshape(g5_shape)
    idx5 = A.contiguous(idx).reshape(g5_shape)
    try:
        g5 = _core.max_pool_backward(gy5, idx5, in3)
    except ValueError as exc:
        raise ValueError(f"{fname}: indices out of range for input_shape {x_shape}: {exc}") from None
    return _finish(g5, x_shape)


def _avg_backward(fname, dims, grad_output, input_shape, kernel_size, stride, padding, ceil_mode, count_include_pad,
                  divisor_override):
    gy = A.as_float_array(fname, "grad_output", grad_output)
    x_shape = _shape_arg(fname, "input_shape", input_shape)
    plan = A.cached_plan(A.pool_plan, fname, dims, x_shape, kernel_size, stride, padding, 1, ceil_mode)
    _check_input_size(fname, "input_shape", x_shape)
    if dims == 3 and any(i < k for i, k in zip(x_shape[-3:], plan.kernel)):
        raise ValueError(f"{fname}: input shape {x_shape} is smaller than kernel_size={kernel_size!r}")
    count_include_pad = A.check_bool(fname, "count_include_pad", count_include_pad)
    div = A.divisor_override(fname, divisor_override)
    _check_grad_shape(fname, gy, plan.out_shape if plan.batched else plan.out_shape[1:])
    if gy.size == 0:
        return np.zeros(x_shape, dtype=gy.dtype)
    gy5 = A.to5d(A.contiguous(gy if plan.batched else gy[None]), dims)
    xs = x_shape if plan.batched else (1,) + x_shape
    g5 = _core.avg_pool_backward(gy5, A.pad3(xs[2:], 1), A.pad3(plan.kernel, 1), A.pad3(plan.stride, 1),
                                 A.pad3(plan.padding, 0), count_include_pad, div)
    return _finish(g5, x_shape)


def avg_pool1d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool1d``: each output's gradient / its forward divisor, added to its clipped window."""
    return _avg_backward("avg_pool1d_backward", 1, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool2d``; see :func:`avg_pool1d_backward`."""
    return _avg_backward("avg_pool2d_backward", 2, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)


def avg_pool3d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool3d``; see :func:`avg_pool1d_backward`."""
    return _avg_backward("avg_pool3d_backward", 3, grad_output, input_shape, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)


def adaptive_avg_pool_backward(grad_output, input_shape, *, dims=None):
    """Gradient of ``adaptive_avg_pool{1,2,3}d``: the output size is ``grad_output``'s spatial shape.

    The rank comes from ``input_shape`` and ``grad_output``: 2 entries is 1-D unbatched; 3 to 5
    entries are batched ``(N, C, *spatial)`` unless their first two entries differ (then unbatched
    ``(C, *spatial)``). Pass ``dims`` for an unbatched input whose first spatial size is unchanged."""
    fname = "adaptive_avg_pool_backward"
    gy = A.as_float_array(fname, "grad_output", grad_output)
    x_shape = _shape_arg(fname, "input_shape", input_shape)
    d, batched, in3, g5_shape = A.cached_plan(_pool_geometry, fname, x_shape, gy.shape, dims)
    if gy.size == 0:  # an empty batch, or an output size of 0 (accepted by the forward)
        return np.zeros(x_shape, dtype=gy.dtype)
    g5 = _core.adaptive_avg_pool_backward(A.contiguous(gy).reshape(g5_shape), in3)
    return _finish(g5, x_shape)

"""Argument normalisation and validation shared by the functional API.

Every check runs before any allocation or computation, and every error names the
function, the argument and the value the caller passed.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

_MAX_ELEMENTS = 2**62  # beyond this no buffer can exist; reject before computing strides
_INT32_MAX = 2**31 - 1


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def int_tuple(fname: str, name: str, value, n: int) -> tuple[int, ...]:
    """One int, or a sequence of 1 or n ints (PyTorch expands a 1-element sequence)."""
    if _is_int(value):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        items = list(value)
        if not all(_is_int(v) for v in items):
            raise TypeError(f"{fname}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        if len(items) == 1:
            return (int(items[0]),) * n
        if len(items) != n:
            raise ValueError(f"{fname}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        return tuple(int(v) for v in items)
    raise TypeError(f"{fname}: {name} must be an int or a sequence of {n} ints, got {value!r}")


def check_min(fname: str, name: str, value, values: tuple[int, ...], lo: int) -> None:
    if any(v < lo for v in values):
        what = "positive" if lo == 1 else "non-negative"
        raise ValueError(f"{fname}: {name} must be {what}, got {value!r}")


def check_int32(fname: str, name: str, value, values: tuple[int, ...]) -> None:
    """Geometry parameters stay in C int range (PyTorch's pooling limit; enough for any real shape)."""
    if any(v > _INT32_MAX for v in values):
        raise ValueError(f"{fname}: {name} must be below 2**31, got {value!r}")


def check_bool(fname: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fname}: {name} must be a bool, got {value!r}")
    return bool(value)


def as_float_array(fname: str, name: str, value) -> np.ndarray:
    """The caller's data as an ndarray without copying when possible; float32/float64 only."""
    try:
        a = value if type(value) is np.ndarray else np.asarray(value)  # subclasses (np.matrix) as plain arrays
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{fname}: {name} must be an array of float32 or float64, got {type(value).__name__} ({exc})") from None
    dt = a.dtype
    if dt.kind != "f" or dt.itemsize not in (4, 8):
        raise TypeError(f"{fname}: {name} has dtype {dt}; only float32 and float64 are supported")
    if not dt.isnative:
        a = a.astype(np.float32 if dt.itemsize == 4 else np.float64)
    return a


def same_dtype(fname: str, name: str, a: np.ndarray, x: np.ndarray) -> None:
    if a.dtype != x.dtype:
        raise TypeError(f"{fname}: {name} dtype {a.dtype} does not match input dtype {x.dtype}")


def contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous and aligned; copies only when the array is not already."""
    flags = a.flags
    if flags.c_contiguous and flags.aligned:
        return a
    return np.require(a, dtype=a.dtype, requirements=["C", "A"])


# Plans are pure functions of their arguments; repeated calls (a network's layers) reuse them.
# Keys carry each value's type so that 1, 1.0, True and np.int64(1) never share an entry.
_PLANS: dict = {}
_PLANS_MAX = 512


def _typed(v):
    t = type(v)
    if t is tuple or t is list:
        return (t, tuple(v), tuple(map(type, v)))
    return (t, v)


def cached_plan(builder, *args):
    """builder(*args), memoised on a typed key; unhashable arguments bypass the cache."""
    try:
        key = (builder, *map(_typed, args))
        plan = _PLANS.get(key)
    except TypeError:
        return builder(*args)
    if plan is None:
        plan = builder(*args)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def check_size(fname: str, shape) -> None:
    total = 1
    for s in shape:
        total *= int(s)
    if total > _MAX_ELEMENTS:
        raise ValueError(f"{fname}: output shape {tuple(shape)} is too large ({total} elements)")


def to5d(a: np.ndarray, dims: int) -> np.ndarray:
    """(N, C, *spatial) with 1-3 spatial axes -> (N, C, D, H, W) view."""
    return a.reshape(a.shape[:2] + (1,) * (3 - dims) + a.shape[2:])


def pad3(t: tuple[int, ...], fill: int) -> tuple[int, int, int]:
    return (fill,) * (3 - len(t)) + tuple(t)


def input_rank(fname: str, shape: tuple[int, ...], dims: int) -> bool:
    """Checks the input rank; returns True if batched."""
    if len(shape) not in (dims + 1, dims + 2):
        raise ValueError(
            f"{fname}: input must be {dims + 1}-D (unbatched) or {dims + 2}-D (batched), got shape {tuple(shape)}"
        )
    return len(shape) == dims + 2


# ----------------------------------------------------------------------------- convolution

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class ConvPlan:
    batched: bool
    out_shape: tuple[int, ...]  # batched (N, K, *out)
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad_l: tuple[int, ...]  # leading zero padding (the trailing one follows from out_shape)
    mode_pads: tuple[int, ...] | None  # (l, r) per axis applied first by a non-zero padding_mode
    groups: int


def conv_geometry(fname, dims, kernel, stride, padding, dilation, padding_mode):
    """Stride, dilation, leading and trailing padding (padding_mode checked); input-independent."""
    st = int_tuple(fname, "stride", stride, dims)
    check_min(fname, "stride", stride, st, 1)
    check_int32(fname, "stride", stride, st)
    dl = int_tuple(fname, "dilation", dilation, dims)
    check_min(fname, "dilation", dilation, dl, 1)
    check_int32(fname, "dilation", dilation, dl)
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(f"{fname}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")

    if isinstance(padding, str):
        if padding == "valid":
            pl = pr = (0,) * dims
        elif padding == "same":
            if any(s != 1 for s in st):
                raise ValueError(f"{fname}: padding='same' is not supported for strided convolutions, got stride={stride!r}")
            total = tuple(d * (k - 1) for d, k in zip(dl, kernel))
            pl = tuple(t // 2 for t in total)
            pr = tuple(t - t // 2 for t in total)
        else:
            raise ValueError(f"{fname}: padding must be 'valid', 'same', an int or a sequence of ints, got {padding!r}")
    else:
        pl = pr = int_tuple(fname, "padding", padding, dims)
        check_min(fname, "padding", padding, pl, 0)
        check_int32(fname, "padding", padding, pl)
    return st, dl, pl, pr


def conv_weight_checks(fname, dims, w_shape, stride, padding, dilation, groups, padding_mode):
    """conv_plan's checks that do not depend on the input (same order, same messages);
    returns stride, padding ('same'/'valid' or per-axis ints), dilation and groups as ints."""
    w_shape = tuple(int(s) for s in w_shape)
    if len(w_shape) != dims + 2:
        raise ValueError(f"{fname}: weight must be {dims + 2}-D (out_channels, in_channels/groups, *kernel), got shape {w_shape}")
    if not _is_int(groups):
        raise TypeError(f"{fname}: groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{fname}: groups must be positive, got {groups!r}")
    if w_shape[0] % groups:
        raise ValueError(f"{fname}: out channels {w_shape[0]} (weight shape {w_shape}) must be divisible by groups={groups}")
    if any(k <= 0 for k in w_shape[2:]):
        raise ValueError(f"{fname}: kernel size must be positive, got weight shape {w_shape}")
    if w_shape[0] == 0:
        raise ValueError(f"{fname}: weight must have at least one output channel, got shape {w_shape}")
    st, dl, pl, _ = conv_geometry(fname, dims, w_shape[2:], stride, padding, dilation, padding_mode)
    return st, (padding if isinstance(padding, str) else pl), dl, groups


def conv_plan(fname, dims, x_shape, w_shape, stride, padding, dilation, groups, padding_mode="zeros") -> ConvPlan:
    x_shape = tuple(int(s) for s in x_shape)
    w_shape = tuple(int(s) for s in w_shape)
    batched = input_rank(fname, x_shape, dims)
    if len(w_shape) != dims + 2:
        raise ValueError(f"{fname}: weight must be {dims + 2}-D (out_channels, in_channels/groups, *kernel), got shape {w_shape}")
    if any(s < 0 for s in x_shape) or any(s < 0 for s in w_shape):
        raise ValueError(f"{fname}: negative size in input shape {x_shape} or weight shape {w_shape}")
    if not _is_int(groups):
        raise TypeError(f"{fname}: groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups <= 0:
        raise ValueError(f"{fname}: groups must be positive, got {groups!r}")
    xb = x_shape if batched else (1,) + x_shape
    n, c = xb[0], xb[1]
    k_out, k_in = w_shape[0], w_shape[1]
    kernel = w_shape[2:]
    if c % groups:
        raise ValueError(f"{fname}: input channels {c} (input shape {x_shape}) must be divisible by groups={groups}")
    if k_out % groups:
        raise ValueError(f"{fname}: out channels {k_out} (weight shape {w_shape}) must be divisible by groups={groups}")
    if k_in * groups != c:
        raise ValueError(
            f"{fname}: weight shape {w_shape} expects {k_in * groups} input channels (weight.shape[1] * groups), "
            f"but input shape {x_shape} has {c}"
        )
    if any(k <= 0 for k in kernel):
        raise ValueError(f"{fname}: kernel size must be positive, got weight shape {w_shape}")

    if k_out == 0:
        raise ValueError(f"{fname}: weight must have at least one output channel, got shape {w_shape}")
    st, dl, pl, pr = conv_geometry(fname, dims, kernel, stride, padding, dilation, padding_mode)

    spatial = xb[2:]
    if n > 0 and c > 0 and any(s == 0 for s in spatial):
        raise ValueError(f"{fname}: input has a zero-size spatial axis, got shape {x_shape}")

    mode_pads = None
    if padding_mode != "zeros" and any(pl + pr):
        if any(i == 0 for i in spatial):
            raise ValueError(f"{fname}: padding_mode={padding_mode!r} cannot pad an empty axis, got input shape {x_shape}")
        for i, l, r in zip(spatial, pl, pr):
            if padding_mode == "reflect" and (l >= i or r >= i):
                raise ValueError(
                    f"{fname}: padding {padding!r} must be smaller than the input size for padding_mode='reflect', "
                    f"got input shape {x_shape}"
                )
            if padding_mode == "circular" and (l > i or r > i):
                raise ValueError(
                    f"{fname}: padding {padding!r} must be at most the input size for padding_mode='circular', "
                    f"got input shape {x_shape}"
                )
        mode_pads = tuple(v for lr in zip(pl, pr) for v in lr)
        spatial = tuple(i + l + r for i, l, r in zip(spatial, pl, pr))
        pl = pr = (0,) * dims

    out = []
    for i, k, s, d, l, r in zip(spatial, kernel, st, dl, pl, pr):
        e = d * (k - 1) + 1
        if i + l + r < e:
            raise ValueError(
                f"{fname}: kernel size can't be greater than actual input size: padded input "
                f"{tuple(a + b + c_ for a, b, c_ in zip(spatial, pl, pr))} vs effective kernel "
                f"{tuple(dd * (kk - 1) + 1 for dd, kk in zip(dl, kernel))} (input shape {x_shape}, weight shape "
                f"{w_shape}, padding={padding!r}, dilation={dilation!r})"
            )
        out.append((i + l + r - e) // s + 1)
    # PyTorch 2.13 returns no output channels at all when there are no input channels.
    out_shape = (n, k_out if c > 0 else 0) + tuple(out)
    check_size(fname, out_shape)
    return ConvPlan(batched, out_shape, st, dl, pl, mode_pads, groups)


# ----------------------------------------------------------------------------- pooling

@dataclass(frozen=True)
class PoolPlan:
    batched: bool
    out_shape: tuple[int, ...]  # batched (N, C, *out)
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]


def pool_input_shape(fname: str, x_shape, dims: int) -> tuple[bool, tuple[int, ...]]:
    x_shape = tuple(int(s) for s in x_shape)
    batched = input_rank(fname, x_shape, dims)
    if any(s < 0 for s in x_shape):
        raise ValueError(f"{fname}: negative size in input shape {x_shape}")
    # Only the batch axis may be empty (as in PyTorch).
    if any(s == 0 for s in x_shape[(1 if batched else 0):]):
        raise ValueError(f"{fname}: input may only have an empty batch axis, got shape {x_shape}")
    return batched, (x_shape if batched else (1,) + x_shape)


def pool_plan(fname, dims, x_shape, kernel_size, stride, padding, dilation, ceil_mode) -> PoolPlan:
    batched, xb = pool_input_shape(fname, x_shape, dims)
    k = int_tuple(fname, "kernel_size", kernel_size, dims)
    check_min(fname, "kernel_size", kernel_size, k, 1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        s = k
    else:
        s = int_tuple(fname, "stride", stride, dims)
        check_min(fname, "stride", stride, s, 1)
    p = int_tuple(fname, "padding", padding, dims)
    check_min(fname, "padding", padding, p, 0)
    d = int_tuple(fname, "dilation", dilation, dims)
    check_min(fname, "dilation", dilation, d, 1)
    ceil_mode = check_bool(fname, "ceil_mode", ceil_mode)
    for name, value, vals in (("kernel_size", kernel_size, k), ("stride", stride, s), ("padding", padding, p),
                              ("dilation", dilation, d)):
        check_int32(fname, name, value, vals)
    # PyTorch 2.13 compares with the raw kernel for every dimensionality and dilation.
    if any(pp > kk // 2 for pp, kk in zip(p, k)):
        raise ValueError(
            f"{fname}: padding should be at most half of kernel size, got padding={padding!r} and kernel_size={kernel_size!r}"
        )
    out = []
    for i, kk, ss, pp, dd in zip(xb[2:], k, s, p, d):
        o = (i + 2 * pp - dd * (kk - 1) - 1 + (ss - 1 if ceil_mode else 0)) // ss + 1
        if ceil_mode and (o - 1) * ss >= i + pp:
            o -= 1
        out.append(o)
    if any(o < 1 for o in out):
        raise ValueError(
            f"{fname}: output size is too small: input shape {tuple(x_shape)}, kernel_size={kernel_size!r}, "
            f"stride={stride!r}, padding={padding!r}, dilation={dilation!r} give {tuple(out)}"
        )
    out_shape = tuple(xb[:2]) + tuple(out)
    check_size(fname, out_shape)
    return PoolPlan(batched, out_shape, k, s, p, d)


def adaptive_output(fname: str, output_size, dims: int, spatial: tuple[int, ...]) -> tuple[int, ...]:
    """output_size as ints; None entries (2-D and 3-D only, as in PyTorch) keep that axis."""
    if _is_int(output_size):
        items = [output_size] * dims
    elif isinstance(output_size, (tuple, list)):
        items = list(output_size)
        if len(items) != dims:
            raise ValueError(f"{fname}: output_size must be an int or a sequence of {dims} ints, got {output_size!r}")
    else:
        raise TypeError(f"{fname}: output_size must be an int or a sequence of {dims} ints, got {output_size!r}")
    out = []
    for v, i in zip(items, spatial):
        if v is None and dims > 1:
            out.append(i)
        elif _is_int(v):
            out.append(operator.index(v))
        else:
            raise TypeError(f"{fname}: output_size must contain ints or None, got {output_size!r}")
    if any(o < 0 for o in out):
        raise ValueError(f"{fname}: output_size must be non-negative, got {output_size!r}")
    return tuple(out)


def divisor_override(fname: str, value) -> int:
    """avg_pool's divisor_override as the core takes it: 0 for None, else a non-zero int64."""
    if value is None:
        return 0
    if not _is_int(value):
        raise TypeError(f"{fname}: divisor_override must be an int or None, got {value!r}")
    div = int(value)
    if div == 0 or not -2**63 <= div < 2**63:
        raise ValueError(f"{fname}: divisor_override must be a non-zero int64, got {value!r}")
    return div

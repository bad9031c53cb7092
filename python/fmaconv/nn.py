"""Layers with NumPy parameters, PyTorch's constructor arguments, initialisation and
``state_dict`` key names, plus forward *and* backward: ``fmaconv.nn``.

A model is called like a PyTorch module (``y = model(x)``); training calls
``model.backward(grad_y)`` explicitly, which returns the gradient with respect to the
input and adds the parameter gradients into each parameter's ``.grad`` (accumulating,
as ``loss.backward()`` does in PyTorch)::

    logits = model(x)
    loss = criterion(logits, labels)
    model.zero_grad()
    model.backward(criterion.backward(), input_grad=False)
    optimizer.step()

Forward keeps what backward needs (inputs, pool indices, masks) only in training mode
(``model.train()``, the default); ``model.eval()`` runs lean inference.
"""
from __future__ import annotations

import math
import operator
from collections import OrderedDict
from typing import Iterator, NamedTuple

import numpy as np

from . import _args as A
from . import functional as F
from .packed import PackedConv

__all__ = [
    "Parameter", "Module", "Sequential",
    "Conv1d", "Conv2d", "Conv3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "Linear", "ReLU", "Tanh", "Sigmoid", "Flatten", "Dropout", "Identity",
    "CrossEntropyLoss", "manual_seed", "default_generator",
]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- random numbers

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator used for initialisation and dropout when no ``rng`` is given."""
    global _generator
    if not A._is_int(seed):
        raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The module-wide generator (see :func:`manual_seed`)."""
    return _generator


def _rng(fname: str, rng) -> np.random.Generator:
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    if A._is_int(rng):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{fname}: rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def _dtype(fname: str, dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fname}: dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _DTYPES:
        raise TypeError(f"{fname}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def _uniform(rng: np.random.Generator, shape, bound: float, dtype) -> np.ndarray:
    # PyTorch's kaiming_uniform_(a=sqrt(5)) and its bias init both reduce to U(-1/sqrt(fan_in), +).
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def _grad():
    """The C++ backward kernels (fmaconv.grad), imported on first use."""
    from . import grad
    return grad


# ----------------------------------------------------------------------------- Parameter

class Parameter(np.ndarray):
    """A NumPy array that is a learnable parameter: it carries ``.grad`` (None or an array of
    the same shape and dtype) and a version counter that the optimizer and
    ``load_state_dict`` bump, so that layers holding derived data (packed conv weights) know
    when to rebuild it. Arithmetic on a Parameter gives plain arrays."""

    def __new__(cls, data, requires_grad: bool = True):
        obj = np.array(data, copy=True, order="C").view(cls)
        if obj.dtype not in _DTYPES:
            raise TypeError(f"Parameter: data must be float32 or float64, got dtype {obj.dtype}")
        obj.grad = None
        obj.requires_grad = bool(requires_grad)
        obj._version = 0
        return obj

    def __array_finalize__(self, obj):
        self.grad = None
        self.requires_grad = getattr(obj, "requires_grad", True)
        self._version = 0

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # Results of ufuncs (x + p, p * 2) are plain data, not new parameters.
        arr = arr.view(np.ndarray)
        return arr[()] if return_scalar else arr

    def __reduce__(self):
        return (Parameter, (np.asarray(self), self.requires_grad))

    @property
    def data(self) -> np.ndarray:
        """The values as a plain ndarray view (writes change the parameter)."""
        return self.view(np.ndarray)

    def bump(self) -> None:
        """Mark the values as changed (done by optimizers and ``load_state_dict``)."""
        self._version += 1

    def __repr__(self) -> str:
        return "Parameter containing:\n" + repr(self.view(np.ndarray))


def _accumulate(p: Parameter, g: np.ndarray) -> None:
    if p.grad is None:
        p.grad = g
    else:
        p.grad += g


class _Keys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


# ----------------------------------------------------------------------------- Module

class Module:
    """Base class: parameters, child modules, train/eval, state_dict, save/load.

    Subclasses implement ``forward(x)`` and ``backward(grad_output, input_grad=True)``.
    Assigning a :class:`Parameter` or a :class:`Module` to an attribute registers it (in
    definition order, which gives the ``state_dict`` key order).
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if params is None:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning {name!r}")
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
            return
        if isinstance(value, Module):
            params.pop(name, None)
            self.__dict__.pop(name, None)
            self._modules[name] = value
            return
        if name in params:
            if value is None:
                params[name] = None
            elif isinstance(value, np.ndarray):
                params[name] = Parameter(value)  # a new array: copied, like torch.nn.Parameter(t)
            else:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to parameter {name!r} "
                                f"(a numpy array, Parameter or None is required)")
            return
        elif name in self._modules and value is not None:
            raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} to child module {name!r}")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        if name in d.get("_parameters", ()):
            return d["_parameters"][name]
        if name in d.get("_modules", ()):
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    # ---- calling
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__}: forward is not implemented")

    def backward(self, grad_output, input_grad: bool = True):
        raise NotImplementedError(f"{type(self).__name__}: backward is not implemented")

    # ---- tree
    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_children(self):
        yield from self._modules.items()

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = ""):
        for mname, m in self.named_modules(prefix):
            for pname, p in m._parameters.items():
                if p is not None:
                    yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    # ---- modes and grads
    def train(self, mode: bool = True) -> "Module":
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
            if not mode:
                m._release()
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def _release(self) -> None:
        """Drop what forward kept for backward (called by eval())."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    # ---- dtype
    def to(self, dtype) -> "Module":
        """Convert every parameter to float32 or float64 in place (new Parameter arrays, gradients
        dropped); returns self, like ``torch.nn.Module.to(dtype)``."""
        dt = _dtype(f"{type(self).__name__}.to", dtype)
        for m in self.modules():
            for name, p in list(m._parameters.items()):
                if p is not None and p.dtype != dt:
                    m._parameters[name] = Parameter(p.view(np.ndarray).astype(dt), p.requires_grad)
            m._release()
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # ---- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameter name -> a copy of its values (plain ndarray), with PyTorch's key names."""
        return OrderedDict((k, np.array(p, copy=True).view(np.ndarray)) for k, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True) -> _Keys:
        """Copy values into the parameters (cast to their dtype). Accepts NumPy arrays or
        anything ``np.asarray`` takes (e.g. CPU torch tensors). With ``strict``, missing or
        unexpected keys raise KeyError; a shape mismatch always raises ValueError."""
        fname = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{fname}: state_dict must be a mapping, got {type(state_dict).__name__}")
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"{fname}: missing keys {missing}, unexpected keys {unexpected}")
        staged = []
        for k, p in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if hasattr(v, "detach"):  # a torch tensor
                v = v.detach().cpu().numpy()
            v = np.asarray(v)
            if v.shape != p.shape:
                raise ValueError(f"{fname}: {k!r} has shape {tuple(v.shape)}, the parameter has shape {p.shape}")
            if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
                raise TypeError(f"{fname}: {k!r} must be numeric, got dtype {v.dtype}")
            staged.append((p, v))
        for p, v in staged:  # all checked first: a failed load changes nothing
            p[...] = v
            p.bump()
        return _Keys(missing, unexpected)

    def save(self, path) -> None:
        """Write ``state_dict()`` to an ``.npz`` file (keys as in PyTorch)."""
        np.savez(path, **self.state_dict())

    def load(self, path, strict: bool = True) -> _Keys:
        """Load parameters written by :meth:`save` (or any ``.npz`` with the same keys)."""
        with np.load(path, allow_pickle=False) as f:
            return self.load_state_dict({k: f[k] for k in f.files}, strict=strict)

    # ---- repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        main = type(self).__name__ + "("
        extra = self.extra_repr()
        if not lines:
            return main + extra + ")"
        body = ([extra] if extra else []) + lines
        return main + "\n  " + "\n  ".join(body) + "\n)"


class Sequential(Module):
    """Modules applied in order; ``state_dict`` keys are ``"0.weight"``, ``"1.bias"``, ..."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: every item must be a Module, got {type(m).__name__} at {name!r}")
            setattr(self, name, m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            keys = list(self._modules.keys())[idx]
            return Sequential(OrderedDict((k, self._modules[k]) for k in keys))
        try:
            return mods[operator.index(idx)]
        except IndexError:
            raise IndexError(f"Sequential: index {idx} is out of range for {len(mods)} modules") from None

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: module must be a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, grad_output, input_grad: bool = True):
        mods = list(self._modules.values())
        g = grad_output
        for i in range(len(mods) - 1, -1, -1):
            g = mods[i].backward(g, input_grad=input_grad or i > 0)
        return g


class Identity(Module):
    def forward(self, x):
        return x

    def backward(self, grad_output, input_grad: bool = True):
        return grad_output if input_grad else None


# ----------------------------------------------------------------------------- helpers

def _need_cache(fname: str, cache):
    if cache is None:
        raise RuntimeError(f"{fname}.backward: no forward pass in training mode to differentiate "
                           f"(call train() and run forward first)")
    return cache


def _as_input(fname: str, x, dtype: np.dtype | None = None) -> np.ndarray:
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{fname}: input dtype {x.dtype} does not match the layer's dtype {dtype}")
    return x


def _check_rank(layer, x) -> None:
    n = layer._dims
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{type(layer).__name__}: input must be {n + 1}-D (unbatched) or {n + 2}-D (batched), "
                         f"got shape {x.shape}")


def _pos_int(fname: str, name: str, v) -> int:
    if not A._is_int(v):
        raise TypeError(f"{fname}: {name} must be an int, got {v!r}")
    if v <= 0:
        raise ValueError(f"{fname}: {name} must be positive, got {v!r}")
    return int(v)


def _tuple_repr(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else ((v,) * n if A._is_int(v) else v)


# ----------------------------------------------------------------------------- convolution

def _cached_pack(layer, dims, shape_w, *geometry) -> PackedConv | None:
    """The layer's PackedConv for its current weight and bias, or None: then run the functional
    convolution (the same kernels and results). A parameter replaced or its version bumped
    (optimizer step, load_state_dict) gives None once: packing pays only when the weights stay
    the same for a second call, never in training, where every step changes them. The pack is
    rebuilt when its values differ from the parameters' (an in-place edit by the user: one
    comparison of the weights, cheap next to the convolution)."""
    params = layer._parameters
    w, b = params["weight"], params["bias"]
    key = (id(w), w._version, None if b is None else (id(b), b._version))
    if key != layer._packed_key:
        object.__setattr__(layer, "_packed", None)
        object.__setattr__(layer, "_packed_key", key)
        return None
    pc = layer._packed
    if pc is not None:
        if np.array_equal(pc._weight.reshape(w.shape), w) and (b is None or np.array_equal(pc._bias, b)):
            return pc
    pc = PackedConv._explicit(dims, shape_w(w.view(np.ndarray)), None if b is None else b.view(np.ndarray),
                              *geometry)
    object.__setattr__(layer, "_packed", pc)
    return pc


class _ConvNd(Module):
    _dims = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", dtype=np.float32, rng=None):
        super().__init__()
        n = self._dims
        fname = type(self).__name__
        in_channels = _pos_int(fname, "in_channels", in_channels)
        out_channels = _pos_int(fname, "out_channels", out_channels)
        groups = _pos_int(fname, "groups", groups)
        if in_channels % groups:
            raise ValueError(f"{fname}: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{fname}: out_channels={out_channels} must be divisible by groups={groups}")
        kernel = A.int_tuple(fname, "kernel_size", kernel_size, n)
        A.check_min(fname, "kernel_size", kernel_size, kernel, 1)
        A.check_bool(fname, "bias", bias)
        dt = _dtype(fname, dtype)
        w_shape = (out_channels, in_channels // groups) + kernel
        # Validates stride/padding/dilation/padding_mode with the functional API's messages.
        A.conv_weight_checks(fname, n, w_shape, stride, padding, dilation, groups, padding_mode)
        object.__setattr__(self, "in_channels", in_channels)
        object.__setattr__(self, "out_channels", out_channels)
        object.__setattr__(self, "kernel_size", kernel)
        object.__setattr__(self, "stride", A.int_tuple(fname, "stride", stride, n))
        object.__setattr__(self, "padding", padding if isinstance(padding, str) else A.int_tuple(fname, "padding", padding, n))
        object.__setattr__(self, "dilation", A.int_tuple(fname, "dilation", dilation, n))
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "padding_mode", padding_mode)
        g = _rng(fname, rng)
        fan_in = (in_channels // groups) * math.prod(kernel)
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = Parameter(_uniform(g, w_shape, bound, dt))
        if bias:
            self.bias = Parameter(_uniform(g, (out_channels,), bound, dt))
        else:
            self._parameters["bias"] = None
        object.__setattr__(self, "_packed", None)
        object.__setattr__(self, "_packed_key", None)
        object.__setattr__(self, "_x", None)

    def _pack(self) -> PackedConv | None:
        return _cached_pack(self, self._dims, lambda w: w, self.stride, self.padding, self.dilation, self.groups,
                            self.padding_mode)

    def _check(self, x):
        n = self._dims
        if x.dtype != self._parameters["weight"].dtype:
            raise TypeError(f"{type(self).__name__}: input dtype {x.dtype} does not match the layer's dtype "
                            f"{self._parameters['weight'].dtype}")
        if x.ndim not in (n + 1, n + 2):
            raise ValueError(f"{type(self).__name__}: input must be {n + 1}-D (unbatched) or {n + 2}-D (batched), "
                             f"got shape {x.shape}")
        if x.shape[-n - 1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}: input has {x.shape[-n - 1]} channels (shape {x.shape}), "
                             f"expected in_channels={self.in_channels}")

    def forward(self, x):
        x = _as_input(type(self).__name__, x)
        self._check(x)
        pc = self._pack()
        if pc is not None:
            y = pc(x)
        else:
            b = self._parameters["bias"]
            y = self._fn(x, self._parameters["weight"].view(np.ndarray), None if b is None else b.view(np.ndarray),
                         self.stride, self.padding, self.dilation, self.groups, self.padding_mode)
        if self.training:
            object.__setattr__(self, "_x", x)
        return y

    def backward(self, grad_output, input_grad: bool = True):
        x = _need_cache(type(self).__name__, self._x)
        w, b = self._parameters["weight"], self._parameters["bias"]
        mask = (bool(input_grad), w.requires_grad, b is not None and b.requires_grad)
        gx, gw, gb = _grad().conv_backward(grad_output, x, w.view(np.ndarray), self.stride, self.padding,
                                           self.dilation, self.groups, self.padding_mode, output_mask=mask)
        if gw is not None:
            _accumulate(w, gw)
        if gb is not None:
            _accumulate(b, gb)
        return gx

    def _release(self):
        object.__setattr__(self, "_x", None)

    def extra_repr(self):
        n = self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._parameters["bias"] is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """``torch.nn.Conv1d``: weight ``(out, in/groups, k)``, bias ``(out,)``; every padding mode."""
    _dims = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """``torch.nn.Conv2d``: weight ``(out, in/groups, kH, kW)``, bias ``(out,)``; every padding mode."""
    _dims = 2
    _fn = staticmethod(F.conv2d)


class Conv3d(_ConvNd):
    """``torch.nn.Conv3d``: weight ``(out, in/groups, kD, kH, kW)``, bias ``(out,)``; every padding mode."""
    _dims = 3
    _fn = staticmethod(F.conv3d)


# ----------------------------------------------------------------------------- pooling

def _check_window(fname, n, kernel_size, stride, padding):
    """A pooling layer's kernel_size, stride and padding, checked at construction (torch waits
    for the first call: the error names the argument sooner)."""
    k = A.int_tuple(fname, "kernel_size", kernel_size, n)
    A.check_min(fname, "kernel_size", kernel_size, k, 1)
    if stride is not None:
        s = A.int_tuple(fname, "stride", stride, n)
        A.check_min(fname, "stride", stride, s, 1)
    p = A.int_tuple(fname, "padding", padding, n)
    A.check_min(fname, "padding", padding, p, 0)
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"{fname}: padding should be at most half of kernel_size, got padding={padding!r}, "
                         f"kernel_size={kernel_size!r}")


class _MaxPoolNd(Module):
    _dims = 0

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        fname = type(self).__name__
        n = self._dims
        _check_window(fname, n, kernel_size, stride, padding)
        d = A.int_tuple(fname, "dilation", dilation, n)
        A.check_min(fname, "dilation", dilation, d, 1)
        A.check_bool(fname, "return_indices", return_indices)
        A.check_bool(fname, "ceil_mode", ceil_mode)
        object.__setattr__(self, "kernel_size", kernel_size)
        object.__setattr__(self, "stride", kernel_size if stride is None else stride)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "dilation", dilation)
        object.__setattr__(self, "return_indices", bool(return_indices))
        object.__setattr__(self, "ceil_mode", bool(ceil_mode))
        object.__setattr__(self, "_fn", getattr(F, f"max_pool{n}d"))
        object.__setattr__(self, "_cache", None)

    def forward(self, x):
        x = _as_input(type(self).__name__, x)
        _check_rank(self, x)
        if self.training or self.return_indices:
            y, idx = self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, True)
            if self.training:
                object.__setattr__(self, "_cache", (idx, x.shape))
            return (y, idx) if self.return_indices else y
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, False)

    def backward(self, grad_output, input_grad: bool = True):
        idx, shape = _need_cache(type(self).__name__, self._cache)
        if not input_grad:
            return None
        return _grad().max_pool_backward(grad_output, idx, shape, dims=self._dims)

    def _release(self):
        object.__setattr__(self, "_cache", None)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """``torch.nn.MaxPool1d``."""
    _dims = 1


class MaxPool2d(_MaxPoolNd):
    """``torch.nn.MaxPool2d``."""
    _dims = 2


class MaxPool3d(_MaxPoolNd):
    """``torch.nn.MaxPool3d``."""
    _dims = 3


class _AvgPoolNd(Module):
    _dims = 0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        fname = type(self).__name__
        n = self._dims
        _check_window(fname, n, kernel_size, stride, padding)
        A.check_bool(fname, "ceil_mode", ceil_mode)
        A.check_bool(fname, "count_include_pad", count_include_pad)
        if divisor_override is not None:
            if not A._is_int(divisor_override):
                raise TypeError(f"{fname}: divisor_override must be an int or None, got {divisor_override!r}")
            if divisor_override == 0:
                raise ValueError(f"{fname}: divisor_override must be non-zero, got {divisor_override!r}")
        if n == 1 and divisor_override is not None:
            raise TypeError(f"{fname}: divisor_override is not an argument of AvgPool1d (as in PyTorch)")
        object.__setattr__(self, "kernel_size", kernel_size)
        object.__setattr__(self, "stride", kernel_size if stride is None else stride)
        object.__setattr__(self, "padding", padding)
        object.__setattr__(self, "ceil_mode", bool(ceil_mode))
        object.__setattr__(self, "count_include_pad", bool(count_include_pad))
        object.__setattr__(self, "divisor_override", divisor_override)
        object.__setattr__(self, "_fn", getattr(F, f"avg_pool{n}d"))
        object.__setattr__(self, "_shape", None)

    def forward(self, x):
        x = _as_input(type(self).__name__, x)
        _check_rank(self, x)
        y = self._fn(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                     self.divisor_override)
        if self.training:
            object.__setattr__(self, "_shape", x.shape)
        return y

    def backward(self, grad_output, input_grad: bool = True):
        shape = _need_cache(type(self).__name__, self._shape)
        if not input_grad:
            return None
        fn = getattr(_grad(), f"avg_pool{self._dims}d_backward")
        return fn(grad_output, shape, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                  self.count_include_pad, self.divisor_override)

    def _release(self):
        object.__setattr__(self, "_shape", None)

    def extra_repr(self):
        n = self._dims
        if n == 1:
            return (f"kernel_size={_tuple_repr(self.kernel_size, 1)}, stride={_tuple_repr(self.stride, 1)}, "
                    f"padding={_tuple_repr(self.padding, 1)}")
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """``torch.nn.AvgPool1d`` (no ``divisor_override``, as in PyTorch)."""
    _dims = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad, None)


class AvgPool2d(_AvgPoolNd):
    """``torch.nn.AvgPool2d``."""
    _dims = 2


class AvgPool3d(_AvgPoolNd):
    """``torch.nn.AvgPool3d``."""
    _dims = 3


class _AdaptiveNd(Module):
    _dims = 0
    _max = False

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        fname = type(self).__name__
        n = self._dims
        vals = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
        if isinstance(output_size, (tuple, list)) and len(output_size) not in (1, n):
            raise ValueError(f"{fname}: output_size must be an int or a sequence of {n} ints, got {output_size!r}")
        for v in vals:
            if v is None and n > 1:
                continue
            if not A._is_int(v):
                raise TypeError(f"{fname}: output_size must be an int or a sequence of {n} ints, got {output_size!r}")
            if v < 0:
                raise ValueError(f"{fname}: output_size must be non-negative, got {output_size!r}")
        A.check_bool(fname, "return_indices", return_indices)
        object.__setattr__(self, "output_size", output_size)
        object.__setattr__(self, "return_indices", bool(return_indices))
        object.__setattr__(self, "_fn", getattr(F, f"adaptive_{'max' if self._max else 'avg'}_pool{n}d"))
        object.__setattr__(self, "_cache", None)

    def forward(self, x):
        x = _as_input(type(self).__name__, x)
        _check_rank(self, x)
        if not self._max:
            y = self._fn(x, self.output_size)
            if self.training:
                object.__setattr__(self, "_cache", x.shape)
            return y
        if self.training or self.return_indices:
            y, idx = self._fn(x, self.output_size, True)
            if self.training:
                object.__setattr__(self, "_cache", (idx, x.shape))
            return (y, idx) if self.return_indices else y
        return self._fn(x, self.output_size, False)

    def backward(self, grad_output, input_grad: bool = True):
        cache = _need_cache(type(self).__name__, self._cache)
        if not input_grad:
            return None
        if self._max:
            return _grad().max_pool_backward(grad_output, cache[0], cache[1], dims=self._dims)
        return _grad().adaptive_avg_pool_backward(grad_output, cache, dims=self._dims)

    def _release(self):
        object.__setattr__(self, "_cache", None)

    def extra_repr(self):
        return f"output_size={self.output_size}" + (", return_indices=True" if self.return_indices else "")


class AdaptiveAvgPool1d(_AdaptiveNd):
    _dims = 1

    def __init__(self, output_size):
        super().__init__(output_size)


class AdaptiveAvgPool2d(_AdaptiveNd):
    _dims = 2

    def __init__(self, output_size):
        super().__init__(output_size)


class AdaptiveAvgPool3d(_AdaptiveNd):
    _dims = 3

    def __init__(self, output_size):
        super().__init__(output_size)


class AdaptiveMaxPool1d(_AdaptiveNd):
    _dims, _max = 1, True


class AdaptiveMaxPool2d(_AdaptiveNd):
    _dims, _max = 2, True


class AdaptiveMaxPool3d(_AdaptiveNd):
    _dims, _max = 3, True


# ----------------------------------------------------------------------------- dense and elementwise

class Linear(Module):
    """``torch.nn.Linear``: ``y = x @ weight.T + bias``, weight ``(out_features, in_features)``.

    The three matrix products (forward, grad input, grad weight) run on fmaconv's own kernels
    as pointwise 1-D convolutions, so they use fmaconv's thread pool: NumPy's BLAS would start
    its own threads, which keep spinning after each small product and steal the cores from
    the convolutions around it (a LeNet-5 training step ran 4x slower that way with 2 threads).
    The result is a transposed view (C-contiguous ``y.T``), which is what the next Linear's
    kernels read without a copy."""

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        in_features = _pos_int("Linear", "in_features", in_features)
        out_features = _pos_int("Linear", "out_features", out_features)
        A.check_bool("Linear", "bias", bias)
        dt = _dtype("Linear", dtype)
        g = _rng("Linear", rng)
        bound = 1.0 / math.sqrt(in_features)
        object.__setattr__(self, "in_features", in_features)
        object.__setattr__(self, "out_features", out_features)
        self.weight = Parameter(_uniform(g, (out_features, in_features), bound, dt))
        if bias:
            self.bias = Parameter(_uniform(g, (out_features,), bound, dt))
        else:
            self._parameters["bias"] = None
        object.__setattr__(self, "_packed", None)
        object.__setattr__(self, "_packed_key", None)
        object.__setattr__(self, "_x", None)

    def forward(self, x):
        x = _as_input("Linear", x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: input's last dimension must be in_features={self.in_features}, "
                             f"got shape {x.shape}")
        dt = self._parameters["weight"].dtype
        if x.dtype != dt:
            raise TypeError(f"Linear: input dtype {x.dtype} does not match weight dtype {dt}")
        x2 = x.reshape(-1, self.in_features)
        m = x2.shape[0]
        if m == 0:
            y = np.zeros((0, self.out_features), dt)
        else:
            pc = _cached_pack(self, 1, lambda w: w[:, :, None], 1, 0, 1, 1, "zeros")
            # y.T (out, M) = conv1d(x.T (1, in, M), weight (out, in, 1))
            xt = np.ascontiguousarray(x2.T)[None]
            if pc is not None:
                y = pc(xt)[0].T
            else:
                b = self._parameters["bias"]
                y = F.conv1d(xt, self._parameters["weight"].view(np.ndarray)[:, :, None],
                             None if b is None else b.view(np.ndarray))[0].T
        if self.training:
            object.__setattr__(self, "_x", x2)
        return y.reshape(x.shape[:-1] + (self.out_features,))

    def backward(self, grad_output, input_grad: bool = True):
        x2 = _need_cache("Linear", self._x)
        w, b = self._parameters["weight"], self._parameters["bias"]
        gy = np.asarray(grad_output)
        if gy.shape[-1:] != (self.out_features,) or gy.size // self.out_features != x2.shape[0]:
            raise ValueError(f"Linear.backward: grad_output must have {x2.shape[0]} rows of out_features="
                             f"{self.out_features}, got shape {gy.shape}")
        gy2 = gy.reshape(-1, self.out_features)
        m = gy2.shape[0]
        gyt = np.ascontiguousarray(gy2.T)  # (out, M)
        if w.requires_grad:
            if m == 0:
                gw = np.zeros(w.shape, w.dtype)
            else:  # grad_w (out, in) = conv1d(x (1, M, in), gy.T (out, M, 1))
                gw = F.conv1d(np.ascontiguousarray(x2)[None], gyt[:, :, None])[0]
            _accumulate(w, gw)
        if b is not None and b.requires_grad:
            _accumulate(b, gyt.sum(axis=1))
        if not input_grad:
            return None
        if m == 0:
            return np.zeros(gy.shape[:-1] + (self.in_features,), w.dtype)
        # grad_x (M, in) = conv1d(weight (1, out, in), gy (M, out, 1)): C-contiguous as the layers
        # before want it, with no transposed copy of the weight (faster than grad_x.T from weight.T)
        gx = F.conv1d(w.view(np.ndarray)[None], np.ascontiguousarray(gy2)[:, :, None])[0]
        return gx.reshape(gy.shape[:-1] + (self.in_features,))

    def _release(self):
        object.__setattr__(self, "_x", None)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """``torch.nn.ReLU``; with ``inplace=True`` the input array is overwritten (no copy), and
    backward overwrites the gradient it is given likewise."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        object.__setattr__(self, "inplace", A.check_bool("ReLU", "inplace", inplace))
        object.__setattr__(self, "_y", None)

    def forward(self, x):
        x = _as_input("ReLU", x)
        # maximum() would turn NaN into NaN as torch does; ReLU(NaN) = NaN in both.
        y = np.maximum(x, 0, out=x if self.inplace else None)
        if self.training:
            object.__setattr__(self, "_y", y)
        return y

    def backward(self, grad_output, input_grad: bool = True):
        y = _need_cache("ReLU", self._y)
        if not input_grad:
            return None
        g = np.asarray(grad_output)
        if g.shape != y.shape:
            raise ValueError(f"ReLU.backward: grad_output shape {g.shape} does not match the output shape {y.shape}")
        if g.dtype != y.dtype:
            return np.where(y <= 0, 0, g)
        # In place only when g is C-contiguous or has y's layout: a strided g is written out in
        # y's layout in the same pass, so the convolution or pooling before gets what it reads.
        inplace = self.inplace and g.flags.writeable and (g.flags.c_contiguous or g.strides == y.strides)
        out = g if inplace else np.empty_like(y)
        # As torch: zero where y <= 0 (so NaN passes the gradient, and an inf gradient becomes 0,
        # not NaN as with a multiply). A select by bit mask: np.copyto(where=) is 15x slower.
        it = np.int32 if g.dtype == np.float32 else np.int64
        keep = np.subtract(np.less_equal(y, 0).view(np.uint8), 1, dtype=it)   # 0 or all ones
        np.bitwise_and(g.view(it), keep, out=out.view(it))
        return out

    def _release(self):
        object.__setattr__(self, "_y", None)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """``torch.nn.Tanh``."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_y", None)

    def forward(self, x):
        y = np.tanh(_as_input("Tanh", x))
        if self.training:
            object.__setattr__(self, "_y", y)
        return y

    def backward(self, grad_output, input_grad: bool = True):
        y = _need_cache("Tanh", self._y)
        if not input_grad:
            return None
        return grad_output * (1 - y * y)

    def _release(self):
        object.__setattr__(self, "_y", None)


class Sigmoid(Module):
    """``torch.nn.Sigmoid`` (computed without overflow for large negative inputs)."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "_y", None)

    def forward(self, x):
        x = _as_input("Sigmoid", x)
        e = np.exp(-np.abs(x))  # stable: never exp of a large positive number
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        if self.training:
            object.__setattr__(self, "_y", y)
        return y

    def backward(self, grad_output, input_grad: bool = True):
        y = _need_cache("Sigmoid", self._y)
        if not input_grad:
            return None
        return grad_output * (y * (1 - y))

    def _release(self):
        object.__setattr__(self, "_y", None)


class Flatten(Module):
    """``torch.nn.Flatten(start_dim=1, end_dim=-1)``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not A._is_int(v):
                raise TypeError(f"Flatten: {name} must be an int, got {v!r}")
        object.__setattr__(self, "start_dim", int(start_dim))
        object.__setattr__(self, "end_dim", int(end_dim))
        object.__setattr__(self, "_shape", None)

    def forward(self, x):
        x = _as_input("Flatten", x)
        nd = max(x.ndim, 1)
        s, e = self.start_dim, self.end_dim
        s2, e2 = s + nd if s < 0 else s, e + nd if e < 0 else e
        if not (0 <= s2 < nd and 0 <= e2 < nd) or s2 > e2:
            raise ValueError(f"Flatten: start_dim={s} and end_dim={e} are out of range for an input of shape {x.shape}")
        shape = x.shape[:s2] + (-1 if 0 not in x.shape else math.prod(x.shape[s2:e2 + 1]),) + x.shape[e2 + 1:]
        if self.training:
            object.__setattr__(self, "_shape", x.shape)
        return x.reshape(shape)

    def backward(self, grad_output, input_grad: bool = True):
        shape = _need_cache("Flatten", self._shape)
        return grad_output.reshape(shape) if input_grad else None

    def _release(self):
        object.__setattr__(self, "_shape", None)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """``torch.nn.Dropout(p=0.5)``: in training, zero each element with probability ``p`` and
    scale the rest by ``1/(1-p)``; identity in eval mode. Random numbers come from ``rng`` (a
    Generator or seed) or the module-wide generator (:func:`manual_seed`)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"Dropout: p must be a number, got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be between 0 and 1, got {p!r}")
        object.__setattr__(self, "p", float(p))
        object.__setattr__(self, "inplace", A.check_bool("Dropout", "inplace", inplace))
        object.__setattr__(self, "_rng", None if rng is None else _rng("Dropout", rng))
        object.__setattr__(self, "_mask", None)

    def forward(self, x):
        x = _as_input("Dropout", x)
        if not self.training or self.p == 0.0:
            if self.training:
                object.__setattr__(self, "_mask", 1)
            return x
        g = self._rng if self._rng is not None else _generator
        dt = x.dtype if x.dtype in _DTYPES else np.float64
        if self.p == 1.0:
            mask = np.zeros(x.shape, dt)
        else:
            mask = (g.random(x.shape, dtype=dt) >= self.p).astype(dt)
            mask *= 1.0 / (1.0 - self.p)
        object.__setattr__(self, "_mask", mask)
        return np.multiply(x, mask, out=x if self.inplace else None)

    def backward(self, grad_output, input_grad: bool = True):
        mask = _need_cache("Dropout", self._mask)
        if not input_grad:
            return None
        return grad_output * mask

    def _release(self):
        object.__setattr__(self, "_mask", None)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


# ----------------------------------------------------------------------------- loss

class CrossEntropyLoss(Module):
    """``torch.nn.CrossEntropyLoss`` for logits ``(N, C)`` (or ``(C,)``) and integer class
    labels: log-softmax computed stably (max subtracted). ``reduction`` 'mean' (default),
    'sum' or 'none'. ``backward(grad=1.0)`` returns ``(softmax - onehot) * grad / N`` for 'mean'."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        object.__setattr__(self, "reduction", reduction)
        object.__setattr__(self, "_cache", None)

    def forward(self, logits, target):
        x = _as_input("CrossEntropyLoss", logits)
        if x.dtype not in _DTYPES:
            raise TypeError(f"CrossEntropyLoss: logits must be float32 or float64, got dtype {x.dtype}")
        t = np.asarray(target)
        if not np.issubdtype(t.dtype, np.integer):
            raise TypeError(f"CrossEntropyLoss: target must hold integer class indices, got dtype {t.dtype}")
        unbatched = x.ndim == 1
        if unbatched:
            x, t = x[None], t.reshape(1)
        if x.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: logits must be 1-D (C,) or 2-D (N, C), got shape {np.shape(logits)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"CrossEntropyLoss: target must have shape ({x.shape[0]},), got {np.shape(target)}")
        c = x.shape[1]
        if t.size and (t.min() < 0 or t.max() >= c):
            raise ValueError(f"CrossEntropyLoss: target values must be in [0, {c}), got min {t.min()} max {t.max()}")
        z = x - x.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(x.shape[0])
        losses = np.log(s[:, 0]) - z[rows, t]
        e /= s  # softmax, kept for backward
        object.__setattr__(self, "_cache", (e, t, unbatched))
        if self.reduction == "none":
            return losses[0] if unbatched else losses
        total = losses.sum(dtype=x.dtype)
        if self.reduction == "mean":
            total = total / x.dtype.type(max(x.shape[0], 1)) if x.shape[0] else x.dtype.type(np.nan)
        return x.dtype.type(total)

    def backward(self, grad=1.0, input_grad: bool = True):
        p, t, unbatched = _need_cache("CrossEntropyLoss", self._cache)
        g = p.copy()
        g[np.arange(t.shape[0]), t] -= 1
        if self.reduction == "none":
            gr = np.asarray(grad, dtype=g.dtype).reshape(-1, 1) if np.ndim(grad) else np.asarray(grad, dtype=g.dtype)
            g *= gr
        else:
            scale = float(grad) / (max(t.shape[0], 1) if self.reduction == "mean" else 1)
            g *= g.dtype.type(scale)
        return g[0] if unbatched else g

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"

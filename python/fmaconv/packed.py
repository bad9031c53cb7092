"""Convolution weights packed once and reused: :class:`PackedConv`.

The functional ``conv{1,2,3}d`` rearranges the weights into the layout its kernels want on
every call. A :class:`PackedConv` keeps a private copy of the weights (and bias) together with
those layouts, so repeated inference with the same weights pays the packing once.
"""
from __future__ import annotations

import numpy as np

from . import _args as A
from . import _core
from .functional import _conv

__all__ = ["PackedConv"]


class PackedConv:
    """A convolution with fixed weights: ``PackedConv(weight, ...)(input)`` returns exactly
    ``fmaconv.conv{N}d(input, weight, bias, stride, padding, dilation, groups, padding_mode)``.

    The dimensionality ``N`` (1, 2 or 3) is ``weight.ndim - 2``; the explicit constructors
    :meth:`conv1d`, :meth:`conv2d` and :meth:`conv3d` also check it. Arguments are validated
    here, with the functional API's errors; inputs are validated per call (rank, channels,
    dtype, size), so the batch and spatial sizes may change from call to call.

    The weights and bias are copied: changing the caller's arrays afterwards does not change
    the results. ``weight`` and ``bias`` give read-only views of the copies. Calls may run
    concurrently from several threads (the GIL is released while large convolutions run).
    Pickling stores the weights and arguments; the layouts are rebuilt on first use.
    """

    __slots__ = ("_core", "_weight", "_bias", "_args", "_fname", "_dims", "__weakref__")

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        self._init(None, weight, bias, stride, padding, dilation, groups, padding_mode)

    def _init(self, dims, weight, bias, stride, padding, dilation, groups, padding_mode):
        fname = f"conv{dims}d" if dims else "PackedConv"
        w = A.as_float_array(fname, "weight", weight)
        if dims is None:
            if w.ndim not in (3, 4, 5):
                raise ValueError(
                    f"PackedConv: weight must be 3-D, 4-D or 5-D (out_channels, in_channels/groups, *kernel), "
                    f"got shape {w.shape}"
                )
            dims = w.ndim - 2
            fname = f"conv{dims}d"
        geometry = A.conv_weight_checks(fname, dims, w.shape, stride, padding, dilation, groups, padding_mode)
        b = None
        if bias is not None:
            b = A.as_float_array(fname, "bias", bias)
            if b.dtype != w.dtype:
                raise TypeError(f"{fname}: bias dtype {b.dtype} does not match weight dtype {w.dtype}")
            if b.shape != (w.shape[0],):
                raise ValueError(f"{fname}: bias must be 1-D with {w.shape[0]} elements (out channels), got shape {b.shape}")
            b = _private_copy(b)
        w = _private_copy(w)
        self._weight, self._bias = w, b
        # Snapshot list/array arguments: a caller mutating them later must not change this conv.
        self._args = tuple(_frozen(a) for a in (stride, padding, dilation, groups, padding_mode))
        self._fname, self._dims = fname, dims
        # The core gets the normalised geometry (plain ints), so that its fast path takes every
        # call it can; the Python path (and its messages) keeps the arguments as given.
        self._core = _core.PackedConv(w, b, dims, *geometry, padding_mode)

    @classmethod
    def conv1d(cls, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        """A packed ``conv1d``: ``weight`` must be 3-D ``(C_out, C_in/groups, k)``."""
        return cls._explicit(1, weight, bias, stride, padding, dilation, groups, padding_mode)

    @classmethod
    def conv2d(cls, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        """A packed ``conv2d``: ``weight`` must be 4-D ``(C_out, C_in/groups, kH, kW)``."""
        return cls._explicit(2, weight, bias, stride, padding, dilation, groups, padding_mode)

    @classmethod
    def conv3d(cls, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
        """A packed ``conv3d``: ``weight`` must be 5-D ``(C_out, C_in/groups, kD, kH, kW)``."""
        return cls._explicit(3, weight, bias, stride, padding, dilation, groups, padding_mode)

    @classmethod
    def _explicit(cls, dims, *args):
        self = cls.__new__(cls)
        self._init(dims, *args)
        return self

    def __call__(self, input):
        """``conv{N}d(input, weight, bias, ...)`` with the packed weights; a new array."""
        y = self._core(input)
        if y is None:
            y = _conv(self._fname, self._dims, input, self._weight, self._bias, *self._args, packed=self._core)
        return y

    # ------------------------------------------------------------------ introspection
    @property
    def weight(self) -> np.ndarray:
        """The private weights (read-only view)."""
        return self._weight.view()

    @property
    def bias(self) -> np.ndarray | None:
        """The private bias (read-only view), or None."""
        return None if self._bias is None else self._bias.view()

    @property
    def ndim(self) -> int:
        """Spatial dimensions (1, 2 or 3)."""
        return self._dims

    stride = property(lambda self: self._args[0], doc="stride as given")
    padding = property(lambda self: self._args[1], doc="padding as given")
    dilation = property(lambda self: self._args[2], doc="dilation as given")
    groups = property(lambda self: self._args[3], doc="groups as given")
    padding_mode = property(lambda self: self._args[4], doc="padding_mode as given")

    def __repr__(self) -> str:
        s, p, d, g, m = self._args
        return (f"PackedConv.{self._fname}(weight={self._weight.shape} {self._weight.dtype}, "
                f"bias={'None' if self._bias is None else self._bias.shape}, stride={s!r}, padding={p!r}, "
                f"dilation={d!r}, groups={g!r}, padding_mode={m!r})")

    def __reduce__(self):
        # The layouts are not pickled: the new object packs on its first call.
        return (_unpickle, (self._dims, self._weight, self._bias, *self._args))


def _unpickle(dims, weight, bias, stride, padding, dilation, groups, padding_mode):
    return PackedConv._explicit(dims, weight, bias, stride, padding, dilation, groups, padding_mode)


def _frozen(v):
    """Lists and arrays as tuples (what the API accepts as geometry); anything else as given."""
    if isinstance(v, list) or (isinstance(v, np.ndarray) and v.ndim == 1):
        return tuple(v.tolist() if isinstance(v, np.ndarray) else v)
    return v


def _private_copy(a: np.ndarray) -> np.ndarray:
    """A new C-contiguous, aligned, read-only copy that no one else references."""
    c = np.array(a, dtype=a.dtype, order="C", copy=True)
    c.flags.writeable = False
    return c

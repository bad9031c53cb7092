"""fmaconv: fast convolution and pooling on NumPy arrays with PyTorch's exact semantics.

The core is C++ (register-tiled FMA kernels per instruction set, chosen at run time, and one
persistent thread pool); this package is the thin, validating Python layer on top.
"""
from __future__ import annotations

import os as _os
import platform as _platform

from . import _core, functional
from .functional import (
    adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d,
    adaptive_max_pool1d, adaptive_max_pool2d, adaptive_max_pool3d,
    avg_pool1d, avg_pool2d, avg_pool3d,
    conv1d, conv2d, conv3d,
    conv_output_shape,
    max_pool1d, max_pool2d, max_pool3d,
    pool_output_shape,
)
from .packed import PackedConv
from . import grad
from . import nn, optim, models  # noqa: E402  (layers, optimizers, networks)

__version__ = _core.__version__

__all__ = [*functional.__all__, "PackedConv", "set_num_threads", "get_num_threads", "show_config"]


def set_num_threads(n: int) -> None:
    """Threads used by every fmaconv call (the caller's thread counts as one)."""
    if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: n must be an int, got {n!r}")
    n = int(n)
    if not 1 <= n <= 4096:
        raise ValueError(f"set_num_threads: n must be between 1 and 4096, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads fmaconv uses (default: the CPUs this process may run on, or FMACONV_NUM_THREADS)."""
    return _core.get_num_threads()


def show_config(print_out: bool = True) -> dict:
    """Version, compiler, kernel set (ISA) in use and available, threads; printed and returned."""
    cfg = dict(_core.config())
    cfg["machine"] = _platform.machine()
    if print_out:
        width = max(len(k) for k in cfg)
        for k, v in cfg.items():
            if k == "isa_warning" and not v:
                continue
            if isinstance(v, list):
                v = ", ".join(v)
            print(f"{k:<{width}} : {v}")
    return cfg


def _threads_from_env() -> None:
    value = _os.environ.get("FMACONV_NUM_THREADS")
    if value:
        try:
            set_num_threads(int(value))
        except (TypeError, ValueError):
            raise ValueError(f"FMACONV_NUM_THREADS must be a positive integer, got {value!r}") from None


_threads_from_env()

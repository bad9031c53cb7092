"""The fixed benchmark suite.

Shared by ``python -m fmaconv.bench`` and the pytest-benchmark tests in
``benchmarks/`` so that both always run exactly the same cases.

A :class:`Case` describes one call of a PyTorch-style functional op
(``conv{1,2,3}d``, ``max_pool{1,2,3}d``, ``avg_pool{1,2,3}d``,
``adaptive_avg_pool{1,2,3}d``).  The same function name and keyword
arguments are valid for ``fmaconv`` and ``torch.nn.functional``.
"""
from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

CONV = "conv"
MAX_POOL = "max_pool"
AVG_POOL = "avg_pool"
ADAPTIVE_AVG_POOL = "adaptive_avg_pool"
OPS = (CONV, MAX_POOL, AVG_POOL, ADAPTIVE_AVG_POOL)
MODEL = "model"                              # a whole network (ModelCase), fmaconv.nn vs torch.nn

#: itemsize of the indices array returned by ``return_indices=True`` (int64)
INDEX_ITEMSIZE = 8


def _tup(v, n: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(i) for i in v)
    if len(v) != n:
        raise ValueError(f"expected {n} values, got {v}")
    return v


def _arg(v: tuple[int, ...]):
    """Pass an int when all entries agree (both APIs accept int or tuple)."""
    return v[0] if len(set(v)) == 1 else v


def _dims(v: Sequence[int]) -> str:
    return "x".join(str(i) for i in v)


@dataclass(frozen=True)
class Case:
    name: str
    op: str                                  # one of OPS
    input_shape: tuple[int, ...]             # (N, C, *spatial)
    kernel: tuple[int, ...] = ()
    out_channels: int = 0                    # conv only
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1                          # conv only
    return_indices: bool = False             # max_pool only
    output_size: tuple[int, ...] = ()        # adaptive only
    bias: bool = True                        # conv only

    # ---- geometry -------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.input_shape) - 2

    @property
    def func_name(self) -> str:
        """Function name in fmaconv and torch.nn.functional."""
        return f"{self.op}{self.ndim}d"

    @property
    def is_conv(self) -> bool:
        return self.op == CONV

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.input_shape[1] // self.groups) + self.kernel

    @property
    def out_spatial(self) -> tuple[int, ...]:
        if self.op == ADAPTIVE_AVG_POOL:
            return self.output_size
        return tuple(
            (L + 2 * p - d * (k - 1) - 1) // s + 1
            for L, k, s, p, d in zip(self.input_shape[2:], self.kernel, self.stride,
                                     self.padding, self.dilation))

    @property
    def output_shape(self) -> tuple[int, ...]:
        n, c = self.input_shape[:2]
        return (n, self.out_channels if self.is_conv else c) + self.out_spatial

    # ---- cost model -----------------------------------------------------
    @property
    def flops(self) -> int:
        """2 * N * C_out * prod(out) * C_in/groups * prod(kernel) (conv only, else 0)."""
        if not self.is_conv:
            return 0
        n, c = self.input_shape[:2]
        return (2 * n * self.out_channels * math.prod(self.out_spatial)
                * (c // self.groups) * math.prod(self.kernel))

    def bytes_moved(self, itemsize: int) -> int:
        """input + output (+ int64 indices) bytes (pooling only, else 0)."""
        if self.is_conv:
            return 0
        out = math.prod(self.output_shape)
        b = (math.prod(self.input_shape) + out) * itemsize
        if self.return_indices:
            b += out * INDEX_ITEMSIZE
        return b

    # ---- calling --------------------------------------------------------
    def kwargs(self) -> dict:
        """Keyword arguments (besides input/weight/bias) for fmaconv and torch."""
        if self.is_conv:
            return dict(stride=_arg(self.stride), padding=_arg(self.padding),
                        dilation=_arg(self.dilation), groups=self.groups)
        if self.op == MAX_POOL:
            return dict(kernel_size=_arg(self.kernel), stride=_arg(self.stride),
                        padding=_arg(self.padding), dilation=_arg(self.dilation),
                        return_indices=self.return_indices)
        if self.op == AVG_POOL:
            return dict(kernel_size=_arg(self.kernel), stride=_arg(self.stride),
                        padding=_arg(self.padding))
        return dict(output_size=_arg(self.output_size))

    def make_inputs(self, dtype="float32", seed: int | None = None) -> dict:
        """Deterministic inputs: {"input": x} plus "weight"/"bias" for conv.

        Weights are scaled by 1/sqrt(fan_in) so outputs stay O(1) and the
        allclose check is meaningful.
        """
        dtype = np.dtype(dtype)
        if seed is None:
            seed = zlib.crc32(self.name.encode())
        rng = np.random.default_rng(seed)
        arrays = {"input": rng.standard_normal(self.input_shape).astype(dtype)}
        if self.is_conv:
            fan_in = math.prod(self.weight_shape[1:])
            w = rng.standard_normal(self.weight_shape) / math.sqrt(fan_in)
            arrays["weight"] = w.astype(dtype)
            arrays["bias"] = (0.1 * rng.standard_normal(self.out_channels)).astype(dtype) \
                if self.bias else None
        return arrays

    # ---- display --------------------------------------------------------
    def summary(self) -> str:
        """Short shape summary, e.g. '1x3x224x224 ->64 k7x7 s2 p3'."""
        parts = [_dims(self.input_shape)]
        if self.is_conv:
            parts.append(f"->{self.out_channels}")
        if self.op == ADAPTIVE_AVG_POOL:
            parts.append(f"->{_dims(self.output_size)}")
            return " ".join(parts)
        parts.append("k" + _dims(self.kernel))
        if self.stride != (1,) * self.ndim:
            parts.append("s" + _dims(sorted(set(self.stride))))
        if any(self.padding):
            parts.append("p" + _dims(sorted(set(self.padding))))
        if self.dilation != (1,) * self.ndim:
            parts.append("d" + _dims(sorted(set(self.dilation))))
        if self.groups != 1:
            parts.append(f"g{self.groups}")
        if self.return_indices:
            parts.append("+idx")
        return " ".join(parts)


# ---- constructors -------------------------------------------------------
def conv(name, n, c, spatial, k_out, kernel, stride=1, padding=0, dilation=1,
         groups=1) -> Case:
    nd = len(spatial)
    return Case(name, CONV, (n, c) + tuple(spatial), kernel=_tup(kernel, nd),
                out_channels=k_out, stride=_tup(stride, nd), padding=_tup(padding, nd),
                dilation=_tup(dilation, nd), groups=groups)


def pool(name, op, n, c, spatial, kernel, stride=None, padding=0, dilation=1,
         return_indices=False) -> Case:
    nd = len(spatial)
    kernel = _tup(kernel, nd)
    return Case(name, op, (n, c) + tuple(spatial), kernel=kernel,
                stride=kernel if stride is None else _tup(stride, nd),
                padding=_tup(padding, nd), dilation=_tup(dilation, nd),
                return_indices=return_indices)


def adaptive_avg_pool(name, n, c, spatial, output_size) -> Case:
    return Case(name, ADAPTIVE_AVG_POOL, (n, c) + tuple(spatial),
                output_size=_tup(output_size, len(spatial)))


#: The fixed suite.  Names are stable identifiers: do not rename.
SUITE: tuple[Case, ...] = (
    # name                          N    C  spatial        K  k  s  p  d  groups
    conv("lenet_conv1",            64,   3, (32, 32),      6, 5),
    conv("lenet_conv2",            64,   6, (14, 14),     16, 5),
    conv("resnet_stem",             1,   3, (224, 224),   64, 7, 2, 3),
    conv("conv3x3_64x56",           1,  64, (56, 56),     64, 3, 1, 1),
    conv("conv3x3_256x14",          1, 256, (14, 14),    256, 3, 1, 1),
    conv("conv3x3_64x56_n8",        8,  64, (56, 56),     64, 3, 1, 1),
    conv("conv1x1_256x56",          1, 256, (56, 56),     64, 1),
    conv("dwconv3x3_144x56",        1, 144, (56, 56),    144, 3, 1, 1, 1, 144),
    conv("conv3x3s2_128x56",        1, 128, (56, 56),    128, 3, 2, 1),
    conv("conv3x3d2_64x56",         1,  64, (56, 56),     64, 3, 1, 2, 2),
    conv("conv1d_64xL4096",         8,  64, (4096,),      64, 3, 1, 1),
    conv("dwconv1d_256xL1024",      8, 256, (1024,),     256, 7, 1, 3, 1, 256),
    conv("conv3d_32x16x56",         1,  32, (16, 56, 56), 32, 3, 1, 1),
    conv("conv3d_3x16x112",         1,   3, (16, 112, 112), 64, 3, 1, 1),
    # per-call overhead: almost no arithmetic, so the time is the call itself
    conv("tiny_conv2d_1x8x8",       1,   1, (8, 8),        1, 3),
    pool("maxpool3x3s2_64x112",     MAX_POOL, 1, 64, (112, 112), 3, 2, 1),
    pool("maxpool3x3s2_64x112_idx", MAX_POOL, 1, 64, (112, 112), 3, 2, 1,
         return_indices=True),
    pool("maxpool2x2_lenet",        MAX_POOL, 64, 6, (28, 28), 2),
    pool("avgpool2x2_lenet",        AVG_POOL, 64, 6, (28, 28), 2),
    pool("avgpool3x3s1_64x56_n8",   AVG_POOL, 8, 64, (56, 56), 3, 1, 1),
    adaptive_avg_pool("global_avgpool_2048x7", 8, 2048, (7, 7), 1),
    # pooling shapes beyond the original suite: odd sizes and edges, dilation, 1-D and 3-D,
    # indices, a large batch that exceeds the caches, non-global adaptive windows
    pool("maxpool3x3s2_odd57_idx",  MAX_POOL, 2, 32, (57, 57), 3, 2, 1, return_indices=True),
    pool("maxpool2x2_64x56_n8",     MAX_POOL, 8, 64, (56, 56), 2),
    pool("maxpool3x3d2_64x56",      MAX_POOL, 1, 64, (56, 56), 3, 1, 1, 2),
    pool("maxpool1d_k3s2_64xL4095", MAX_POOL, 8, 64, (4095,), 3, 2, 1, return_indices=True),
    pool("maxpool3d_2x32x16x32",    MAX_POOL, 1, 32, (16, 32, 32), 2),
    pool("avgpool3x3s2_odd57",      AVG_POOL, 2, 32, (57, 57), 3, 2, 1),
    pool("avgpool1d_k4_64xL4096",   AVG_POOL, 8, 64, (4096,), 4),
    pool("avgpool3d_3x16x28",       AVG_POOL, 1, 16, (8, 28, 28), 3, 1, 1),
    adaptive_avg_pool("global_avgpool_512x14", 8, 512, (14, 14), 1),
    adaptive_avg_pool("adaptive_avgpool_256x14to7", 4, 256, (14, 14), 7),
    # common network layers: Inception's 3x3 stride-1 max, YOLO's SPPF 5x5, a global max pool
    # written as a window, adaptive average pooling whose windows overlap (13 -> 6)
    pool("maxpool3x3s1_128x28_n8",  MAX_POOL, 8, 128, (28, 28), 3, 1, 1),
    pool("maxpool5x5s1_sppf_256x20", MAX_POOL, 4, 256, (20, 20), 5, 1, 2),
    pool("global_maxpool_512x7",    MAX_POOL, 8, 512, (7, 7), 7),
    adaptive_avg_pool("adaptive_avgpool_256x13to6", 4, 256, (13, 13), 6),
    # small planes: AlexNet's last max pool (3x3 stride 2 on 13x13), 2x2 on CIFAR-sized 8x8 maps
    pool("maxpool3x3s2_alexnet_256x13", MAX_POOL, 4, 256, (13, 13), 3, 2, 0),
    pool("maxpool2x2_cifar_128x8",  MAX_POOL, 32, 128, (8, 8), 2),
    # windows that tile the input three or more columns wide: 3x3 average, 14 -> 2 adaptive
    pool("avgpool3x3s3_64x24_n8",   AVG_POOL, 8, 64, (24, 24), 3),
    adaptive_avg_pool("adaptive_avgpool_512x14to2", 8, 512, (14, 14), 2),
    # small planes: Inception-v3's 3x3 stride-1 branch pool on 8x8 maps and its 3x3 stride-2
    # reduction on 17x17
    pool("avgpool3x3s1_inception_1280x8", AVG_POOL, 8, 1280, (8, 8), 3, 1, 1),
    pool("maxpool3x3s2_inception_768x17", MAX_POOL, 8, 768, (17, 17), 3, 2, 0),
)



@dataclass(frozen=True)
class ModelCase:
    """A whole network, fmaconv.nn against the same torch.nn network with the same weights:
    ``mode`` "infer" (eval-mode forward) or "train" (one step: forward, cross-entropy loss,
    backward, SGD with momentum 0.9 and weight decay 5e-4). Only fmaconv and torch run these."""
    name: str
    model: str                               # "lenet5"
    mode: str                                # "infer" or "train"
    batch: int
    in_channels: int = 3
    num_classes: int = 10

    op = MODEL
    is_conv = False
    flops = 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, 32, 32)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.num_classes) if self.mode == "infer" else ()

    @property
    def func_name(self) -> str:
        return f"LeNet5 {self.mode}"

    def bytes_moved(self, itemsize: int) -> int:
        return 0

    def kwargs(self) -> dict:
        return {}

    def summary(self) -> str:
        what = "forward (eval)" if self.mode == "infer" else "fwd+CE+bwd+SGD"
        return f"{_dims(self.input_shape)} {what}"

    def make_inputs(self, dtype="float32", seed: int | None = None) -> dict:
        """Images, labels and the initial weights as a state_dict (PyTorch's init and key names)."""
        from .. import models                # the bench stays importable without the core
        dtype = np.dtype(dtype)
        if seed is None:
            seed = zlib.crc32(self.name.encode())
        rng = np.random.default_rng(seed)
        net = models.LeNet5(self.in_channels, self.num_classes, dtype=dtype, rng=seed)
        return {"input": rng.standard_normal(self.input_shape).astype(dtype),
                "target": rng.integers(0, self.num_classes, self.batch),
                "state": net.state_dict()}


#: Whole-network cases (after the operator suite in the table; --filter lenet5 selects them).
MODEL_SUITE: tuple[ModelCase, ...] = (
    ModelCase("lenet5_infer_b64", "lenet5", "infer", 64),
    ModelCase("lenet5_train_b64", "lenet5", "train", 64),
)
ALL_CASES = SUITE + MODEL_SUITE

CASES_BY_NAME = {c.name: c for c in ALL_CASES}
assert len(CASES_BY_NAME) == len(ALL_CASES), "case names must be unique"


def select(pattern: str | None = None, cases: Iterable[Case] = SUITE) -> list[Case]:
    """Cases whose name matches ``pattern`` (regex search; plain substring if
    the pattern is not a valid regex).  None/"" selects all."""
    cases = list(cases)
    if not pattern:
        return cases
    try:
        rx = re.compile(pattern)
        return [c for c in cases if rx.search(c.name)]
    except re.error:
        return [c for c in cases if pattern in c.name]

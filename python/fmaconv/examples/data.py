"""Data sets for the examples: scikit-learn's handwritten digits brought to 32x32, and the
CIFAR-10 "python version" batches read from a folder the user downloaded."""
from __future__ import annotations

import os
import pickle

import numpy as np

__all__ = ["load_digits_32", "load_cifar10", "standardise"]

CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"


def load_digits_32(test_size: float = 0.2, seed: int = 0):
    """scikit-learn's 8x8 digits (1797 images, values 0..16) upsampled x4 to 32x32 (each pixel
    a 4x4 block), split stratified with a fixed seed. Returns float32
    ``(x_train (N,1,32,32), y_train, x_test, y_test)`` scaled to [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError("the digits example needs scikit-learn: pip install 'fmaconv[examples]' "
                          "(or pip install scikit-learn)") from None
    d = load_digits()
    x = d.images.astype(np.float32) / 16.0
    x = np.kron(x, np.ones((1, 4, 4), np.float32))[:, None]   # nearest-neighbour x4: sharp strokes train best
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return np.ascontiguousarray(xtr), ytr, np.ascontiguousarray(xte), yte


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: a CIFAR batch needs nothing else, and
    refusing every other class keeps a tampered file from running code."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"),
                ("_codecs", "encode")}  # how protocol-2 pickles (the CIFAR files) store bytes

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"load_cifar10: refusing to load {module}.{name} from a CIFAR-10 batch")


def _read_batch(path: str):
    try:
        with open(path, "rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"load_cifar10: missing batch file {path!r} (expected the CIFAR-10 python "
                                f"version: data_batch_1..5 and test_batch)") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise ValueError(f"load_cifar10: {path!r} is not a CIFAR-10 batch (a dict with b'data' and b'labels')")
    x = np.asarray(d[b"data"])
    y = np.asarray(d[b"labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (x.shape[0],):
        raise ValueError(f"load_cifar10: {path!r} must hold b'data' uint8 (n, 3072) and n b'labels', "
                         f"got data {x.dtype} {x.shape} and {y.shape[0]} labels")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"load_cifar10: labels in {path!r} must be 0..9, got {y.min()}..{y.max()}")
    return x.reshape(-1, 3, 32, 32), y


def load_cifar10(path):
    """CIFAR-10 from the standard python-pickle batches (``cifar-10-python.tar.gz`` unpacked):
    ``path`` is the ``cifar-10-batches-py`` folder or its parent. Returns uint8
    ``(x_train (50000,3,32,32), y_train, x_test (10000,3,32,32), y_test)``."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"load_cifar10: {path!r} is not a folder")
    sub = os.path.join(path, "cifar-10-batches-py")
    if not os.path.exists(os.path.join(path, CIFAR10_TEST)) and os.path.isdir(sub):
        path = sub
    parts = [_read_batch(os.path.join(path, name)) for name in CIFAR10_TRAIN]
    xte, yte = _read_batch(os.path.join(path, CIFAR10_TEST))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte)


def standardise(x_train, x_test):
    """Per-channel mean/std of the training images applied to both sets, as float32."""
    xtr = x_train.astype(np.float32)
    xte = x_test.astype(np.float32)
    axes = (0, 2, 3)
    mean = xtr.mean(axis=axes, keepdims=True)
    std = xtr.std(axis=axes, keepdims=True) + np.float32(1e-6)
    return (xtr - mean) / std, (xte - mean) / std

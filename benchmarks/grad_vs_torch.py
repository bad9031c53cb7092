"""fmaconv.grad vs PyTorch's CPU backward ops (the ones autograd calls), side by side.

Same thread count for both (fmaconv.set_num_threads / torch.set_num_threads), calls interleaved,
best of N. Usage: python benchmarks/grad_vs_torch.py [--threads 1 2] [--repeat 30] [--dtype float32]
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch idle threads must not spin on the cores we time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import time

import numpy as np
import torch

import fmaconv
from fmaconv import grad as G


def conv_case(name, x_shape, w_shape, stride, padding, mask):
    def setup(dtype, rng):
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        y = fmaconv.conv2d(x, w, None, stride, padding)
        gy = rng.standard_normal(y.shape).astype(dtype)
        tx, tw, tgy = (torch.from_numpy(a) for a in (x, w, gy))

        def ours():
            return G.conv_backward(gy, x, w, stride, padding, output_mask=mask)

        def theirs():
            return torch.ops.aten.convolution_backward(tgy, tx, tw, [w_shape[0]], [stride] * 2, [padding] * 2, [1, 1],
                                                       False, [0, 0], 1, list(mask))

        return ours, theirs, (x, w, gy, tx, tw, tgy)

    return name, setup


def check_conv(ours, theirs, dtype):
    a, b = ours(), theirs()
    for u, v in zip(a, b):
        if u is None:
            continue
        v = v.numpy()
        err = np.abs(u - v).max() / (np.abs(v).max() + 1e-30)
        assert err < (1e-4 if dtype == np.float32 else 1e-10), err


def maxpool_case(name, x_shape):
    def setup(dtype, rng):
        x = rng.standard_normal(x_shape).astype(dtype)
        y, idx = fmaconv.max_pool2d(x, 2, 2, return_indices=True)
        gy = rng.standard_normal(y.shape).astype(dtype)
        tx, tgy, tidx = torch.from_numpy(x), torch.from_numpy(gy), torch.from_numpy(idx)

        def ours():
            return (G.max_pool_backward(gy, idx, x.shape),)

        def theirs():
            return (torch.ops.aten.max_pool2d_with_indices_backward(tgy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False,
                                                                    tidx),)

        return ours, theirs, None

    return name, setup


CASES = [
    conv_case("lenet conv1 64x3x32x32 5x5->6 (gw+gb)", (64, 3, 32, 32), (6, 3, 5, 5), 1, 0, (False, True, True)),
    conv_case("lenet conv2 64x6x14x14 5x5->16 (all)", (64, 6, 14, 14), (16, 6, 5, 5), 1, 0, (True, True, True)),
    maxpool_case("lenet maxpool 2x2 64x6x28x28", (64, 6, 28, 28)),
    maxpool_case("lenet maxpool 2x2 64x16x10x10", (64, 16, 10, 10)),
    conv_case("3x3 64->64 56x56 b1 p1 (all)", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, (True, True, True)),
    conv_case("3x3 s2 128->128 56x56 b1 p1 (all)", (1, 128, 56, 56), (128, 128, 3, 3), 2, 1, (True, True, True)),
    conv_case("3x3 64->64 56x56 b1 p1 (gx only)", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, (True, False, False)),
    conv_case("3x3 64->64 56x56 b1 p1 (gw only)", (1, 64, 56, 56), (64, 64, 3, 3), 1, 1, (False, True, False)),
]


def best_of(fns, repeat):
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    dtype = np.dtype(args.dtype).type
    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, fmaconv isa {fmaconv.show_config(False)['isa']}, {args.dtype}")
    print(f"{'case':44s} {'thr':>3s} {'fmaconv ms':>11s} {'torch ms':>9s} {'speed-up':>8s}")
    for name, setup in CASES:
        if args.filter not in name:
            continue
        ours, theirs, _ = setup(dtype, rng)
        if "conv" in name:
            check_conv(ours, theirs, dtype)
        for t in args.threads:
            fmaconv.set_num_threads(t)
            torch.set_num_threads(t)
            best_of([ours, theirs], 3)  # warm up
            a, b = best_of([ours, theirs], args.repeat)
            print(f"{name:44s} {t:3d} {a * 1e3:11.3f} {b * 1e3:9.3f} {b / a:7.2f}x", flush=True)


if __name__ == "__main__":
    main()

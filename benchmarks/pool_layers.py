"""Pooling layers of common networks, timed against a copy of their input.

    python benchmarks/pool_layers.py [--threads N] [--filter TEXT]

The suite (`python -m fmaconv.bench`) cannot express ceil_mode or count_include_pad; this
sweep can. For each layer: the input's size, np.copyto of it, fmaconv's call (the minimum of 15
bursts of ~2 ms each, after a warm-up) and their ratio, and PyTorch's time over fmaconv's where
torch is installed. Numbers move by 10-50% between runs on a shared machine: compare builds in
alternating processes (see the README's Development section).
"""
import argparse
import time

import numpy as np

import fmaconv

# name, function, input shape, keyword arguments
LAYERS = [
    ("3x3 s1 max, 7x7 maps", "max_pool2d", (8, 512, 7, 7), dict(kernel_size=3, stride=1, padding=1)),
    ("Inception 3x3 s1 max, 14x14", "max_pool2d", (8, 832, 14, 14), dict(kernel_size=3, stride=1, padding=1)),
    ("SPP 5x5 s1 max, 13x13", "max_pool2d", (4, 256, 13, 13), dict(kernel_size=5, stride=1, padding=2)),
    ("3x3 s2 p1 max, 7x7", "max_pool2d", (8, 512, 7, 7), dict(kernel_size=3, stride=2, padding=1)),
    ("(1,3) s(1,2) max, 16x16", "max_pool2d", (8, 256, 16, 16), dict(kernel_size=(1, 3), stride=(1, 2), padding=(0, 1))),
    ("GoogLeNet 3x3 s2 ceil, 112", "max_pool2d", (1, 64, 112, 112), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("GoogLeNet 3x3 s2 ceil, 56", "max_pool2d", (1, 192, 56, 56), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("GoogLeNet 3x3 s2 ceil, 28", "max_pool2d", (1, 480, 28, 28), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("GoogLeNet 3x3 s2 ceil, 14 (b8)", "max_pool2d", (8, 832, 14, 14), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("2x2 s2 ceil max, 27x27", "max_pool2d", (8, 64, 27, 27), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ("AlexNet 3x3 s2 max, 27x27", "max_pool2d", (4, 192, 27, 27), dict(kernel_size=3, stride=2)),
    ("Inception 3x3 s2 max, 17x17", "max_pool2d", (8, 768, 17, 17), dict(kernel_size=3, stride=2)),
    ("VGG 2x2 max, 14x14", "max_pool2d", (8, 512, 14, 14), dict(kernel_size=2)),
    ("LeNet 2x2 max, 28x28", "max_pool2d", (64, 6, 28, 28), dict(kernel_size=2)),
    ("Inception 3x3 s1 avg excl, 35", "avg_pool2d", (8, 288, 35, 35),
     dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("Inception 3x3 s1 avg excl, 17", "avg_pool2d", (8, 768, 17, 17),
     dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("Inception 3x3 s1 avg excl, 8", "avg_pool2d", (8, 1280, 8, 8),
     dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)),
    ("InceptionAux 5x5 s3 avg, 17", "avg_pool2d", (8, 768, 17, 17), dict(kernel_size=5, stride=3)),
    ("2x2 s2 ceil avg excl, 7x7", "avg_pool2d", (8, 512, 7, 7),
     dict(kernel_size=2, stride=2, ceil_mode=True, count_include_pad=False)),
    ("DenseNet 2x2 avg, 56", "avg_pool2d", (8, 128, 56, 56), dict(kernel_size=2, stride=2)),
    ("3x3 s2 p1 max +idx, 112", "max_pool2d", (8, 64, 112, 112),
     dict(kernel_size=3, stride=2, padding=1, return_indices=True)),
    ("2x2 max +idx, 28x28", "max_pool2d", (8, 64, 28, 28), dict(kernel_size=2, return_indices=True)),
    ("1-D k3 s2 ceil max, L999", "max_pool1d", (8, 128, 999), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("1-D k3 s1 avg, L1000", "avg_pool1d", (8, 128, 1000), dict(kernel_size=3, stride=1, padding=1)),
    ("3-D 3x3x3 s2 p1 max, 16x56", "max_pool3d", (1, 64, 16, 56, 56), dict(kernel_size=3, stride=2, padding=1)),
    ("I3D (1,3,3) s1 avg, 8x28", "avg_pool3d", (1, 64, 8, 28, 28), dict(kernel_size=(1, 3, 3), stride=1,
                                                                        padding=(0, 1, 1))),
    ("adaptive max 14 -> 7", "adaptive_max_pool2d", (4, 256, 14, 14), dict(output_size=7)),
    ("adaptive avg 13 -> 6", "adaptive_avg_pool2d", (4, 256, 13, 13), dict(output_size=6)),
]


def best_time(f, bursts=15):
    f()
    t0 = time.perf_counter()
    f()
    inner = max(1, int(2e-3 / max(time.perf_counter() - t0, 1e-7)))
    best = float("inf")
    for _ in range(bursts):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--filter", default="", help="only layers whose name contains TEXT")
    args = p.parse_args()
    fmaconv.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"{'layer':32s} {'input':>8s} {'copy':>9s} {'fmaconv':>9s} {'x copy':>6s} {'vs torch':>8s}")
    for name, fn, shape, kw in LAYERS:
        if args.filter not in name:
            continue
        x = rng.standard_normal(shape).astype(np.float32)
        dst = np.empty_like(x)
        f = getattr(fmaconv, fn)
        tc = best_time(lambda: np.copyto(dst, x))
        t = best_time(lambda: f(x, **kw))
        tc = min(tc, best_time(lambda: np.copyto(dst, x)))
        vs = ""
        if torch is not None:
            xt, tf = torch.from_numpy(x), getattr(torch.nn.functional, fn)
            vs = f"{best_time(lambda: tf(xt, **kw), bursts=5) / t:7.1f}x"
        print(f"{name:32s} {x.nbytes / 1e6:6.2f}MB {tc * 1e6:7.1f}us {t * 1e6:7.1f}us {t / tc:6.2f} {vs:>8s}",
              flush=True)


if __name__ == "__main__":
    main()

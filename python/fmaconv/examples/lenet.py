"""Train LeNet-5 with fmaconv alone (no PyTorch)::

    python -m fmaconv.examples.lenet                     # scikit-learn's digits, 8x8 -> 32x32
    python -m fmaconv.examples.lenet --cifar10 ~/data/cifar-10-batches-py --epochs 10

A progress bar per epoch goes to stderr; the test accuracy and the time are printed, and the
loss and accuracy curves are written to a PNG (``--out``, needs matplotlib).
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time

import numpy as np

import fmaconv
from fmaconv import nn, optim
from fmaconv.models import LeNet5

from .data import load_cifar10, load_digits_32, standardise


def _bar(stream, epoch, epochs, done, total, loss, t0, width=28):
    filled = int(width * done / max(total, 1))
    rate = done / max(time.perf_counter() - t0, 1e-9)
    stream.write(f"\repoch {epoch:>3}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
                 f"{done:>6}/{total} loss {loss:7.4f} {rate:8.0f} img/s")
    stream.flush()


def random_shift(max_shift: int, seed: int = 0):
    """A batch transform: each image moved by up to ``max_shift`` pixels in each direction (zeros
    fill in). On the small digits set this is what lifts test accuracy from ~95% to ~98%."""
    rng = np.random.default_rng(seed)
    a = int(max_shift)

    def shift(xb):
        n, _, h, w = xb.shape
        padded = np.pad(xb, ((0, 0), (0, 0), (a, a), (a, a)))
        off = rng.integers(0, 2 * a + 1, size=(n, 2))
        out = np.empty_like(xb)
        for i, (dy, dx) in enumerate(off):
            out[i] = padded[i, :, dy:dy + h, dx:dx + w]
        return out

    return shift


def evaluate(model, x, y, batch_size=256) -> float:
    """Accuracy of ``model`` (in eval mode) on ``x``, ``y``."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(axis=1) == y[i:i + batch_size]).sum())
    return correct / max(len(x), 1)


def train(model, x_train, y_train, x_test, y_test, *, epochs, batch_size, lr, momentum, weight_decay,
          seed, augment=None, progress=None):
    """Mini-batch SGD with momentum and a cosine learning-rate decay; returns the history.
    ``augment(xb)`` transforms each training batch; ``progress`` is a stream for the bar (None: quiet)."""
    rng = np.random.default_rng(seed)
    criterion = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    hist = {"loss": [], "train_acc": [], "test_acc": []}
    n = len(x_train)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total_steps, step = epochs * steps_per_epoch, 0
    live = progress is not None and getattr(progress, "isatty", lambda: False)()
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(n)
        t0 = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(0, n, batch_size):
            for g in opt.param_groups:  # cosine decay: late epochs refine instead of bouncing
                g["lr"] = 0.5 * lr * (1 + np.cos(np.pi * step / total_steps))
            idx = order[i:i + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if augment is not None:
                xb = augment(xb)
            logits = model(xb)
            loss = criterion(logits, yb)
            model.zero_grad()
            model.backward(criterion.backward())
            opt.step()
            step += 1
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(axis=1) == yb).sum())
            seen += len(idx)
            if live:
                _bar(progress, epoch, epochs, seen, n, loss_sum / seen, t0)
        test_acc = evaluate(model, x_test, y_test)
        hist["loss"].append(loss_sum / max(seen, 1))
        hist["train_acc"].append(correct / max(seen, 1))
        hist["test_acc"].append(test_acc)
        if progress is not None:
            if not live:  # a log file gets one line per epoch, not one per batch
                _bar(progress, epoch, epochs, seen, n, loss_sum / max(seen, 1), t0)
            progress.write(f"  train acc {hist['train_acc'][-1]:.4f}  test acc {test_acc:.4f}\n")
            progress.flush()
    return hist


def plot(hist, path, title):
    """The loss and accuracy curves as a PNG (matplotlib, headless backend)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("writing the curves needs matplotlib: pip install 'fmaconv[examples]' "
                          "(or pip install matplotlib), or pass --out ''") from None
    epochs = np.arange(1, len(hist["loss"]) + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(epochs, hist["loss"], marker="o")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training loss (cross-entropy)")
    a1.grid(alpha=0.3)
    a2.plot(epochs, hist["train_acc"], marker="o", label="train")
    a2.plot(epochs, hist["test_acc"], marker="s", label="test")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _positive(kind):
    def parse(s):
        v = kind(s)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {s}")
        return v
    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m fmaconv.examples.lenet", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=_positive(int), default=12)
    p.add_argument("--batch-size", type=_positive(int), default=32)
    p.add_argument("--lr", type=_positive(float), default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--shift", type=int, default=3, help="random shift augmentation in pixels (0: off)")
    p.add_argument("--threads", type=_positive(int), default=None, help="fmaconv threads (default: all CPUs)")
    p.add_argument("--cifar10", metavar="PATH", default=None,
                   help="train on CIFAR-10 from this folder (the unpacked python version) instead of the digits")
    p.add_argument("--limit", type=_positive(int), default=None, help="use only the first N training images")
    p.add_argument("--out", default="lenet_curves.png", help="PNG of the curves ('' to skip)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads is not None:
        fmaconv.set_num_threads(args.threads)
    try:
        if args.cifar10:
            xtr, ytr, xte, yte = load_cifar10(args.cifar10)
            name, channels = "CIFAR-10", 3
        else:
            xtr, ytr, xte, yte = load_digits_32(seed=args.seed)
            name, channels = "digits (scikit-learn, 8x8 -> 32x32)", 1
    except (OSError, ValueError, ImportError, pickle.UnpicklingError) as exc:
        sys.exit(f"error: {exc}")
    xtr, xte = standardise(xtr, xte)
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    if args.out:  # fail before training, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            sys.exit("error: writing the curves needs matplotlib: pip install 'fmaconv[examples]' "
                     "(or pass --out '' to skip the plot)")
    print(f"LeNet-5 on {name}: {len(xtr)} training / {len(xte)} test images, "
          f"{fmaconv.get_num_threads()} thread(s)", flush=True)
    model = LeNet5(in_channels=channels, num_classes=10, rng=args.seed)
    augment = random_shift(args.shift, args.seed) if args.shift > 0 else None
    t0 = time.perf_counter()
    hist = train(model, xtr, ytr, xte, yte, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                 momentum=args.momentum, weight_decay=args.weight_decay, seed=args.seed,
                 augment=augment, progress=sys.stderr)
    elapsed = time.perf_counter() - t0
    acc = hist["test_acc"][-1]
    print(f"test accuracy {acc * 100:.2f}% after {args.epochs} epochs, training time {elapsed:.1f} s")
    if args.out:
        plot(hist, args.out, f"LeNet-5 (fmaconv) on {name}")
        print(f"curves written to {args.out}")
    return {"test_accuracy": acc, "seconds": elapsed, "history": hist, "out": args.out or None}


if __name__ == "__main__":
    main()

"""The LeNet-5 example: a very short training run on the digits, and the CIFAR-10 loader on
small batch files written here in the standard python-pickle format."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from fmaconv.examples import data, lenet

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_cifar(folder, n_train=20, n_test=10, seed=0):
    """data_batch_1..5 and test_batch as CIFAR-10 ships them: dicts with bytes keys, b'data'
    uint8 (n, 3072) in channel-major order, b'labels' a list of ints."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        labels = [int(v) for v in rng.integers(0, 10, n)]
        images = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": images,
                         b"filenames": [b"x.png"] * n}, f, protocol=2)
        batches[name] = (images, labels)
    return batches


def test_load_cifar10(tmp_path):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):  # the folder or its parent
        xtr, ytr, xte, yte = data.load_cifar10(path)
        assert xtr.shape == (100, 3, 32, 32) and xtr.dtype == np.uint8
        assert xte.shape == (10, 3, 32, 32) and ytr.shape == (100,) and yte.dtype == np.int64
        img, lab = batches["data_batch_2"]
        np.testing.assert_array_equal(xtr[20:40].reshape(20, -1), img)
        np.testing.assert_array_equal(ytr[20:40], lab)
        # channel-major: the first 1024 bytes of a row are the red plane
        np.testing.assert_array_equal(xtr[20, 0].ravel(), img[0, :1024])
        np.testing.assert_array_equal(xte.reshape(10, -1), batches["test_batch"][0])


def test_load_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_cifar10: .* is not a folder"):
        data.load_cifar10(tmp_path / "nope")
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="missing batch file .*data_batch_3"):
        data.load_cifar10(tmp_path)
    write_cifar(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"must hold b'data' uint8 \(n, 3072\)"):
        data.load_cifar10(tmp_path)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="is not a CIFAR-10 batch"):
        data.load_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        data.load_cifar10(tmp_path)


def test_lenet_example_cifar10_short_run(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    write_cifar(tmp_path / "c", n_train=16, n_test=8)
    out = tmp_path / "curves.png"
    res = lenet.main(["--cifar10", str(tmp_path / "c"), "--epochs", "1", "--batch-size", "16",
                      "--out", str(out), "--threads", "1"])
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert 0.0 <= res["test_accuracy"] <= 1.0
    text = capsys.readouterr()
    assert "test accuracy" in text.out and "CIFAR-10: 80 training / 8 test" in text.out
    assert "epoch   1/1" in text.err  # the progress bar


def test_lenet_example_digits_short_run(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "digits.png"
    res = lenet.main(["--epochs", "2", "--limit", "600", "--batch-size", "16", "--lr", "0.05", "--shift", "0", "--out", str(out), "--seed", "1"])
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert len(res["history"]["loss"]) == 2
    assert res["history"]["loss"][1] < res["history"]["loss"][0]   # it learns
    assert res["test_accuracy"] > 0.5                                # far above chance (0.1)
    printed = capsys.readouterr().out
    assert f"test accuracy {res['test_accuracy'] * 100:.2f}%" in printed


def test_digits_loader():
    pytest.importorskip("sklearn")
    xtr, ytr, xte, yte = data.load_digits_32(seed=0)
    assert xtr.shape[1:] == (1, 32, 32) and xtr.dtype == np.float32
    assert len(xtr) + len(xte) == 1797 and len(xte) == 360
    assert set(np.unique(yte)) == set(range(10))            # stratified
    np.testing.assert_array_equal(xtr[0, 0, :4, :4], np.full((4, 4), xtr[0, 0, 0, 0]))  # 4x4 blocks


def test_example_bad_arguments():
    with pytest.raises(SystemExit):
        lenet.parse_args(["--epochs", "0"])
    with pytest.raises(SystemExit):
        lenet.parse_args(["--lr", "-1"])


def test_lenet_example_digits_full_run_reaches_97_percent():
    """The example with its defaults (12 epochs on all 1437 training digits): >= 97% test
    accuracy. The issue's time limit (60 s on 2 cores) is reported, not asserted: a shared CI
    machine's speed says nothing about the code."""
    pytest.importorskip("sklearn")
    res = lenet.main(["--out", "", "--threads", "2"])
    assert res["test_accuracy"] >= 0.97
    print(f"digits: {res['test_accuracy'] * 100:.2f}% in {res['seconds']:.1f} s")


def test_lenet_example_runs_as_module(tmp_path):
    """``python -m fmaconv.examples.lenet`` (the command in the README) on a tiny CIFAR-format set."""
    import subprocess
    import sys
    write_cifar(tmp_path / "c", n_train=8, n_test=4)
    r = subprocess.run([sys.executable, "-m", "fmaconv.examples.lenet", "--cifar10", str(tmp_path / "c"),
                        "--epochs", "1", "--batch-size", "8", "--out", ""],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fmaconv.examples.lenet", "--cifar10", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "error: load_cifar10:" in r.stderr and "is not a folder" in r.stderr
    assert "Traceback" not in r.stderr

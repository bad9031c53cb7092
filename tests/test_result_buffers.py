"""Large results live in reused blocks (csrc/runtime/block_cache.*): every call must still fill
its whole result, results alive at the same time must not share memory, and a view must keep
its block alive after the array it came from is gone."""
import gc
import pickle

import numpy as np

import fmaconv


def conv3x3_reference(x, w):
    """(1, 1, H, W) by (K, 1, 3, 3), padding 1, in float64 with NumPy shifts."""
    H, W = x.shape[2:]
    xp = np.pad(x[0, 0].astype(np.float64), 1)
    return np.stack([sum(w[k, 0, i, j] * xp[i:i + H, j:j + W] for i in range(3) for j in range(3))
                     for k in range(w.shape[0])])[None]


def test_large_results_are_complete_and_distinct(rng):
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    xs = [rng.standard_normal((1, 1, 1024, 1024)).astype(np.float32) for _ in range(3)]
    y0 = fmaconv.conv2d(xs[0], w, None, 1, 1)  # 12 MB: above the cached size
    assert y0.nbytes >= 8 << 20
    assert y0.flags.c_contiguous and y0.flags.writeable and y0.flags.aligned
    kept = y0.copy()
    del y0
    gc.collect()
    for x in xs[1:]:  # reuses the freed block: stale values would show
        y = fmaconv.conv2d(x, w, None, 1, 1)
        np.testing.assert_allclose(y, conv3x3_reference(x, w), rtol=1e-4, atol=1e-4)
        del y
    y1 = fmaconv.conv2d(xs[1], w, None, 1, 1)
    y2 = fmaconv.conv2d(xs[2], w, None, 1, 1)
    assert not np.shares_memory(y1, y2)
    np.testing.assert_allclose(kept, conv3x3_reference(xs[0], w), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(y1)), y1)


def test_view_keeps_block_alive(rng):
    x = rng.standard_normal((1, 1, 1024, 1024)).astype(np.float32)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    v = fmaconv.conv2d(x, w, None, 1, 1)[0, 2, ::3]
    expect = conv3x3_reference(x, w)[0, 2, ::3]
    gc.collect()
    fmaconv.conv2d(x[:, :, ::-1].copy(), w, None, 1, 1)  # would take the block if it were free
    np.testing.assert_allclose(v, expect, rtol=1e-4, atol=1e-4)


def test_large_indices(rng):
    x = rng.standard_normal((2, 4, 1024, 512)).astype(np.float32)
    x[0, 0, :2, :2] = 1.5  # a tie: the first maximum's index
    for _ in range(2):
        y, idx = fmaconv.max_pool2d(x, 2, return_indices=True)
        assert idx.nbytes >= 8 << 20 and idx.dtype == np.int64
        win = x.reshape(2, 4, 512, 2, 256, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 4, 512, 256, 4)
        arg = win.argmax(-1)
        rows = np.arange(512)[:, None] * 2 + arg // 2
        cols = np.arange(256)[None, :] * 2 + arg % 2
        np.testing.assert_array_equal(y, win.max(-1))
        np.testing.assert_array_equal(idx, rows * 512 + cols)
        del y, idx
        gc.collect()

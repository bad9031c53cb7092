"""Direct convolutions whose weights outweigh their input: each task packs its own block of
output channels per call (conv_direct.cpp), through pack_weight_blocks' per-thread map of
kernel-row-major columns (rebuilt when the kernel shape changes) and pack_transposed's edge
rows and columns. Calls alternate kernel shapes and channel counts on the same threads, so a
stale map or a skipped edge shows up as a wrong result. Expected values: reference.py (float64).
"""
import numpy as np
import pytest

import fmaconv
import reference as ref
from helpers import DTYPES, assert_result, isa_rerun_tests, random_array

CONV = {1: fmaconv.conv1d, 2: fmaconv.conv2d, 3: fmaconv.conv3d}

# (input shape, weight shape, groups): few positions, many weights (the per-task packing path).
# Output channels below, at and past the tiles' channel blocks and the vector length; reductions
# (input channels x taps) that are not a multiple of the vector length; kernels of the same
# input channels in a row (3x3, 1x3, 3x1, 2x2, 1-D, 3-D), so the kept map must be rebuilt.
SEQUENCE = [
    ((1, 24, 5, 5), (70, 24, 3, 3), 1),
    ((1, 24, 5, 5), (70, 24, 1, 3), 1),
    ((1, 24, 4, 6), (33, 24, 3, 1), 1),
    ((1, 24, 5, 5), (70, 24, 3, 3), 1),
    ((1, 7, 4, 4), (20, 7, 3, 3), 1),
    ((1, 7, 3, 3), (97, 7, 2, 2), 1),
    ((1, 40, 3, 4), (65, 40, 3, 3), 1),
    ((1, 48, 4, 4), (64, 24, 3, 3), 2),
    ((1, 24, 9), (130, 24, 3), 1),
    ((1, 24, 3, 4, 4), (40, 24, 1, 3, 3), 1),
    ((1, 24, 3, 4, 4), (40, 24, 3, 3, 3), 1),
    ((2, 24, 5, 5), (70, 24, 3, 3), 1),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_alternating_kernel_shapes(rng, restore_threads, dtype, threads):
    fmaconv.set_num_threads(threads)
    for rep in range(2):  # the second round starts from the map the first one left
        for xs, ws, groups in SEQUENCE:
            x = random_array(rng, xs, dtype)
            w = random_array(rng, ws, dtype)
            b = random_array(rng, (ws[0],), dtype)
            got = CONV[len(xs) - 2](x, w, b, padding=1, groups=groups)
            expected = ref.conv(x, w, b, padding=1, groups=groups)
            assert_result(got, expected, dtype, what=f"x {xs} w {ws} groups {groups} threads {threads} round {rep}")


@pytest.mark.parametrize("threads", [1, 2])
def test_non_finite_weight_in_one_block(rng, restore_threads, threads):
    # Only the block holding the infinite weight may not skip padding taps: its outputs next
    # to the border are NaN (inf x padding zero), the other blocks' stay finite.
    fmaconv.set_num_threads(threads)
    x = random_array(rng, (1, 24, 5, 5), np.float32)
    w = random_array(rng, (70, 24, 3, 3), np.float32)
    w[45, 3, 0, 1] = np.inf
    got = fmaconv.conv2d(x, w, padding=1)
    expected = ref.conv(x, w, padding=1)
    assert np.isnan(got[0, 45, 0, 2]) and np.isfinite(got[0, :45]).all() and np.isfinite(got[0, 46:]).all()
    assert_result(got, expected, np.float32, what=f"threads {threads}")


globals().update(isa_rerun_tests(__file__))

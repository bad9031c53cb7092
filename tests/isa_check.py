"""Small correctness check of every op family, run by test_isa.py in a subprocess with
FMACONV_ISA=<isa> (the kernel set is chosen at import).  Prints one JSON line:
{"isa": <show_config()["isa"]>, "failures": [...], "checks": n}.  Exit code 0 even on
failures: the parent test asserts on the JSON.
"""

import json
import os
import sys
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fmaconv  # noqa: E402
import reference as ref  # noqa: E402
from helpers import assert_indices, assert_result, random_array  # noqa: E402


def cases(rng):
    for dt in (np.float32, np.float64):
        # convs sized to hit full SIMD blocks and their tails (channels, widths)
        x = random_array(rng, (2, 16, 11, 37), dt)
        w = random_array(rng, (32, 16, 3, 3), dt)
        b = random_array(rng, (32,), dt)
        yield "conv2d_3x3", "conv2d", (x, w, b), dict(padding=1)
        yield "conv2d_s2_tail", "conv2d", (x, w[:17], b[:17]), dict(stride=2, padding=(1, 2))
        yield "conv2d_groups", "conv2d", (x, w[:18, :8], b[:18]), dict(stride=(1, 2), padding=1, groups=2)
        yield "conv2d_dil", "conv2d", (x, w[:, :16, :2, :3], None), dict(dilation=(2, 3), padding="same")
        yield "conv2d_dw", "conv2d", (x, w[:16, :1], b[:16]), dict(groups=16, padding=1)
        yield "conv2d_1x1", "conv2d", (x, w[:, :, :1, :1], b), {}
        yield "conv2d_reflect", "conv2d", (x, w[:5, :, :3, :2], None), dict(padding=(2, 1), padding_mode="reflect")
        yield "conv2d_circular", "conv2d", (x[:1], w[:3, :, :3, :3], None), dict(padding=3, padding_mode="circular")
        yield "conv2d_unbatched", "conv2d", (x[0], w[:20], b[:20]), dict(padding=1, stride=(1, 3))
        x1 = random_array(rng, (2, 8, 53), dt)
        w1 = random_array(rng, (20, 8, 5), dt)
        yield "conv1d", "conv1d", (x1, w1, None), dict(padding=2, stride=2)
        yield "conv1d_replicate", "conv1d", (x1, w1[:, :, :4], b[:20]), dict(padding="same", padding_mode="replicate")
        x3 = random_array(rng, (1, 4, 5, 6, 19), dt)
        w3 = random_array(rng, (16, 2, 3, 3, 3), dt)
        yield "conv3d", "conv3d", (x3, w3, b[:16]), dict(padding=1, groups=2)
        # pools: NaN, ties, -inf, indices
        for kind in ("special", "ints"):
            p = random_array(rng, (2, 17, 13, 35), dt, kind)
            yield f"max_pool2d_{kind}", "max_pool2d", (p,), dict(kernel_size=3, stride=2, padding=1, return_indices=True)
            yield f"max_pool2d_dil_ceil_{kind}", "max_pool2d", (p,), dict(kernel_size=(2, 3), stride=(2, 1), padding=1,
                                                                          dilation=2, ceil_mode=True, return_indices=True)
            yield f"max_pool1d_{kind}", "max_pool1d", (p[0],), dict(kernel_size=4, stride=1, padding=2, return_indices=True)
            p3 = p[:, :4].reshape(2, 4, 13, 5, 7)
            yield f"max_pool3d_{kind}", "max_pool3d", (p3,), dict(kernel_size=2, stride=1, padding=1,
                                                                  return_indices=True)
            yield f"adaptive_max_pool2d_{kind}", "adaptive_max_pool2d", (p,), dict(output_size=(5, 7), return_indices=True)
        q = random_array(rng, (2, 17, 13, 35), dt)
        yield "avg_pool2d", "avg_pool2d", (q,), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                                      count_include_pad=False)
        yield "avg_pool2d_div", "avg_pool2d", (q,), dict(kernel_size=(2, 4), stride=1, padding=(1, 2), divisor_override=5)
        yield "avg_pool1d", "avg_pool1d", (q[0],), dict(kernel_size=5, stride=3, padding=2, ceil_mode=True)
        yield "avg_pool3d", "avg_pool3d", (q[:, :4].reshape(2, 4, 13, 5, 7),), dict(kernel_size=3, stride=2, padding=1)
        yield "adaptive_avg_pool2d", "adaptive_avg_pool2d", (q,), dict(output_size=(4, 9))
        yield "adaptive_avg_pool2d_global", "adaptive_avg_pool2d", (q,), dict(output_size=1)
        yield "adaptive_avg_pool3d", "adaptive_avg_pool3d", (q[:, :4].reshape(2, 4, 13, 5, 7),), dict(output_size=(3, None, 2))


def main():
    rng = np.random.default_rng(1234)
    failures = []
    n = 0
    for name, op, args, kwargs in cases(rng):
        n += 1
        dtype = args[0].dtype
        label = f"{name}[{dtype}]"
        if os.environ.get("ISA_CHECK_VERBOSE"):
            print("running", label, file=sys.stderr, flush=True)
        try:
            got = getattr(fmaconv, op)(*args, **kwargs)
            expected = getattr(ref, op)(*args, **kwargs)
            if kwargs.get("return_indices"):
                assert_indices(got[1], expected[1], label)
                got, expected = got[0], expected[0]
            assert_result(got, expected, dtype, exact=op.startswith(("max", "adaptive_max")), what=label)
        except Exception:
            failures.append(label + ": " + traceback.format_exc(limit=1)[-600:])
    cfg = fmaconv.show_config()
    print(json.dumps({"isa": cfg["isa"], "isa_available": cfg["isa_available"], "failures": failures,
                      "checks": n}))


if __name__ == "__main__":
    main()

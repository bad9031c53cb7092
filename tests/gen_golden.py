"""Generate tests/golden/golden.npz with PyTorch (the judge).

    python tests/gen_golden.py          # rewrites tests/golden/golden.npz

Each case stores its inputs (c<k>_x, c<k>_w, c<k>_b), PyTorch's output (c<k>_y, always float64:
PyTorch run in float64 on the exactly-upcast inputs) and, for max pooling with
return_indices, PyTorch's indices (c<k>_i).  The case list (op, dtype, kwargs, ...) is stored as a
JSON string under "cases"; "meta" records the torch/numpy versions.  test_golden.py replays the
cases against fmaconv without needing torch.

Deterministic: fixed seeds, fixed case list.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch_ref  # noqa: E402
from helpers import random_array  # noqa: E402

OUT = os.path.join(HERE, "golden", "golden.npz")


def conv_case(name, D, N, cin, cout, spatial, ks, dtype="float32", kind="normal", bias=True, unbatched=False,
              **kwargs):
    return dict(name=name, op=f"conv{D}d", dtype=dtype, kind=kind, unbatched=unbatched,
                x_shape=((cin,) if unbatched else (N, cin)) + tuple(spatial),
                w_shape=(cout, cin // kwargs.get("groups", 1)) + tuple(ks), bias=bias, kwargs=kwargs)


def pool_case(name, op, N, C, spatial, dtype="float32", kind="normal", unbatched=False, **kwargs):
    return dict(name=name, op=op, dtype=dtype, kind=kind, unbatched=unbatched,
                x_shape=((C,) if unbatched else (N, C)) + tuple(spatial), kwargs=kwargs)


def cases():
    c = []
    f32, f64 = "float32", "float64"
    # ------------------------------------------------------------------ conv1d
    for dt in (f32, f64):
        c.append(conv_case(f"conv1d_basic_{dt}", 1, 2, 3, 4, (11,), (3,), dt))
        c.append(conv_case(f"conv1d_s2_p1_d2_{dt}", 1, 2, 3, 4, (12,), (3,), dt, stride=2, padding=1, dilation=2))
    c.append(conv_case("conv1d_groups2", 1, 2, 4, 6, (9,), (3,), groups=2, padding=1))
    c.append(conv_case("conv1d_depthwise", 1, 1, 5, 5, (10,), (4,), groups=5, padding=2, stride=3))
    c.append(conv_case("conv1d_depthwise_mult2", 1, 1, 3, 6, (10,), (3,), groups=3))
    c.append(conv_case("conv1d_same_even_k", 1, 2, 2, 3, (7,), (4,), padding="same"))
    c.append(conv_case("conv1d_same_dil3", 1, 1, 2, 3, (9,), (3,), f64, padding="same", dilation=3))
    c.append(conv_case("conv1d_valid", 1, 1, 2, 3, (7,), (5,), padding="valid"))
    for mode in ("reflect", "replicate", "circular"):
        c.append(conv_case(f"conv1d_{mode}", 1, 2, 2, 3, (6,), (3,), padding=2, padding_mode=mode))
        c.append(conv_case(f"conv1d_{mode}_same_even", 1, 1, 2, 2, (5,), (4,), f64, padding="same",
                           padding_mode=mode))
    c.append(conv_case("conv1d_zeros_mode_explicit", 1, 1, 2, 2, (5,), (3,), padding=1, padding_mode="zeros"))
    c.append(conv_case("conv1d_unbatched", 1, None, 3, 2, (8,), (3,), unbatched=True, padding=1))
    c.append(conv_case("conv1d_nobias", 1, 2, 3, 2, (8,), (2,), bias=False, stride=2))
    c.append(conv_case("conv1d_kernel_eq_input", 1, 2, 3, 2, (5,), (5,)))
    c.append(conv_case("conv1d_long_tail", 1, 1, 3, 17, (37,), (5,), padding=2))
    # ------------------------------------------------------------------ conv2d
    for dt in (f32, f64):
        c.append(conv_case(f"conv2d_3x3_p1_{dt}", 2, 2, 3, 5, (8, 9), (3, 3), dt, padding=1))
        c.append(conv_case(f"conv2d_mixed_{dt}", 2, 1, 4, 6, (9, 11), (3, 2), dt, stride=(2, 1), padding=(1, 0),
                           dilation=(1, 2), groups=2))
    c.append(conv_case("conv2d_1x1", 2, 2, 8, 16, (5, 7), (1, 1)))
    c.append(conv_case("conv2d_1x1_s2", 2, 1, 4, 4, (6, 7), (1, 1), stride=2))
    c.append(conv_case("conv2d_5x5_s2_p2", 2, 1, 3, 8, (12, 13), (5, 5), stride=2, padding=2))
    c.append(conv_case("conv2d_7x7_s2_p3", 2, 1, 3, 4, (14, 14), (7, 7), stride=2, padding=3))
    c.append(conv_case("conv2d_wide_channels", 2, 1, 16, 32, (10, 10), (3, 3), padding=1))
    c.append(conv_case("conv2d_channel_tail", 2, 1, 5, 17, (9, 15), (3, 3), padding=1))
    c.append(conv_case("conv2d_wide_rows", 2, 1, 2, 3, (3, 35), (3, 3), padding=1))
    c.append(conv_case("conv2d_depthwise", 2, 2, 6, 6, (7, 8), (3, 3), groups=6, padding=1))
    c.append(conv_case("conv2d_depthwise_s2", 2, 1, 4, 8, (9, 9), (3, 3), groups=4, padding=1, stride=2))
    c.append(conv_case("conv2d_groups3", 2, 1, 6, 9, (6, 6), (2, 3), groups=3, padding=(1, 1)))
    c.append(conv_case("conv2d_dilation2", 2, 1, 2, 3, (9, 9), (3, 3), dilation=2, padding=2))
    c.append(conv_case("conv2d_same_even", 2, 1, 2, 3, (6, 7), (2, 4), padding="same"))
    c.append(conv_case("conv2d_same_dil", 2, 1, 2, 3, (7, 6), (3, 2), f64, padding="same", dilation=(2, 3)))
    c.append(conv_case("conv2d_valid", 2, 2, 2, 3, (5, 6), (3, 3), padding="valid", stride=(1, 2)))
    c.append(conv_case("conv2d_asym_stride_pad", 2, 1, 3, 2, (10, 7), (3, 3), stride=(3, 2), padding=(2, 0)))
    for mode in ("reflect", "replicate", "circular"):
        c.append(conv_case(f"conv2d_{mode}", 2, 1, 2, 3, (5, 6), (3, 3), padding=(2, 1), padding_mode=mode))
        c.append(conv_case(f"conv2d_{mode}_strided_dil", 2, 2, 2, 2, (6, 5), (2, 3), f64, padding=1,
                           stride=2, dilation=(2, 1), padding_mode=mode))
    c.append(conv_case("conv2d_circular_full", 2, 1, 1, 2, (3, 4), (3, 3), padding=(3, 4), padding_mode="circular"))
    c.append(conv_case("conv2d_reflect_same", 2, 1, 2, 2, (5, 5), (4, 3), padding="same", padding_mode="reflect"))
    c.append(conv_case("conv2d_unbatched", 2, None, 3, 4, (6, 5), (3, 3), unbatched=True, padding=1))
    c.append(conv_case("conv2d_unbatched_f64", 2, None, 2, 2, (4, 5), (2, 2), f64, unbatched=True, stride=2))
    c.append(conv_case("conv2d_empty_batch", 2, 0, 3, 4, (6, 5), (3, 3), padding=1))
    c.append(conv_case("conv2d_special_values", 2, 1, 3, 4, (7, 7), (3, 3), kind="special", padding=1))
    c.append(conv_case("conv2d_ints", 2, 2, 2, 3, (5, 5), (3, 3), kind="ints", padding=1))
    c.append(conv_case("conv2d_nobias", 2, 1, 3, 4, (6, 6), (3, 3), bias=False))
    # ------------------------------------------------------------------ conv3d
    for dt in (f32, f64):
        c.append(conv_case(f"conv3d_basic_{dt}", 3, 2, 2, 3, (4, 5, 6), (3, 3, 3), dt, padding=1))
    c.append(conv_case("conv3d_mixed", 3, 1, 4, 4, (5, 6, 7), (2, 3, 2), stride=(1, 2, 2), padding=(1, 0, 1),
                       dilation=(2, 1, 1), groups=2))
    c.append(conv_case("conv3d_depthwise", 3, 1, 3, 3, (4, 4, 5), (3, 3, 3), groups=3, padding=1))
    c.append(conv_case("conv3d_same_even", 3, 1, 2, 2, (4, 5, 4), (2, 2, 3), padding="same"))
    c.append(conv_case("conv3d_1x1x1", 3, 2, 5, 7, (3, 4, 5), (1, 1, 1)))
    for mode in ("reflect", "replicate", "circular"):
        c.append(conv_case(f"conv3d_{mode}", 3, 1, 2, 2, (3, 4, 4), (3, 2, 3), padding=(1, 1, 2), padding_mode=mode))
    c.append(conv_case("conv3d_unbatched", 3, None, 2, 3, (4, 4, 4), (2, 2, 2), unbatched=True, stride=2))
    c.append(conv_case("conv3d_empty_batch", 3, 0, 2, 3, (4, 4, 4), (2, 2, 2)))

    # ------------------------------------------------------------------ max pool
    for D in (1, 2, 3):
        op = f"max_pool{D}d"
        sp = {1: (13,), 2: (7, 8), 3: (4, 5, 6)}[D]
        for dt in (f32, f64):
            c.append(pool_case(f"{op}_k2_{dt}", op, 2, 3, sp, dt, kernel_size=2, return_indices=True))
        c.append(pool_case(f"{op}_k3_s2_p1", op, 1, 2, sp, kernel_size=3, stride=2, padding=1, return_indices=True))
        c.append(pool_case(f"{op}_k3_s2_p1_ceil", op, 1, 2, sp, kernel_size=3, stride=2, padding=1, ceil_mode=True,
                           return_indices=True))
        c.append(pool_case(f"{op}_k2_s2_ceil_odd", op, 1, 2, sp, kernel_size=2, stride=2, ceil_mode=True,
                           return_indices=True))
        c.append(pool_case(f"{op}_dil2", op, 1, 2, sp, kernel_size=2, stride=1, padding=1, dilation=2,
                           return_indices=True))
        c.append(pool_case(f"{op}_ties", op, 2, 2, sp, kind="ints", kernel_size=3, stride=1, padding=1,
                           return_indices=True))
        c.append(pool_case(f"{op}_nan_inf", op, 2, 2, sp, kind="special", kernel_size=2, stride=1,
                           return_indices=True))
        c.append(pool_case(f"{op}_nan_inf_f64_ceil", op, 1, 3, sp, f64, kind="special", kernel_size=3, stride=2,
                           padding=1, ceil_mode=True, return_indices=True))
        c.append(pool_case(f"{op}_all_neg_inf", op, 1, 1, sp, kind="neginf", kernel_size=2, padding=1,
                           return_indices=True))
        c.append(pool_case(f"{op}_no_indices", op, 1, 2, sp, kernel_size=2, stride=1))
        c.append(pool_case(f"{op}_unbatched", op, None, 2, sp, unbatched=True, kernel_size=2, stride=1, padding=1,
                           return_indices=True))
        c.append(pool_case(f"{op}_empty_batch", op, 0, 2, sp, kernel_size=2, return_indices=True))
        # dilated window with no valid tap: size-1 axis, k=2, d=2, p=1
        one = (1,) * D
        c.append(pool_case(f"{op}_no_valid_tap", op, 1, 2, one[:-1] + (3,),
                           kernel_size=(2,) * (D - 1) + (1,), stride=1, padding=(1,) * (D - 1) + (0,),
                           dilation=(2,) * (D - 1) + (1,), return_indices=True))
    c.append(pool_case("max_pool2d_asym", "max_pool2d", 1, 2, (9, 7), kernel_size=(3, 2), stride=(2, 1),
                       padding=(1, 0), dilation=(1, 2), return_indices=True))
    c.append(pool_case("max_pool2d_wide", "max_pool2d", 1, 17, (6, 33), kernel_size=3, stride=2, padding=1,
                       return_indices=True))
    c.append(pool_case("max_pool1d_k1_s2_ceil_i32", "max_pool1d", 1, 1, (32,), kernel_size=1, stride=2,
                       ceil_mode=True, return_indices=True))
    c.append(pool_case("max_pool3d_asym", "max_pool3d", 1, 2, (5, 6, 7), kernel_size=(2, 3, 2), stride=(1, 2, 3),
                       padding=(1, 1, 0), dilation=(2, 1, 1), ceil_mode=True, return_indices=True))

    # ------------------------------------------------------------------ avg pool
    for D in (1, 2, 3):
        op = f"avg_pool{D}d"
        sp = {1: (13,), 2: (7, 8), 3: (4, 5, 6)}[D]
        for dt in (f32, f64):
            c.append(pool_case(f"{op}_k2_{dt}", op, 2, 3, sp, dt, kernel_size=2))
        for cip in (True, False):
            c.append(pool_case(f"{op}_k3_s2_p1_ceil_cip{int(cip)}", op, 1, 2, sp, kernel_size=3, stride=2,
                               padding=1, ceil_mode=True, count_include_pad=cip))
            c.append(pool_case(f"{op}_k3_s1_p1_cip{int(cip)}", op, 1, 2, sp, kernel_size=3, stride=1,
                               padding=1, count_include_pad=cip))
        c.append(pool_case(f"{op}_k2_s2_ceil_odd", op, 1, 2, sp, kernel_size=2, stride=2, ceil_mode=True))
        c.append(pool_case(f"{op}_divisor3", op, 1, 2, sp, kernel_size=2, stride=1, padding=1, divisor_override=3))
        c.append(pool_case(f"{op}_divisor7_ceil", op, 1, 2, sp, kernel_size=3, stride=2, padding=1, ceil_mode=True,
                           count_include_pad=False, divisor_override=7))
        c.append(pool_case(f"{op}_unbatched", op, None, 2, sp, unbatched=True, kernel_size=2, stride=1))
        c.append(pool_case(f"{op}_empty_batch", op, 0, 2, sp, kernel_size=2))
        c.append(pool_case(f"{op}_stride_none_explicit", op, 1, 2, sp, kernel_size=3, stride=None))
    c.append(pool_case("avg_pool2d_asym", "avg_pool2d", 1, 2, (9, 7), kernel_size=(3, 2), stride=(2, 1),
                       padding=(1, 1), ceil_mode=True, count_include_pad=False))
    c.append(pool_case("avg_pool2d_wide", "avg_pool2d", 1, 17, (6, 33), kernel_size=3, stride=2, padding=1))
    c.append(pool_case("avg_pool3d_asym", "avg_pool3d", 1, 2, (5, 6, 7), kernel_size=(2, 3, 2), stride=(1, 2, 3),
                       padding=(1, 1, 0), ceil_mode=True))
    c.append(pool_case("avg_pool1d_ints", "avg_pool1d", 2, 2, (10,), kind="ints", kernel_size=4, stride=3,
                       padding=2, ceil_mode=True))

    # ------------------------------------------------------------------ adaptive pools
    for D in (1, 2, 3):
        sp = {1: (13,), 2: (7, 9), 3: (4, 5, 7)}[D]
        for kind_of in ("avg", "max"):
            op = f"adaptive_{kind_of}_pool{D}d"
            extra = dict(return_indices=True) if kind_of == "max" else {}
            for dt in (f32, f64):
                c.append(pool_case(f"{op}_shrink_{dt}", op, 2, 3, sp, dt, output_size=(3,) * D, **extra))
            c.append(pool_case(f"{op}_int_size", op, 1, 2, sp, output_size=2, **extra))
            c.append(pool_case(f"{op}_grow", op, 1, 2, sp, output_size=tuple(s + 2 for s in sp), **extra))
            c.append(pool_case(f"{op}_global", op, 2, 2, sp, output_size=(1,) * D, **extra))
            c.append(pool_case(f"{op}_uneven", op, 1, 2, sp, output_size=tuple(max(1, s - 2) for s in sp), **extra))
            if D > 1:
                c.append(pool_case(f"{op}_none", op, 1, 2, sp, output_size=(None,) + (2,) * (D - 1), **extra))
            c.append(pool_case(f"{op}_unbatched", op, None, 2, sp, unbatched=True, output_size=(2,) * D, **extra))
            c.append(pool_case(f"{op}_empty_batch", op, 0, 2, sp, output_size=(2,) * D, **extra))
            if kind_of == "max":
                c.append(pool_case(f"{op}_nan_ties", op, 2, 2, sp, kind="special", output_size=(3,) * D, **extra))
                c.append(pool_case(f"{op}_ties_f64", op, 1, 2, sp, f64, kind="ints", output_size=(4,) * D, **extra))
    return c


def make_input(rng, shape, dtype, kind):
    if kind == "neginf":
        a = np.full(shape, -np.inf)
        return a.astype(dtype)
    return random_array(rng, shape, dtype, kind)


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(a) for a in v]
    if isinstance(v, dict):
        return {k: _jsonable(a) for k, a in v.items()}
    return v


def main():
    import torch

    rng = np.random.default_rng(20240613)
    arrays = {}
    meta_cases = []
    names = set()
    for k, case in enumerate(cases()):
        assert case["name"] not in names, case["name"]
        names.add(case["name"])
        dtype = np.dtype(case["dtype"])
        x = make_input(rng, case["x_shape"], dtype, case["kind"])
        arrays[f"c{k}_x"] = x
        kw = case["kwargs"]
        if case["op"].startswith("conv"):
            w = random_array(rng, case["w_shape"], dtype, "ints" if case["kind"] == "ints" else "normal")
            b = random_array(rng, case["w_shape"][:1], dtype, "normal") if case["bias"] else None
            arrays[f"c{k}_w"] = w
            if b is not None:
                arrays[f"c{k}_b"] = b
            y = torch_ref.call(case["op"], x.astype(np.float64), w.astype(np.float64),
                               None if b is None else b.astype(np.float64), **kw)
            y_native = torch_ref.call(case["op"], x, w, b, **kw)
            assert y_native.shape == y.shape and y_native.dtype == dtype
        else:
            y = torch_ref.call(case["op"], x.astype(np.float64), **kw)
            y_native = torch_ref.call(case["op"], x, **kw)
            if kw.get("return_indices"):
                (y, i), (yn, i_native) = y, y_native
                # the indices must not depend on the dtype (same comparisons)
                np.testing.assert_array_equal(i, i_native)
                assert i.dtype == np.int64
                arrays[f"c{k}_i"] = i
                y_native = yn
            if case["op"].startswith(("max", "adaptive_max")):
                np.testing.assert_array_equal(y, y_native.astype(np.float64))
        arrays[f"c{k}_y"] = np.asarray(y, dtype=np.float64)
        entry = dict(case)
        entry["key"] = f"c{k}"
        meta_cases.append(_jsonable(entry))
    arrays["cases"] = np.array(json.dumps(meta_cases))
    arrays["meta"] = np.array(json.dumps(dict(torch=torch.__version__, numpy=np.__version__,
                                              generator="tests/gen_golden.py")))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(meta_cases)} cases to {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()

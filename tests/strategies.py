"""Hypothesis strategies producing VALID argument sets for every op (small sizes).

A case is a dict:
    op      "conv2d", "max_pool3d", "avg_pool1d", "adaptive_max_pool2d", ...
    x, w, b input arrays (w/b only for conv; b may be None)
    kwargs  keyword arguments for the op (PyTorch names)
    exact   True when values must match bit for bit (max pooling)
and run_case(module, case) calls the op of `module` (fmaconv, reference or torch_ref).
"""

import numpy as np
from hypothesis import strategies as st

from helpers import random_array

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
MAX_SPATIAL_SPAN = {1: 9, 2: 5, 3: 3}  # extra size beyond the minimum, per axis
MAX_K = {1: 5, 2: 4, 3: 3}


def _maybe_int(draw, values):
    """Pass a per-axis tuple, or a single int when all entries are equal (sometimes)."""
    values = tuple(values)
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return values


def _batch_shape(draw, C):
    """(N, C) or (C,) for unbatched; N may be 0."""
    if draw(st.integers(0, 4)) == 0:
        return (C,)
    return (draw(st.sampled_from([1, 1, 2, 3, 0])), C)


@st.composite
def conv_cases(draw, dims=(1, 2, 3), dtypes=(np.float32, np.float64),
               kinds=("normal", "normal", "normal", "ints", "ints", "special"), big=False):
    """big=True: more channels and wider rows (full SIMD register blocks plus tails)."""
    D = draw(st.sampled_from(dims))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 12 if big else 3))
    cout = groups * draw(st.integers(1, 40 if big else 3))
    ks = [draw(st.integers(1, MAX_K[D])) for _ in range(D)]
    dil = [draw(st.integers(1, 2 if D == 3 else 3)) for _ in range(D)]
    mode = draw(st.sampled_from(PADDING_MODES))
    pad_kind = draw(st.sampled_from(["ints", "ints", "same", "valid"]))
    if pad_kind == "same":
        stride = [1] * D
        lr = []
        for k, d in zip(ks, dil):
            t = d * (k - 1)
            lr.append((t // 2, t - t // 2))
        padding = "same"
    else:
        stride = [draw(st.integers(1, 3)) for _ in range(D)]
        if pad_kind == "valid":
            lr = [(0, 0)] * D
            padding = "valid"
        else:
            p = [draw(st.integers(0, 2)) for _ in range(D)]
            lr = [(a, a) for a in p]
            padding = _maybe_int(draw, p)
    spatial = []
    for a in range(D):
        e = dil[a] * (ks[a] - 1) + 1
        lo = max(1, e - lr[a][0] - lr[a][1])
        big = max(lr[a])
        if mode == "reflect":
            lo = max(lo, big + 1)
        elif mode == "circular":
            lo = max(lo, big)
        span = MAX_SPATIAL_SPAN[D] * (4 if big and a == D - 1 else 1)
        spatial.append(draw(st.integers(lo, lo + span)))
    lead = _batch_shape(draw, cin)
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(kinds))
    has_bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = random_array(rng, lead + tuple(spatial), dtype, kind)
    w = random_array(rng, (cout, cin // groups) + tuple(ks), dtype, "normal" if kind == "special" else kind)
    b = random_array(rng, (cout,), dtype, "normal") if has_bias else None
    kwargs = dict(stride=_maybe_int(draw, stride), padding=padding, dilation=_maybe_int(draw, dil),
                  groups=groups)
    if mode != "zeros" or draw(st.booleans()):
        kwargs["padding_mode"] = mode
    return dict(op=f"conv{D}d", x=x, w=w, b=b, kwargs=kwargs, exact=False)


def _pool_input_and_kernel(draw, ks, stride, spatial, big, dtypes, kinds):
    """The input array and the kernel_size/stride keywords shared by the pooling strategies."""
    C = draw(st.integers(1, 20 if big else 3))
    lead = _batch_shape(draw, C)
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    x = random_array(np.random.default_rng(seed), lead + tuple(spatial), dtype, kind)
    kwargs = dict(kernel_size=_maybe_int(draw, ks))
    if stride is not None or draw(st.booleans()):
        kwargs["stride"] = None if stride is None else _maybe_int(draw, stride)
    return x, kwargs


@st.composite
def max_pool_cases(draw, dims=(1, 2, 3), dtypes=(np.float32, np.float64),
                   kinds=("normal", "ints", "special"), big=False):
    D = draw(st.sampled_from(dims))
    ks = [draw(st.integers(1, MAX_K[D])) for _ in range(D)]
    dil = [draw(st.integers(1, 2 if D == 3 else 3)) for _ in range(D)]
    pad = [draw(st.integers(0, k // 2)) for k in ks]
    stride = None if draw(st.integers(0, 3)) == 0 else [draw(st.integers(1, 3)) for _ in range(D)]
    spatial = []
    for a in range(D):
        e = dil[a] * (ks[a] - 1) + 1
        lo = max(1, e - 2 * pad[a])
        span = MAX_SPATIAL_SPAN[D] * (4 if big and a == D - 1 else 1)
        spatial.append(draw(st.integers(lo, lo + span)))
    x, kwargs = _pool_input_and_kernel(draw, ks, stride, spatial, big, dtypes, kinds)
    kwargs.update(padding=_maybe_int(draw, pad), dilation=_maybe_int(draw, dil),
                  ceil_mode=draw(st.booleans()), return_indices=draw(st.booleans()))
    return dict(op=f"max_pool{D}d", x=x, kwargs=kwargs, exact=True)


@st.composite
def avg_pool_cases(draw, dims=(1, 2, 3), dtypes=(np.float32, np.float64), kinds=("normal", "ints"), big=False):
    D = draw(st.sampled_from(dims))
    ks = [draw(st.integers(1, MAX_K[D])) for _ in range(D)]
    pad = [draw(st.integers(0, k // 2)) for k in ks]
    stride = None if draw(st.integers(0, 3)) == 0 else [draw(st.integers(1, 3)) for _ in range(D)]
    spatial = []
    for a in range(D):
        lo = max(1, ks[a] - 2 * pad[a])
        if D == 3:
            lo = max(lo, ks[a])  # PyTorch's avg_pool3d also requires input >= kernel on every axis
        span = MAX_SPATIAL_SPAN[D] * (4 if big and a == D - 1 else 1)
        spatial.append(draw(st.integers(lo, lo + span)))
    x, kwargs = _pool_input_and_kernel(draw, ks, stride, spatial, big, dtypes, kinds)
    kwargs.update(padding=_maybe_int(draw, pad), ceil_mode=draw(st.booleans()),
                  count_include_pad=draw(st.booleans()))
    if draw(st.booleans()):
        kwargs["divisor_override"] = draw(st.sampled_from([1, 2, 3, 4, 7]))
    return dict(op=f"avg_pool{D}d", x=x, kwargs=kwargs, exact=False)


@st.composite
def adaptive_cases(draw, kind_of_pool, dims=(1, 2, 3), dtypes=(np.float32, np.float64),
                   kinds=("normal", "ints", "special")):
    D = draw(st.sampled_from(dims))
    span = {1: 12, 2: 7, 3: 5}[D]
    spatial = [draw(st.integers(1, span)) for _ in range(D)]
    out = []
    for i in spatial:
        # PyTorch 2.13 takes None ("keep this axis") only in 2-D and 3-D output sizes.
        keep = draw(st.integers(0, 5)) == 0 and D > 1
        out.append(None if keep else draw(st.integers(1, i + 2)))
    if D == 1 and out[0] is not None and draw(st.booleans()):
        output_size = out[0]
    elif len(set(out)) == 1 and out[0] is not None and draw(st.booleans()):
        output_size = out[0]
    else:
        output_size = tuple(out)
    C = draw(st.integers(1, 3))
    lead = _batch_shape(draw, C)
    dtype = draw(st.sampled_from(dtypes))
    if kind_of_pool == "avg":
        kinds = tuple(k for k in kinds if k != "special")
    kind = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    x = random_array(np.random.default_rng(seed), lead + tuple(spatial), dtype, kind)
    kwargs = dict(output_size=output_size)
    if kind_of_pool == "max":
        kwargs["return_indices"] = draw(st.booleans())
        return dict(op=f"adaptive_max_pool{D}d", x=x, kwargs=kwargs, exact=True)
    return dict(op=f"adaptive_avg_pool{D}d", x=x, kwargs=kwargs, exact=False)


def run_case(module, case, x=None):
    """Call case['op'] of module (fmaconv / reference / torch_ref)."""
    fn = getattr(module, case["op"])
    x = case["x"] if x is None else x
    if case["op"].startswith("conv"):
        return fn(x, case["w"], case["b"], **case["kwargs"])
    return fn(x, **case["kwargs"])


def describe(case):
    parts = [case["op"], f"x{case['x'].shape}:{case['x'].dtype}"]
    if "w" in case:
        parts.append(f"w{case['w'].shape}")
        parts.append("bias" if case["b"] is not None else "nobias")
    parts.append(repr(case["kwargs"]))
    return " ".join(parts)

"""Sweep of the direct-convolution tile kernels, run by test_conv_tiles.py in a subprocess: the
tile kernel, the algorithm and the kernel set are chosen once per process from the environment
(FMACONV_CONV_TILE=i, FMACONV_CONV_ALGO=gemm, FMACONV_ISA=...).

    python conv_tile_check.py --list              one JSON line: {"isa", "tiles"}
    python conv_tile_check.py [--small] [--oracle FILE.npz]
                                                  one JSON line: {"isa", "tiles", "tile", "algo",
                                                  "checks", "failures": [{"case", "error", "max_abs_err"}]}

The cases are built from the tile shapes (MR channels x NR positions, positions or channels in
vector) that fmaconv._core.config()["conv_tiles"] lists for the selected kernel set: output
widths around NR and the grid edges of the padded, stride-phase-split layout, output heights,
output channels around MR, short and long reductions, strides, dilations, paddings ('same' with
even kernels), groups, conv1d/2d/3d, batches, NaN/inf, subnormals, and inputs read in place that
end at a page followed by a PROT_NONE guard page (an over-read kills this process: the parent
reports the last case started, which this script prints to stderr before running it).

Each case's data comes from a generator seeded by its name, so the parent can compute the
expected outputs once (torch, float64) and pass them in --oracle; cases missing there are computed
here (torch when importable, else tests/reference.py). Exit code 0 even on failures: the parent
asserts on the JSON.
"""

import json
import os
import re
import sys
import traceback
import warnings
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from helpers import TOL, random_array  # noqa: E402


# --------------------------------------------------------------------------- tiles

def parse_tile(name):
    """'8 channels x 48 positions, positions in vector' -> (8, 48, False) (float32 shape)."""
    m = re.match(r"\s*(\d+) channels x (\d+) positions, (positions|channels) in vector", name)
    if not m:
        raise ValueError(f"unparsable tile name {name!r}")
    return int(m.group(1)), int(m.group(2)), m.group(3) == "channels"


def tile_shape(name, dtype):
    """(MR, NR, channels_in_vector) of a float32 tile's float64 twin: same MR x NV vectors,
    half the lanes (positions-in-vector: NR halves; channels-in-vector: MR halves)."""
    mr, nr, cv = parse_tile(name)
    if np.dtype(dtype) == np.float64:
        if cv:
            mr //= 2
        else:
            nr //= 2
    return mr, nr, cv


# --------------------------------------------------------------------------- cases

def _t(v, D):
    return (v,) * D if isinstance(v, int) else tuple(v)


def make_case(cases, dtype, D, N, cin, cout, spatial, k, stride=1, padding=0, dilation=1, groups=1,
              bias=True, xkind="normal", wkind="normal", xscale=None, wscale=None, guard=False, threads=None,
              padding_mode="zeros", unbatched=False, tag=""):
    """Append one case (a dict) to `cases`; its name encodes every parameter (and seeds its data)."""
    spatial, k = _t(spatial, D), _t(k, D)
    if min(spatial) < 1 or cin % groups or cout % groups or cin // groups < 2:
        return  # (C_in/groups == 1 is the depthwise path, not these kernels)
    import reference as ref
    out = ref.conv_output_shape((N, cin) + spatial, (cout, cin // groups) + k, stride, padding, dilation, groups)
    if min(out[2:]) < 1:
        return
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if padding_mode != "zeros":
        kw["padding_mode"] = padding_mode
    kws = ",".join(f"{a}={v}" for a, v in kw.items() if not (v == 1 and a != "padding") and v != 0) or "-"
    if unbatched:
        assert N == 1
    name = (f"conv{D}d[{np.dtype(dtype).name}] x=({'' if unbatched else f'{N},'}{cin},{','.join(map(str, spatial))}) "
            f"w=({cout},{cin // groups},{','.join(map(str, k))}) {kws} bias={int(bool(bias))}")
    if xkind != "normal" or wkind != "normal":
        name += f" x:{xkind} w:{wkind}"
    if xscale:
        name += f" x*{xscale}"
    if wscale:
        name += f" w*{wscale}"
    if guard:
        name += " guard-page"
    if threads:
        name += f" threads={threads}"
    if tag:
        name += f" ({tag})"
    xshape = ((cin,) if unbatched else (N, cin)) + spatial
    cases.setdefault(name, dict(name=name, op=f"conv{D}d", dtype=np.dtype(dtype).name,
                                x=xshape, w=(cout, cin // groups) + k, bias=bool(bias), kw=kw,
                                xkind=xkind, wkind=wkind, xscale=xscale, wscale=wscale, guard=guard,
                                threads=threads))


def _uniq_pos(vals):
    return sorted({int(v) for v in vals if v >= 1})


def tile_cases(cases, mr, nr, cv, dtype, small):
    """The sweep around one tile shape (MR x NR) for one dtype."""
    dt = dtype
    flip = [0]

    def alt():  # bias on every other case
        flip[0] ^= 1
        return bool(flip[0])

    # ---- output widths around NR (and multiples), heights 1..3 and more; in place and padded
    ows = _uniq_pos([1, 2, nr - 1, nr, nr + 1, 2 * nr - 1, 2 * nr, 2 * nr + 1, 3 * nr + 2])
    ohs = [1, 2, 3, 6]
    if small:
        ows = _uniq_pos([1, nr - 1, nr, nr + 1, 2 * nr + 1])
        ohs = [1, 3]
    for oh in ohs:
        for ow in ows:
            make_case(cases, dt, 2, 1 if oh > 1 else 2, 3, mr + 1, (oh + 2, ow + 2), 3, bias=alt(), tag="in place")
            make_case(cases, dt, 2, 2 if oh == 3 else 1, 3, mr + 1, (oh, ow), 3, padding=1, bias=alt())

    # ---- grid edges: the run of grid positions Lq = (OH-1)*Wq + OW a multiple of NR, or one off
    for oh in ([2, 3, 5] if not small else [3]):
        for r in (0, 1, nr - 1):
            # in place 3x3: Wq = OW + 2, Lq = OH*OW + 2*(OH-1)
            # (not every residue is reachable: skip those)
            ow = next((o for o in range(1, 4 * nr + 2) if (oh * o + 2 * (oh - 1)) % nr == r % nr), None)
            if ow:
                make_case(cases, dt, 2, 1, 2, mr, (oh + 2, ow + 2), 3, bias=alt(), tag="grid edge")
            # in place 1x1: Lq = OH*OW = the whole plane (the array's end for the last image)
            ow = next((o for o in range(1, 4 * nr + 2) if (oh * o) % nr == r % nr), None)
            if not ow:
                continue
            make_case(cases, dt, 2, 2, 5, mr + 1, (oh, ow), 1, bias=alt(), tag="grid edge 1x1")
            make_case(cases, dt, 2, 1, 5, 2 * mr - 1, (oh, ow), 1, bias=alt(), guard=True, tag="grid edge 1x1")
            # padded 3x3 stride 2 along W: Wq = ceil((W + 2) / 2)
            w_in = 2 * ow + 1
            make_case(cases, dt, 2, 1, 3, mr - 1 if mr > 1 else 1, (oh, w_in), 3, stride=(1, 2), padding=1,
                      bias=alt(), tag="grid edge s2")

    # ---- output channels around MR (not a multiple of the block); few tiles: channel split
    couts = _uniq_pos([1, mr - 1, mr, mr + 1, 2 * mr + 3])
    for co in couts:
        make_case(cases, dt, 2, 1, 4, co, (5, nr + 3), 3, padding=1, bias=alt())
        make_case(cases, dt, 1, 2, 3, co, nr + 1, 2, bias=alt(), tag="in place")
    for co in ([2 * mr + 3, 5 * mr + 1] if not small else [5 * mr + 1]):
        for threads in (None, 1):
            make_case(cases, dt, 2, 1, 3, co, (1, 3), 3, padding=(0, 1), bias=True, threads=threads,
                      tag="few tiles")
            make_case(cases, dt, 2, 1, 2, co, (2, min(nr, 9)), 1, bias=False, threads=threads, tag="few tiles")

    for threads in ((4,) if not small else ()):
        make_case(cases, dt, 2, 3, 3, 5 * mr + 1, (1, 3), 3, padding=(0, 1), bias=True, threads=threads,
                  tag="few tiles")
        make_case(cases, dt, 1, 2, 4, 3 * mr - 1, nr + 2, 3, bias=True, threads=threads, tag="few tiles")

    # ---- outputs over 1 MB (beyond L2): runs of tiles that end mid-row, a last partial tile,
    # 1 and 2 threads
    if not small:
        ow, co = 3 * nr + 2, 2 * mr + 3
        oh = (1 << 20) // (co * ow * np.dtype(dt).itemsize) + 2
        for threads in (1, 2):
            make_case(cases, dt, 2, 1, 3, co, (oh, ow), 3, padding=1, bias=True, threads=threads,
                      tag="large output")

    # ---- reduction lengths (Cin*taps): short and long; small integers keep long sums exact
    reds = [(2, 1), (3, 3), (17, 3), (64, 3), (300, 3), (700, 1), (1100, 1)]
    if small:
        reds = [(2, 1), (17, 3), (300, 3)]
    for cin, k in reds:
        make_case(cases, dt, 2, 1, cin, mr + 1, (3, nr + 1 + k - 1), k, bias=True, xkind="ints", wkind="ints")
    make_case(cases, dt, 2, 1, 130, 2 * mr + 1, (4, nr + 3), 3, padding=1, bias=True, xkind="ints", wkind="ints")
    if not small:
        make_case(cases, dt, 3, 1, 64, mr + 1, (3, 3, nr + 2), 3, bias=True, xkind="ints", wkind="ints")

    # ---- windows wider than the output (OW 1..2 with a wide input row); padding beyond the kernel
    for ow in (1, 2):
        make_case(cases, dt, 2, 1, 3, mr + 1, (4, ow + 8), (3, 9), bias=alt(), tag="in place")
        make_case(cases, dt, 2, 1, 3, mr + 1, (4, 2 * ow + 9), (2, 9), stride=(1, 2), padding=1, bias=alt())
    make_case(cases, dt, 2, 1, 3, mr + 1, (3, nr), 1, padding=2, bias=True)
    make_case(cases, dt, 2, 2, 3, mr + 1, (4, nr + 1), 2, stride=3, padding=2, bias=True)

    # ---- strides along H and W (stride phases), with and without padding
    strides = [(sh, sw) for sh in (1, 2, 3) for sw in (1, 2, 3)]
    if small:
        strides = [(1, 2), (2, 1), (3, 3)]
    for sh, sw in strides:
        for p in (0, 1):
            oh, ow = 3, nr + 1
            make_case(cases, dt, 2, 1, 3, mr + 1, ((oh - 1) * sh + 3 - 2 * p, (ow - 1) * sw + 3 - 2 * p), 3,
                      stride=(sh, sw), padding=p, bias=alt())
        make_case(cases, dt, 2, 1, 2, mr, (7, nr // 2 + 5), (2, 4), stride=(sh, sw), padding=(1, 2), bias=alt())

    # ---- dilation (with padding 0..2)
    dils = [(dh, dw) for dh in (1, 2, 3) for dw in (1, 2, 3)]
    pads = (0, 1, 2)
    if small:
        dils, pads = [(1, 3), (2, 2), (3, 1)], (0, 2)
    for dh, dw in dils:
        for p in pads:
            oh, ow = 2, nr - 1 if nr > 1 else 1
            make_case(cases, dt, 2, 1, 2, mr + 1, ((oh - 1) + 2 * dh + 1 - 2 * p, (ow - 1) + 2 * dw + 1 - 2 * p), 3,
                      dilation=(dh, dw), padding=p, bias=alt())
    make_case(cases, dt, 2, 1, 3, mr, (9, nr + 7), 3, stride=2, dilation=2, padding=2, bias=True)

    # ---- padding 'same' (even kernels pad the far end more), with dilation
    for k in ([(2, 2), (4, 4), (2, 3), (3, 4), (1, 2)] if not small else [(2, 2), (3, 4)]):
        for d in (1, 2):
            make_case(cases, dt, 2, 1, 3, mr + 1, (4, nr + 1), k, padding="same", dilation=d, bias=alt())
    make_case(cases, dt, 1, 2, 3, mr - 1 if mr > 1 else 1, nr, 4, padding="same", bias=True)
    make_case(cases, dt, 3, 1, 2, mr, (3, 3, nr - 1 if nr > 1 else 1), (2, 2, 3), padding="same", bias=True)
    make_case(cases, dt, 2, 1, 3, mr, (4, nr + 2), 3, padding="valid", bias=True)

    # ---- groups
    for g in (1, 2, 3):
        for cg in ((2, 3) if not small else (2,)):
            make_case(cases, dt, 2, 2, g * cg, g * (mr + 1), (4, nr + 2), 3, padding=1, groups=g, bias=alt())
            make_case(cases, dt, 2, 1, g * cg, g * (2 * mr - 1), (3, nr + 4), 3, stride=(1, 2), groups=g,
                      bias=alt(), tag="in place" if g == 1 else "")
        make_case(cases, dt, 2, 1, g * 4, g * 3, (5, nr - 1 if nr > 1 else 1), 1, groups=g, bias=alt())

    # ---- conv1d: widths, strides, paddings
    for ow in (ows if not small else _uniq_pos([1, nr, nr + 1])):
        for s in ((1, 2, 3) if not small else (1, 3)):
            for p in ((0, 1, 2) if not small else (0, 2)):
                k = 3 + (s + p) % 3  # 3..5
                make_case(cases, dt, 1, 2 if s == 2 else 1, 3, mr + 1, (ow - 1) * s + k - 2 * p, k, stride=s,
                          padding=p, bias=alt())
    make_case(cases, dt, 1, 1, 5, mr, nr * 3 + 4, 3, dilation=3, padding=1, bias=True)

    # ---- conv3d: depth stride / padding / dilation (depth handled by indexing)
    for sd in (1, 2):
        for pd in (0, 1):
            for dd in ((1, 2) if not small else (1,)):
                od, oh, ow = 3, 2, nr + 1
                spatial = ((od - 1) * sd + 2 * dd + 1 - 2 * pd, oh + 2, ow + 2)
                make_case(cases, dt, 3, 2 if sd == 2 else 1, 2, mr + 1, spatial, 3, stride=(sd, 1, 1),
                          padding=(pd, 0, 0), dilation=(dd, 1, 1), bias=alt(), tag="in place HW" if pd == 0 else "")
    make_case(cases, dt, 3, 1, 3, 2 * mr + 1, (5, 6, nr + 2), 3, stride=(2, 2, 1), padding=1, bias=True)
    make_case(cases, dt, 3, 2, 4, mr, (3, 4, nr - 1 if nr > 1 else 1), (1, 2, 2), stride=(1, 1, 2),
              padding=(0, 1, 1), groups=2, bias=False)

    # ---- padding modes (x is padded first, then read in place) and unbatched input
    for mode in (("reflect", "replicate", "circular") if not small else ("circular",)):
        make_case(cases, dt, 2, 2, 3, mr + 1, (4, nr + 1), 3, padding=(1, 2), padding_mode=mode, bias=alt())
    make_case(cases, dt, 1, 1, 3, mr + 1, nr + 1, 4, padding="same", padding_mode="reflect", bias=True)
    make_case(cases, dt, 2, 1, 3, mr + 1, (3, nr + 2), 3, bias=True, unbatched=True, tag="in place")
    make_case(cases, dt, 1, 1, 4, 2 * mr - 1, 2 * nr + 1, 3, stride=2, padding=1, bias=False, unbatched=True)

    # ---- NaN / inf (propagate as in torch: also through zero padding times an infinite weight)
    make_case(cases, dt, 2, 2, 3, mr + 1, (5, nr + 2), 3, bias=True, xkind="sparse", tag="in place")
    make_case(cases, dt, 2, 1, 3, mr + 1, (5, nr + 2), 3, padding=1, bias=False, xkind="sparse")
    make_case(cases, dt, 2, 1, 4, 2 * mr + 1, (6, 2 * nr + 3), 3, stride=2, padding=1, bias=True, xkind="sparse")
    make_case(cases, dt, 2, 1, 3, mr + 1, (3, 2 * nr + 1), 1, bias=True, xkind="sparse", guard=True)
    make_case(cases, dt, 1, 2, 3, mr + 1, nr + 4, 3, padding=2, bias=True, xkind="special")
    make_case(cases, dt, 1, 1, 3, mr, nr + 5, 2, bias=True, wkind="sparse")
    make_case(cases, dt, 1, 1, 3, mr, nr + 5, 2, bias=True, wkind="special")
    make_case(cases, dt, 2, 1, 3, mr + 1, (4, nr + 1), 3, padding=1, bias=True, xkind="special", wkind="special")

    # ---- subnormal inputs / weights (the kernels may flush them: the float tolerance covers it)
    tiny = float(np.finfo(dt).tiny)
    make_case(cases, dt, 2, 2, 3, mr + 1, (5, nr + 2), 3, bias=True, xscale=tiny / 4, tag="in place")
    make_case(cases, dt, 2, 1, 3, mr + 1, (5, nr + 2), 3, padding=1, bias=False, xscale=tiny / 4)
    make_case(cases, dt, 2, 1, 3, mr + 1, (5, nr + 2), 3, padding=1, bias=True, wscale=tiny / 8)

    # ---- read in place up to the end of x, which ends at a PROT_NONE guard page
    for ow in _uniq_pos([1, nr - 1, nr, nr + 1, 2 * nr + 1]):
        for oh in ((1, 3) if not small else (3,)):
            make_case(cases, dt, 2, 2, 3, mr + 1, (oh + 2, ow + 2), 3, bias=True, guard=True)
            make_case(cases, dt, 2, 1, 4, mr - 1 if mr > 1 else 1, (oh, ow), 1, bias=False, guard=True)
        make_case(cases, dt, 1, 2, 3, mr + 1, ow + 4, 5, bias=True, guard=True)
        make_case(cases, dt, 2, 1, 4, 2 * mr + 3, (3, ow + 2), 3, groups=2, bias=True, guard=True)
    make_case(cases, dt, 3, 2, 2, mr + 1, (5, 3, nr + 2), 3, stride=(2, 1, 1), bias=True, guard=True)
    make_case(cases, dt, 3, 1, 2, mr, (4, 2, nr + 1), (2, 2, 2), dilation=(2, 1, 1), bias=False, guard=True)


def build_cases(tile_names, small):
    """All cases for the given float32 tile names (both dtypes), in a deterministic order."""
    cases = {}
    for dt in (np.float32, np.float64):
        for tn in tile_names:
            mr, nr, cv = tile_shape(tn, dt)
            tile_cases(cases, mr, nr, cv, dt, small)
    return list(cases.values())


# --------------------------------------------------------------------------- data

_GUARDS = []  # keep the guarded mappings alive for the life of the process


def guarded_copy(a):
    """A copy of `a` whose last byte is the last byte of a page followed by a PROT_NONE page
    (and preceded by one): reading past either end segfaults."""
    import ctypes
    import mmap

    if not hasattr(mmap, "PROT_READ") or a.nbytes == 0:  # (no mprotect: Windows)
        return a.copy()
    ps = mmap.PAGESIZE
    nbytes = a.nbytes
    npages = -(-nbytes // ps) + 2
    mm = mmap.mmap(-1, npages * ps, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    raw = np.frombuffer(mm, dtype=np.uint8)
    addr = raw.ctypes.data
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for page in (0, npages - 1):
        if libc.mprotect(ctypes.c_void_p(addr + page * ps), ps, 0) != 0:  # PROT_NONE
            raise OSError(ctypes.get_errno(), "mprotect failed")
    start = (npages - 1) * ps - nbytes
    out = raw[start:start + nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert out.flags.c_contiguous and out.ctypes.data + nbytes == addr + (npages - 1) * ps
    _GUARDS.append((mm, raw))
    return out


def _array(rng, shape, dt, kind):
    """helpers.random_array kinds, plus 'sparse': normal values with a few NaN, inf and -inf
    (so that most outputs stay finite and the non-finite ones must be exactly their windows')."""
    if kind != "sparse":
        return random_array(rng, shape, dt, kind)
    a = rng.standard_normal(shape)
    flat = a.reshape(-1)
    idx = rng.choice(flat.size, size=min(flat.size, 3 + flat.size // 400), replace=False)
    flat[idx] = np.resize([np.nan, np.inf, -np.inf], idx.size)
    return a.astype(dt)


def case_arrays(c):
    rng = np.random.default_rng(zlib.crc32(c["name"].encode()))
    dt = np.dtype(c["dtype"])
    x = _array(rng, c["x"], dt, c["xkind"])
    w = _array(rng, c["w"], dt, c["wkind"])
    b = random_array(rng, (c["w"][0],), dt) if c["bias"] else None
    if c["xscale"]:
        x = (x.astype(np.float64) * c["xscale"]).astype(dt)
    if c["wscale"]:
        w = (w.astype(np.float64) * c["wscale"]).astype(dt)
    return x, w, b


def oracle(c, x, w, b):
    """float64 expected output: torch when importable, else the NumPy reference."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    b64 = None if b is None else b.astype(np.float64)
    try:
        import torch_ref
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(torch_ref.conv(x64, w64, b64, **c["kw"]), dtype=np.float64)
    except ImportError:
        import reference as ref
        return np.asarray(getattr(ref, c["op"])(x64, w64, b64, **c["kw"]), dtype=np.float64)


class torch_single_thread:
    """torch on one thread while computing the oracle: these convolutions are tiny, and torch's
    thread pool costs ~100x the work on a busy machine. No-op without torch."""

    def __enter__(self):
        try:
            import torch
        except ImportError:
            self.saved = None
            return self
        self.saved = torch.get_num_threads()
        if self.saved != 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.saved not in (None, 1):
            import torch
            torch.set_num_threads(self.saved)


def compute_oracle(cases, path):
    """Expected outputs of `cases`, saved to `path` (.npz keyed by case name)."""
    out = {}
    with torch_single_thread():
        for c in cases:
            x, w, b = case_arrays(c)
            out[c["name"]] = oracle(c, x, w, b)
    np.savez(path, **out)
    return path


# --------------------------------------------------------------------------- check

def compare(got, expected, dtype):
    """None when equal within the suite's tolerances (NaN where NaN, inf where inf), else
    (message, max abs error over positions finite in both)."""
    dtype = np.dtype(dtype)
    if not isinstance(got, np.ndarray) or got.dtype != dtype or got.shape != expected.shape:
        return (f"type/dtype/shape {type(got).__name__} {getattr(got, 'dtype', None)} "
                f"{getattr(got, 'shape', None)} != {dtype} {expected.shape}", None)
    if not got.flags.c_contiguous:
        return ("output not C-contiguous", None)
    g = got.astype(np.float64)
    tol = TOL[dtype]
    with np.errstate(all="ignore"):
        fin = np.isfinite(g) & np.isfinite(expected)
        err = np.abs(g - expected)
        bad = fin & (err > tol["atol"] + tol["rtol"] * np.abs(expected))
        nan_bad = np.isnan(g) != np.isnan(expected)
        inf_bad = (np.isinf(g) | np.isinf(expected)) & ~(g == expected) & ~np.isnan(g) & ~np.isnan(expected)
    maxerr = float(err[fin].max()) if fin.any() else 0.0
    if bad.any() or nan_bad.any() or inf_bad.any():
        first = tuple(int(i) for i in np.argwhere(bad | nan_bad | inf_bad)[0])
        msg = (f"{int(bad.sum())} values off, {int(nan_bad.sum())} NaN mismatches, {int(inf_bad.sum())} inf "
               f"mismatches of {g.size}; first at {first}: got {g[first]!r} expected {expected[first]!r}")
        return (msg, maxerr)
    return None


def run(cases, expected_file=None):
    import fmaconv

    expected = np.load(expected_file) if expected_file else None
    failures = []
    n = 0
    threads0 = fmaconv.get_num_threads()
    for c in cases:
        n += 1
        print("running", c["name"], file=sys.stderr, flush=True)
        try:
            x, w, b = case_arrays(c)
            exp = expected[c["name"]] if expected is not None and c["name"] in expected.files else None
            if exp is None:
                exp = oracle(c, x, w, b)
            if c["guard"]:
                x = guarded_copy(x)
            if c["threads"]:
                fmaconv.set_num_threads(c["threads"])
            try:
                got = getattr(fmaconv, c["op"])(x, w, b, **c["kw"])
            finally:
                if c["threads"]:
                    fmaconv.set_num_threads(threads0)
            bad = compare(got, exp, c["dtype"])
            if bad:
                failures.append(dict(case=c["name"], error=bad[0], max_abs_err=bad[1]))
        except Exception:
            failures.append(dict(case=c["name"], error=traceback.format_exc(limit=2)[-800:], max_abs_err=None))
    return failures, n


def main(argv):
    import fmaconv

    cfg = fmaconv._core.config()
    tiles = list(cfg["conv_tiles"])
    isa = cfg.get("isa")
    if "--list" in argv:
        print(json.dumps({"isa": isa, "tiles": tiles}))
        return
    small = "--small" in argv
    oracle_file = argv[argv.index("--oracle") + 1] if "--oracle" in argv else None
    forced = os.environ.get("FMACONV_CONV_TILE")
    algo = os.environ.get("FMACONV_CONV_ALGO") or "direct"
    names = [tiles[int(forced)]] if forced not in (None, "") and 0 <= int(forced) < len(tiles) else tiles
    cases = build_cases(names, small)
    if oracle_file:  # (torch is then imported only for cases missing from the file)
        failures, n = run(cases, oracle_file)
    else:
        with torch_single_thread():
            failures, n = run(cases, oracle_file)
    print(json.dumps({"isa": isa, "tiles": tiles, "tile": forced, "algo": algo, "small": small,
                      "checks": n, "failures": failures}))


if __name__ == "__main__":
    main(sys.argv[1:])

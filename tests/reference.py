"""Plain-NumPy reference for fmaconv, written from docs/semantics.md (the spec sheet).

Independent of fmaconv and of PyTorch.  Plain loops over output positions or kernel
taps, vectorised by NumPy over the rest (pooling has both forms, cross-checked).
Everything is computed in float64; the result is float64 (callers compare with tolerances
for float32 inputs; max pooling results are exact elements of the input, so they compare
exactly after casting).

Only valid arguments are supported (the reference asserts instead of raising user errors);
error behaviour is tested against fmaconv directly in test_errors.py.
"""

import itertools
import math

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# --------------------------------------------------------------------------- helpers

def _quiet(fn):
    """NaN/inf inputs are legitimate here: silence NumPy's floating-point warnings."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper

def ntuple(value, D):
    """int -> (int,)*D; sequence -> tuple of exactly D ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * D
    t = tuple(int(v) for v in value)
    assert len(t) == D, (value, D)
    return t


def _as_f64(a):
    return np.array(a, dtype=np.float64, copy=True)


def _batched(x, D):
    """Return (x with a batch axis, was_unbatched)."""
    assert x.ndim in (D + 1, D + 2), (x.shape, D)
    if x.ndim == D + 1:
        return x[None], True
    return x, False


# --------------------------------------------------------------------------- output sizes

def conv_out_size(i, k, s, p_left, d, p_right=None):
    """o = floor((i + 2p - e) / s) + 1 with e = d*(k-1)+1 (p_left + p_right replaces 2p)."""
    if p_right is None:
        p_right = p_left
    e = d * (k - 1) + 1
    return (i + p_left + p_right - e) // s + 1


def same_padding(k, d):
    """'same': total t = d*(k-1); left t//2, right t - t//2."""
    t = d * (k - 1)
    return t // 2, t - t // 2


def conv_padding(padding, ks, dilation):
    """Per-axis (left, right) padding lists for int / sequence / 'same' / 'valid'."""
    D = len(ks)
    if isinstance(padding, str):
        if padding == "valid":
            return [0] * D, [0] * D
        assert padding == "same", padding
        lr = [same_padding(k, d) for k, d in zip(ks, dilation)]
        return [a for a, _ in lr], [b for _, b in lr]
    p = ntuple(padding, D)
    return list(p), list(p)


def pool_out_size(i, k, s, p, d, ceil_mode):
    """PyTorch pooling_output_shape incl. the 'last window starts inside' rule."""
    e = d * (k - 1) + 1
    num = i + 2 * p - e + (s - 1 if ceil_mode else 0)
    o = num // s + 1  # Python // is floor division, also for negative numerators
    if ceil_mode and (o - 1) * s >= i + p:
        o -= 1
    return o


def conv_output_shape(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Full output shape (batched or unbatched like the input)."""
    weight_shape = tuple(weight_shape)
    input_shape = tuple(input_shape)
    D = len(weight_shape) - 2
    ks = weight_shape[2:]
    s = ntuple(stride, D)
    d = ntuple(dilation, D)
    left, right = conv_padding(padding, ks, d)
    sp = input_shape[-D:]
    out = tuple(conv_out_size(i, k, ss, pl, dd, pr)
                for i, k, ss, pl, dd, pr in zip(sp, ks, s, left, d, right))
    lead = input_shape[:-D - 1]  # () for unbatched, (N,) for batched
    return lead + (weight_shape[0],) + out


def pool_output_shape(input_shape, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False, dims=None):
    input_shape = tuple(input_shape)
    if dims is None:
        dims = len(kernel_size) if not isinstance(kernel_size, (int, np.integer)) else len(input_shape) - 2
    D = dims
    k = ntuple(kernel_size, D)
    s = k if stride is None else ntuple(stride, D)
    p = ntuple(padding, D)
    d = ntuple(dilation, D)
    sp = input_shape[-D:]
    out = tuple(pool_out_size(i, kk, ss, pp, dd, ceil_mode)
                for i, kk, ss, pp, dd in zip(sp, k, s, p, d))
    return input_shape[:-D] + out


# --------------------------------------------------------------------------- padding modes

def pad_source_index(j, n, mode):
    """Input index read for padded coordinate j (relative to the unpadded input), or None for a zero."""
    if 0 <= j < n:
        return j
    if mode == "zeros":
        return None
    if mode == "reflect":  # mirror without repeating the edge (single reflection; needs p < n)
        r = -j if j < 0 else 2 * (n - 1) - j
        assert 0 <= r < n, (j, n)
        return r
    if mode == "replicate":
        return 0 if j < 0 else n - 1
    if mode == "circular":  # wrap (needs p <= n)
        r = j + n if j < 0 else j - n
        assert 0 <= r < n, (j, n)
        return r
    raise AssertionError(mode)


def pad_input(x, lefts, rights, mode):
    """Pad the spatial axes (2..) of a batched array with my own index mapping (not np.pad)."""
    out = x
    for a, (pl, pr) in enumerate(zip(lefts, rights)):
        axis = 2 + a
        n = out.shape[axis]
        src = [pad_source_index(j, n, mode) for j in range(-pl, n + pr)]
        # Append one zero slab at index n; padded zeros read it.
        zshape = list(out.shape)
        zshape[axis] = 1
        ext = np.concatenate([out, np.zeros(zshape, dtype=out.dtype)], axis=axis)
        idx = np.array([n if s is None else s for s in src], dtype=np.int64)
        out = np.take(ext, idx, axis=axis)
    return out


# --------------------------------------------------------------------------- convolution

@_quiet
def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """N-D cross-correlation, D = w.ndim - 2. Returns float64."""
    x = _as_f64(x)
    w = _as_f64(w)
    D = w.ndim - 2
    x, unbatched = _batched(x, D)
    N, Cin = x.shape[:2]
    Cout, Cg = w.shape[:2]
    ks = w.shape[2:]
    s = ntuple(stride, D)
    d = ntuple(dilation, D)
    assert Cin == Cg * groups and Cout % groups == 0
    if padding == "same":
        assert all(v == 1 for v in s)
    lefts, rights = conv_padding(padding, ks, d)
    xp = pad_input(x, lefts, rights, padding_mode)
    out_sp = [conv_out_size(xp.shape[2 + a], ks[a], s[a], 0, d[a]) for a in range(D)]
    assert all(o >= 1 for o in out_sp), out_sp
    y = np.zeros((N, Cout) + tuple(out_sp), dtype=np.float64)
    Cog = Cout // groups
    for tap in np.ndindex(*ks):
        # xpad[n, ci, o*s + j*d] for all output positions o at once
        sl = tuple(slice(j * dd, j * dd + ss * (o - 1) + 1, ss)
                   for j, dd, ss, o in zip(tap, d, s, out_sp))
        patch = xp[(slice(None), slice(None)) + sl]  # (N, Cin, *out_sp)
        for g in range(groups):
            xs = patch[:, g * Cg:(g + 1) * Cg]
            ws = w[(slice(g * Cog, (g + 1) * Cog), slice(None)) + tap]  # (Cog, Cg)
            y[:, g * Cog:(g + 1) * Cog] += np.einsum("nc...,oc->no...", xs, ws)
    if b is not None:
        b = _as_f64(b)
        y += b.reshape((1, Cout) + (1,) * D)
    return y[0] if unbatched else y


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    assert np.ndim(w) == 3
    return conv(x, w, b, stride, padding, dilation, groups, padding_mode)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    assert np.ndim(w) == 4
    return conv(x, w, b, stride, padding, dilation, groups, padding_mode)


def conv3d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    assert np.ndim(w) == 5
    return conv(x, w, b, stride, padding, dilation, groups, padding_mode)


# --------------------------------------------------------------------------- max pooling

def _flat(coords, sizes):
    """Flat offset inside a plane: 1-D w; 2-D h*W + w; 3-D t*H*W + h*W + w."""
    f = 0
    for c, n in zip(coords, sizes):
        f = f * n + c
    return f


def _scan_max(planes, taps, init_index, sizes):
    """Scan `taps` (list of coordinate tuples, in scan order) over every plane.

    best = -inf; take v when v > best or isnan(v).  Returns (values, indices) per plane.
    """
    P = planes.shape[0]
    best = np.full(P, -np.inf)
    index = np.full(P, init_index, dtype=np.int64)
    for c in taps:
        v = planes[(slice(None),) + tuple(c)]
        take = (v > best) | np.isnan(v)
        best = np.where(take, v, best)
        index = np.where(take, _flat(c, sizes), index)
    return best, index


@_quiet
def _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode, D):
    """float64 batched input, per-axis kernel/stride/padding/dilation tuples and output sizes."""
    x, unbatched = _batched(_as_f64(x), D)
    k = ntuple(kernel_size, D)
    s = k if stride is None else ntuple(stride, D)
    p = ntuple(padding, D)
    d = ntuple(dilation, D)
    out_sp = tuple(pool_out_size(i, kk, ss, pp, dd, ceil_mode)
                   for i, kk, ss, pp, dd in zip(x.shape[2:], k, s, p, d))
    return x, unbatched, k, s, p, d, out_sp


def _max_result(vals, idxs, shape, unbatched, return_indices):
    vals, idxs = vals.reshape(shape), idxs.reshape(shape)
    if unbatched:
        vals, idxs = vals[0], idxs[0]
    return (vals, idxs) if return_indices else vals


def _grid(vectors):
    """Per-axis vectors -> broadcastable arrays over the output grid."""
    D = len(vectors)
    return [v.reshape((1,) * a + (-1,) + (1,) * (D - 1 - a)) for a, v in enumerate(vectors)]


def _max_setup(x, kernel_size, stride, padding, dilation, ceil_mode, dims):
    """_pool_setup, with the input as (N*C, *spatial) planes and (N, C)."""
    x, unbatched, k, s, p, d, out_sp = _pool_setup(x, kernel_size, stride, padding, dilation, ceil_mode, dims)
    assert all(o >= 1 for o in out_sp), out_sp
    N, C = x.shape[:2]
    return x.reshape((N * C,) + x.shape[2:]), unbatched, k, s, p, d, out_sp, (N, C)


def max_pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             return_indices=False, dims=None):
    """The scan of _scan_max run one tap (kernel offset) at a time for all output positions at
    once: taps in lexicographic kernel order skip out-of-range ones, which is each window's scan
    order.  max_pool_loops is the same rule written per output position (cross-checked in
    test_reference_forms.py)."""
    planes, unbatched, k, s, p, d, out_sp, (N, C) = _max_setup(x, kernel_size, stride, padding, dilation,
                                                                ceil_mode, dims)
    D, sp = dims, planes.shape[1:]
    # PyTorch's initial index: per axis the first tap >= 0, even if no tap is valid
    first = []
    for a in range(D):
        start = np.arange(out_sp[a]) * s[a] - p[a]
        first.append(np.where(start < 0, start + (-start + d[a] - 1) // d[a] * d[a], start))
    best = np.full((N * C,) + out_sp, -np.inf)
    index = np.broadcast_to(_flat(_grid(first), sp), out_sp)[None].repeat(N * C, axis=0).astype(np.int64)
    with np.errstate(all="ignore"):
        for tap in np.ndindex(*k):
            coords = [np.arange(out_sp[a]) * s[a] - p[a] + tap[a] * d[a] for a in range(D)]
            valid = [(c >= 0) & (c < sp[a]) for a, c in enumerate(coords)]
            ok = np.ones(out_sp, dtype=bool)
            for vg in _grid(valid):
                ok = ok & vg
            clipped = [np.clip(c, 0, sp[a] - 1) for a, c in enumerate(coords)]
            v = planes[(slice(None),) + tuple(np.ix_(*clipped))]
            take = ok[None] & ((v > best) | np.isnan(v))
            best = np.where(take, v, best)
            index = np.where(take, _flat(_grid(clipped), sp)[None], index)
    return _max_result(best, index, (N, C) + out_sp, unbatched, return_indices)


def max_pool_loops(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                   return_indices=False, dims=None):
    planes, unbatched, k, s, p, d, out_sp, (N, C) = _max_setup(x, kernel_size, stride, padding, dilation,
                                                                ceil_mode, dims)
    D, sp = dims, planes.shape[1:]
    vals = np.empty((N * C,) + out_sp)
    idxs = np.empty((N * C,) + out_sp, dtype=np.int64)
    for o in np.ndindex(*out_sp):
        per_axis = []  # valid taps per axis
        first = []     # first tap >= 0 per axis (PyTorch's initial index, even if no tap is valid)
        for a in range(D):
            start = o[a] * s[a] - p[a]
            end = start + d[a] * (k[a] - 1) + 1
            taps = list(range(start, end, d[a]))
            per_axis.append([t for t in taps if 0 <= t < sp[a]])
            f = start
            while f < 0:
                f += d[a]
            first.append(f)
        taps = list(itertools.product(*per_axis))  # lexicographic = scan order
        v, ix = _scan_max(planes, taps, _flat(first, sp), sp)
        vals[(slice(None),) + o] = v
        idxs[(slice(None),) + o] = ix
    return _max_result(vals, idxs, (N, C) + out_sp, unbatched, return_indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims=1)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims=2)


def max_pool3d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims=3)


# --------------------------------------------------------------------------- average pooling

@_quiet
def avg_pool(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None, dims=None):
    """Window sums one tap at a time for all output positions; avg_pool_loops is the same rule
    written per output position (cross-checked in test_reference_forms.py)."""
    x, unbatched, k, s, p, _, out_sp = _pool_setup(x, kernel_size, stride, padding, 1, ceil_mode, dims)
    D = dims
    N, C = x.shape[:2]
    sp = x.shape[2:]
    assert all(o >= 1 for o in out_sp), out_sp
    sizes, counts = [], []
    for a in range(D):
        start = np.arange(out_sp[a]) * s[a] - p[a]
        end = np.minimum(start + k[a], sp[a] + p[a])  # clipped to the padded extent
        sizes.append(end - start)                     # counts padding, not the ceil_mode overhang
        counts.append(np.maximum(np.minimum(end, sp[a]) - np.maximum(start, 0), 0))  # real input only
    pool_size = math.prod(_grid(sizes), start=np.ones(out_sp))
    clipped = math.prod(_grid(counts), start=np.ones(out_sp))
    total = np.zeros((N, C) + out_sp)
    for tap in np.ndindex(*k):
        coords = [np.arange(out_sp[a]) * s[a] - p[a] + tap[a] for a in range(D)]
        ok = np.ones(out_sp, dtype=bool)
        for vg in _grid([(c >= 0) & (c < sp[a]) for a, c in enumerate(coords)]):
            ok = ok & vg
        v = x[(slice(None), slice(None)) + tuple(np.ix_(*[np.clip(c, 0, sp[a] - 1) for a, c in enumerate(coords)]))]
        total = total + np.where(ok, v, 0.0)
    if divisor_override is not None:
        divisor = np.full(out_sp, float(divisor_override))
    elif count_include_pad:
        divisor = pool_size
    else:
        divisor = clipped
    y = np.where(clipped > 0, total / np.where(clipped > 0, divisor, 1.0), 0.0)
    return y[0] if unbatched else y


@_quiet
def avg_pool_loops(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None, dims=None):
    x, unbatched, k, s, p, _, out_sp = _pool_setup(x, kernel_size, stride, padding, 1, ceil_mode, dims)
    D = dims
    N, C = x.shape[:2]
    sp = x.shape[2:]
    assert all(o >= 1 for o in out_sp), out_sp
    y = np.empty((N, C) + out_sp)
    for o in np.ndindex(*out_sp):
        pool_size = 1
        clipped = 1
        box = []
        for a in range(D):
            start = o[a] * s[a] - p[a]
            end = min(start + k[a], sp[a] + p[a])  # clipped to the padded extent
            pool_size *= end - start               # counts padding, not the ceil_mode overhang
            start = max(start, 0)
            end = min(end, sp[a])                  # clipped to the real input
            clipped *= max(end - start, 0)
            box.append(slice(start, end))
        if clipped == 0:
            y[(slice(None), slice(None)) + o] = 0.0
            continue
        if divisor_override is not None:
            divisor = divisor_override
        elif count_include_pad:
            divisor = pool_size
        else:
            divisor = clipped
        window = x[(slice(None), slice(None)) + tuple(box)]
        y[(slice(None), slice(None)) + o] = window.sum(axis=tuple(range(2, 2 + D))) / divisor
    return y[0] if unbatched else y


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims=1)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims=2)


def avg_pool3d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return avg_pool(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, dims=3)


# --------------------------------------------------------------------------- adaptive pooling

def adaptive_window(o, i, O):
    """[floor(o*i/O), ceil((o+1)*i/O))"""
    return (o * i) // O, -((-(o + 1) * i) // O)


def _adaptive_sizes(output_size, sp):
    D = len(sp)
    if isinstance(output_size, (int, np.integer)):
        output_size = (int(output_size),) * D
    output_size = tuple(output_size)
    assert len(output_size) == D
    return tuple(i if O is None else int(O) for O, i in zip(output_size, sp))


@_quiet
def adaptive_avg_pool(x, output_size, dims):
    x = _as_f64(x)
    D = dims
    x, unbatched = _batched(x, D)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    out_sp = _adaptive_sizes(output_size, sp)
    y = np.empty((N, C) + out_sp)
    for o in np.ndindex(*out_sp):
        box = [slice(*adaptive_window(o[a], sp[a], out_sp[a])) for a in range(D)]
        window = x[(slice(None), slice(None)) + tuple(box)]
        size = math.prod(b.stop - b.start for b in box)
        y[(slice(None), slice(None)) + o] = window.sum(axis=tuple(range(2, 2 + D))) / size
    return y[0] if unbatched else y


@_quiet
def adaptive_max_pool(x, output_size, return_indices=False, dims=None):
    x = _as_f64(x)
    D = dims
    x, unbatched = _batched(x, D)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    out_sp = _adaptive_sizes(output_size, sp)
    planes = x.reshape((N * C,) + sp)
    vals = np.empty((N * C,) + out_sp)
    idxs = np.empty((N * C,) + out_sp, dtype=np.int64)
    for o in np.ndindex(*out_sp):
        ranges = [range(*adaptive_window(o[a], sp[a], out_sp[a])) for a in range(D)]
        taps = list(itertools.product(*ranges))
        v, ix = _scan_max(planes, taps, _flat(taps[0], sp), sp)
        vals[(slice(None),) + o] = v
        idxs[(slice(None),) + o] = ix
    return _max_result(vals, idxs, (N, C) + out_sp, unbatched, return_indices)


def adaptive_avg_pool1d(x, output_size):
    return adaptive_avg_pool(x, output_size, dims=1)


def adaptive_avg_pool2d(x, output_size):
    return adaptive_avg_pool(x, output_size, dims=2)


def adaptive_avg_pool3d(x, output_size):
    return adaptive_avg_pool(x, output_size, dims=3)


def adaptive_max_pool1d(x, output_size, return_indices=False):
    return adaptive_max_pool(x, output_size, return_indices, dims=1)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    return adaptive_max_pool(x, output_size, return_indices, dims=2)


def adaptive_max_pool3d(x, output_size, return_indices=False):
    return adaptive_max_pool(x, output_size, return_indices, dims=3)


# --------------------------------------------------------------------------- dispatch by name

def call(op, *args, **kwargs):
    """reference.call('conv2d', x, w, ...) -> same as reference.conv2d(...)."""
    return globals()[op](*args, **kwargs)

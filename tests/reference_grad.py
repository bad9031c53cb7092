"""Plain-NumPy reference for the gradients (fmaconv.grad), from the spec sheet's section 3.

Independent of fmaconv and PyTorch: explicit loops over kernel taps / output positions, float64.
  conv:  y[n,co,o] = b[co] + sum_{ci,j} w[co,ci,j] * xpad[n, g*Cg + ci, o*s + j*d]
         => grad_xpad[n, g*Cg+ci, o*s + j*d] += gy[n,co,o] * w[co,ci,j]   (then folded back
            through the padding: a padded cell's gradient goes to the input cell it copies)
            grad_w[co,ci,j] = sum_{n,o} gy[n,co,o] * xpad[n, g*Cg+ci, o*s + j*d]
            grad_b[co] = sum_{n,o} gy[n,co,o]
  max pool: zeros, then grad_x[plane][argmax] += gy (the argmax from reference.max_pool)
  avg pool: every cell of the clipped window gets gy / divisor (the forward's divisor)
"""
import math

import numpy as np

import reference as R


def _f64(a):
    return np.array(a, dtype=np.float64, copy=True)


@R._quiet
def conv_grads(gy, x, w, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """(grad_input, grad_weight, grad_bias) in float64; batched or unbatched x like conv."""
    x, w, gy = _f64(x), _f64(w), _f64(gy)
    D = w.ndim - 2
    unbatched = x.ndim == D + 1
    if unbatched:
        x, gy = x[None], gy[None]
    N, C = x.shape[:2]
    K, Cg = w.shape[:2]
    Kg = K // groups
    ks = w.shape[2:]
    s = R.ntuple(stride, D)
    d = R.ntuple(dilation, D)
    lefts, rights = R.conv_padding(padding, ks, d)
    sp = x.shape[2:]
    padded = tuple(i + l + r for i, l, r in zip(sp, lefts, rights))
    out = gy.shape[2:]
    # zero-padded copy (the padding values themselves come from the mode below)
    xp = R.pad_input(x, lefts, rights, padding_mode)
    gxp = np.zeros((N, C) + padded)
    gw = np.zeros(w.shape)
    for tap in np.ndindex(*ks):
        sl = tuple(slice(j * dd, j * dd + ss * (o - 1) + 1, ss) for j, dd, ss, o in zip(tap, d, s, out))
        for g in range(groups):
            chans = slice(g * Cg, (g + 1) * Cg)
            gyg = gy[:, g * Kg:(g + 1) * Kg]                       # (N, Kg, *out)
            xs = xp[(slice(None), chans) + sl]                      # (N, Cg, *out)
            gw[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap] = np.einsum(
                "nkp,ncp->kc", gyg.reshape(N, Kg, -1), xs.reshape(N, Cg, -1))
            wt = w[(slice(g * Kg, (g + 1) * Kg), slice(None)) + tap]  # (Kg, Cg)
            gxp[(slice(None), chans) + sl] += np.einsum("nk...,kc->nc...", gyg, wt)
    gb = gy.sum(axis=tuple(i for i in range(gy.ndim) if i != 1))
    # fold the padded gradient back: padded coordinate j reads input pad_source_index(j)
    gx = gxp
    for a in range(D):
        axis = 2 + a
        n = sp[a]
        shape = list(gx.shape)
        shape[axis] = n
        acc = np.zeros(shape)
        for jp in range(gx.shape[axis]):
            src = R.pad_source_index(jp - lefts[a], n, padding_mode)
            if src is None:
                continue
            idx_src = [slice(None)] * gx.ndim
            idx_src[axis] = jp
            idx_dst = [slice(None)] * gx.ndim
            idx_dst[axis] = src
            acc[tuple(idx_dst)] += gx[tuple(idx_src)]
        gx = acc
    if unbatched:
        gx = gx[0]
    return gx, gw, gb


@R._quiet
def max_pool_grad(gy, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, dims=None):
    """Gradient of max pooling; the argmax comes from the reference forward."""
    _, idx = R.max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, True, dims=dims)
    return max_pool_grad_planes(gy, idx, np.shape(x), dims)


@R._quiet
def adaptive_max_pool_grad(gy, x, dims):
    out = np.shape(gy)[-dims:]
    _, idx = R.adaptive_max_pool(x, out, True, dims=dims)
    return max_pool_grad_planes(gy, idx, np.shape(x), dims)


@R._quiet
def max_pool_grad_planes(gy, idx, x_shape, dims):
    """zeros(x_shape), then grad[plane][idx] += gy for every output (dims spatial axes)."""
    gy = _f64(gy)
    idx = np.asarray(idx)
    lead = x_shape[:len(x_shape) - dims]
    in_plane = math.prod(x_shape[len(x_shape) - dims:])
    planes = math.prod(lead)
    g = np.zeros((planes, in_plane))
    gyf = gy.reshape(planes, -1)
    idf = idx.reshape(planes, -1)
    for p in range(planes):
        for o in range(gyf.shape[1]):
            g[p, idf[p, o]] += gyf[p, o]
    return g.reshape(x_shape)


@R._quiet
def avg_pool_grad(gy, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                  divisor_override=None, dims=None):
    gy = _f64(gy)
    D = dims
    unbatched = len(x_shape) == D + 1
    if unbatched:
        gy = gy[None]
        x_shape = (1,) + tuple(x_shape)
    k = R.ntuple(kernel_size, D)
    s = k if stride is None else R.ntuple(stride, D)
    p = R.ntuple(padding, D)
    sp = x_shape[2:]
    out_sp = gy.shape[2:]
    g = np.zeros(x_shape)
    for o in np.ndindex(*out_sp):
        pool_size = 1
        clipped = 1
        box = []
        for a in range(D):
            start = o[a] * s[a] - p[a]
            end = min(start + k[a], sp[a] + p[a])
            pool_size *= end - start
            start = max(start, 0)
            end = min(end, sp[a])
            clipped *= max(end - start, 0)
            box.append(slice(start, end))
        if clipped == 0:
            continue
        if divisor_override is not None:
            divisor = divisor_override
        elif count_include_pad:
            divisor = pool_size
        else:
            divisor = clipped
        v = gy[(slice(None), slice(None)) + o] / divisor
        g[(slice(None), slice(None)) + tuple(box)] += v.reshape(v.shape + (1,) * D)
    return g[0] if unbatched else g


@R._quiet
def adaptive_avg_pool_grad(gy, x_shape, dims):
    gy = _f64(gy)
    D = dims
    unbatched = len(x_shape) == D + 1
    if unbatched:
        gy = gy[None]
        x_shape = (1,) + tuple(x_shape)
    sp = x_shape[2:]
    out_sp = gy.shape[2:]
    g = np.zeros(x_shape)
    for o in np.ndindex(*out_sp):
        box = [slice(*R.adaptive_window(o[a], sp[a], out_sp[a])) for a in range(D)]
        size = math.prod(b.stop - b.start for b in box)
        v = gy[(slice(None), slice(None)) + o] / size
        g[(slice(None), slice(None)) + tuple(box)] += v.reshape(v.shape + (1,) * D)
    return g[0] if unbatched else g

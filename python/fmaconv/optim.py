"""Optimizers over :class:`fmaconv.nn.Parameter` arrays: ``fmaconv.optim.SGD``."""
from __future__ import annotations

import numbers

import numpy as np

from .nn import Parameter

__all__ = ["Optimizer", "SGD"]


def _number(fname: str, name: str, v, lo: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{fname}: {name} must be a real number, got {v!r}")
    v = float(v)
    if not v >= lo:  # also rejects NaN
        raise ValueError(f"{fname}: {name} must be >= {lo}, got {v!r}")
    return v


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with ``"params"`` and the hyper-parameters),
    ``state`` (per-parameter, keyed by id), ``zero_grad()``, ``step()``."""

    def __init__(self, params, defaults: dict):
        fname = type(self).__name__
        if isinstance(params, Parameter) or isinstance(params, np.ndarray):
            raise TypeError(f"{fname}: params must be an iterable of Parameters or of dicts, got a single array")
        params = list(params)
        if not params:
            raise ValueError(f"{fname}: params is an empty list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        seen = set()
        for g in groups:
            if not isinstance(g, dict) or "params" not in g:
                raise TypeError(f"{fname}: each parameter group must be a dict with a 'params' entry, got {g!r}")
            ps = list(g["params"])
            for p in ps:
                if not isinstance(p, Parameter):
                    raise TypeError(f"{fname}: params must be fmaconv.nn.Parameter arrays, got {type(p).__name__}")
                if id(p) in seen:
                    raise ValueError(f"{fname}: a parameter appears in more than one group")
                seen.add(id(p))
            group = dict(self.defaults)
            group.update({k: v for k, v in g.items() if k != "params"})
            self._check_group(group)
            group["params"] = ps
            self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:
        pass

    def zero_grad(self, set_to_none: bool = True) -> None:
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad[...] = 0

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``torch.optim.SGD`` with PyTorch's exact update (per parameter ``p`` with gradient ``g``)::

        g = g + weight_decay * p
        buf = g (first step)  or  momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov)  or  buf
        p -= lr * g

    Parameters whose ``.grad`` is None are skipped. Each step bumps the parameters' version so
    layers repack their weights.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))
        self._scratch: dict[int, np.ndarray] = {}  # per parameter, for step()

    def _check_group(self, group):
        group["lr"] = _number("SGD", "lr", group["lr"])
        group["momentum"] = _number("SGD", "momentum", group["momentum"])
        group["dampening"] = _number("SGD", "dampening", group["dampening"], lo=-np.inf)
        group["weight_decay"] = _number("SGD", "weight_decay", group["weight_decay"])
        for name in ("nesterov", "maximize"):
            if not isinstance(group[name], (bool, np.bool_)):
                raise TypeError(f"SGD: {name} must be a bool, got {group[name]!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    def step(self) -> None:
        # The same roundings as the textbook form above, computed in place with ufuncs (out=)
        # into per-parameter scratch: no temporaries, and p.grad is never written.
        for group in self.param_groups:
            lr, mom, damp = group["lr"], group["momentum"], group["dampening"]
            wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                data = p.view(np.ndarray)
                dt = data.dtype.type
                tmp = self._scratch.get(id(p))
                if tmp is None or tmp.shape != data.shape or tmp.dtype != data.dtype:
                    tmp = self._scratch[id(p)] = np.empty_like(data)
                if maximize:
                    g = np.negative(g, out=tmp)
                if wd != 0:
                    if g is tmp:  # -g + wd * p: the product in a second buffer
                        g = np.add(g, np.multiply(data, dt(wd)), out=tmp)
                    else:
                        np.multiply(data, dt(wd), out=tmp)
                        g = np.add(g, tmp, out=tmp)
                if mom != 0:
                    st = self.state.setdefault(id(p), {})
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = st["momentum_buffer"] = np.array(g, dtype=data.dtype, copy=True)
                    else:
                        np.multiply(buf, dt(mom), out=buf)
                        if damp != 0:
                            g = np.multiply(g, dt(1 - damp), out=tmp)
                        np.add(buf, g, out=buf)
                    if nesterov:
                        g = np.add(g, np.multiply(buf, dt(mom)), out=tmp)
                    else:
                        g = buf
                np.subtract(data, np.multiply(g, dt(lr), out=tmp), out=data)
                p.bump()

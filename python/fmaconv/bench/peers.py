"""The implementations being compared, each behind the same interface.

``make_runner(impl, case, arrays, threads)`` returns a zero-argument callable
that computes ``case`` on ``arrays`` (the same NumPy arrays for every
implementation), or raises :class:`Unavailable` if the implementation is
missing or cannot express the case.  ``to_numpy(result)`` normalises any
runner's return value to a tuple of NumPy arrays.

Optional dependencies (fmaconv's compiled core, torch, onnxruntime/onnx) are
imported lazily; nothing here fails when they are absent.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import time

import numpy as np

from . import baseline
from .cases import ADAPTIVE_AVG_POOL, AVG_POOL, CONV, MAX_POOL, MODEL, Case

FMACONV, TORCH, ORT, NUMPY, COPY = "fmaconv", "torch", "onnxruntime", "numpy", "copy"
#: fmaconv.PackedConv (weights packed once, as an ORT session does): convolution cases only
FMACONV_PACKED = "fmaconv_packed"
#: every implementation, in timing order
IMPLS = (FMACONV, FMACONV_PACKED, TORCH, ORT, NUMPY, COPY)


class Unavailable(Exception):
    """The implementation is not installed or cannot express this case."""


def _try_import(name):
    try:
        return importlib.import_module(name)
    except Exception:                                    # ImportError, broken builds
        return None


def fmaconv_module():
    """The fmaconv package if its compiled core is usable, else None."""
    mod = _try_import("fmaconv")
    return mod if mod is not None and hasattr(mod, "set_num_threads") else None


def torch_module():
    return _try_import("torch")


def ort_modules():
    """(onnxruntime, onnx) or None."""
    ort, onnx = _try_import("onnxruntime"), _try_import("onnx")
    return (ort, onnx) if ort is not None and onnx is not None else None


# ---- threads ------------------------------------------------------------
_blas_limits = None  # keeps threadpoolctl's limit in force


def set_threads(threads: int) -> None:
    """Set the thread count of fmaconv, torch and NumPy's BLAS (through threadpoolctl, when
    installed); ORT takes it per session."""
    global _blas_limits
    try:  # first: it also reaches torch's own BLAS, which torch.set_num_threads then sets again
        from threadpoolctl import threadpool_limits
        if _blas_limits is not None:
            _blas_limits.restore_original_limits()
        _blas_limits = threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        pass
    fc, torch = fmaconv_module(), torch_module()
    if fc is not None:
        fc.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def blas_threads() -> int | None:
    """NumPy's BLAS thread count, if threadpoolctl can tell."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts) if counts else None


def get_threads() -> dict:
    """Thread counts fmaconv and torch report (None when missing)."""
    fc, torch = fmaconv_module(), torch_module()
    get = getattr(fc, "get_num_threads", None)
    return {FMACONV: get() if get else None,
            TORCH: torch.get_num_threads() if torch is not None else None}


# ---- fmaconv / torch: same function names and keyword arguments ---------
def _functional_args(case: Case, arrays: dict, convert):
    args = [convert(arrays["input"])]
    if case.op == CONV:
        args.append(convert(arrays["weight"]))
        b = arrays["bias"]
        args.append(None if b is None else convert(b))
    return args, case.kwargs()


def _fmaconv_runner(case, arrays, threads):
    fc = fmaconv_module()
    if fc is None:
        raise Unavailable("fmaconv core not importable")
    if case.op == MODEL:
        return _fmaconv_model_runner(case, arrays)
    fn = getattr(fc, case.func_name, None)
    if fn is None:
        raise Unavailable(f"fmaconv.{case.func_name} missing")
    args, kw = _functional_args(case, arrays, lambda a: a)
    return lambda: fn(*args, **kw)


def _fmaconv_packed_runner(case, arrays, threads):
    fc = fmaconv_module()
    if fc is None:
        raise Unavailable("fmaconv core not importable")
    if case.op != CONV:
        raise Unavailable("convolution cases only")
    conv = fc.PackedConv(arrays["weight"], arrays["bias"], **case.kwargs())
    x = arrays["input"]
    return lambda: conv(x)


def _torch_runner(case, arrays, threads):
    torch = torch_module()
    if torch is None:
        raise Unavailable("torch not installed")
    if case.op == MODEL:
        return _torch_model_runner(torch, case, arrays)
    fn = getattr(torch.nn.functional, case.func_name)
    args, kw = _functional_args(case, arrays, torch.from_numpy)   # shares memory

    def run():
        with torch.inference_mode():
            return fn(*args, **kw)
    return run


# ---- whole networks (ModelCase): fmaconv.nn vs torch.nn, same weights ---
_SGD = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def _fmaconv_model_runner(case, arrays):
    from fmaconv import models, nn, optim
    x, t = arrays["input"], arrays["target"]
    net = models.LeNet5(case.in_channels, case.num_classes, dtype=x.dtype)
    net.load_state_dict(arrays["state"])
    if case.mode == "infer":
        net.eval()
        return lambda: net(x)
    crit = nn.CrossEntropyLoss()
    opt = optim.SGD(net.parameters(), **_SGD)

    def step():
        loss = crit(net(x), t)
        net.zero_grad()
        net.backward(crit.backward())          # no gradient for the images, as in torch
        opt.step()
        return np.asarray(loss)
    return step


def torch_lenet5(torch, in_channels=3, num_classes=10):
    """LeNet-5 in torch.nn with fmaconv.models.LeNet5's structure and state_dict keys."""
    tnn = torch.nn

    class LeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            # the same layer order as fmaconv's LeNet5 (ReLU after pooling, on fewer elements)
            self.features = tnn.Sequential(tnn.Conv2d(in_channels, 6, 5), tnn.MaxPool2d(2), tnn.ReLU(inplace=True),
                                           tnn.Conv2d(6, 16, 5), tnn.MaxPool2d(2), tnn.ReLU(inplace=True))
            self.flatten = tnn.Flatten()
            self.classifier = tnn.Sequential(tnn.Linear(400, 120), tnn.ReLU(inplace=True), tnn.Linear(120, 84),
                                             tnn.ReLU(inplace=True), tnn.Linear(84, num_classes))

        def forward(self, x):
            return self.classifier(self.flatten(self.features(x)))

    return LeNet5()


def _torch_model_runner(torch, case, arrays):
    x = torch.from_numpy(arrays["input"])
    t = torch.from_numpy(arrays["target"])
    net = torch_lenet5(torch, case.in_channels, case.num_classes).to(x.dtype)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in arrays["state"].items()})
    if case.mode == "infer":
        net.eval()

        def infer():
            with torch.inference_mode():
                return net(x)
        return infer
    opt = torch.optim.SGD(net.parameters(), **_SGD)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), t)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


# ---- ONNX Runtime -------------------------------------------------------
def onnx_model(case: Case, arrays: dict):
    """One-node ONNX model for ``case``, or raise Unavailable.

    Weights and bias are initializers (ORT's normal deployment form).  For
    MaxPool with indices, ORT's indices are flat over the whole tensor rather
    than per plane as in torch: only its time is meaningful.
    """
    if case.op == MODEL:
        raise Unavailable("whole-network cases run in fmaconv and torch only")
    mods = ort_modules()
    if mods is None:
        raise Unavailable("onnxruntime/onnx not installed")
    onnx = mods[1]
    from onnx import TensorProto, helper, numpy_helper

    x = arrays["input"]
    elem = {np.dtype(np.float32): TensorProto.FLOAT,
            np.dtype(np.float64): TensorProto.DOUBLE}[x.dtype]
    pads = list(case.padding) * 2                        # begins then ends
    inputs, inits, outputs = ["X"], [], [("Y", elem)]
    if case.op == CONV:
        inits.append(numpy_helper.from_array(arrays["weight"], "W"))
        inputs.append("W")
        if arrays["bias"] is not None:
            inits.append(numpy_helper.from_array(arrays["bias"], "B"))
            inputs.append("B")
        node = helper.make_node("Conv", inputs, ["Y"], kernel_shape=list(case.kernel),
                                pads=pads, strides=list(case.stride),
                                dilations=list(case.dilation), group=case.groups)
    elif case.op == MAX_POOL:
        if case.return_indices:
            outputs.append(("I", TensorProto.INT64))
        node = helper.make_node("MaxPool", inputs, [o for o, _ in outputs],
                                kernel_shape=list(case.kernel), pads=pads,
                                strides=list(case.stride), dilations=list(case.dilation),
                                ceil_mode=0)
    elif case.op == AVG_POOL:
        node = helper.make_node("AveragePool", inputs, ["Y"],
                                kernel_shape=list(case.kernel), pads=pads,
                                strides=list(case.stride), count_include_pad=1, ceil_mode=0)
    elif case.op == ADAPTIVE_AVG_POOL and all(o == 1 for o in case.output_size):
        node = helper.make_node("GlobalAveragePool", inputs, ["Y"])
    else:
        raise Unavailable(f"ONNX cannot express {case.func_name}({case.summary()})")
    graph = helper.make_graph(
        [node], case.name, [helper.make_tensor_value_info("X", elem, list(x.shape))],
        [helper.make_tensor_value_info(o, t, list(case.output_shape)) for o, t in outputs], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="fmaconv.bench")
    model.ir_version = 8                                 # opset 17 <-> IR 8
    onnx.checker.check_model(model)
    return model


def _ort_runner(case, arrays, threads):
    model = onnx_model(case, arrays)
    ort = ort_modules()[0]
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:                               # e.g. no double kernel
        raise Unavailable(f"onnxruntime: {str(e).splitlines()[0][:120]}") from None
    feed = {"X": arrays["input"]}
    return lambda: sess.run(None, feed)


# ---- NumPy baseline and copy reference ----------------------------------
def _numpy_runner(case, arrays, threads):
    if case.op == MODEL:
        raise Unavailable("whole-network cases run in fmaconv and torch only")
    return baseline.make_runner(case, arrays)


def _copy_runner(case, arrays, threads):
    """np.copyto of the input into a preallocated array (pooling's yardstick)."""
    x = arrays["input"]
    dst = np.empty_like(x)
    return lambda: np.copyto(dst, x)


_FACTORIES = {FMACONV: _fmaconv_runner, FMACONV_PACKED: _fmaconv_packed_runner, TORCH: _torch_runner, ORT: _ort_runner,
              NUMPY: _numpy_runner, COPY: _copy_runner}


def make_runner(impl: str, case: Case, arrays: dict, threads: int):
    """Zero-argument callable computing ``case`` with ``impl``; raises Unavailable."""
    return _FACTORIES[impl](case, arrays, threads)


def to_numpy(result) -> tuple:
    """Normalise a runner's result (array, tensor, tuple/list of them) to a tuple of arrays."""
    if result is None:
        return ()
    if not isinstance(result, (tuple, list)):
        result = (result,)
    out = []
    for r in result:
        if hasattr(r, "detach"):                         # torch tensor
            r = r.detach().cpu().numpy()
        out.append(np.asarray(r))
    return tuple(out)


def compare(result, reference, *, rtol=1e-3, atol=1e-4, check_indices=True) -> str | None:
    """None if ``result`` matches ``reference`` (both from to_numpy), else a reason."""
    if len(result) != len(reference):
        return f"{len(result)} outputs, expected {len(reference)}"
    for i, (a, b) in enumerate(zip(result, reference)):
        if a.shape != b.shape:
            return f"output {i}: shape {a.shape}, expected {b.shape}"
        if i == 0:
            if not np.allclose(a, b, rtol=rtol, atol=atol):
                err = np.max(np.abs(a.astype(np.float64) - b))
                return f"values differ (max abs err {err:.3g})"
        elif check_indices and not np.array_equal(a, b):
            return f"indices differ at {int(np.count_nonzero(a != b))} positions"
    return None


# ---- versions / configuration --------------------------------------------
def fmaconv_config() -> dict | None:
    """fmaconv.show_config() dict (its printout swallowed), or None."""
    fc = fmaconv_module()
    if fc is None:
        return None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            cfg = fc.show_config()
        return dict(cfg) if cfg else {"version": getattr(fc, "__version__", "?")}
    except Exception as e:
        return {"version": getattr(fc, "__version__", "?"), "error": str(e)}


def peak_gflops(dtype: str, threads: int, tries: int = 3) -> float | None:
    """Measured FMA peak of this machine at ``threads`` threads (best of
    ``tries`` probes, as a busy machine only ever lowers it), or None."""
    fc = fmaconv_module()
    core = getattr(fc, "_core", None) if fc is not None else None
    fn = getattr(core, "peak_gflops", None)
    if fn is None:
        return None
    best = None
    try:
        for _ in range(tries):
            # other libraries' pools may still spin on the second core after the last table
            time.sleep(0.25)
            value = float(fn(dtype=str(dtype), threads=threads))
            best = value if best is None else max(best, value)
    except Exception:
        return best
    return best


def versions() -> dict:
    """Installed versions of every peer (None when missing)."""
    cfg = fmaconv_config()
    torch, om = torch_module(), ort_modules()
    return {
        FMACONV: cfg.get("version") if cfg else None,
        TORCH: getattr(torch, "__version__", None),
        ORT: om[0].__version__ if om else None,
        "onnx": om[1].__version__ if om else None,
        NUMPY: np.__version__,
    }

"""Running cases: build every peer's runner on the same arrays, verify the
outputs once, time them interleaved, and derive the reported metrics."""
from __future__ import annotations

import faulthandler
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import machine, peers
from .cases import MODEL, Case
from .peers import COPY, FMACONV, FMACONV_PACKED, IMPLS, NUMPY, ORT, TORCH
from .timing import Stats, TimingConfig, measure

RTOL, ATOL = 1e-3, 1e-4
#: timed after (not interleaved with) the others, see run_case
LATE = (NUMPY,)
WATCHDOG_S = 300.0


@dataclass
class CaseResult:
    case: Case
    threads: int
    dtype: str
    peak_gflops: float | None
    times: dict[str, Stats] = field(default_factory=dict)      # impl -> Stats
    skipped: dict[str, str] = field(default_factory=dict)      # impl -> reason
    checks: dict[str, str | None] = field(default_factory=dict)  # impl -> None (ok) / reason
    reference: str | None = None                               # impl checked against
    other_cores: float | None = None       # cores other processes used meanwhile

    # ---- derived metrics (None when not applicable/available) ----------
    def time(self, impl: str) -> float | None:
        s = self.times.get(impl)
        return s.median if s else None

    def ratio(self, impl: str, mine: str = FMACONV) -> float | None:
        """peer time / fmaconv time (>1: fmaconv faster); ``mine`` = FMACONV_PACKED: the time of
        fmaconv.PackedConv instead of the functional call."""
        t, f = self.time(impl), self.time(mine)
        return t / f if t and f else None

    @property
    def rate(self) -> float | None:
        """GFLOP/s (conv) or GB/s (pooling) of fmaconv."""
        f = self.time(FMACONV)
        if not f:
            return None
        if self.case.op == MODEL:
            return self.case.batch / f
        work = self.case.flops if self.case.is_conv else \
            self.case.bytes_moved(np.dtype(self.dtype).itemsize)
        return work / f / 1e9

    @property
    def rate_unit(self) -> str:
        if self.case.op == MODEL:
            return "img/s"
        return "GFLOP/s" if self.case.is_conv else "GB/s"

    @property
    def pct_peak(self) -> float | None:
        if not self.case.is_conv or not self.rate or not self.peak_gflops:
            return None
        return 100.0 * self.rate / self.peak_gflops

    @property
    def x_copy(self) -> float | None:
        """fmaconv time / np.copyto time of the input (pooling only)."""
        if self.case.is_conv or self.case.op == MODEL:
            return None
        f, c = self.time(FMACONV), self.time(COPY)
        return f / c if f and c else None

    @property
    def ok(self) -> str:
        """'ok', 'FAIL' or '-' (fmaconv not run or nothing to compare with)."""
        if FMACONV not in self.checks:
            return "-"
        return "ok" if self.checks[FMACONV] is None else "FAIL"

    def to_dict(self) -> dict:
        c = self.case
        return {
            "case": c.name, "op": c.func_name, "shape": c.summary(),
            "input_shape": list(c.input_shape), "output_shape": list(c.output_shape),
            "kwargs": {k: (list(v) if isinstance(v, tuple) else v)
                       for k, v in c.kwargs().items()},
            "threads": self.threads, "dtype": self.dtype,
            "flops": c.flops, "bytes": c.bytes_moved(np.dtype(self.dtype).itemsize),
            "peak_gflops": self.peak_gflops,
            "times": {k: s.to_dict() for k, s in self.times.items()},
            "skipped": dict(self.skipped),
            "rate": self.rate, "rate_unit": self.rate_unit,
            "pct_peak": self.pct_peak, "x_copy": self.x_copy,
            "ratios": {k: self.ratio(k) for k in (TORCH, ORT, NUMPY)},
            "packed_ratios": {k: self.ratio(k, FMACONV_PACKED) for k in (TORCH, ORT)},
            "ok": self.ok, "reference": self.reference, "other_cores": self.other_cores,
            "checks": {k: ("ok" if v is None else v) for k, v in self.checks.items()},
        }


def _describe(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0][:150] if msg else ''}"


def run_case(case: Case, threads: int, dtype: str, cfg: TimingConfig,
             peak: float | None = None) -> CaseResult:
    """Run one case at ``threads`` threads (the caller has set them, see
    ``peers.set_threads``).  Never raises because a peer failed."""
    res = CaseResult(case, threads, str(np.dtype(dtype)), peak)
    arrays = case.make_inputs(dtype)
    runners = {}
    for impl in IMPLS:
        if impl == COPY and (case.is_conv or case.op == MODEL):
            continue
        if impl == FMACONV_PACKED and not case.is_conv:
            continue
        try:
            runners[impl] = peers.make_runner(impl, case, arrays, threads)
        except peers.Unavailable as e:
            res.skipped[impl] = str(e)
        except Exception as e:
            res.skipped[impl] = _describe(e)

    # First call of each: warm-up and the output used for verification.
    outputs = {}
    for impl in list(runners):
        try:
            outputs[impl] = peers.to_numpy(runners[impl]())
        except Exception as e:
            res.skipped[impl] = _describe(e)
            del runners[impl]
    outputs.pop(COPY, None)
    res.reference = TORCH if TORCH in outputs else (NUMPY if NUMPY in outputs else None)
    if res.reference:
        ref = outputs[res.reference]
        for impl, out in outputs.items():
            if impl != res.reference:
                # ORT's MaxPool indices are flat over the whole tensor: values only.
                res.checks[impl] = peers.compare(out, ref, rtol=RTOL, atol=ATOL,
                                                 check_indices=impl != ORT)
    del outputs

    # NumPy's OpenBLAS threads spin ~0.15 s after each call and would slow the
    # others' workers: time it on its own, then let its pool go idle.
    late = {k: runners.pop(k) for k in LATE if k in runners}
    res.times = measure(runners, cfg)
    if late:
        res.times.update(measure(late, cfg))
        time.sleep(cfg.cooldown)
    return res


@dataclass
class Table:
    """All cases at one thread count."""
    threads: int
    dtype: str
    peak_gflops: float | None
    results: list[CaseResult]
    loadavg: tuple | None = None           # machine load before the run
    reported_threads: dict = field(default_factory=dict)   # impl -> get_num_threads()

    def to_dict(self) -> dict:
        return {"threads": self.threads, "dtype": self.dtype,
                "peak_gflops": self.peak_gflops, "loadavg": self.loadavg,
                "reported_threads": self.reported_threads,
                "results": [r.to_dict() for r in self.results]}


def run_suite(cases, threads: int, dtype: str, cfg: TimingConfig,
              progress=sys.stderr, watchdog: float | None = WATCHDOG_S) -> Table:
    """Run ``cases`` at ``threads`` threads.  If the peak probe or a single case
    takes longer than ``watchdog`` seconds (a hung thread pool, say), dump every
    thread's Python traceback to stderr and exit instead of hanging forever."""
    if progress is not None and not progress.isatty():
        progress = None
    loadavg = machine.load_average()

    def arm():
        if watchdog:
            faulthandler.dump_traceback_later(watchdog, exit=True)

    try:
        arm()
        peers.set_threads(threads)
        reported = {**peers.get_threads(), "numpy_blas": peers.blas_threads()}
        peak = peers.peak_gflops(str(np.dtype(dtype)), threads)
        results = []
        for i, case in enumerate(cases, 1):
            if progress:
                print(f"\r[{threads} thr] {i}/{len(cases)} {case.name:<28}", end="",
                      file=progress, flush=True)
            arm()
            with machine.CpuMeter() as meter:
                res = run_case(case, threads, dtype, cfg, peak)
            res.other_cores = meter.other_cores
            results.append(res)
    finally:
        if watchdog:
            faulthandler.cancel_dump_traceback_later()
    if progress:
        print("\r" + " " * 60 + "\r", end="", file=progress, flush=True)
    return Table(threads, str(np.dtype(dtype)), peak, results, loadavg, reported)

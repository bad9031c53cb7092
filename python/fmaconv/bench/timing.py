"""Interleaved wall-clock timing.

All implementations of one case are timed in rounds, rotating the order, so
slow drifts of a shared, noisy machine hit all of them alike.  In each round
an implementation runs a short burst of back-to-back calls (about
``burst_time`` seconds, at least one call): thread pools that keep spinning
for a while after a call (OpenMP, ORT) then only disturb the first call of
the next implementation's burst instead of every call.  An implementation
leaves the rotation once it has at least ``repeat`` samples and ``min_time``
seconds of accumulated run time (or ``max_runs`` samples); the reported
figure is the median of its per-call times.
"""
from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Mapping


@dataclass(frozen=True)
class Stats:
    median: float              # seconds
    min: float
    mean: float
    stdev: float
    runs: int

    @classmethod
    def of(cls, samples) -> "Stats":
        return cls(statistics.median(samples), min(samples), statistics.fmean(samples),
                   statistics.stdev(samples) if len(samples) > 1 else 0.0, len(samples))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TimingConfig:
    repeat: int = 5            # minimum timed runs per implementation
    min_time: float = 0.3      # minimum accumulated seconds per implementation
    warmup: int = 1            # untimed calls per implementation before timing
    max_runs: int = 20000
    burst_time: float = 0.02   # seconds of back-to-back calls per round


QUICK = TimingConfig(repeat=3, min_time=0.02, warmup=0, max_runs=1000, burst_time=0.005)


def measure(fns: Mapping[str, Callable[[], object]], cfg: TimingConfig) -> dict[str, Stats]:
    """Time every callable in ``fns``, interleaved; returns name -> Stats."""
    names = list(fns)
    clock = time.perf_counter
    estimate = dict.fromkeys(names, 0.0)     # seconds per call, 0 = unknown
    for _ in range(cfg.warmup):
        for name in names:
            t0 = clock()
            fns[name]()
            estimate[name] = clock() - t0
    samples = {n: [] for n in names}
    spent = dict.fromkeys(names, 0.0)
    active, rnd = names, 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while active:
            k = rnd % len(active)
            for name in active[k:] + active[:k]:
                fn, out = fns[name], samples[name]
                est = estimate[name]
                burst = 1 if est <= 0 else max(1, min(int(cfg.burst_time / est), 100))
                for _ in range(burst):
                    t0 = clock()
                    fn()
                    dt = clock() - t0
                    out.append(dt)
                    spent[name] += dt
                estimate[name] = statistics.median(out[-burst:])
            rnd += 1
            active = [n for n in active
                      if len(samples[n]) < cfg.repeat
                      or (spent[n] < cfg.min_time and len(samples[n]) < cfg.max_runs)]
    finally:
        if gc_was_enabled:
            gc.enable()
    return {n: Stats.of(s) for n, s in samples.items()}

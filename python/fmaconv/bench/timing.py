"""Interleaved wall-clock timing.

All implementations of one case are timed in rounds, rotating the order, so
slow drifts of a shared, noisy machine hit all of them alike.  In each round
an implementation runs a burst of back-to-back calls (about ``burst_time``
seconds, at least one call).

Thread pools keep spinning for a while after a call before they sleep (ORT's
for ~50 ms, OpenBLAS's for ~150 ms, OpenMP's for a few ms), and a spinning
thread of one library steals a core from the next library's workers in the
same process.  So before each burst the timer sleeps ``settle`` seconds, long
enough for the previous burst's pools to go idle; implementations whose pools
spin longer than that are better timed in a separate ``measure`` call
followed by a ``cooldown`` (see run.py).

An implementation leaves the rotation once it has at least ``repeat`` samples
and ``min_time`` seconds of accumulated run time (or ``max_runs`` samples);
the reported figure is the median of its per-call times.
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
    burst_time: float = 0.05   # seconds of back-to-back calls per round
    settle: float = 0.06       # idle seconds before each burst (other pools stop spinning)
    cooldown: float = 0.2      # idle seconds after timing a long-spinning implementation


# Quick keeps the full settle time: with less, other libraries' spinning pools still hold the
# second core and 2-thread timings come out several times too slow.
QUICK = TimingConfig(repeat=3, min_time=0.02, warmup=0, max_runs=1000, burst_time=0.01,
                     settle=0.06, cooldown=0.2)


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
    active, rnd, last = names, 0, None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while active:
            k = rnd % len(active)
            for name in active[k:] + active[:k]:
                fn, out = fns[name], samples[name]
                est = estimate[name]
                burst = 1 if est <= 0 else max(1, min(int(cfg.burst_time / est), 1000))
                if cfg.settle > 0 and last not in (None, name):
                    time.sleep(cfg.settle)
                last = name
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

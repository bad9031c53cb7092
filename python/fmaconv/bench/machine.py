"""Description of the machine and software the benchmark ran on."""
from __future__ import annotations

import os
import platform
import time

from . import peers


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> tuple[float, float, float] | None:
    """1/5/15-minute load averages (other work on a shared machine skews timings)."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except (AttributeError, OSError):
        return None


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all CPUs spent busy since boot (incl. steal), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Measures how many cores *other* processes (and the hypervisor, as steal
    time) kept busy while the block ran: machine-wide busy CPU time minus this
    process's own CPU time, per wall-clock second.  ``other_cores`` is None
    where /proc/stat is unavailable or the block was too short to tell."""

    def __enter__(self):
        self._busy, self._own, self._wall = _busy_cpu_seconds(), _own(), time.perf_counter()
        self.other_cores = None
        return self

    def __exit__(self, *exc):
        busy, wall = _busy_cpu_seconds(), time.perf_counter() - self._wall
        if busy is not None and self._busy is not None and wall >= 0.2:
            other = (busy - self._busy) - (_own() - self._own)
            self.other_cores = max(0.0, other / wall)
        return False


def _own() -> float:
    t = os.times()
    return t.user + t.system


def info() -> dict:
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "logical_cpus": os.cpu_count(),
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "loadavg": load_average(),
        "versions": peers.versions(),
        "fmaconv_config": peers.fmaconv_config(),
    }

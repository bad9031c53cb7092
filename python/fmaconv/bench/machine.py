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


def other_runnable(duration: float = 0.2, samples: int = 20) -> float | None:
    """Average number of runnable tasks besides this process over ``duration``
    seconds (from /proc/loadavg): a direct gauge of CPU contention."""
    vals = []
    try:
        for _ in range(samples):
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            vals.append(max(0, running - 1))
            time.sleep(duration / samples)
    except (OSError, ValueError, IndexError):
        return None
    return sum(vals) / len(vals)


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

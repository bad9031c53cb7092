"""Description of the machine and software the benchmark ran on."""
from __future__ import annotations

import os
import platform

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

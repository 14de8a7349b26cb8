"""What machine a measurement ran on: its CPU model and cores.

Times mean little without the machine they were taken on (the same CPU model has
trained the same network at three times another day's speed), so every published
time names the CPU beside the run's own training speed. One owner for reading it.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what Python's platform module knows, else "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe() -> str:
    """One line, e.g. "Intel(R) Xeon(R) Processor, 2 cores"."""
    cores = usable_cores()
    return f"{cpu_model()}, {cores} core{'s' * (cores != 1)}"

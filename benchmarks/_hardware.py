"""One description of the machine a benchmark ran on, shared by the benchmark scripts.

Scripts run as ``python benchmarks/NAME.py`` find this module on their own folder's path.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

__all__ = ["cpu_name", "hardware", "load_average"]


def cpu_name() -> str:
    """Return the CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` where that is unreadable).

    Returns
    -------
    str
        E.g. ``"AMD EPYC 7B13"``; ``"unknown CPU"`` when neither source names it.
    """
    name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name


def hardware() -> str:
    """Return the CPU, its logical cores and the Python and numpy versions, as one line.

    Returns
    -------
    str
        E.g. ``"AMD EPYC 7B13, 2 logical cores, Python 3.11.7, numpy 2.1.0"``.
    """
    return f"{cpu_name()}, {os.cpu_count()} logical cores, Python {platform.python_version()}, numpy {np.__version__}"


def load_average() -> str:
    """Return the 1-, 5- and 15-minute load averages (``"unknown"`` where the OS has none).

    Returns
    -------
    str
        E.g. ``"1.52 / 1.10 / 0.90"``.
    """
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"

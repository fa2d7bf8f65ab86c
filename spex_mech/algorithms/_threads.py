"""Thread limits for the algorithms' BLAS / OpenMP work, without rescanning the process each time."""

from __future__ import annotations

import sys
from typing import Any

from threadpoolctl import ThreadpoolController

_controllers: dict[int, ThreadpoolController] = {}


def thread_limit(n_jobs: int) -> Any:
    """Return a context manager like ``threadpoolctl.threadpool_limits(n_jobs)``.

    ``threadpool_limits`` scans the process's loaded libraries on every call (a cost measured in
    benchmarks/results/measured_notes.md; ProxySPEX enters it dozens of times per run). The scan is kept and
    redone only after new modules were imported, since an import may load another BLAS or OpenMP runtime.

    Parameters
    ----------
    n_jobs : int
        Threads each BLAS / OpenMP library may use inside the block.

    Returns
    -------
    contextlib.AbstractContextManager
        The limit; it is lifted on exit.
    """
    key = len(sys.modules)
    controller = _controllers.get(key)
    if controller is None:
        _controllers.clear()
        controller = _controllers[key] = ThreadpoolController()
    return controller.limit(limits=n_jobs)

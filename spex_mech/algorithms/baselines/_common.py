"""Helpers shared by the baseline algorithms: argument checks and block-wise evaluation.

Baselines may need far more masks than fit in memory at once (all n² pairs at n = 1000, or long
permutation chains), so masks are built and evaluated block by block; each block is one call through
:class:`~spex_mech.ValueFunction`, which validates, counts and (with ``max_batch``) slices further.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from ...valuefn import ValueFunction

__all__ = ["check_positive_int", "rows_per_block", "evaluate_blocks", "MAX_BLOCK_CELLS"]

# One block of masks holds at most this many mask cells (bool bytes): 32 MiB.
MAX_BLOCK_CELLS = 1 << 25


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``; a ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {int(value)}")
    return int(value)


def rows_per_block(n: int, max_cells: int = MAX_BLOCK_CELLS) -> int:
    """How many mask rows of width ``n`` fit in one block."""
    return max(1, max_cells // max(1, n))


def evaluate_blocks(vf: ValueFunction, total: int, make_block: Callable[[int, int], np.ndarray], n_rows_hint: int) -> np.ndarray:
    """Evaluate ``total`` masks built by ``make_block(start, stop)`` in blocks of ``n_rows_hint`` rows."""
    out = np.empty(total, dtype=np.float64)
    for start, stop in _spans(total, n_rows_hint):
        out[start:stop] = vf(make_block(start, stop))
    return out


def _spans(total: int, step: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, max(1, step)):
        yield start, min(total, start + step)

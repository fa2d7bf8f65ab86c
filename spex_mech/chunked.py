"""Evaluate a value function on many masks in blocks that bound the mask memory.

Algorithms may need far more masks than fit in memory at once (all n² pairs at n = 1000, long
permutation chains, large designs), so masks are built and evaluated block by block: at most
:data:`MAX_BLOCK_CELLS` mask cells (bool bytes, 32 MiB) per block. Each block is one call of the value
function (a :class:`~spex_mech.ValueFunction` validates, counts and, with ``max_batch``, slices further).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["MAX_BLOCK_CELLS", "block_spans", "evaluate_blocks", "rows_per_block"]

#: mask cells (bool bytes) per block: 32 MiB.
MAX_BLOCK_CELLS = 1 << 25


def rows_per_block(n: int, max_cells: int = MAX_BLOCK_CELLS) -> int:
    """Return how many mask rows of width ``n`` fit in one block (at least 1).

    Parameters
    ----------
    n : int
        Mask width (units).
    max_cells : int
        Mask cells per block.

    Returns
    -------
    int
        ``max(1, max_cells // n)``.
    """
    return max(1, max_cells // max(1, n))


def block_spans(total: int, step: int) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` of consecutive blocks of ``step`` rows covering ``range(total)``.

    Parameters
    ----------
    total : int
        Number of rows.
    step : int
        Rows per block (values below 1 count as 1).

    Yields
    ------
    tuple of int
        ``(start, stop)``.
    """
    step = max(1, step)
    for start in range(0, total, step):
        yield start, min(total, start + step)


def evaluate_blocks(
    f: Callable[[Any], Any], total: int, make_block: Callable[[int, int], Any], rows: int
) -> np.ndarray:
    """Return ``f`` on ``total`` masks built block by block by ``make_block(start, stop)``, float64 [total].

    Parameters
    ----------
    f : callable
        The value function (a :class:`~spex_mech.ValueFunction`, so values come back as float64 [b]).
    total : int
        Number of masks.
    make_block : callable
        ``make_block(start, stop)``: masks ``start .. stop - 1`` (bool ``[stop - start, n]`` or packed).
    rows : int
        Masks per block (:func:`rows_per_block`).

    Returns
    -------
    numpy.ndarray
        Float64 ``[total]``.
    """
    out = np.empty(total, dtype=np.float64)
    for start, stop in block_spans(total, rows):
        out[start:stop] = f(make_block(start, stop))
    return out

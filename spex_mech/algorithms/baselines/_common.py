"""Helpers shared by the baseline algorithms: argument checks and block-wise evaluation.

Baselines may need far more masks than fit in memory at once (all n² pairs at n = 1000, or long
permutation chains), so masks are built and evaluated block by block (:mod:`spex_mech.chunked`).
"""

from __future__ import annotations

from typing import Any

from ...chunked import MAX_BLOCK_CELLS, evaluate_blocks, rows_per_block
from ...validation import check_int

__all__ = ["MAX_BLOCK_CELLS", "check_positive_int", "evaluate_blocks", "rows_per_block"]


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int ≥ ``minimum`` (:func:`spex_mech.validation.check_int`).

    Parameters
    ----------
    value : Any
        The value to check.
    name : str
        The argument's name, for the message.
    minimum : int
        The smallest allowed value.

    Returns
    -------
    int
        ``int(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not an integer ≥ ``minimum``, naming ``name``.
    """
    return check_int(name, value, low=minimum)

"""Exact enumeration: all 2^n masks, then fast Walsh–Hadamard and Möbius transforms (n ≤ 20)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..results.interactions import Interactions
from ..transforms import all_masks, fourier_transform
from ..valuefn import ValueFunction

__all__ = ["exhaustive", "MAX_EXHAUSTIVE_UNITS"]

MAX_EXHAUSTIVE_UNITS = 20


def exhaustive(f: Callable[[np.ndarray], Any], n: Optional[int] = None, *, batch_size: Optional[int] = None) -> Interactions:
    """Evaluate ``f`` on every mask and return its exact spectrum.

    The result keeps the full 2^n Fourier table, so Möbius dividends and every interaction index are
    exact. ``batch_size`` caps how many masks go to ``f`` per call (all at once by default; an
    :class:`~spex_mech.AblationGame` chunks further by memory on its own).
    """
    vf = ValueFunction(f, n, max_batch=batch_size)
    if vf.n > MAX_EXHAUSTIVE_UNITS:
        raise ValueError(
            f"exhaustive enumeration needs 2^{vf.n} evaluations; it is limited to n ≤ {MAX_EXHAUSTIVE_UNITS} "
            f"units (use spex or proxyspex for n={vf.n})"
        )
    masks = all_masks(vf.n)
    values = vf(masks)
    table = fourier_transform(values)
    result = Interactions.from_dense_fourier(
        table,
        **vf.provenance(),
        algorithm="exhaustive",
        params={},
    )
    result.values_table = values
    return result

"""Exact enumeration: all 2^n masks, then fast Walsh–Hadamard and Möbius transforms (n ≤ 20)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ..results.interactions import Interactions
from ..transforms import all_masks, fourier_transform
from ..valuefn import ValueFunction

__all__ = ["exhaustive", "MAX_EXHAUSTIVE_UNITS"]

MAX_EXHAUSTIVE_UNITS = 20


def exhaustive(
    f: Callable[[np.ndarray], Any], n: Optional[int] = None, *, batch_size: Optional[int] = None
) -> Interactions:
    """Evaluate ``f`` on every mask and return its exact spectrum.

    The result keeps the full 2^n Fourier table, so Möbius dividends and every interaction index are
    exact.

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    batch_size : int, optional
        Most masks passed to ``f`` per call (all at once by default; an :class:`~spex_mech.AblationGame`
        chunks further by memory on its own).

    Returns
    -------
    Interactions
        The exact spectrum, with the dense Fourier table; ``values_table`` holds f at every mask (row i has
        bit j of i in column j).

    Raises
    ------
    ValueError
        If n exceeds ``MAX_EXHAUSTIVE_UNITS``.

    Examples
    --------
    >>> result = exhaustive(lambda m: 1.0 * m[:, 0] * m[:, 1], 3)
    >>> result.mobius()[(0, 1)]
    1.0
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

"""Checks shared by the mask stores before a batch is recorded."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["checked_batch"]


def checked_batch(masks: Any, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return a batch to record as bool masks and float64 values, checking shapes and finiteness.

    Parameters
    ----------
    masks : array_like
        Bool (or 0/1) ``[B, n]``.
    values : array_like
        ``[B]``, finite.
    n : int
        Number of units of the store.

    Returns
    -------
    tuple of numpy.ndarray
        ``masks`` (bool ``[B, n]``) and ``values`` (float64 ``[B]``).

    Raises
    ------
    ValueError
        If the shapes disagree or a value is not finite.
    """
    masks = np.asarray(masks, dtype=bool)
    values = np.asarray(values, dtype=np.float64)
    if masks.ndim != 2 or masks.shape[1] != n or values.shape != (masks.shape[0],):
        raise ValueError("append needs masks [B, n] and values [B]")
    if not np.isfinite(values).all():
        raise ValueError("append: values must be finite")
    return masks, values

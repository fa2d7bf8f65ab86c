"""Small pieces the result type is built from: one ranked term, the R² score, subset codes as key rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Term", "r2_score", "codes_to_keys"]


@dataclass(frozen=True)
class Term:
    """One interaction: its unit indices, their labels, the value in the chosen basis, its order.

    Attributes
    ----------
    units : tuple of int
        Sorted unit indices of the interaction (empty for the constant term).
    labels : tuple of str
        The units' labels, in the same order.
    value : float
        The term's value in the basis it was ranked in (Möbius, Fourier or an index).
    order : int
        Number of units, ``len(units)``.
    """

    units: tuple[int, ...]
    labels: tuple[str, ...]
    value: float
    order: int

    def __str__(self) -> str:
        name = " × ".join(self.labels) if self.labels else "∅"
        return f"{name}: {self.value:+.4g}"


def r2_score(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Compute R² = 1 − ‖f − f̂‖² / ‖f − mean f‖².

    Parameters
    ----------
    truth : numpy.ndarray
        The true values f, shape [B].
    predicted : numpy.ndarray
        The predictions f̂, shape [B].

    Returns
    -------
    float
        The score; for a constant ``truth`` it is 1.0 when predicted exactly and ``-inf`` otherwise.

    Examples
    --------
    >>> r2_score(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    1.0
    """
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    resid = float(np.sum((truth - predicted) ** 2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return 1.0 if resid == 0.0 else float("-inf")
    return 1.0 - resid / total


def codes_to_keys(codes: np.ndarray, n: int) -> np.ndarray:
    """Turn integer subset codes (bit j = unit j) into padded key rows.

    Parameters
    ----------
    codes : numpy.ndarray
        Subset codes, shape [K].
    n : int
        Number of units (bits read from each code).

    Returns
    -------
    numpy.ndarray
        Array [K, D] (int64) of sorted unit indices, padded with −1 (D ≥ 1).
    """
    codes = np.asarray(codes, dtype=np.int64)
    bits = ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    width = max(1, int(bits.sum(axis=1).max(initial=0)))
    keys = np.full((codes.shape[0], width), -1, dtype=np.int64)
    rows, cols = np.nonzero(bits)
    # position of each set bit within its row
    pos = np.cumsum(bits, axis=1)[rows, cols] - 1
    keys[rows, pos] = cols
    return keys

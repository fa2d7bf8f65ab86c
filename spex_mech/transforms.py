"""Exact O(n·2^n) transforms over {0,1}^n, the ground truth every algorithm is tested against.

Index convention: a mask x ∈ {0,1}^n is the integer Σ_j x_j·2^j, so entry i of a length-2^n table
is the value at the mask whose bit j says whether unit j is kept (1) or ablated (0).

Fourier (Walsh–Hadamard):  f(x) = Σ_k F(k)(−1)^⟨x,k⟩,   F(k) = 2^−n Σ_x f(x)(−1)^⟨x,k⟩.
Möbius (Harsanyi):         f(x) = Σ_{S ⊆ x} a(S).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "all_masks",
    "fourier_transform",
    "inverse_fourier_transform",
    "mobius_transform",
    "inverse_mobius_transform",
    "fourier_to_mobius_dense",
    "mobius_to_fourier_dense",
    "popcount",
    "superset_sum",
]


def _check_table(values: np.ndarray) -> tuple[np.ndarray, int]:
    values = np.array(values, dtype=np.float64, copy=True)
    size = values.shape[0]
    n = int(size).bit_length() - 1
    if values.ndim != 1 or size != 1 << n:
        raise ValueError(f"expected a 1-d table of length 2^n, got shape {values.shape}")
    return values, n


def all_masks(n: int) -> np.ndarray:
    """List all 2^n masks; row i has bit j of i in column j.

    Parameters
    ----------
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Array [2^n, n] (bool).
    """
    idx = np.arange(1 << n, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n, dtype=np.int64)[None, :]) & 1).astype(bool)


def popcount(idx: np.ndarray) -> np.ndarray:
    """Count the set bits of each integer.

    Parameters
    ----------
    idx : numpy.ndarray
        Non-negative integers.

    Returns
    -------
    numpy.ndarray
        Bit counts (int64), same shape.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(idx).astype(np.int64)
    count = np.zeros_like(idx)
    work = idx.copy()
    while np.any(work):
        count += work & 1
        work >>= 1
    return count


def _butterfly(values: np.ndarray, n: int, op: str) -> np.ndarray:
    """Apply one in-place pass per bit; `op` picks the 2×2 kernel."""
    for j in range(n):
        view = values.reshape(-1, 2, 1 << j)
        lo = view[:, 0, :]
        hi = view[:, 1, :]
        if op == "hadamard":
            lo_copy = lo.copy()
            lo += hi
            hi *= -1.0
            hi += lo_copy
        elif op == "mobius":  # a(x with bit j) -= a(x without bit j)
            hi -= lo
        elif op == "zeta":  # subset sum
            hi += lo
        elif op == "superset":  # superset sum: lo += hi
            lo += hi
        else:  # pragma: no cover - internal
            raise ValueError(op)
    return values


def fourier_transform(values: np.ndarray) -> np.ndarray:
    """Compute F(k) = 2^−n Σ_x f(x)(−1)^⟨x,k⟩ for a full table f.

    Parameters
    ----------
    values : numpy.ndarray
        The table f, length 2^n (index bit j = unit j).

    Returns
    -------
    numpy.ndarray
        The Fourier coefficients, length 2^n.
    """
    table, n = _check_table(values)
    return _butterfly(table, n, "hadamard") / float(1 << n)


def inverse_fourier_transform(coefficients: np.ndarray) -> np.ndarray:
    """Compute f(x) = Σ_k F(k)(−1)^⟨x,k⟩ (the inverse of :func:`fourier_transform`).

    Parameters
    ----------
    coefficients : numpy.ndarray
        Fourier coefficients, length 2^n.

    Returns
    -------
    numpy.ndarray
        The table f, length 2^n.
    """
    table, n = _check_table(coefficients)
    return _butterfly(table, n, "hadamard")


def mobius_transform(values: np.ndarray) -> np.ndarray:
    """Compute the Harsanyi dividends a(S) = Σ_{T ⊆ S} (−1)^{|S|−|T|} f(T) of a full table.

    Parameters
    ----------
    values : numpy.ndarray
        The table f, length 2^n.

    Returns
    -------
    numpy.ndarray
        The dividends, length 2^n.
    """
    table, n = _check_table(values)
    return _butterfly(table, n, "mobius")


def inverse_mobius_transform(dividends: np.ndarray) -> np.ndarray:
    """Compute f(x) = Σ_{S ⊆ x} a(S) (the inverse of :func:`mobius_transform`).

    Parameters
    ----------
    dividends : numpy.ndarray
        Möbius dividends, length 2^n.

    Returns
    -------
    numpy.ndarray
        The table f, length 2^n.
    """
    table, n = _check_table(dividends)
    return _butterfly(table, n, "zeta")


def superset_sum(values: np.ndarray) -> np.ndarray:
    """Compute g(T) = Σ_{S ⊇ T} v(S) for a full table v.

    Parameters
    ----------
    values : numpy.ndarray
        The table v, length 2^n.

    Returns
    -------
    numpy.ndarray
        The sums g, length 2^n.
    """
    table, n = _check_table(values)
    return _butterfly(table, n, "superset")


def fourier_to_mobius_dense(coefficients: np.ndarray) -> np.ndarray:
    """Convert full tables: a(S) = (−2)^{|S|} Σ_{k ⊇ S} F(k).

    Parameters
    ----------
    coefficients : numpy.ndarray
        Fourier coefficients, length 2^n.

    Returns
    -------
    numpy.ndarray
        Möbius dividends, length 2^n.
    """
    table, n = _check_table(coefficients)
    sums = _butterfly(table, n, "superset")
    sizes = popcount(np.arange(1 << n))
    return sums * np.power(-2.0, sizes)


def mobius_to_fourier_dense(dividends: np.ndarray) -> np.ndarray:
    """Convert full tables: F(k) = (−1)^{|k|} Σ_{S ⊇ k} a(S)/2^{|S|}.

    Parameters
    ----------
    dividends : numpy.ndarray
        Möbius dividends, length 2^n.

    Returns
    -------
    numpy.ndarray
        Fourier coefficients, length 2^n.
    """
    table, n = _check_table(dividends)
    sizes = popcount(np.arange(1 << n))
    scaled = table / np.power(2.0, sizes)
    sums = _butterfly(scaled, n, "superset")
    return sums * np.power(-1.0, sizes)

"""Design matrices of low-order monomials over masks, in the Fourier (parity) or Möbius (AND) basis.

Feature for a support S, at a mask x (x_i = 1 keeps unit i):

* Fourier: χ_S(x) = (−1)^{|x ∩ S|}  (±1; orthonormal under uniform masks)
* Möbius:  m_S(x) = Π_{i∈S} x_i      (0/1; 1 only when every unit of S is kept)

Supports are enumerated order by order, 1 ≤ |S| ≤ max_order, in lexicographic order.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

from ...results import spectrum as spec

__all__ = ["count_monomials", "monomial_supports", "monomial_features"]

_BASES = ("fourier", "mobius")


def count_monomials(n: int, max_order: int) -> int:
    """Count the supports with 1 ≤ |S| ≤ max_order over n units (exact integer).

    Parameters
    ----------
    n : int
        Number of units.
    max_order : int
        Largest order.

    Returns
    -------
    int
        The count.
    """
    return sum(comb(n, d) for d in range(1, max_order + 1))


def monomial_supports(n: int, max_order: int) -> np.ndarray:
    """List all supports 1 ≤ |S| ≤ max_order as padded keys.

    Parameters
    ----------
    n : int
        Number of units.
    max_order : int
        Largest order.

    Returns
    -------
    numpy.ndarray
        Keys [P, max_order] (−1 pads).
    """
    blocks = []
    for d in range(1, max_order + 1):
        count = comb(n, d)
        flat = np.fromiter((i for c in combinations(range(n), d) for i in c), dtype=np.int64, count=count * d)
        block = np.full((count, max_order), -1, dtype=np.int64)
        block[:, :d] = flat.reshape(count, d)
        blocks.append(block)
    if not blocks:
        return np.zeros((0, max(1, max_order)), dtype=np.int64)
    return np.concatenate(blocks)


def monomial_features(
    masks: np.ndarray, supports: np.ndarray, basis: str, max_cells: int = 1 << 22
) -> np.ndarray:
    """Build the feature matrix of the monomials ``supports`` at each mask row.

    Parameters
    ----------
    masks : numpy.ndarray
        Masks [B, n].
    supports : numpy.ndarray
        Padded keys [P, D].
    basis : {"fourier", "mobius"}
        Parity features (−1)^⟨x,S⟩ or AND features Π_{i∈S} x_i.
    max_cells : int, default 4194304
        Mask cells processed per block (bounds memory).

    Returns
    -------
    numpy.ndarray
        Features [B, P] (float64).

    Raises
    ------
    ValueError
        If ``basis`` is unknown.
    """
    if basis not in _BASES:
        raise ValueError(f"basis must be one of {_BASES}, got {basis!r}")
    units_by_row = np.ascontiguousarray(np.asarray(masks, dtype=bool).T)  # [n, B]: one unit per row
    b = units_by_row.shape[1]
    out = np.empty((b, supports.shape[0]), dtype=np.float64, order="F")  # column-major, as coordinate descent wants
    columns = out.T  # [P, B] view, one feature per contiguous row
    orders = spec.key_orders(supports)
    for d in np.unique(orders):
        cols = np.nonzero(orders == d)[0]
        idx = supports[cols, :d]  # [C, d]
        step = max(1, max_cells // max(1, b))
        for start in range(0, cols.shape[0], step):
            part = idx[start : start + step]
            acc = units_by_row[part[:, 0]]  # [c, B] (a copy)
            for j in range(1, int(d)):
                if basis == "fourier":
                    acc ^= units_by_row[part[:, j]]
                else:
                    acc &= units_by_row[part[:, j]]
            _write(columns, cols[start : start + step], acc, basis)
    return out


def _write(columns: np.ndarray, block: np.ndarray, acc: np.ndarray, basis: str) -> None:
    """columns[block] = ±1 parities (Fourier) or 0/1 ANDs (Möbius), in place when block is a range."""
    lo, hi = int(block[0]), int(block[-1]) + 1
    contiguous = hi - lo == block.shape[0]
    target = columns[lo:hi] if contiguous else np.empty((block.shape[0], columns.shape[1]))
    target[:] = acc
    if basis == "fourier":
        target *= -2.0
        target += 1.0
    if not contiguous:
        columns[block] = target

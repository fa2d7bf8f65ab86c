"""Interaction indices as exact linear maps of the Möbius (Harsanyi) spectrum.

Every index here has the form  I(T) = Σ_{S ⊇ T} w(|S|, |T|)·a(S)  for T in a range of sizes, so one
weight function per index covers both the sparse path (enumerate subsets of each support) and the
dense path (size-ranked superset sums on full 2^n tables). Formulas: Grabisch et al. 2000 (SII, BII),
Sundararajan et al. 2020 (STII), Tsai et al. 2023 (FSII, FBII), Bord et al. 2023 (k-SII).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Callable

import numpy as np
from scipy.special import binom

from ..transforms import popcount, superset_sum
from ..validation import check_int
from .spectrum import superset_weighted_sum

__all__ = ["IndexSpec", "index_spec", "INDEX_NAMES", "compute_index_sparse", "compute_index_dense"]

Weight = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class IndexSpec:
    """The weight function and size range that define one interaction index.

    Attributes
    ----------
    name : str
        The index's canonical name (``"STII"``, ``"k-SII"``, ...).
    weight : callable
        ``weight(size_S, size_T)``: the weight w(|S|, |T|) of a(S) in I(T).
    min_size : int
        Smallest |T| the index reports.
    max_size : int
        Largest |T| the index reports.
    """

    name: str
    weight: Weight
    min_size: int
    max_size: int


def _bernoulli(count: int) -> list[float]:
    """Bernoulli numbers B_0..B_{count-1} with B_1 = −1/2."""
    b = [0.0] * max(count, 1)
    b[0] = 1.0
    for m in range(1, count):
        b[m] = -sum(comb(m + 1, j) * b[j] for j in range(m)) / (m + 1)
    return b


def _faith_banzhaf(order: int) -> Weight:
    def w(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.where(s == t, 1.0, 0.0)
        big = s > order
        tail = np.power(-1.0, order - t) * np.power(0.5, s - t) * binom(s - t - 1, order - t)
        return np.where(big, tail, out)

    return w


def _faith_shapley(order: int) -> Weight:
    def w(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.where(s == t, 1.0, 0.0)
        big = (s > order) & (t >= 1)
        tail = (
            np.power(-1.0, order - t)
            * (t / (order + t))
            * binom(order, t)
            * binom(s - 1, order)
            / binom(s + order - 1, order + t)
        )
        return np.where(big, tail, out)

    return w


def _k_sii(order: int) -> Weight:
    bern = _bernoulli(order + 1)

    def w(s: np.ndarray, t: np.ndarray) -> np.ndarray:
        # k-SII(T) = Σ_{T ⊆ U ⊆ S, |U| ≤ k} B_{|U|-|T|} / (|S|-|U|+1), summed per Möbius term a(S)
        out = np.zeros(np.broadcast(s, t).shape)
        for j in range(order + 1):
            u = t + j
            valid = (u <= order) & (u <= s)
            out += np.where(valid, binom(s - t, j) * bern[j] / (s - u + 1.0), 0.0)
        return out

    return w


def index_spec(name: str, order: int) -> IndexSpec:
    """Return the weight function and size range of an index.

    Parameters
    ----------
    name : str
        SV, BV, SII, BII, STII, FSII, FBII or k-SII (case-insensitive).
    order : int
        The explanation order (ignored by SV and BV).

    Returns
    -------
    IndexSpec
        The index's definition.

    Raises
    ------
    ValueError
        If ``order`` is below 1 or ``name`` is not a known index.
    """
    key = name.upper().replace("_", "-")
    order = check_int("order", order, low=1)
    if key in ("SV", "SHAPLEY"):
        return IndexSpec("SV", lambda s, t: 1.0 / s, 1, 1)
    if key in ("BV", "BANZHAF"):
        return IndexSpec("BV", lambda s, t: np.power(0.5, s - 1.0), 1, 1)
    if key == "SII":
        return IndexSpec("SII", lambda s, t: 1.0 / (s - t + 1.0), 1, order)
    if key == "BII":
        return IndexSpec("BII", lambda s, t: np.power(0.5, s - t), 1, order)
    if key == "STII":
        return IndexSpec(
            "STII",
            lambda s, t: np.where(t < order, np.where(s == t, 1.0, 0.0), 1.0 / binom(s, order)),
            0,
            order,
        )
    if key == "FBII":
        return IndexSpec("FBII", _faith_banzhaf(order), 0, order)
    if key == "FSII":
        return IndexSpec("FSII", _faith_shapley(order), 0, order)
    if key in ("K-SII", "KSII"):
        return IndexSpec("k-SII", _k_sii(order), 1, order)
    raise ValueError(f"unknown interaction index {name!r}; choose one of {', '.join(INDEX_NAMES)}")


INDEX_NAMES = ("SV", "BV", "SII", "BII", "STII", "FSII", "FBII", "k-SII")


def compute_index_sparse(spec: IndexSpec, mobius_keys: np.ndarray, mobius_values: np.ndarray):
    """Compute an index from a sparse Möbius spectrum by enumerating subsets of each support.

    Parameters
    ----------
    spec : IndexSpec
        The index (see :func:`index_spec`).
    mobius_keys : numpy.ndarray
        Padded supports of the dividends [K, D].
    mobius_values : numpy.ndarray
        The dividends a(S) [K].

    Returns
    -------
    keys : numpy.ndarray
        The subsets T with ``spec.min_size`` ≤ |T| ≤ ``spec.max_size``.
    values : numpy.ndarray
        The index values I(T).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return superset_weighted_sum(mobius_keys, mobius_values, spec.weight, spec.max_size, spec.min_size)


def compute_index_dense(spec: IndexSpec, mobius_table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute an index on a full 2^n Möbius table via size-ranked superset sums (O(n²·2^n)).

    Parameters
    ----------
    spec : IndexSpec
        The index (see :func:`index_spec`).
    mobius_table : numpy.ndarray
        The dense Möbius table, length 2^n (index bit j = unit j).

    Returns
    -------
    codes : numpy.ndarray
        Subset integer codes with ``spec.min_size`` ≤ |T| ≤ ``spec.max_size``.
    values : numpy.ndarray
        The index values I(T).
    """
    size = mobius_table.shape[0]
    n = size.bit_length() - 1
    sizes = popcount(np.arange(size))
    targets = np.nonzero((sizes >= spec.min_size) & (sizes <= spec.max_size))[0]
    t_sizes = sizes[targets].astype(np.float64)
    out = np.zeros(targets.shape[0])
    for s in range(spec.min_size, n + 1):
        layer = np.where(sizes == s, mobius_table, 0.0)
        if not np.any(layer):
            continue
        sums = superset_sum(layer)[targets]
        with np.errstate(divide="ignore", invalid="ignore"):
            w = spec.weight(np.full_like(t_sizes, float(s)), t_sizes)
        w = np.where(t_sizes <= s, w, 0.0)
        out += np.nan_to_num(w) * sums
    return targets, out

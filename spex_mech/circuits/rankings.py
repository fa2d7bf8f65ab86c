"""Per-unit scores and rankings from an interaction result, for faithfulness curves.

How a unit's score derives from the interactions (``kind``):

* ``"mobius"`` — Σ_{S ∋ i} |a(S)| / |S|: every Möbius dividend's magnitude is split equally among its
  members, so a unit that only acts inside a 3-way term still scores (first-order scores would miss it);
* ``"fourier"`` — Σ_{S ∋ i, |S| ≥ 1} |F(S)| / |S|, the same split over Fourier coefficients;
* ``"interaction"`` — Σ_{S ∋ i} |a(S)| unsplit (:func:`spex_mech.circuit.unit_scores`'s default);
* ``"shapley"`` / ``"banzhaf"`` — |φ_i| / |ψ_i| (Shapley splits each Möbius term equally with its sign,
  so opposite-signed terms can cancel where the ``mobius`` score adds them);
* ``"attribution"`` — |∂f/∂x_i| at the all-kept state, for a result of
  :func:`~spex_mech.algorithms.baselines.attribution.attribution_patching` (its first-order Möbius
  terms *are* the gradients, so this equals ``"mobius"`` there).

A ranking is the units by decreasing score, ties broken by unit index (deterministic).
"""

from __future__ import annotations

import numpy as np

from ..results import spectrum as spec
from ..results.interactions import Interactions

__all__ = ["SCORE_KINDS", "unit_scores", "ranking"]

SCORE_KINDS = ("mobius", "fourier", "interaction", "shapley", "banzhaf", "attribution")


def _split_scores(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    orders = spec.key_orders(keys)
    out = np.zeros(n)
    rows, cols = np.nonzero(keys >= 0)
    np.add.at(out, keys[rows, cols], np.abs(values[rows]) / orders[rows])
    return out


def unit_scores(result: Interactions, kind: str = "mobius") -> np.ndarray:
    """Return the non-negative importance of each unit (see the module docstring for each ``kind``).

    Parameters
    ----------
    result : Interactions
        The spectrum (or an attribution-patching result).
    kind : str
        One of :data:`SCORE_KINDS`.

    Returns
    -------
    numpy.ndarray
        The scores, float64 [n].

    Raises
    ------
    ValueError
        For an unknown kind.
    """
    low = kind.lower()
    if low in ("mobius", "möbius", "attribution"):
        keys, values = result._mobius_arrays()
        return _split_scores(keys, values, result.n)
    if low == "fourier":
        return _split_scores(result.keys, result.coefficients, result.n)
    if low == "interaction":
        keys, values = result._mobius_arrays()
        orders = spec.key_orders(keys)
        return _split_scores(keys, values * orders, result.n)  # undo the split: every member gets |a(S)|
    if low == "shapley":
        return np.abs(result.shapley_values())
    if low == "banzhaf":
        return np.abs(result.banzhaf_values())
    raise ValueError(f"unknown score kind {kind!r}; choose one of {', '.join(SCORE_KINDS)}")


def ranking(scores: np.ndarray) -> np.ndarray:
    """Return the unit indices by decreasing score; ties by increasing index.

    Parameters
    ----------
    scores : numpy.ndarray
        One finite score per unit.

    Returns
    -------
    numpy.ndarray
        The ranking, int64 [n].

    Raises
    ------
    ValueError
        For scores that are not 1-d or not finite.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-d, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        bad = int(np.nonzero(~np.isfinite(scores))[0][0])
        raise ValueError(f"score of unit {bad} is not finite ({scores[bad]})")
    return np.lexsort((np.arange(scores.shape[0]), -scores)).astype(np.int64)

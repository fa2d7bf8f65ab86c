"""Stage 5: the chosen support refitted on all masks, then AND terms the trees missed grown onto it.

The refit is a ridge fit (:func:`spex_mech.algorithms.ridge.ridge_fit`) of the kept columns with the
penalty chosen on held-out masks; without ``refine`` the proxy's own coefficients are kept. The
growth (:mod:`spex_mech.algorithms.hierarchy`) adds AND terms one unit larger than found ones; with at
most ``SMALL_BUDGET`` masks it also tests every pair of units, and with fewer than
``FROM_EMPTY_MASKS_PER_UNIT`` masks per unit a growth from ∅ alone competes with the proxy's read-out:
whichever scores the higher held-out R² (each fold grown without its masks) is kept. There the trees
try too few units, and their spurious splits can mislead the support more than they guide it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...results import spectrum as spec
from ...results.interactions import Interactions
from .._threads import thread_limit
from ..hierarchy import grow_and_terms, growth_cv_mse
from ..ridge import ridge_fit
from .design import SMALL_BUDGET, Design
from .selection import Readout

__all__ = ["FROM_EMPTY_ALPHA", "FROM_EMPTY_MASKS_PER_UNIT", "Surrogate", "grow_support", "refit_support"]

FROM_EMPTY_MASKS_PER_UNIT = 2  # the growth from ∅ competes only with fewer masks than this × n
FROM_EMPTY_ALPHA = 1e-6  # ridge penalty / samples of the growth from ∅ (hierarchy's default)


@dataclass(frozen=True)
class Surrogate:
    """The returned spectrum and how it scores.

    Attributes
    ----------
    keys, values : ndarray
        Fourier keys (∅ first) and coefficients.
    basis : str
        Basis of the read-out it came from (``"mobius"`` when grown from ∅).
    alpha : float
        Ridge penalty per sample.
    validation_r2 : float
        Held-out R² (after growth: the honest estimate, see :func:`grow_support`).
    support_search : str
        ``"proxy"`` or ``"growth"`` (from ∅).
    proxy_path_r2, growth_r2 : float or None
        Both paths' held-out R² where the growth from ∅ competed.
    grown_terms : list of tuple
        AND terms the growth added.
    """

    keys: np.ndarray
    values: np.ndarray
    basis: str
    alpha: float
    validation_r2: float
    support_search: str = "proxy"
    proxy_path_r2: Optional[float] = None
    growth_r2: Optional[float] = None
    grown_terms: tuple = ()


def refit_support(readout: Readout, design: Design, refine: bool, n_jobs: int = 1) -> Surrogate:
    """Refit the chosen support on all masks; return it as a Fourier spectrum.

    Parameters
    ----------
    readout : Readout
        The chosen read-out and support.
    design : Design
        All masks and values.
    refine : bool
        Ridge-refit the kept columns (else the proxy's own coefficients and constant).
    n_jobs : int
        BLAS threads.

    Returns
    -------
    Surrogate
    """
    support, ranking = readout.support, readout.ranking
    kept = support.keys
    with thread_limit(n_jobs):
        if refine:
            intercept, beta = ridge_fit(ranking.features(kept, design.masks, design.n), design.values, support.alpha)
        else:
            intercept, beta = ranking.const, support.values
    empty = np.full((1, max(1, kept.shape[1])), -1, np.int64)
    keys = np.concatenate([empty, kept]) if kept.shape[0] else empty
    values = np.concatenate([[intercept], beta])
    if ranking.basis == "mobius":
        keys, values = spec.mobius_to_fourier(keys, values)
    return Surrogate(keys, values, ranking.basis, float(support.alpha), float(support.validation_r2))


def grow_support(
    surrogate: Surrogate, design: Design, folds: list, *, max_order: int, seed: int, n_jobs: int = 1
) -> Surrogate:
    """Grow AND terms onto the surrogate (and, with few masks per unit, let a growth from ∅ compete).

    The terms grown on all masks are kept; the reported R² adds the gain the growth procedure makes
    on masks it never saw (each fold grown without its held-out masks), capped by the grown support's
    own held-out R² (optimistic, as its start was chosen on all masks: the honest value cannot exceed
    it). A rejection on that noisier estimate loses more than it saves (see
    benchmarks/results/measured_notes.md).

    Parameters
    ----------
    surrogate : Surrogate
        The refitted read-out.
    design : Design
        All masks and values.
    folds : list of (train, held)
        The folds the support was chosen on.
    max_order : int
        Largest grown order.
    seed : int
        Seeds the inner folds of the honest estimates.
    n_jobs : int
        BLAS threads.

    Returns
    -------
    Surrogate
        ``surrogate`` unchanged when nothing was grown and the growth from ∅ did not compete.
    """
    masks, values, n, m = design.masks, design.values, design.n, design.m
    start_terms = Interactions(surrogate.keys, surrogate.values, n).mobius()
    small = m <= SMALL_BUDGET  # where few masks starve the trees: pair families (and growth from ∅)
    held = np.concatenate([h for _, h in folds])
    var_held = float(np.var(values[held])) or 1.0
    alpha, r2, basis, search = surrogate.alpha, surrogate.validation_r2, surrogate.basis, "proxy"
    with thread_limit(n_jobs):
        grown = grow_and_terms(start_terms, masks, values, folds, max_order=max_order, alpha=alpha, pairs=small)
    if grown is not None:
        with thread_limit(n_jobs):
            before, after = growth_cv_mse(
                start_terms, masks, values, folds, max_order=max_order, alpha=alpha, seed=seed, pairs=small
            )
        r2 = min(r2 + (before - after) / var_held, 1.0 - after / var_held)
    proxy_path_r2, growth_r2 = None, None
    # the growth alone, from ∅, scored the same honest way, where masks are too few per unit for the
    # trees to try most units: with more, it only adds a noisy choice (see benchmarks/results/measured_notes.md)
    if small and m < FROM_EMPTY_MASKS_PER_UNIT * n:
        with thread_limit(n_jobs):
            _, plain_mse = growth_cv_mse(
                {}, masks, values, folds, max_order=max_order, alpha=FROM_EMPTY_ALPHA, seed=seed, pairs=True
            )
        growth_r2 = 1.0 - plain_mse / var_held
        proxy_path_r2 = float(r2)
        if growth_r2 > r2:
            with thread_limit(n_jobs):
                plain = grow_and_terms(
                    {}, masks, values, folds, max_order=max_order, alpha=FROM_EMPTY_ALPHA, pairs=True
                )
            if plain is not None:  # the read-out's basis and penalty no longer describe the result
                grown, search, alpha, basis, r2 = plain, "growth", FROM_EMPTY_ALPHA, "mobius", growth_r2
    keys, coefs = surrogate.keys, surrogate.values
    if grown is not None:  # the returned support: the grown Möbius terms, as Fourier coefficients
        terms = grown["terms"]
        keys, coefs = spec.mobius_to_fourier(spec.canonical_keys(terms), np.array(list(terms.values())))
    added = tuple(grown["added"]) if grown is not None else ()
    return Surrogate(keys, coefs, basis, float(alpha), float(r2), search, proxy_path_r2, growth_r2, added)

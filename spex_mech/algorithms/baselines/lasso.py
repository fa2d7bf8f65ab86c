"""Sparse regression on low-order monomials over uniformly random masks (a "linear proxy with product terms").

``budget`` masks are drawn uniformly (each unit kept with probability ½), f is evaluated on them, and
an L1-regularised linear model is fitted on every monomial of order 1..``max_order`` in the chosen basis
(parities for ``basis="fourier"``, ANDs of kept units for ``basis="mobius"``), with an intercept. The
penalty is chosen by K-fold cross-validation over a log grid. Because the L1 penalty shrinks every kept
coefficient, the selected support is then refitted by ordinary least squares ("relaxed lasso"), which
makes the answer exact when f lies in the model class and the samples determine it; the refit is
skipped when the support is too large for the samples (more than half of them).

The feature matrix has budget × Σ_{d ≤ max_order} C(n, d) entries; a design that would not fit in
memory is refused with a ValueError before f is evaluated.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import numpy as np

from ...results import spectrum as spec
from ...results.interactions import Interactions
from ...valuefn import ValueFunction, uniform_masks
from ...validation import check_int
from .lasso_fit import fit_lasso_cv
from .monomials import count_monomials, monomial_features, monomial_supports

__all__ = ["lasso", "lasso_memory_bytes"]

_BYTES = 8  # float64 features
_WORKING_COPIES = 4  # the design, a centred copy (per fold, then of all rows), a Gram matrix no larger than it, slack


def lasso_memory_bytes(n: int, budget: int, max_order: int) -> tuple[int, int]:
    """Count the monomial features and the bytes the lasso fit needs (about 4 × budget × features × 8).

    Parameters
    ----------
    n : int
        Number of units.
    budget : int
        Number of masks.
    max_order : int
        Largest monomial order.

    Returns
    -------
    n_features : int
        Number of monomial features.
    n_bytes : int
        Bytes the fit needs.
    """
    p = count_monomials(n, max_order)
    return p, _WORKING_COPIES * _BYTES * int(budget) * p


def _default_memory_limit() -> int:
    """Half of the machine's available physical memory (4 GiB where that cannot be read)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def lasso(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    budget: int,
    max_order: int = 2,
    seed: int = 0,
    basis: str = "fourier",
    cv: int = 5,
    n_alphas: int = 30,
    alpha_ratio: float = 1e-3,
    patience: int = 5,
    refit: bool = True,
    max_iter: int = 2000,
    tol: float = 1e-4,
    max_memory: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> Interactions:
    """Fit f by cross-validated L1 regression on all monomials up to ``max_order``.

    ``cv`` folds choose the penalty among ``n_alphas`` values from α_max (everything zero) down to
    ``alpha_ratio``·α_max; each fold stops descending once its validation error has not improved for
    ``patience`` penalties (``lasso_fit.py`` says why).

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    budget : int
        Number of uniformly random masks (= evaluations).
    max_order : int, default 2
        Largest monomial order.
    seed : int, default 0
        Seed of the masks and the folds.
    basis : {"fourier", "mobius"}, default "fourier"
        Parity features (coefficients are Fourier coefficients) or AND features (Möbius dividends).
    cv : int, default 5
        Number of cross-validation folds.
    n_alphas : int, default 30
        Number of penalties on the path.
    alpha_ratio : float, default 1e-3
        Smallest penalty as a fraction of α_max.
    patience : int, default 5
        Penalties without improvement before a fold stops descending.
    refit : bool, default True
        Least-squares refit of the selected support.
    max_iter : int, default 2000
        Coordinate-descent iterations per penalty.
    tol : float, default 1e-4
        Coordinate-descent tolerance.
    max_memory : int, optional
        Bytes the fit may use (default: half of the available memory); a larger design is refused before
        any evaluation, with the feature count and the memory it would need.
    batch_size : int, optional
        Most masks passed to ``f`` per call.

    Returns
    -------
    Interactions
        The selected terms; ``params`` record the chosen α, the number of features and selected terms, the
        cross-validated mean squared error at α, and whether the refit ran.

    Raises
    ------
    ValueError
        If an argument is out of range (named), the budget is too small for the folds, or the design would
        exceed ``max_memory``.
    """
    if basis not in ("fourier", "mobius"):
        raise ValueError(f"basis must be 'fourier' or 'mobius', got {basis!r}")
    vf = ValueFunction(f, n, max_batch=batch_size)
    n = vf.n
    budget = check_int("budget", budget, low=1)
    cv = check_int("cv", cv, low=2)
    max_order = check_int("max_order", max_order, low=1)
    n_alphas = check_int("n_alphas", n_alphas, low=1)
    patience = check_int("patience", patience, low=1)
    if max_order > n:
        raise ValueError(f"max_order={max_order} exceeds the number of units n={n}")
    if budget < 2 * cv:
        raise ValueError(
            f"budget={budget} is too small for {cv}-fold cross-validation: it needs at least {2 * cv} masks"
        )
    n_features, need = lasso_memory_bytes(n, budget, max_order)
    limit = _default_memory_limit() if max_memory is None else int(max_memory)
    if need > limit:
        raise ValueError(
            f"the lasso design has {n_features:,} monomial features (n={n}, max_order={max_order}) × "
            f"{budget:,} masks; fitting it needs about {need / 2**30:.3g} GiB, over the limit of "
            f"{limit / 2**30:.3g} GiB. Lower max_order or budget, screen units first, or raise max_memory."
        )

    masks = uniform_masks(n, budget, seed)
    values = vf(masks)
    supports = monomial_supports(n, max_order)
    features = monomial_features(masks, supports, basis)
    fit = fit_lasso_cv(
        features,
        values,
        folds=cv,
        n_alphas=n_alphas,
        alpha_ratio=alpha_ratio,
        patience=patience,
        refit=refit,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
    )
    del features
    intercept, coef, info = fit.intercept, fit.coef, fit.info

    keys = np.concatenate([np.full((1, supports.shape[1]), -1, dtype=np.int64), supports])
    vals = np.concatenate([[intercept], coef])
    nonzero = vals != 0.0
    nonzero[0] = True
    keys, vals = keys[nonzero], vals[nonzero]
    if basis == "mobius":
        keys, vals = spec.mobius_to_fourier(keys, vals)
    return Interactions(
        keys,
        vals,
        n,
        **vf.provenance(),
        algorithm="lasso",
        params={
            "basis": basis,
            "max_order": max_order,
            "budget": budget,
            "seed": seed,
            "cv": cv,
            "n_features": n_features,
            **info,
        },
    )

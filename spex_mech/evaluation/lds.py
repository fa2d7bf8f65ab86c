"""Linear datamodeling score (LDS): how well a surrogate ranks the outcomes of held-out subsets.

LDS (Park et al. 2023, as in dattri): draw m held-out subsets that each keep a fraction α of the units
(α = ½ by default), retrain on each, and take the Spearman rank correlation between the surrogate's
predictions and the true outcomes. For a linear attribution τ the prediction is Σ_{i kept} τ_i; for an
interaction surrogate (:class:`~spex_mech.Interactions`) it is its own prediction b + Σ_{S ⊆ kept} a(S).

The linear datamodel it is usually quoted for is a baseline algorithm
(:func:`spex_mech.algorithms.baselines.linear_datamodel`); :class:`~spex_mech.games.Recorder` keeps an
algorithm's evaluations so that baseline can be fitted on the same ones.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..valuefn import ValueFunction, to_mask_array

__all__ = ["lds", "lds_masks"]


def lds_masks(n: int, n_masks: int = 100, alpha: float = 0.5, seed: int = 12345) -> np.ndarray:
    """Return ``n_masks`` random masks that each keep exactly ``round(alpha · n)`` of the ``n`` units (bool).

    Parameters
    ----------
    n : int
        The number of units (mask width).
    n_masks : int, default 100
        The number of held-out masks (at least 3).
    alpha : float, default 0.5
        The fraction of units each mask keeps, in (0, 1).
    seed : int, default 12345
        Seed for ``numpy.random.default_rng``; each row's kept units are drawn without replacement.

    Returns
    -------
    numpy.ndarray
        Bool ``[n_masks, n]``.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1) or ``n_masks`` is below 3.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n_masks < 3:
        raise ValueError("LDS needs at least 3 held-out masks")
    rng = np.random.default_rng(seed)
    k = int(round(alpha * n))
    masks = np.zeros((n_masks, n), dtype=bool)
    for row in masks:
        row[rng.choice(n, size=k, replace=False)] = True
    return masks


def _predict(surrogate: Any, masks: np.ndarray) -> np.ndarray:
    if hasattr(surrogate, "predict"):
        return np.asarray(surrogate.predict(masks), dtype=np.float64)
    if callable(surrogate):
        return np.asarray(surrogate(masks), dtype=np.float64).reshape(-1)
    tau = np.asarray(surrogate, dtype=np.float64)
    if tau.ndim != 1 or tau.shape[0] != masks.shape[1]:
        raise ValueError(f"linear scores must be a vector of length n={masks.shape[1]}, got shape {tau.shape}")
    return masks.astype(np.float64) @ tau


def lds(
    surrogate: Any,
    f: Optional[Callable[[np.ndarray], Any]] = None,
    *,
    masks: Optional[Any] = None,
    values: Optional[Sequence[float]] = None,
    n_masks: int = 100,
    alpha: float = 0.5,
    seed: int = 12345,
) -> float:
    """Return the Spearman correlation between ``surrogate`` predictions and true values on held-out α-subsets.

    Give ``values`` (true outcomes on ``masks``) to reuse retrainings across surrogates; otherwise ``f``
    is evaluated on ``masks`` (default: :func:`lds_masks`).

    Parameters
    ----------
    surrogate : Any
        An object with ``predict(masks)`` (e.g. :class:`~spex_mech.Interactions`), a callable on masks,
        or a vector τ of per-unit linear scores (prediction: the sum of the kept units' scores).
    f : callable, optional
        The value function giving the true outcomes; needed when ``values`` is not given.
    masks : array-like, optional
        0/1 or bool held-out masks ``[m, n]``; default: :func:`lds_masks` with ``n`` from
        ``surrogate.n``, ``f.n`` or the length of the score vector.
    values : sequence of float, optional
        True outcomes on ``masks``, one per row.
    n_masks : int, default 100
        Number of default masks.
    alpha : float, default 0.5
        Fraction of units the default masks keep.
    seed : int, default 12345
        Seed of the default masks.

    Returns
    -------
    float
        The Spearman rank correlation; NaN if the true values or the predictions are all equal.

    Raises
    ------
    ValueError
        If neither ``f`` nor ``values`` is given, ``values`` has another length than the masks, a score
        vector has the wrong length, or the masks or default-mask settings are invalid.
    """
    from scipy.stats import spearmanr

    if masks is None:
        n = getattr(surrogate, "n", None)
        if n is None and f is not None:
            n = getattr(f, "n", None)
        if n is None:
            n = np.asarray(surrogate).shape[0]
        masks = lds_masks(int(n), n_masks, alpha, seed)
    arr = to_mask_array(masks, np.asarray(masks).shape[1])
    if values is None:
        if f is None:
            raise ValueError("give the value function f or the true values on the masks")
        values = ValueFunction(f, arr.shape[1])(arr)
    truth = np.asarray(values, dtype=np.float64)
    if truth.shape != (arr.shape[0],):
        raise ValueError(f"{truth.shape} values for {arr.shape[0]} masks")
    pred = _predict(surrogate, arr)
    if np.ptp(truth) == 0 or np.ptp(pred) == 0:
        return float("nan")
    return float(spearmanr(pred, truth).statistic)

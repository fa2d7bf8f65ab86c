"""The linear datamodel (Ilyas et al. 2022): a LASSO regression of outcomes on the masks.

The first-order baseline that a sparse interaction surrogate is compared with at equal budget, fitted on
(mask, value) pairs someone else evaluated (a :class:`~spex_mech.games.Recorder` holds an algorithm's).

Why it does not call :func:`~spex_mech.algorithms.baselines.lasso` with ``max_order=1``: ``lasso`` draws
its own uniform masks from ``f`` with its ``budget`` and ``seed``, while a datamodel must be fitted on the
very masks another algorithm used (equal budget, possibly non-uniform); and the datamodels literature's
fit is scikit-learn's ``LassoCV`` (50 penalties, unshuffled folds, no refit), which ``lasso``'s own
solver (``lasso_fit.py``: shuffled folds, early stopping along the path, least-squares refit) does not
reproduce, so routing it there would change every datamodel's coefficients.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ...results.interactions import Interactions

__all__ = ["linear_datamodel"]


def linear_datamodel(
    masks: Any,
    values: Sequence[float],
    *,
    alpha: Optional[float] = None,
    labels: Optional[Sequence[str]] = None,
    cv: int = 5,
    seed: int = 0,
) -> Interactions:
    """Fit a LASSO linear datamodel on given (mask, value) pairs, as a first-order surrogate.

    Its Möbius terms are the intercept b and one weight per unit: f̂(x) = b + Σ_i w_i x_i.

    Parameters
    ----------
    masks : array-like
        0/1 or bool ``[B, n]``: the masks evaluated (e.g. a :class:`~spex_mech.games.Recorder`'s).
    values : sequence of float
        ``[B]``: their values.
    alpha : float, optional
        The LASSO penalty; None: chosen by ``cv``-fold cross-validation over 50 penalties, as
        datamodels do.
    labels : sequence of str, optional
        Unit labels.
    cv : int
        Cross-validation folds (at most ``B``).
    seed : int
        ``random_state`` of the cross-validated fit.

    Returns
    -------
    Interactions
        ``algorithm="linear_datamodel"``, ``params={"alpha": chosen penalty}``.

    Raises
    ------
    ValueError
        If ``masks`` is not 2-d or ``values`` does not have one value per mask.
    """
    from sklearn.linear_model import Lasso, LassoCV

    arr = np.asarray(masks).astype(np.float64)
    y = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or y.shape != (arr.shape[0],):
        raise ValueError(f"need masks [B, n] and values [B]; got {arr.shape} and {y.shape}")
    if alpha is None:
        model = LassoCV(cv=min(cv, arr.shape[0]), random_state=seed, alphas=50, max_iter=20000).fit(arr, y)
        chosen = float(model.alpha_)
    else:
        model = Lasso(alpha=alpha, max_iter=20000).fit(arr, y)
        chosen = float(alpha)
    n = arr.shape[1]
    dividends = {(): float(model.intercept_)}
    dividends.update({(i,): float(w) for i, w in enumerate(model.coef_) if w != 0.0})
    return Interactions.from_mobius(
        dividends,
        n,
        labels=labels,
        n_evaluations=int(arr.shape[0]),
        algorithm="linear_datamodel",
        params={"alpha": chosen},
    )

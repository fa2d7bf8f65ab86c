"""Linear datamodeling score (LDS) and the plain linear datamodel it is usually quoted for.

LDS (Park et al. 2023, as in dattri): draw m held-out subsets that each keep a fraction α of the units
(α = ½ by default), retrain on each, and take the Spearman rank correlation between the surrogate's
predictions and the true outcomes. For a linear attribution τ the prediction is Σ_{i kept} τ_i; for an
interaction surrogate (:class:`~spex_mech.Interactions`) it is its own prediction b + Σ_{S ⊆ kept} a(S).

The linear datamodel (Ilyas et al. 2022) is a LASSO regression of the outcomes on the masks: the
first-order baseline that a sparse interaction surrogate is compared with at equal budget.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..valuefn import ValueFunction, to_mask_array

__all__ = ["lds", "lds_masks", "linear_datamodel", "Recorder"]


class Recorder:
    """Wraps a value function and keeps every (mask, value) an algorithm asked for, in order.

    For comparisons at equal budget: fit a baseline (e.g. :func:`linear_datamodel`) on exactly the
    evaluations the algorithm used, ``recorder.masks`` / ``recorder.values``.
    """

    def __init__(self, f: Callable[[np.ndarray], Any], n: Optional[int] = None):
        self.f = ValueFunction(f, n)
        self.n = self.f.n
        self.labels = self.f.labels
        self.ids = getattr(f, "ids", None)
        self._masks: list[np.ndarray] = []
        self._values: list[np.ndarray] = []

    def __call__(self, masks: Any) -> np.ndarray:
        arr = to_mask_array(masks, self.n)
        values = self.f(arr)
        self._masks.append(arr.copy())
        self._values.append(values.copy())
        return values

    @property
    def masks(self) -> np.ndarray:
        return np.vstack(self._masks) if self._masks else np.zeros((0, self.n), dtype=bool)

    @property
    def values(self) -> np.ndarray:
        return np.concatenate(self._values) if self._values else np.zeros(0)


def lds_masks(n: int, n_masks: int = 100, alpha: float = 0.5, seed: int = 12345) -> np.ndarray:
    """``n_masks`` random masks that each keep exactly ``round(alpha · n)`` of the ``n`` units (bool)."""
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
    """Spearman correlation between ``surrogate`` predictions and true values on held-out α-subsets.

    ``surrogate``: an object with ``predict(masks)`` (e.g. :class:`~spex_mech.Interactions`), a callable
    on masks, or a vector τ of per-unit linear scores. Give ``values`` (true outcomes on ``masks``) to reuse
    retrainings across surrogates; otherwise ``f`` is evaluated on ``masks`` (default: :func:`lds_masks`).
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


def linear_datamodel(
    masks: Any,
    values: Sequence[float],
    *,
    alpha: Optional[float] = None,
    labels: Optional[Sequence[str]] = None,
    cv: int = 5,
    seed: int = 0,
):
    """A LASSO linear datamodel fitted on (mask, value) pairs, as a first-order :class:`~spex_mech.Interactions`.

    ``alpha``: the LASSO penalty (``None``: chosen by ``cv``-fold cross-validation, as datamodels do).
    Its Möbius terms are the intercept b and one weight per unit: f̂(x) = b + Σ_i w_i x_i.
    """
    from sklearn.linear_model import Lasso, LassoCV

    from ..results import Interactions

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

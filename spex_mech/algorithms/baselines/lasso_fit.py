"""Cross-validated lasso with an early-stopped regularisation path and a least-squares refit.

Why not ``sklearn.linear_model.LassoCV``: it solves every fold down to the smallest penalty of the
grid. On dense or noisy targets the cross-validated optimum sits at a large penalty, and the small
penalties — which never win — are where coordinate descent on correlated monomials (Möbius ANDs)
crawls: a 64-unit order-2 design spent minutes there. Here each fold walks the grid from α_max
downwards with warm starts and stops once its validation error has not improved for ``patience``
consecutive penalties; the penalty is chosen on the grid prefix every fold reached (which contains
every fold's own optimum and the ``patience`` penalties after it). Coordinate descent itself is
scikit-learn's (``Lasso`` with a precomputed Gram matrix when there are more samples than features).

Objective per penalty α (scikit-learn's scaling): (1/2m)‖y − c − Xw‖² + α‖w‖₁ with an unpenalised
intercept c (handled by centring).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LassoFit", "fit_lasso_cv"]


@dataclass
class LassoFit:
    """The outcome of :func:`fit_lasso_cv`.

    Attributes
    ----------
    intercept : float
        The fitted constant.
    coef : numpy.ndarray
        Coefficients of the features [P].
    info : dict
        The chosen α, α_max, the number of selected features, the cross-validated error and whether the
        refit ran.
    """

    intercept: float
    coef: np.ndarray
    info: dict[str, Any]


def _lasso_model(alpha: float, gram: Any, max_iter: int, tol: float):
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, precompute=gram, warm_start=True, max_iter=max_iter, tol=tol)


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    out = np.asfortranarray(x - mean)
    return out, mean


def _gram(x: np.ndarray) -> Any:
    """X^T X when there are more rows than columns (cheaper coordinate descent), else False."""
    return np.ascontiguousarray(x.T @ x) if x.shape[0] > x.shape[1] else False


def fit_lasso_cv(
    features: np.ndarray,
    values: np.ndarray,
    *,
    folds: int,
    n_alphas: int,
    alpha_ratio: float,
    patience: int,
    refit: bool,
    max_iter: int,
    tol: float,
    seed: int,
) -> LassoFit:
    """Choose α by K-fold CV on an early-stopped path, fit all samples at α, then refit the support.

    Parameters
    ----------
    features : numpy.ndarray
        Design matrix [m, P].
    values : numpy.ndarray
        Targets [m].
    folds : int
        Number of cross-validation folds.
    n_alphas : int
        Number of penalties on the path.
    alpha_ratio : float
        Smallest penalty as a fraction of α_max.
    patience : int
        Penalties without improvement before a fold stops descending.
    refit : bool
        Least-squares refit of the selected support.
    max_iter : int
        Coordinate-descent iterations per penalty.
    tol : float
        Coordinate-descent tolerance.
    seed : int
        Seed of the fold split.

    Returns
    -------
    LassoFit
        Intercept, coefficients and the fit's record.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import KFold

    m, p = features.shape
    y_mean = float(values.mean())
    if p == 0:
        return LassoFit(y_mean, np.zeros(0), {"alpha": 0.0, "n_selected": 0, "refit": False, "cv_mse": None})
    # α_max = ‖X_cᵀ y_c‖_∞ / m, and X_cᵀ y_c = Xᵀ(y − ȳ) because Σ(y − ȳ) = 0 (no centred copy needed)
    alpha_max = float(np.max(np.abs(features.T @ (values - y_mean)))) / m
    if alpha_max == 0.0:
        info = {"alpha": 0.0, "alpha_max": 0.0, "n_selected": 0, "refit": False, "cv_mse": None}
        return LassoFit(y_mean, np.zeros(p), info)
    alphas = np.geomspace(alpha_max, alpha_max * alpha_ratio, n_alphas)

    errors = np.full((folds, n_alphas), np.nan)
    n_warn = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for k, (train, test) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(features)):
            x_train, mu = _centred(features[train])
            y_train_mean = float(values[train].mean())
            y_train = values[train] - y_train_mean
            x_test = features[test] - mu
            model = _lasso_model(alphas[0], _gram(x_train), max_iter, tol)
            best, since = np.inf, 0
            for j, alpha in enumerate(alphas):
                model.alpha = float(alpha)
                model.fit(x_train, y_train, check_input=False)
                err = float(np.mean((values[test] - y_train_mean - x_test @ model.coef_) ** 2))
                errors[k, j] = err
                if err < best:
                    best, since = err, 0
                else:
                    since += 1
                    if since >= patience:
                        break
            del x_train, x_test, model
        reached = int(np.min(np.sum(np.isfinite(errors), axis=1)))
        cv_curve = errors[:, :reached].mean(axis=0)
        chosen = int(np.argmin(cv_curve))

        x_all, mu_all = _centred(features)
        model = _lasso_model(alphas[0], _gram(x_all), max_iter, tol)
        for alpha in alphas[: chosen + 1]:
            model.alpha = float(alpha)
            model.fit(x_all, values - y_mean, check_input=False)
        n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef = np.asarray(model.coef_, dtype=np.float64).copy()
    intercept = y_mean - float(mu_all @ coef)
    del x_all, model

    support = np.nonzero(coef)[0]
    info: dict[str, Any] = {
        "alpha": float(alphas[chosen]),
        "alpha_max": alpha_max,
        "alpha_index": chosen,
        "alphas_reached": reached,
        "cv_mse": float(cv_curve[chosen]),
        "convergence_warnings": int(n_warn),
        "n_selected": int(support.shape[0]),
    }
    do_refit = bool(refit and 0 < support.shape[0] and support.shape[0] + 1 <= m // 2)
    if do_refit:
        design = np.concatenate([np.ones((m, 1)), features[:, support]], axis=1)
        solution, *_ = np.linalg.lstsq(design, values, rcond=None)
        intercept = float(solution[0])
        coef[:] = 0.0
        coef[support] = solution[1:]
    info["refit"] = do_refit
    return LassoFit(intercept, coef, info)

"""The tree libraries behind ProxySPEX's proxies: one early-stopped fit, or a refit with a fixed tree count.

scikit-learn's ``HistGradientBoostingRegressor``, LightGBM (``lgb.train``) and XGBoost, configured
alike (same depth, learning rate, smallest leaf); :mod:`.proxy` chooses among them.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np

__all__ = ["fit_early_stopped", "fit_estimator", "import_backend", "min_leaf_samples", "refit_fixed"]


def min_leaf_samples(n_train: int) -> int:
    """Return the smallest leaf: the usual 20, fewer for small samples (a 50-mask budget still needs splits).

    Parameters
    ----------
    n_train : int
        Training masks.

    Returns
    -------
    int
    """
    return int(max(1, min(20, n_train // 20)))


def _fit_sklearn(X, y, Xv, yv, depth, lr, max_trees, patience, seed):
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        learning_rate=lr,
        max_iter=max_trees,
        max_depth=depth,
        max_leaf_nodes=None,
        min_samples_leaf=min_leaf_samples(X.shape[0]),
        max_bins=2,  # masks are 0/1: two bins give the same splits, binned faster
        early_stopping=True,
        n_iter_no_change=patience,
        scoring="loss",
        random_state=seed,
    )
    if "X_val" in inspect.signature(model.fit).parameters:  # scikit-learn ≥ 1.6
        model.fit(X, y, X_val=Xv, y_val=yv)
    else:  # older: the same masks, held out by the estimator's own split of their concatenation
        model.set_params(validation_fraction=Xv.shape[0] / (X.shape[0] + Xv.shape[0]))
        model.fit(np.concatenate([X, Xv]), np.concatenate([y, yv]))
    return model, int(model.n_iter_)


def _lightgbm_params(depth, lr, leaf, seed, n_jobs) -> dict:
    """LGBMRegressor's defaults for these settings, as ``lgb.train`` parameters."""
    return {
        "objective": "regression",
        "learning_rate": lr,
        "max_depth": depth,
        "num_leaves": min(1 << depth, 131072),
        "min_child_samples": leaf,
        "seed": seed,
        "num_threads": n_jobs,
        "verbosity": -1,
    }


def _fit_lightgbm(X, y, Xv, yv, depth, lr, max_trees, patience, seed, n_jobs):
    # lgb.train keeping its booster: the scikit-learn wrapper round-trips every fitted model through
    # its text format (cost: benchmarks/results/measured_notes.md), and the tree reader reads that text once more anyway
    import lightgbm as lgb

    params = _lightgbm_params(depth, lr, min_leaf_samples(X.shape[0]), seed, n_jobs)
    train = lgb.Dataset(X, y, params={"verbosity": -1})
    valid = lgb.Dataset(Xv, yv, reference=train)
    booster = lgb.train(
        params,
        train,
        num_boost_round=max_trees,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
        keep_training_booster=True,
    )
    return booster, int(booster.best_iteration or booster.current_iteration())


def _fit_xgboost(X, y, Xv, yv, depth, lr, max_trees, patience, seed, n_jobs):
    import xgboost as xgb

    model = xgb.XGBRegressor(
        n_estimators=max_trees,
        learning_rate=lr,
        max_depth=depth,
        min_child_weight=float(min_leaf_samples(X.shape[0])),
        tree_method="hist",
        early_stopping_rounds=patience,
        base_score=float(np.float32(np.mean(y))),
        random_state=seed,
        n_jobs=n_jobs,
    )
    model.fit(X, y, eval_set=[(Xv, yv)], verbose=False)
    return model, int(model.best_iteration) + 1


def fit_estimator(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """Fit a clone of a passed-in regressor as given (the object itself if it cannot be cloned).

    Parameters
    ----------
    estimator : object
        A scikit-learn-style regressor.
    X, y : ndarray
        Masks and values.

    Returns
    -------
    object
        The fitted model (a search's ``best_estimator_`` where it has one).
    """
    from sklearn.base import clone

    try:
        model = clone(estimator)
    except Exception:  # not clonable: fit the object itself
        model = estimator
    model.fit(X, y)
    return getattr(model, "best_estimator_", model)


_BACKEND_MODULES = {"sklearn": "sklearn.ensemble", "lightgbm": "lightgbm", "xgboost": "xgboost"}


def import_backend(backend: str) -> None:
    """Import the backend's library (before a thread limit, so that the limit covers its runtime).

    Parameters
    ----------
    backend : str
        A backend name; others (``"estimator"``) import nothing.
    """
    if backend in _BACKEND_MODULES:
        importlib.import_module(_BACKEND_MODULES[backend])


def refit_fixed(
    backend: str, X: np.ndarray, y: np.ndarray, depth: int, lr: float, n_trees: int, seed: int, n_jobs: int
) -> Any:
    """Fit a configuration with a fixed tree count (no early stopping).

    Parameters
    ----------
    backend : str
        ``"sklearn"``, ``"lightgbm"`` or ``"xgboost"``.
    X, y : ndarray
        Masks and values.
    depth : int
        Tree depth.
    lr : float
        Learning rate.
    n_trees : int
        Trees.
    seed : int
        Seeds the library.
    n_jobs : int
        Threads.

    Returns
    -------
    object
        The fitted model (a LightGBM booster for ``"lightgbm"``).
    """
    leaf = min_leaf_samples(X.shape[0])
    if backend == "sklearn":
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(
            learning_rate=lr,
            max_iter=n_trees,
            max_depth=depth,
            max_leaf_nodes=None,
            min_samples_leaf=leaf,
            max_bins=2,
            early_stopping=False,
            random_state=seed,
        )
    elif backend == "lightgbm":
        import lightgbm as lgb

        params = _lightgbm_params(depth, lr, leaf, seed, n_jobs)
        train = lgb.Dataset(X, y, params={"verbosity": -1})
        return lgb.train(params, train, num_boost_round=n_trees, keep_training_booster=True)
    else:
        import xgboost as xgb

        model = xgb.XGBRegressor(
            n_estimators=n_trees,
            learning_rate=lr,
            max_depth=depth,
            min_child_weight=float(leaf),
            tree_method="hist",
            base_score=float(np.float32(np.mean(y))),
            random_state=seed,
            n_jobs=n_jobs,
        )
    model.fit(X, y)
    return model


def fit_early_stopped(
    backend: str,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    depth: int,
    lr: float,
    max_trees: int,
    patience: int,
    seed: int,
    n_jobs: int,
) -> tuple[Any, int]:
    """Fit one early-stopped proxy of ``backend``.

    Parameters
    ----------
    backend : str
        ``"sklearn"``, ``"lightgbm"`` or ``"xgboost"``.
    X, y : ndarray
        Training masks and values.
    X_val, y_val : ndarray
        Validation masks and values watched by early stopping.
    depth, lr : object
        As for :func:`refit_fixed`.
    max_trees : int
        Cap on trees.
    patience : int
        Rounds without improvement before stopping.
    seed, n_jobs : object
        As for :func:`refit_fixed`.

    Returns
    -------
    tuple
        (the model, the number of trees kept).

    Raises
    ------
    ValueError
        For a backend that is not one of ``"sklearn"``, ``"lightgbm"``, ``"xgboost"``.
    """
    if backend == "sklearn":
        return _fit_sklearn(X, y, X_val, y_val, depth, lr, max_trees, patience, seed)
    if backend == "lightgbm":
        return _fit_lightgbm(X, y, X_val, y_val, depth, lr, max_trees, patience, seed, n_jobs)
    if backend == "xgboost":
        return _fit_xgboost(X, y, X_val, y_val, depth, lr, max_trees, patience, seed, n_jobs)
    raise ValueError(f"unknown tree backend {backend!r}")

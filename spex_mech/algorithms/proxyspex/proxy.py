"""Stage 2: gradient-boosted tree proxies for ProxySPEX, fitted with a lean hyperparameter search.

The published ProxySPEX tunes LightGBM by a 5-fold grid over depth × trees × learning rate (12–18
configurations, 60–90 fits). Here the number of trees is chosen by early stopping on one validation
split, with a fixed learning rate, and only the depth is searched (two values by default): one fit
per depth. ``benchmarks/proxyspex_benchmark.py --hpo`` compares the two.

Backends: scikit-learn's ``HistGradientBoostingRegressor`` (always available), LightGBM and XGBoost
(when installed; the library calls are in :mod:`.backends`), or any scikit-learn-style tree regressor
passed in (fitted as given, no search).
Threads default to 1: the value function (a torch model) and other processes usually hold the cores,
and OpenMP tree builders slow down by an order of magnitude when oversubscribed.

:class:`ProxyConfig` holds every tree knob (backend, depths, learning rate, tree cap, patience,
threads) and offers the stage's protocol: :meth:`ProxyConfig.fit` (one early-stopped proxy per depth)
and :meth:`ProxyConfig.refit` (a chosen configuration on other masks).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from ...results.interactions import r2_score
from .._threads import thread_limit
from .backends import fit_early_stopped, fit_estimator, import_backend, min_leaf_samples, refit_fixed

__all__ = [
    "BACKENDS",
    "DEFAULT_DEPTH",
    "SHALLOW_DEPTH",
    "ProxyConfig",
    "ProxyFit",
    "fit_proxy",
    "min_leaf_samples",
    "refit_proxy",
    "resolve_backend",
]

BACKENDS = ("sklearn", "lightgbm", "xgboost")
DEFAULT_DEPTH = 5  # deepest proxy trees (highest order) without max_order, as in the published grid
SHALLOW_DEPTH = 3  # the other depth tried: better proxies when few masks support deep trees


@dataclass(frozen=True)
class ProxyFit:
    """A fitted proxy and how it was chosen.

    Attributes
    ----------
    model : object
        The fitted regressor (or booster).
    backend : str
        ``"sklearn"``, ``"lightgbm"``, ``"xgboost"``, or the class name of a passed-in estimator.
    depth : int or None
        Tree depth (None for a passed-in estimator).
    n_trees : int
        Trees kept by early stopping (−1 for a passed-in estimator).
    validation_r2 : float
        The proxy's R² on the validation split.
    learning_rate : float or None
        Boosting step (None for a passed-in estimator).
    """

    model: Any
    backend: str
    depth: Optional[int]
    n_trees: int
    validation_r2: float
    learning_rate: Optional[float]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def resolve_backend(proxy: Any) -> str:
    """Return the backend name for ``proxy`` ("auto" → scikit-learn).

    Parameters
    ----------
    proxy : str or estimator
        A backend name or a regressor with ``fit``/``predict``.

    Returns
    -------
    str
        ``"sklearn"``, ``"lightgbm"``, ``"xgboost"`` or ``"estimator"``.

    Raises
    ------
    TypeError
        For an object without ``fit``/``predict``.
    ImportError
        For a backend that is not installed.
    ValueError
        For an unknown name.
    """
    if not isinstance(proxy, str):
        if not (hasattr(proxy, "fit") and hasattr(proxy, "predict")):
            raise TypeError(f"proxy must be 'auto', one of {BACKENDS} or a regressor with fit/predict, got {proxy!r}")
        return "estimator"
    name = proxy.lower()
    if name in ("auto", "sklearn", "scikit-learn", "hgb"):
        return "sklearn"
    if name in ("lightgbm", "lgbm"):
        if not _installed("lightgbm"):
            raise ImportError("proxy='lightgbm' needs the lightgbm package: pip install lightgbm")
        return "lightgbm"
    if name in ("xgboost", "xgb"):
        if not _installed("xgboost"):
            raise ImportError("proxy='xgboost' needs the xgboost package: pip install xgboost")
        return "xgboost"
    raise ValueError(f"unknown proxy {proxy!r}: use 'auto', 'sklearn', 'lightgbm', 'xgboost' or an estimator")


def fit_proxy(
    backend: str,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    depths: Sequence[int],
    learning_rate: float = 0.1,
    max_trees: int = 1000,
    patience: int = 25,
    seed: int = 0,
    n_jobs: int = 1,
    estimator: Any = None,
) -> list[ProxyFit]:
    """One early-stopped proxy per depth, fitted on (X, y): a list of :class:`ProxyFit`.

    X are 0/1 masks; early stopping watches the loss on (X_val, y_val) and each fit reports its
    validation R². The caller picks the depth (ProxySPEX picks by the validation R² of the *surrogate*
    read off each proxy: a shallower proxy can predict better yet miss higher-order terms; with few
    masks it refits each configuration on all of them with :func:`refit_proxy`). A passed-in
    ``estimator`` is fitted once, as given.

    Parameters
    ----------
    backend : str
        ``"sklearn"``, ``"lightgbm"``, ``"xgboost"`` or ``"estimator"``.
    X, y : ndarray
        Training masks [m, n] and values [m].
    X_val, y_val : ndarray
        Validation masks and values (early stopping and the reported R²).
    depths : sequence of int
        One fit per depth.
    learning_rate : float
        Boosting step.
    max_trees : int
        Cap on trees.
    patience : int
        Early-stopping patience (rounds without improvement).
    seed : int
        Seeds the library.
    n_jobs : int
        Threads.
    estimator : object, optional
        The regressor for ``backend="estimator"``.

    Returns
    -------
    list of ProxyFit
        One per depth (one for an estimator).
    """
    import_backend(backend)  # before the thread limit, so that it covers the library's own runtime
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    Xvf = np.ascontiguousarray(X_val, dtype=np.float32)
    if backend == "estimator":
        with thread_limit(n_jobs):
            model = fit_estimator(estimator, Xf, y)
            r2 = r2_score(y_val, np.asarray(model.predict(Xvf), dtype=np.float64))
        return [ProxyFit(model, type(model).__name__, None, -1, r2, None)]
    fits = []
    for depth in depths:
        with thread_limit(n_jobs):
            model, trees = fit_early_stopped(
                backend, Xf, y, Xvf, y_val, depth, learning_rate, max_trees, patience, seed, n_jobs
            )
            r2 = r2_score(y_val, np.asarray(model.predict(Xvf), dtype=np.float64))
        fits.append(ProxyFit(model, backend, int(depth), trees, r2, learning_rate))
    return fits


def refit_proxy(
    fit: ProxyFit, X: np.ndarray, y: np.ndarray, *, seed: int = 0, n_jobs: int = 1, estimator: Any = None
) -> Any:
    """``fit``'s configuration (backend, depth, tree count) refitted on (X, y), without early stopping.

    Used when ProxySPEX cross-validates: for the final proxy on all masks and for each fold's proxy,
    built the same way, so the support chosen on a fold's held-out masks is not chosen by a proxy
    that saw them. Refitting on the early-stopping split's training masks gives the early-stopped
    model's trees again (tested per backend).

    Parameters
    ----------
    fit : ProxyFit
        The configuration (backend, depth, learning rate, tree count).
    X, y : ndarray
        Masks and values to fit.
    seed : int
        Seeds the library.
    n_jobs : int
        Threads.
    estimator : object, optional
        The regressor, when ``fit`` came from a passed-in estimator.

    Returns
    -------
    object
        The fitted model (or booster).
    """
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    import_backend(fit.backend)
    with thread_limit(n_jobs):
        if fit.depth is None:  # a passed-in estimator, fitted as given
            return fit_estimator(estimator, Xf, y)
        return refit_fixed(fit.backend, Xf, y, int(fit.depth), fit.learning_rate, max(1, fit.n_trees), seed, n_jobs)


@dataclass(frozen=True)
class ProxyConfig:
    """How ProxySPEX fits its tree proxies: every tree knob lives here.

    Attributes
    ----------
    backend : str
        ``"sklearn"``, ``"lightgbm"``, ``"xgboost"`` or ``"estimator"``.
    depths : tuple of int
        Depths searched (one early-stopped fit each).
    learning_rate, max_trees, patience : float, int, int
        Boosting step, cap on trees, early-stopping patience (unused by a passed-in estimator).
    n_jobs : int
        Threads for tree fitting.
    estimator : object or None
        A scikit-learn-style regressor fitted as given (``backend="estimator"``).

    Examples
    --------
    >>> ProxyConfig.from_arguments("sklearn", max_order=2).depths
    (2,)
    """

    backend: str = "sklearn"
    depths: tuple = (SHALLOW_DEPTH, DEFAULT_DEPTH)
    learning_rate: float = 0.1
    max_trees: int = 1000
    patience: int = 25
    n_jobs: int = 1
    estimator: Any = None

    @classmethod
    def from_arguments(
        cls,
        proxy: Union[str, Any, "ProxyConfig"] = "auto",
        *,
        max_order: Optional[int] = None,
        n_jobs: int = 1,
        depths: Optional[Sequence[int]] = None,
        learning_rate: Optional[float] = None,
        max_trees: Optional[int] = None,
        patience: Optional[int] = None,
    ) -> "ProxyConfig":
        """Build (or check) the configuration from ``proxyspex``'s arguments.

        Parameters
        ----------
        proxy : str, estimator or ProxyConfig
            A backend name, a regressor with ``fit``/``predict``, or a ready configuration.
        max_order : int or None
            Caps the depths; the default depths are ``(3, max_order or 5)`` (deduplicated).
        n_jobs : int
            Tree-fitting threads (when ``proxy`` is a ProxyConfig, its own ``n_jobs`` is kept).
        depths, learning_rate, max_trees, patience : optional
            Tree knobs given as separate keyword arguments (the older spelling); None leaves the
            default.

        Returns
        -------
        ProxyConfig

        Raises
        ------
        ValueError
            When a knob is given both in a ProxyConfig and as a keyword, when boosting knobs are given
            with a passed-in estimator (they would do nothing), or when depths exceed ``max_order``.
        TypeError, ImportError
            See :func:`resolve_backend`.
        """
        knobs = {"depths": depths, "learning_rate": learning_rate, "max_trees": max_trees, "patience": patience}
        given = [k for k, v in knobs.items() if v is not None]
        if isinstance(proxy, ProxyConfig):
            if given:
                raise ValueError(
                    f"proxyspex: {', '.join(given)} given both in the ProxyConfig and as keywords; give them once"
                )
            config = proxy
        else:
            backend = resolve_backend(proxy)
            boosting = [k for k in given if k != "depths"]
            if backend == "estimator" and boosting:
                raise ValueError(
                    f"proxyspex: {', '.join(boosting)} do nothing when proxy is an estimator (it is fitted as given)"
                )
            if depths is None:
                top = int(max_order) if max_order is not None else DEFAULT_DEPTH
                depths = tuple(sorted({min(SHALLOW_DEPTH, top), top}))
            config = cls(
                backend=backend,
                depths=tuple(int(d) for d in depths),
                learning_rate=0.1 if learning_rate is None else learning_rate,
                max_trees=1000 if max_trees is None else max_trees,
                patience=25 if patience is None else patience,
                n_jobs=n_jobs,
                estimator=proxy if backend == "estimator" else None,
            )
        if max_order is not None and any(d > max_order for d in config.depths):
            raise ValueError(f"depths {config.depths} exceed max_order={max_order}")
        return config

    def fit(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *, seed: int = 0
    ) -> list[ProxyFit]:
        """Fit one early-stopped proxy per depth on (X, y), stopped on (X_val, y_val) (:func:`fit_proxy`).

        Parameters
        ----------
        X, y : ndarray
            Training masks and values.
        X_val, y_val : ndarray
            Validation masks and values.
        seed : int
            Seeds the library.

        Returns
        -------
        list of ProxyFit
        """
        return fit_proxy(
            self.backend,
            X,
            y,
            X_val,
            y_val,
            depths=self.depths,
            learning_rate=self.learning_rate,
            max_trees=self.max_trees,
            patience=self.patience,
            seed=seed,
            n_jobs=self.n_jobs,
            estimator=self.estimator,
        )

    def refit(self, fit: ProxyFit, X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> Any:
        """Refit ``fit``'s configuration on (X, y) without early stopping (:func:`refit_proxy`).

        Parameters
        ----------
        fit : ProxyFit
            The configuration.
        X, y : ndarray
            Masks and values.
        seed : int
            Seeds the library.

        Returns
        -------
        object
            The fitted model.
        """
        return refit_proxy(fit, X, y, seed=seed, n_jobs=self.n_jobs, estimator=self.estimator)

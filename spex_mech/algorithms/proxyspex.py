"""ProxySPEX: interactions read exactly off a gradient-boosted tree proxy fitted on random masks.

Procedure (Butler et al., NeurIPS 2025, with the changes marked *):

1. ``budget`` uniformly random masks, designed up front (distinct masks when n ≤ 24) and evaluated
   in large batches.
2. A gradient-boosted tree proxy on (mask, value) pairs. *Lean search: one early-stopped fit per
   depth (3 and 5 by default) on 80 % of the masks, stopped on the other 20 %, with a fixed learning
   rate, instead of a 5-fold grid over depth × trees × learning rate.
3. The proxy's exact Fourier spectrum (:mod:`spex_mech.algorithms.trees`).
4. *Keep the top interaction coefficients, choosing how many by held-out R² (not a fixed 95 % of the
   energy); ∅ and the singletons are always kept (unless the sample is too small for that many: see
   ``singletons``); refit the kept support by ridge regression with its
   penalty chosen on the held-out masks, then refit on all masks. The depth whose surrogate
   validates best is kept (a shallower proxy may predict better yet miss higher orders). With at
   most 1,000 masks the held-out masks are 5 cross-validation folds instead of one split, and the
   proxy is refitted on all masks.
5. *Optional confirmation: for the top interactions, evaluate the joint mask and all its sub-masks
   on a few base masks and compare the measured discrete derivative with the surrogate's.

Known failure mode (paper App. B.4, and ``tests/test_proxyspex.py``): trees cannot represent sparse
*non-hierarchical* spectra (high-order parities whose subsets carry nothing). The validation R² in
``result.params`` then stays low and a warning is issued; the result does not claim success.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
from threadpoolctl import threadpool_limits

from ..results import spectrum as spec
from ..results.interactions import Interactions
from ..valuefn import ValueFunction, uniform_masks
from . import trees
from .hierarchy import grow_and_terms
from .proxy_models import fit_proxy, resolve_backend

__all__ = ["proxyspex", "confirm_interactions", "design_masks", "LOW_R2_WARNING"]

LOW_R2_WARNING = 0.5  # warn when the surrogate explains less held-out variance than this
_DISTINCT_MAX_N = 24  # below this, masks are drawn without replacement
_MAX_DESIGN_CELLS = 40_000_000  # samples × kept coefficients in the refit design (float64: 320 MB)
_MAX_COLUMNS = 4000  # most candidate coefficients scored (Gram matrix 4000² float64 = 128 MB)
_ALPHAS = np.array([1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0])  # ridge penalty / samples
_SCREEN_MIN = 256  # the refit searches at most max(this, 4 × the proxy-only optimum) interactions
_SCREEN_FACTOR = 4
_SE_RULE = 0.0  # keep the smallest support within this many standard errors of the best validation MSE
_ALL_SINGLETONS_RATIO = 4  # singletons="auto": all n singletons when n ≤ training masks / this
_VAL_FRACTION = 0.2
_DEFAULT_DEPTH = 5  # deepest proxy trees (highest order) without max_order, as in the published grid
_SHALLOW_DEPTH = 3  # the other depth tried: better proxies when few masks support deep trees
_SMALL_BUDGET = 1000  # at most this many masks: proxy refitted on all of them, support chosen by CV
_CV_FOLDS = 5
_MIN_BUDGET = 10


# ------------------------------------------------------------------------------------------ design


def design_masks(n: int, budget: int, seed: Union[int, np.random.Generator] = 0) -> np.ndarray:
    """``budget`` uniformly random masks, bool [budget, n]; distinct (without replacement) for n ≤ 24.

    For small n, sampling with replacement would spend evaluations on repeats; a budget above 2^n
    is capped at 2^n (every mask once).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if n <= _DISTINCT_MAX_N:
        total = 1 << n
        codes = rng.choice(total, size=min(int(budget), total), replace=False)
        return ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    return uniform_masks(n, int(budget), rng)


def _evaluate(vf: ValueFunction, masks: np.ndarray, batch_size: Optional[int]) -> np.ndarray:
    chunk = int(batch_size) if batch_size else max(1, (1 << 25) // max(1, masks.shape[1]))
    out = np.empty(masks.shape[0], dtype=np.float64)
    for start in range(0, masks.shape[0], chunk):
        out[start : start + chunk] = vf(masks[start : start + chunk])
    return out


# ----------------------------------------------------------------------------- support and ridge refit


def fourier_features(keys: np.ndarray, masks: np.ndarray, n: int) -> np.ndarray:
    """χ_k(x) = (−1)^⟨x,k⟩ for every mask row and support row: float64 [B, K]."""
    if keys.shape[0] == 0:
        return np.zeros((masks.shape[0], 0))
    smat = spec.support_matrix(keys, n)
    counts = np.asarray(smat @ np.asarray(masks, dtype=np.float32).T).T
    return 1.0 - 2.0 * (np.rint(counts).astype(np.int64) & 1)


def _centre(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    mean_x = X.mean(axis=0)
    return X - mean_x, mean_x, float(y.mean())


def _ridge_path(F_tr: np.ndarray, y: np.ndarray, F_val: np.ndarray, yv: np.ndarray, alphas: np.ndarray):
    """Held-out squared errors of ridge fits on every column prefix, for each penalty.

    Returns (Σ e², Σ e⁴), each [A, K + 1], over the held-out rows; entry [a, c] uses the first c
    columns (c = 0: the training mean). One Cholesky factor L of (XᵀX + α·m·I) serves every prefix: a
    prefix fit's held-out prediction is the running sum of the columns of (X_val L^{−T}) weighted by
    z = L^{−1}Xᵀy, because the leading blocks of a Cholesky factor factor the leading blocks of the
    matrix. Columns are centred (unpenalised intercept).
    """
    import scipy.linalg as sla

    Xc, mean_x, mean_y = _centre(F_tr, y)
    Vc = F_val - mean_x
    gram = Xc.T @ Xc
    rhs = Xc.T @ (y - mean_y)
    m, k = Xc.shape
    resid0 = yv - mean_y
    s2 = np.full((alphas.shape[0], k + 1), np.inf)
    s4 = np.zeros((alphas.shape[0], k + 1))
    s2[:, 0], s4[:, 0] = np.sum(resid0**2), np.sum(resid0**4)
    for a, alpha in enumerate(alphas if k else []):
        try:
            L = sla.cholesky(gram + alpha * m * np.eye(k), lower=True)
        except np.linalg.LinAlgError:
            continue
        z = sla.solve_triangular(L, rhs, lower=True)
        W = sla.solve_triangular(L, Vc.T, lower=True).T  # X_val L^{-T}
        sq = (resid0[:, None] - np.cumsum(W * z[None, :], axis=1)) ** 2
        s2[a, 1:], s4[a, 1:] = sq.sum(axis=0), (sq**2).sum(axis=0)
    return s2, s4


def _ridge_solve(F: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """(intercept, β) of ridge on centred columns with penalty α·m (the intercept is unpenalised)."""
    import scipy.linalg as sla

    if F.shape[1] == 0:
        return float(y.mean()), np.zeros(0)
    Xc, mean_x, mean_y = _centre(F, y)
    gram = Xc.T @ Xc + alpha * Xc.shape[0] * np.eye(Xc.shape[1])
    beta = sla.cho_solve(sla.cho_factor(gram, lower=True), Xc.T @ (y - mean_y))
    return mean_y - float(mean_x @ beta), beta


def _rank_candidates(
    keys: np.ndarray, values: np.ndarray, n_units: int, singletons: str, max_order: Optional[int], n_train: int
):
    """Split the proxy spectrum into the always-kept singletons and the rest ranked by |F|.

    Returns (kept singleton keys, their proxy values, other keys by |F| descending, their values,
    the singleton mode used). ``singletons``: "all" keeps all n units' singletons, "proxy" those the
    proxy split on, "ranked" none (singletons compete with interactions on |F|); "auto" is "all" with
    at least ``_ALL_SINGLETONS_RATIO`` training masks per unit, else "proxy" with that many per proxy
    singleton, else "ranked" (hundreds of always-kept noise singletons would swamp a small sample).
    """
    orders = spec.key_orders(keys)
    allowed = orders <= max_order if max_order is not None else np.ones_like(orders, dtype=bool)
    single = np.nonzero((orders == 1) & allowed)[0]
    if singletons == "auto":
        if n_units * _ALL_SINGLETONS_RATIO <= n_train:
            singletons = "all"
        elif single.shape[0] * _ALL_SINGLETONS_RATIO <= n_train:
            singletons = "proxy"
        else:
            singletons = "ranked"
    rest = np.nonzero((orders >= (1 if singletons == "ranked" else 2)) & allowed)[0]
    rest = rest[np.argsort(-np.abs(values[rest]), kind="stable")]
    if singletons == "ranked":
        single = single[:0]
    base_keys, base_vals = keys[single], values[single]
    if singletons == "all":
        missing = np.setdiff1d(np.arange(n_units), base_keys[:, 0])
        if missing.size:
            extra = np.full((missing.size, keys.shape[1]), -1, np.int64)
            extra[:, 0] = missing
            base_keys = np.concatenate([base_keys, extra])
            base_vals = np.concatenate([base_vals, np.zeros(missing.size)])
    return base_keys, base_vals, keys[rest], values[rest], singletons


def _prefix_curve(F: np.ndarray, coefs: np.ndarray, const: float, values: np.ndarray, folds, refine: bool):
    """Held-out (mse, standard error, penalty index) of every prefix of the columns of F: arrays [K + 1].

    ``folds`` are (training rows, held-out rows) pairs; errors are pooled over all held-out rows.
    """
    s2 = s4 = 0.0
    count = 0
    for train, held in folds:
        yv = values[held]
        if refine:
            a2, a4 = _ridge_path(F[train], values[train], F[held], yv, _ALPHAS)
        else:
            running = np.cumsum(F[held] * coefs[None, :], axis=1)
            sq = (yv[:, None] - const - np.concatenate([np.zeros((yv.shape[0], 1)), running], axis=1)) ** 2
            a2, a4 = sq.sum(axis=0)[None, :], (sq**2).sum(axis=0)[None, :]
        s2, s4, count = s2 + a2, s4 + a4, count + held.shape[0]
    mse = s2 / count
    se = np.sqrt(np.clip(s4 / count - mse**2, 0.0, None) / count)
    best_alpha = np.argmin(mse, axis=0)
    cols = np.arange(mse.shape[1])
    return mse[best_alpha, cols], se[best_alpha, cols], best_alpha


def _smallest_good(mse: np.ndarray, se: np.ndarray) -> int:
    """The smallest prefix whose error is within _SE_RULE standard errors of the best prefix's."""
    best = int(np.argmin(mse))
    return int(np.nonzero(mse <= mse[best] + _SE_RULE * se[best])[0][0])


def _select_support(
    base_keys: np.ndarray,
    base_vals: np.ndarray,
    ranked: np.ndarray,
    ranked_vals: np.ndarray,
    const: float,
    masks: np.ndarray,
    values: np.ndarray,
    folds: list,
    n: int,
    refine: bool,
    fixed_k: Optional[int],
) -> dict[str, Any]:
    """Choose how many of the ranked interactions to keep (and the ridge penalty) by held-out error.

    Columns are the singletons (always kept), then the interactions by decreasing proxy |F|; every
    prefix length is scored on the held-out rows of ``folds``: with ``refine`` as a ridge fit on the
    training rows, otherwise as the proxy's own truncated spectrum. The smallest prefix whose held-out
    MSE is within ``_SE_RULE`` standard errors of the best is kept. The refit's search is bounded by
    a cheap screen: 4× the prefix at which the proxy's own truncated spectrum is best (at least 256
    interactions), so the ridge path is not run over thousands of noise-level columns. With ``refine``, the kept
    interactions are then re-ranked by their refitted |coefficient| and the prefix search is repeated,
    which drops the proxy's spurious terms that only rode along in the first prefix.
    """
    n_base = base_keys.shape[0]
    n_train = min(t.shape[0] for t, _ in folds)
    cap_cells = max(1, _MAX_DESIGN_CELLS // max(1, masks.shape[0]))
    k_cap = max(0, min(ranked.shape[0], cap_cells - n_base, _MAX_COLUMNS - n_base))
    if refine:  # keep the refit well determined: at most half the training masks as columns
        k_cap = max(0, min(k_cap, n_train // 2 - n_base))
    if fixed_k is not None:
        k_cap = min(int(fixed_k), ranked.shape[0])
    keys = np.concatenate([base_keys, ranked[:k_cap]])
    vals = np.concatenate([base_vals, ranked_vals[:k_cap]])
    F = fourier_features(keys, masks, n)
    if refine and fixed_k is None and k_cap > _SCREEN_MIN:
        # screen: where the proxy's own truncated spectrum stops improving bounds the refit's search
        proxy_mse, _, _ = _prefix_curve(F, vals, const, values, folds, refine=False)
        k_cap = min(k_cap, max(_SCREEN_MIN, _SCREEN_FACTOR * int(np.argmin(proxy_mse[n_base:]))))
        keys, vals, F = keys[: n_base + k_cap], vals[: n_base + k_cap], F[:, : n_base + k_cap]
    mse, se, alpha_idx = _prefix_curve(F, vals, const, values, folds, refine)
    k = k_cap if fixed_k is not None else _smallest_good(mse[n_base:], se[n_base:])
    held = np.concatenate([h for _, h in folds])
    var = float(np.var(values[held])) or 1.0
    first_curve = 1.0 - mse[n_base:] / var
    if refine and fixed_k is None and k > 1:
        alpha = float(_ALPHAS[alpha_idx[n_base + k]])
        train = folds[0][0] if len(folds) == 1 else np.arange(masks.shape[0])
        _, beta = _ridge_solve(F[train, : n_base + k], values[train], alpha)
        order = np.concatenate([np.arange(n_base), n_base + np.argsort(-np.abs(beta[n_base:]), kind="stable")])
        keys, vals, F = keys[order], vals[order], F[:, order]
        mse, se, alpha_idx = _prefix_curve(F, vals, const, values, folds, refine)
        k = _smallest_good(mse[n_base:], se[n_base:])
    r2 = 1.0 - mse / var
    sizes = np.unique(np.concatenate([np.rint(np.geomspace(1, max(1, k_cap), 16)).astype(np.int64), [0]]))
    sizes = sizes[sizes <= k_cap]
    return {
        "keys": keys[: n_base + k],
        "values": vals[: n_base + k],
        "n_interactions": int(k),
        "alpha": float(_ALPHAS[alpha_idx[n_base + k]]) if refine else 0.0,
        "validation_r2": float(r2[n_base + k]),
        "curve": [{"n_interactions": int(c), "validation_r2": float(first_curve[c])} for c in sizes],
    }


# ------------------------------------------------------------------------------------- confirmation


def confirm_interactions(
    f: Callable[[np.ndarray], Any],
    result: Interactions,
    k: int,
    *,
    n_bases: int = 2,
    seed: int = 0,
    min_order: int = 2,
    tolerance: float = 0.5,
    max_order: int = 10,
    vf: Optional[ValueFunction] = None,
) -> list[dict[str, Any]]:
    """Check the ``k`` largest Möbius interactions against the real ``f`` with targeted ablations.

    For each interaction S and each base mask b (the clean model, all units kept, then random masks),
    f is evaluated on all 2^|S| settings of S's units with the others as in b. The measured discrete
    derivative Δ_S f(b) = Σ_{T ⊆ S} (−1)^{|S|−|T|} f(b_S←T) is compared with the surrogate's on the same
    masks. ``confirmed`` means the relative error ‖measured − predicted‖/‖predicted‖ over the bases is
    at most ``tolerance`` and the mean signs agree. Evaluations: Σ_S n_bases·2^|S| (counted by ``vf``).
    """
    vf = vf if vf is not None else ValueFunction(f, result.n)
    terms = [t for t in result.top(k, basis="mobius", min_order=min_order) if t.order <= max_order]
    rng = np.random.default_rng(seed)
    bases = np.ones((max(1, n_bases), result.n), dtype=bool)
    if n_bases > 1:
        bases[1:] = rng.random((n_bases - 1, result.n)) < 0.5
    rows = []
    for term in terms:
        units = np.array(term.units, dtype=np.int64)
        d = units.shape[0]
        patterns = ((np.arange(1 << d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)  # [2^d, d]
        sign = np.where((d - patterns.sum(axis=1)) % 2 == 0, 1.0, -1.0)
        masks = np.repeat(bases, patterns.shape[0], axis=0)
        masks[:, units] = np.tile(patterns, (bases.shape[0], 1))
        measured = (vf(masks).reshape(bases.shape[0], -1) * sign).sum(axis=1)
        predicted = (result.predict(masks).reshape(bases.shape[0], -1) * sign).sum(axis=1)
        err = float(np.linalg.norm(measured - predicted))
        scale = float(np.linalg.norm(predicted))
        rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        same_sign = bool(np.sign(measured.mean()) == np.sign(predicted.mean()))
        rows.append(
            {
                "units": list(term.units),
                "labels": list(term.labels),
                "mobius": float(term.value),
                "measured": measured.tolist(),
                "predicted": predicted.tolist(),
                "relative_error": rel,
                "confirmed": bool(rel <= tolerance and same_sign),
                "evaluations": int(masks.shape[0]),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------ API


def proxyspex(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    budget: int,
    max_order: Optional[int] = None,
    seed: int = 0,
    proxy: Any = "auto",
    n_coefficients: Union[str, int] = "auto",
    refine: bool = True,
    confirm: int = 0,
    batch_size: Optional[int] = None,
    depths: Optional[Sequence[int]] = None,
    learning_rate: float = 0.1,
    max_trees: int = 1000,
    patience: int = 25,
    validation_fraction: float = _VAL_FRACTION,
    singletons: str = "auto",
    confirm_bases: int = 2,
    grow: bool = True,
    n_jobs: int = 1,
) -> Interactions:
    """Sparse Fourier interactions of ``f`` from a tree proxy fitted on ``budget`` random masks.

    Parameters
    ----------
    f, n:
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit); n defaults to ``f.n``.
    budget:
        Number of value-function evaluations for the random design (capped at 2^n).
    max_order:
        Largest interaction order: caps the tree depth (a depth-d tree has no Fourier term above d)
        and the kept orders. Default: depth 5.
    seed:
        Seeds the design, the validation split, the proxy and the confirmation bases.
    proxy:
        ``"auto"``/``"sklearn"`` (HistGradientBoosting), ``"lightgbm"``, ``"xgboost"``, or a
        scikit-learn-style tree regressor (fitted as given, no search).
    n_coefficients:
        How many ranked terms to keep: ``"auto"`` chooses by held-out R²; an int keeps that many of
        the proxy's largest. The ranked terms are the interactions (order ≥ 2), plus the singletons when
        these are ranked rather than always kept (see ``singletons``). ∅ is always kept.
    refine:
        Refit the kept coefficients by ridge regression (penalty chosen on the validation split);
        otherwise keep the proxy's own coefficients.
    confirm:
        Check the top ``confirm`` Möbius interactions (order ≥ 2) with targeted ablations on
        ``confirm_bases`` base masks (see :func:`confirm_interactions`); the table goes to
        ``result.params["confirmation"]`` and the evaluations count in ``n_evaluations``.
    batch_size:
        Most masks per call to ``f`` (default: about 32 M mask cells per call).
    depths:
        Tree depths searched (one early-stopped fit each; the one whose surrogate validates best is
        kept); default ``(3, max_order or 5)``.
    learning_rate, max_trees, patience:
        Boosting step, cap on trees, early-stopping patience (rounds without validation improvement).
    validation_fraction:
        Share of the masks held out for early stopping and for choosing the support and penalty.
    singletons:
        ``"all"`` always keeps all n singletons; ``"proxy"`` those of the units the proxy splits on;
        ``"ranked"`` lets singletons compete with interactions on |F|. ``"auto"`` (default) is "all"
        with at least 4 training masks per unit, else "proxy" with at least 4 per proxy singleton, else
        "ranked": at n = 1024 and ~1,000 masks the trees touch hundreds of noise units, and keeping all
        their singletons costs more held-out R² than it explains (measured: 0.35 vs 0.85).
    grow:
        With ``refine`` and ``n_coefficients="auto"``: extend the support by AND terms one unit larger
        than found ones where the residual shows them and cross-validation agrees
        (:mod:`spex_mech.algorithms.hierarchy`); recovers high-order terms the trees saw only in part.
    n_jobs:
        Threads for tree fitting (1 by default; see :mod:`spex_mech.algorithms.proxy_models`).

    Returns
    -------
    Interactions with ``algorithm="proxyspex"``; ``params`` holds the proxy and surrogate validation
    R² (``proxy_validation_r2``, ``validation_r2``), the chosen support size and the R² curve, timings
    and, with ``confirm``, the confirmation table. A UserWarning is issued when the surrogate's
    validation R² is below ``LOW_R2_WARNING``.
    """
    backend = resolve_backend(proxy)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or int(budget) < _MIN_BUDGET:
        raise ValueError(f"budget must be an integer ≥ {_MIN_BUDGET}, got {budget!r}")
    if max_order is not None and (isinstance(max_order, bool) or int(max_order) < 1):
        raise ValueError(f"max_order must be a positive integer, got {max_order!r}")
    if n_coefficients != "auto" and (isinstance(n_coefficients, bool) or not isinstance(n_coefficients, (int, np.integer)) or n_coefficients < 0):
        raise ValueError(f"n_coefficients must be 'auto' or a non-negative integer, got {n_coefficients!r}")
    if singletons not in ("auto", "all", "proxy", "ranked"):
        raise ValueError(f"singletons must be 'auto', 'all', 'proxy' or 'ranked', got {singletons!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
    if depths is None:
        top = int(max_order) if max_order is not None else _DEFAULT_DEPTH
        depths = tuple(sorted({min(_SHALLOW_DEPTH, top), top}))
    depths = tuple(int(d) for d in depths)
    if max_order is not None and any(d > max_order for d in depths):
        raise ValueError(f"depths {depths} exceed max_order={max_order}")

    vf = ValueFunction(f, n, max_batch=batch_size)
    n = vf.n
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    masks = design_masks(n, int(budget), rng)
    values = _evaluate(vf, masks, batch_size)
    t_fit = time.perf_counter()

    m = masks.shape[0]
    n_val = int(np.clip(round(validation_fraction * m), 2, m - 2))
    perm = rng.permutation(m)
    val, train = perm[:n_val], perm[n_val:]
    small = m <= _SMALL_BUDGET
    if small:  # few masks: choose the support by K-fold CV over all of them, not one small split
        folds = [(np.setdiff1d(perm, part), part) for part in np.array_split(perm, _CV_FOLDS)]
    else:
        folds = [(train, val)]
    fits = fit_proxy(
        backend,
        masks[train],
        values[train],
        masks[val],
        values[val],
        depths=depths,
        learning_rate=learning_rate,
        max_trees=max_trees,
        patience=patience,
        seed=seed,
        n_jobs=n_jobs,
        estimator=proxy if backend == "estimator" else None,
        refit_all=small,
    )
    t_extract = time.perf_counter()
    fixed_k = None if n_coefficients == "auto" else int(n_coefficients)
    best, searched, extract_seconds = None, [], 0.0
    for fit in fits:  # one per depth; keep the proxy whose surrogate validates best
        start = time.perf_counter()
        keys, coefs = trees.fourier_spectrum(fit.model, n)
        extract_seconds += time.perf_counter() - start
        const = float(coefs[spec.key_orders(keys) == 0].sum())
        base_keys, base_vals, ranked, ranked_vals, mode = _rank_candidates(
            keys, coefs, n, singletons, max_order, min(t.shape[0] for t, _ in folds)
        )
        with threadpool_limits(n_jobs):
            choice = _select_support(
                base_keys, base_vals, ranked, ranked_vals, const, masks, values, folds, n, refine, fixed_k
            )
        choice.update(fit=fit, const=const, proxy_coefficients=int(keys.shape[0]), singletons=mode)
        searched.append(
            {
                "depth": fit.depth,
                "n_trees": fit.n_trees,
                "proxy_validation_r2": fit.validation_r2,
                "validation_r2": choice["validation_r2"],
            }
        )
        if best is None or choice["validation_r2"] > best["validation_r2"]:
            best = choice
    assert best is not None
    choice, fit = best, best["fit"]
    t_refit = time.perf_counter()
    kept = choice["keys"]
    with threadpool_limits(n_jobs):
        if refine:
            intercept, beta = _ridge_solve(fourier_features(kept, masks, n), values, choice["alpha"])
        else:
            intercept, beta = choice["const"], choice["values"]
    empty = np.full((1, max(1, kept.shape[1])), -1, np.int64)
    out_keys = np.concatenate([empty, kept]) if kept.shape[0] else empty
    out_vals = np.concatenate([[intercept], beta])
    grown = None
    if grow and refine and fixed_k is None:
        surrogate = Interactions(out_keys, out_vals, n)
        top_order = int(max_order) if max_order is not None else max(depths)
        with threadpool_limits(n_jobs):
            grown = grow_and_terms(
                surrogate.mobius(), masks, values, folds, max_order=top_order, alpha=float(choice["alpha"])
            )
        if grown is not None:  # keep it only if it also validates better than the Fourier-basis surrogate
            held = np.concatenate([h for _, h in folds])
            grown_r2 = 1.0 - grown["mse_after"] / (float(np.var(values[held])) or 1.0)
            grown = grown if grown_r2 > choice["validation_r2"] else None
        if grown is not None:
            width = max(1, max(len(t) for t in grown["terms"]))
            mkeys = np.full((len(grown["terms"]), width), -1, np.int64)
            for row, term in enumerate(grown["terms"]):
                mkeys[row, : len(term)] = term
            out_keys, out_vals = spec.mobius_to_fourier(mkeys, np.array(list(grown["terms"].values())))
            choice["validation_r2"] = grown_r2
    t_end = time.perf_counter()

    params: dict[str, Any] = {
        "budget": int(budget),
        "n_samples": int(m),
        "n_train": int(train.shape[0]),
        "n_validation": int(n_val),
        "seed": int(seed),
        "max_order": None if max_order is None else int(max_order),
        "proxy": fit.backend,
        "depth": fit.depth,
        "n_trees": fit.n_trees,
        "learning_rate": fit.learning_rate,
        "proxy_search": searched,
        "proxy_validation_r2": fit.validation_r2,
        "proxy_coefficients": choice["proxy_coefficients"],
        "refine": bool(refine),
        "singletons": choice["singletons"],
        "n_interactions": int(choice["n_interactions"]),
        "ridge_alpha": float(choice["alpha"]),
        "validation_r2": float(choice["validation_r2"]),
        "support_curve": choice["curve"],
        "grown_terms": [] if grown is None else [list(t) for t in grown["added"]],
        "evaluate_seconds": t_fit - t0,
        "fit_seconds": t_extract - t_fit,
        "extract_seconds": extract_seconds,
        "select_seconds": t_refit - t_extract - extract_seconds,
        "refit_seconds": t_end - t_refit,
    }
    result = Interactions(
        out_keys,
        out_vals,
        n,
        **vf.provenance(),
        algorithm="proxyspex",
        params=params,
    )
    if confirm:
        rows = confirm_interactions(f, result, int(confirm), n_bases=confirm_bases, seed=seed + 1, vf=vf)
        params["confirmation"] = rows
        params["confirmed"] = int(sum(r["confirmed"] for r in rows))
        result.n_evaluations = vf.n_evaluations
        result.params = params
    if params["validation_r2"] < LOW_R2_WARNING:
        warnings.warn(
            f"proxyspex: the surrogate explains only R² = {params['validation_r2']:.3f} of the held-out "
            f"variance (proxy R² = {fit.validation_r2:.3f}); the interactions are not a faithful summary "
            "of f. The spectrum may not be hierarchical (trees miss high-order terms whose subsets carry "
            "nothing), or the budget is too small; check result.faithfulness(f) or try spex.",
            UserWarning,
            stacklevel=2,
        )
    return result

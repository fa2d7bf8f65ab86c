"""Hierarchical growth: extend a sparse surrogate by AND terms one unit larger than the ones it has.

Few random masks rarely show a high-order AND (active on 1/2^k of the masks), so a tree proxy often
reports only part of it: (95, 108, 132) where the function has (79, 95, 108, 132). The missing term
is one unit away from a found one. This step searches exactly there, greedily, in the Möbius (AND)
basis where such a term is one column instead of 2^k Fourier columns:

1. fit the current Möbius support by ridge regression on all masks; residual r;
2. candidates T = S ∪ {j} for ∅ and the strongest found terms S (order < max_order) and every unit j
   (from ∅: the singletons, so an AND none of whose units was found can still be reached unit by
   unit); score each by |corr(AND_T(x), r)|;
3. each parent's extensions are one family: a candidate's excess is its correlation minus the largest
   one expected among its family's null candidates (√(2 ln #family / N)); accept the candidate with the
   largest excess only if that excess is positive *and* it lowers the cross-validated error; else stop.
   (One threshold for all families together, √(2 ln #all / N), misses terms a family test finds:
   see benchmarks/results/measured_notes.md.)
4. with ``pairs``, every pair of units is one more family (from ∅, n(n−1)/2 members, scored by one
   n × n product): a pair AND whose units show nothing alone is reachable without a found parent.

With an empty start (``mobius`` holding at most ∅) the growth is a support search of its own, one
term at a time from nothing; ProxySPEX runs it next to the proxy's read-outs when it has fewer than
2 masks per unit, where a proxy's spurious splits can mislead the support more than they guide it.

The growth looks at every mask it is given, so its own cross-validated error is optimistic.
:func:`growth_cv_mse` measures the procedure honestly: on each outer fold it grows from the training
masks alone (accepting terms by an inner split of them) and scores the start and the grown support on
the fold's held-out masks (:func:`growth_gain` is the difference). ProxySPEX keeps the growth found on
all masks and reports only that honest gain.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..results import spectrum as spec
from .ridge import ridge_fit

__all__ = ["grow_and_terms", "growth_gain", "growth_cv_mse", "inner_folds"]


def and_features(terms: Sequence[tuple[int, ...]], masks: np.ndarray) -> np.ndarray:
    """Return Π_{i∈T} x_i for every term T (∅ → 1).

    Parameters
    ----------
    terms : sequence of tuple of int
        The AND terms.
    masks : ndarray
        The masks, bool [N, n].

    Returns
    -------
    ndarray
        The columns, float [N, len(terms)].
    """
    return spec.and_features(spec.canonical_keys(terms), masks, masks.shape[1])



def _held_out_sse(A: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, alpha: float) -> float:
    """Fit :func:`_ridge` on the ``train`` rows of ``A`` and return its squared error summed over ``held``."""
    return float(np.sum((y[held] - A[held] @ _ridge(A[train], y[train], alpha)) ** 2))

def _ridge(A: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge with an unpenalised intercept column (column 0 is ∅ = all ones): [intercept, β...].

    Solved by :func:`.ridge.ridge_fit` with the ``"lu"`` factorisation (minimum-norm solution where
    duplicate AND columns make the system numerically singular).
    """
    intercept, beta = ridge_fit(A[:, 1:], y, alpha, solver="lu")
    return np.concatenate([[intercept], beta])


def cv_mse(A: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], alpha: float) -> float:
    """Return the held-out MSE of ridge fits of the fixed columns A (column 0 all ones), pooled over ``folds``.

    All folds are solved at once: each fold's normal equations are the full ones minus its held-out
    rows' share, with the intercept (column 0) unpenalised — the same fit as :func:`_ridge`'s centred one.

    Parameters
    ----------
    A : ndarray
        The columns, float [N, k], column 0 all ones.
    y : ndarray
        The targets, float [N].
    folds : sequence of (train, held)
        Row indices of each fold.
    alpha : float
        Ridge penalty per training sample (not on column 0).

    Returns
    -------
    float
    """
    gram, rhs = A.T @ A, A.T @ y
    penalty = np.full(A.shape[1], float(alpha))
    penalty[0] = 0.0
    systems, rights = [], []
    for train, held in folds:
        Ah = A[held]
        systems.append(gram - Ah.T @ Ah + np.diag(penalty * train.shape[0]))
        rights.append(rhs - Ah.T @ y[held])
    try:
        betas = np.linalg.solve(np.stack(systems), np.stack(rights)[..., None])[..., 0]
    except np.linalg.LinAlgError:  # a numerically singular fold (duplicate AND columns): one at a time
        betas = [_ridge(A[train], y[train], alpha) for train, _ in folds]
    err = sum(float(np.sum((y[held] - A[held] @ beta) ** 2)) for beta, (_, held) in zip(betas, folds))
    return err / sum(held.shape[0] for _, held in folds)


def grow_and_terms(
    mobius: Mapping[tuple[int, ...], float],
    masks: np.ndarray,
    values: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_order: int,
    alpha: float = 1e-6,
    max_rounds: int = 30,
    top_terms: int = 30,
    pairs: bool = False,
) -> Optional[dict[str, Any]]:
    """Grow a Möbius support greedily by AND terms (see the module docstring).

    Parameters
    ----------
    mobius : mapping
        The starting Möbius support: term (sorted tuple of units) → coefficient.
    masks : ndarray
        The masks, bool [N, n].
    values : ndarray
        Their values, float [N].
    folds : sequence of (train, held)
        Cross-validation folds over the rows.
    max_order : int
        Largest order a grown term may have.
    alpha : float
        Ridge penalty per sample.
    max_rounds : int
        Most terms added.
    top_terms : int
        Strongest found terms extended each round (besides ∅).
    pairs : bool
        Also test every pair of units as one family.

    Returns
    -------
    dict or None
        None when no term passes both tests (the caller keeps its surrogate); else ``terms`` (the
        refitted Möbius coefficients on all masks), ``added`` (the terms in order), ``mse_before`` and
        ``mse_after`` (cross-validated).
    """
    masks = np.asarray(masks, dtype=bool)
    y = np.asarray(values, dtype=np.float64)
    terms = sorted((t for t in mobius if t), key=lambda t: -abs(mobius[t]))
    terms = [()] + terms
    if len(terms) > masks.shape[0] // 2:
        return None  # a Möbius support too large to refit on these masks
    A = and_features(terms, masks)
    start = best_mse = cv_mse(A, y, folds, alpha)
    present = set(terms)
    added: list[tuple[int, ...]] = []
    X = masks.astype(np.float64)
    pair_search = _PairSearch(masks) if pairs and max_order >= 2 and masks.shape[1] >= 2 else None
    for _ in range(max_rounds):
        beta = _ridge(A, y, alpha)
        resid = y - A @ beta
        resid -= resid.mean()
        resid_norm = float(np.linalg.norm(resid))
        if resid_norm == 0.0:
            break
        strength = dict(zip(terms, np.abs(beta)))  # grow from the terms that carry the most weight now
        parents = [()] + [t for t in sorted(terms[1:], key=lambda t: -strength[t]) if len(t) < max_order][:top_terms]
        if not parents:
            break
        # AND(parent ∪ {j}) = AND(parent)·x_j for every parent and unit j at once; binary columns, centred r:
        # ⟨col, r⟩ = X_jᵀ(B∘r), ‖col − mean‖² = cnt − cnt²/N with cnt = X_jᵀB
        B = A[:, [terms.index(p) for p in parents]]
        dots = X.T @ (B * resid[:, None])  # [n, P]
        counts = X.T @ B
        norms = np.sqrt(np.clip(counts - counts**2 / y.shape[0], 0.0, None))
        score = np.abs(dots) / np.where(norms > 1e-9, norms, np.inf) / resid_norm
        for col, parent in enumerate(parents):
            score[list(parent), col] = 0.0  # j ∈ parent is the parent itself
        # each parent's extensions are one family, tested against its own null maximum
        family = np.maximum(np.count_nonzero(score, axis=0), 2)
        excess = score - np.sqrt(2.0 * np.log(family) / y.shape[0])[None, :]
        excess[score == 0.0] = -np.inf
        best_term, best_excess = None, 0.0
        while np.isfinite(excess).any():  # the best candidate not already in the support
            j, col = np.unravel_index(int(np.argmax(excess)), excess.shape)
            candidate = tuple(sorted(parents[col] + (int(j),)))
            if candidate not in present:
                if excess[j, col] > 0.0:
                    best_term, best_excess = candidate, float(excess[j, col])
                break
            excess[j, col] = -np.inf
        if pair_search is not None:
            pair, pair_excess = pair_search.best(resid, resid_norm, present)
            if pair is not None and pair_excess > best_excess:
                best_term = pair
        if best_term is None:
            break
        A_new = np.concatenate([A, and_features([best_term], masks)], axis=1)
        mse = cv_mse(A_new, y, folds, alpha)
        if mse >= best_mse:
            break
        A, best_mse = A_new, mse
        terms.append(best_term)
        present.add(best_term)
        added.append(best_term)
    if not added:
        return None
    beta = _ridge(A, y, alpha)
    return {"terms": dict(zip(terms, beta.tolist())), "added": added, "mse_before": start, "mse_after": best_mse}


class _PairSearch:
    """The pair AND most correlated with a centred residual, over all n(n−1)/2 pairs of units at once.

    The pairs' column norms depend on the masks alone, so they are computed once per growth; each
    round then costs one n × N × n product, in float32 (it only ranks candidates: the chosen term is
    refitted and cross-validated in float64).
    """

    def __init__(self, masks: np.ndarray):
        self.X = masks.astype(np.float32)
        N, n = masks.shape
        counts = (self.X.T @ self.X).astype(np.float64)
        norms = np.sqrt(np.clip(counts - counts**2 / N, 0.0, None))
        self.inv_norms = np.triu(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 1e-9), 1)
        self.threshold = np.sqrt(2.0 * np.log(n * (n - 1) / 2) / N)  # the pairs' null maximum

    def best(self, resid: np.ndarray, resid_norm: float, present: set) -> tuple[Optional[tuple[int, int]], float]:
        """(pair, excess over the null maximum); (None, 0) when no pair outside ``present`` has a positive excess."""
        dots = self.X.T @ (self.X * resid.astype(np.float32)[:, None])  # [n, n]: ⟨x_i x_j, r⟩
        score = np.abs(dots) * self.inv_norms / resid_norm
        for term in present:
            if len(term) == 2:
                score[term] = 0.0
        i, j = np.unravel_index(int(np.argmax(score)), score.shape)
        excess = float(score[i, j]) - self.threshold
        if not (score[i, j] > 0.0 and excess > 0.0):
            return None, 0.0
        return (int(i), int(j)), excess


def inner_folds(
    m: int, k: int, rng: np.random.Generator, val_fraction: float = 0.2
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return ``k`` cross-validation folds over ``m`` rows (k = 1: one split holding out ``val_fraction``).

    Parameters
    ----------
    m : int
        Rows.
    k : int
        Folds.
    rng : numpy.random.Generator
        Draws the permutation.
    val_fraction : float
        Held-out share with ``k = 1``.

    Returns
    -------
    list of (ndarray, ndarray)
        (train, held) row indices per fold.
    """
    perm = rng.permutation(m)
    if k <= 1:
        n_val = int(np.clip(round(val_fraction * m), 1, m - 1))
        return [(perm[n_val:], perm[:n_val])]
    return [(np.setdiff1d(perm, part), part) for part in np.array_split(perm, k)]


def growth_gain(
    mobius: Mapping[tuple[int, ...], float],
    masks: np.ndarray,
    values: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_order: int,
    alpha: float = 1e-6,
    seed: int = 0,
    pairs: bool = False,
) -> float:
    """Return the held-out MSE reduction of :func:`grow_and_terms`, each fold grown without its held-out masks.

    For every (train, held) fold: grow ``mobius`` on the training masks only (terms accepted by an
    inner split of them: as many inner folds as outer ones), refit the starting and the grown support
    on those masks, and compare their squared errors on ``held``.

    Parameters
    ----------
    mobius, masks, values, folds, max_order, alpha : object
        As for :func:`grow_and_terms` (``folds``: the outer folds).
    seed : int
        Seeds the inner folds.
    pairs : bool
        As for :func:`grow_and_terms`.

    Returns
    -------
    float
        The pooled MSE before minus after (positive: the growth generalises); 0 where a fold's growth
        added nothing.
    """
    before, after = growth_cv_mse(
        mobius, masks, values, folds, max_order=max_order, alpha=alpha, seed=seed, pairs=pairs
    )
    return before - after


def growth_cv_mse(
    mobius: Mapping[tuple[int, ...], float],
    masks: np.ndarray,
    values: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_order: int,
    alpha: float = 1e-6,
    seed: int = 0,
    pairs: bool = False,
) -> tuple[float, float]:
    """Return the pooled held-out MSE of the starting support and of the grown one.

    Each fold is grown without its held-out masks (see :func:`growth_gain`); a fold whose growth adds
    nothing scores the start.

    Parameters
    ----------
    mobius, masks, values, folds, max_order, alpha, seed, pairs : object
        As for :func:`growth_gain`.

    Returns
    -------
    tuple of float
        (MSE of the start, MSE of the grown support).
    """
    masks = np.asarray(masks, dtype=bool)
    y = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    start = and_features([()] + [t for t in mobius if t], masks)
    before, after, count = 0.0, 0.0, 0
    for train, held in folds:
        count += held.shape[0]
        inner = inner_folds(train.shape[0], len(folds), rng)
        grown = grow_and_terms(mobius, masks[train], y[train], inner, max_order=max_order, alpha=alpha, pairs=pairs)
        err = _held_out_sse(start, y, train, held, alpha)
        before += err
        if grown is not None:
            A = and_features(list(grown["terms"]), masks)
            err = _held_out_sse(A, y, train, held, alpha)
        after += err
    return before / max(1, count), after / max(1, count)

"""Stage 4: the support — how many ranked terms to keep, and the ridge penalty — chosen on held-out masks.

Keep the top candidate terms of a :class:`.readout.Ranking`, choosing how many by held-out error
(not a fixed 95 % of the energy); the base terms are always kept. Each prefix of the ranking is
scored on every fold's held-out masks as a ridge fit on the fold's training masks (penalty chosen
from ``ALPHAS``), or, without ``refine``, as the proxy's own truncated spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..ridge import ridge_fit, ridge_path
from .readout import Ranking, greedy_order
from .records import CurvePoint

__all__ = [
    "ALPHAS",
    "GREEDY_STEPS",
    "SupportChoice",
    "column_cap",
    "greedy_support",
    "pooled_curve",
    "reorder_by_refit",
    "select_support",
    "smallest_good",
    "split_errors",
]

MAX_DESIGN_CELLS = 40_000_000  # samples × kept coefficients in the refit design (float64: 320 MB)
MAX_COLUMNS = 4000  # most candidate coefficients scored (Gram matrix 4000² float64 = 128 MB)
ALPHAS = np.array([1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1.0])  # ridge penalty / samples
SCREEN_MIN = 256  # the refit searches at most max(this, 4 × the proxy-only optimum) interactions
SCREEN_FACTOR = 4
GREEDY_STEPS = 200  # most greedy steps; also at most a quarter of the training masks
GREEDY_FIRST_STEPS = 48  # greedy steps tried first; 4× more while the chosen prefix reaches past 3/4 of them
SE_RULE = 0.0  # keep the smallest support within this many standard errors of the best validation MSE


@dataclass(frozen=True)
class SupportChoice:
    """The support chosen on one ranking.

    Attributes
    ----------
    keys, values : ndarray
        The kept terms (base terms first) and their proxy coefficients.
    n_interactions : int
        Kept ranked terms.
    first_prefix : int
        Ranked terms the first prefix search kept (before re-ranking by the refit).
    alpha : float
        Ridge penalty per sample (0.0 without ``refine``).
    validation_r2 : float
        Held-out R² of the chosen prefix, pooled over the folds.
    curve : list of CurvePoint
        Held-out R² of the first search at up to 16 prefix lengths (geometric).
    """

    keys: np.ndarray
    values: np.ndarray
    n_interactions: int
    first_prefix: int
    alpha: float
    validation_r2: float
    curve: list


def split_errors(
    F: np.ndarray,
    coefs: np.ndarray,
    const: float,
    values: np.ndarray,
    train: np.ndarray,
    held: np.ndarray,
    refine: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the held-out (Σe², Σe⁴) of every column prefix on one split.

    With ``refine`` each prefix is a ridge fit on ``train`` (one row per penalty in ALPHAS);
    otherwise the proxy's own truncated spectrum (``const`` plus the first columns times ``coefs``,
    one row).

    Parameters
    ----------
    F : ndarray
        The candidate columns on every mask, float [m, K].
    coefs : ndarray
        The proxy's coefficients of the columns, float [K] (used without ``refine``).
    const : float
        The proxy's constant (used without ``refine``).
    values : ndarray
        Every mask's value, float [m].
    train, held : ndarray
        Rows fitted on and rows scored.
    refine : bool
        Ridge fits (True) or the proxy's own coefficients (False).

    Returns
    -------
    tuple of ndarray
        (Σe², Σe⁴), each [A, K + 1] (A = len(ALPHAS) with ``refine``, else 1); column c uses the
        first c columns.
    """
    yv = values[held]
    if refine:
        return ridge_path(F[train], values[train], F[held], yv, ALPHAS)
    running = np.cumsum(F[held] * coefs[None, :], axis=1)
    sq = (yv[:, None] - const - np.concatenate([np.zeros((yv.shape[0], 1)), running], axis=1)) ** 2
    return sq.sum(axis=0)[None, :], (sq**2).sum(axis=0)[None, :]


def pooled_curve(parts: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool per-fold (Σe², Σe⁴, held-out rows) over the prefix lengths all folds have.

    Parameters
    ----------
    parts : list of (ndarray, ndarray, int)
        Each fold's Σe² and Σe⁴ ([A, K + 1], as from :func:`split_errors`) and its held-out rows.

    Returns
    -------
    tuple of ndarray
        (mse, standard error, best penalty index), each [K + 1]: per prefix length, at the penalty
        with the smallest pooled error.
    """
    width = min(p[0].shape[1] for p in parts)
    s2 = sum(p[0][:, :width] for p in parts)
    s4 = sum(p[1][:, :width] for p in parts)
    count = sum(p[2] for p in parts)
    mse = s2 / count
    se = np.sqrt(np.clip(s4 / count - mse**2, 0.0, None) / count)
    best_alpha = np.argmin(mse, axis=0)
    cols = np.arange(width)
    return mse[best_alpha, cols], se[best_alpha, cols], best_alpha


def smallest_good(mse: np.ndarray, se: np.ndarray) -> int:
    """Return the smallest prefix whose error is within SE_RULE standard errors of the best prefix's.

    Parameters
    ----------
    mse, se : ndarray
        Pooled held-out error and its standard error per prefix length.

    Returns
    -------
    int
        The prefix length.
    """
    best = int(np.argmin(mse))
    return int(np.nonzero(mse <= mse[best] + SE_RULE * se[best])[0][0])


def column_cap(
    ranking: Ranking,
    n_rows: int,
    n_train: int,
    refine: bool,
    fixed_k: Optional[int],
    max_ranked: Optional[int] = None,
) -> int:
    """Return the most ranked terms a prefix search may use (memory caps; a refit stays well determined).

    Parameters
    ----------
    ranking : Ranking
        The ranking searched.
    n_rows, n_train : int
        Masks in the design, and training masks of the fold.
    refine : bool
        Prefixes are ridge fits (then at most half the training masks as columns).
    fixed_k : int or None
        A fixed support size (returned, capped at the ranked terms).
    max_ranked : int or None
        Most ranked columns (beyond the base terms) a prefix search scores; None: no cap of its own.

    Returns
    -------
    int
    """
    n_base = ranking.base_keys.shape[0]
    if fixed_k is not None:
        return min(int(fixed_k), ranking.ranked.shape[0])
    cap_cells = max(1, MAX_DESIGN_CELLS // max(1, n_rows))
    k_cap = max(0, min(ranking.ranked.shape[0], cap_cells - n_base, MAX_COLUMNS - n_base))
    if max_ranked is not None:
        k_cap = min(k_cap, int(max_ranked))
    if refine:  # at most half the training masks as columns
        k_cap = max(0, min(k_cap, n_train // 2 - n_base))
    return k_cap


def reorder_by_refit(F: np.ndarray, n_base: int, values: np.ndarray, rows: np.ndarray, alpha: float) -> np.ndarray:
    """Return a column order: the base terms, then the others by decreasing |ridge coefficient| × SD.

    The product is the variance each column explains in a ridge fit on ``rows``.

    Parameters
    ----------
    F : ndarray
        The columns, base terms first, float [m, k].
    n_base : int
        Base terms (kept first, in their order).
    values : ndarray
        Every mask's value, float [m].
    rows : ndarray
        Rows of the ridge fit.
    alpha : float
        Ridge penalty per sample.

    Returns
    -------
    ndarray
        A permutation of the columns, int [k].
    """
    _, beta = ridge_fit(F[rows], values[rows], alpha)
    weight = np.abs(beta[n_base:]) * F[rows, n_base:].std(axis=0)
    return np.concatenate([np.arange(n_base), n_base + np.argsort(-weight, kind="stable")])


def select_support(
    final: Ranking,
    fold_rankings: list[Ranking],
    masks: np.ndarray,
    values: np.ndarray,
    folds: list,
    final_rows: np.ndarray,
    n: int,
    refine: bool,
    fixed_k: Optional[int],
    max_ranked: Optional[int] = None,
) -> SupportChoice:
    """Choose how many ranked interactions to keep (and the ridge penalty) by held-out error.

    Fold i's held-out masks score the prefixes of *fold i's own* ranking (a proxy that did not see
    them: with one split, the final proxy itself); only the prefix length and the penalty are chosen
    on held-out data, and then applied to the ``final`` ranking. Columns are the base terms (always
    kept), then the interactions in ranking order (proxy |F|, or the greedy order of the Möbius
    read-out); each prefix is scored with ``refine`` as a
    ridge fit on the fold's training masks, otherwise as the proxy's own truncated spectrum. The
    smallest prefix within ``SE_RULE`` standard errors of the best wins. A cheap screen bounds each
    fold's search: 4× the prefix at which the proxy's own truncated spectrum is best (at least 256).
    With ``refine``, the kept interactions are then re-ranked by their ridge |coefficient| (fitted
    on the fold's training masks; finally on ``final_rows``) and the prefix search is repeated, which
    drops the proxy's spurious terms that only rode along in the first prefix.

    Parameters
    ----------
    final : Ranking
        The ranking the chosen prefix is applied to (the final proxy's).
    fold_rankings : list of Ranking
        Each fold's own ranking (one split: ``[final]``).
    masks : ndarray
        Every mask, bool [m, n].
    values : ndarray
        Every mask's value, float [m].
    folds : list of (train, held)
        The folds scored.
    final_rows : ndarray
        Rows the final re-ranking is fitted on.
    n : int
        Units.
    refine : bool
        Prefixes are ridge fits (True) or the proxy's truncated spectrum (False).
    fixed_k : int or None
        A fixed number of ranked terms (None: chosen by held-out error).
    max_ranked : int or None
        Most ranked columns scored (see :func:`column_cap`).

    Returns
    -------
    SupportChoice
    """
    held_all = np.concatenate([h for _, h in folds])
    var = float(np.var(values[held_all])) or 1.0
    per_fold = []
    for ranking, (train, held) in zip(fold_rankings, folds):
        n_base = ranking.base_keys.shape[0]
        k_cap = column_cap(ranking, masks.shape[0], train.shape[0], refine, fixed_k, max_ranked)
        keys, vals = ranking.columns(k_cap)
        F = ranking.features(keys, masks, n)
        if refine and fixed_k is None and k_cap > SCREEN_MIN:
            s2, _ = split_errors(F, vals, ranking.const, values, train, held, refine=False)
            k_cap = min(k_cap, max(SCREEN_MIN, SCREEN_FACTOR * int(np.argmin(s2[0, n_base:]))))
            F, vals = F[:, : n_base + k_cap], vals[: n_base + k_cap]
        s2, s4 = split_errors(F, vals, ranking.const, values, train, held, refine)
        per_fold.append((F, vals, n_base, (s2[:, n_base:], s4[:, n_base:], held.shape[0])))
    mse, se, alpha_idx = pooled_curve([p[3] for p in per_fold])
    k_first = min(int(fixed_k), mse.shape[0] - 1) if fixed_k is not None else smallest_good(mse, se)
    first_curve = 1.0 - mse / var
    k, alpha = k_first, float(ALPHAS[alpha_idx[k_first]]) if refine else 0.0
    final_keys, final_vals = final.columns(k_first)
    if refine and fixed_k is None and k_first > 1:
        alpha_first, parts = alpha, []
        for (F, vals, n_base, _), (train, held) in zip(per_fold, folds):
            cols = reorder_by_refit(F[:, : n_base + k_first], n_base, values, train, alpha_first)
            s2, s4 = split_errors(F[:, cols], vals[cols], 0.0, values, train, held, refine)
            parts.append((s2[:, n_base:], s4[:, n_base:], held.shape[0]))
        mse, se, alpha_idx = pooled_curve(parts)
        k = smallest_good(mse, se)
        alpha = float(ALPHAS[alpha_idx[k]])
        order = reorder_by_refit(
            final.features(final_keys, masks, n), final.base_keys.shape[0], values, final_rows, alpha_first
        )
        final_keys, final_vals = final_keys[order], final_vals[order]
    n_base = final.base_keys.shape[0]
    kept = final_keys[: n_base + k]
    sizes = np.unique(
        np.concatenate([np.rint(np.geomspace(1, max(1, first_curve.shape[0] - 1), 16)).astype(np.int64), [0]])
    )
    sizes = sizes[sizes < first_curve.shape[0]]
    return SupportChoice(
        keys=kept,
        values=final_vals[: n_base + k],
        n_interactions=int(kept.shape[0] - n_base),
        first_prefix=int(k_first),
        alpha=alpha,
        validation_r2=float(1.0 - mse[k] / var),
        curve=[CurvePoint(n_interactions=int(c), validation_r2=float(first_curve[c])) for c in sizes],
    )


def greedy_support(
    final: Ranking,
    fold_rankings: Optional[list[Ranking]],
    masks: np.ndarray,
    values: np.ndarray,
    folds: list,
    final_rows: np.ndarray,
    n: int,
    fixed_k: Optional[int],
    most: int,
    max_ranked: Optional[int] = None,
) -> tuple[Ranking, SupportChoice]:
    """Greedy-order the Möbius rankings, then choose the support (:func:`select_support`).

    A greedy step costs a pass over up to 4000 candidate columns: order only as many terms as the
    support search then wants — ``GREEDY_FIRST_STEPS`` first, 4× more (up to ``most``) while the chosen
    prefix reaches past 3/4 of the ordered ones. ``fold_rankings=None``: one split, scored by ``final``.

    Parameters
    ----------
    final : Ranking
        The final proxy's Möbius ranking.
    fold_rankings : list of Ranking or None
        Each fold's own ranking (None: one split).
    masks, values, folds, final_rows, n, fixed_k : object
        As for :func:`select_support`.
    most : int
        Most greedy steps.
    max_ranked : int or None
        As for :func:`select_support`.

    Returns
    -------
    tuple
        (the greedy-ordered final :class:`Ranking`, the :class:`SupportChoice` on it).
    """
    steps = most if fixed_k is not None else min(most, GREEDY_FIRST_STEPS)
    while True:
        ordered = greedy_order(final, masks, values, final_rows, n, steps)
        ordered_folds = (
            [ordered]
            if fold_rankings is None
            else [greedy_order(r, masks, values, tr, n, steps) for r, (tr, _) in zip(fold_rankings, folds)]
        )
        choice = select_support(ordered, ordered_folds, masks, values, folds, final_rows, n, True, fixed_k, max_ranked)
        if steps >= most or 4 * choice.first_prefix <= 3 * steps:
            return ordered, choice
        steps = min(most, 4 * steps)

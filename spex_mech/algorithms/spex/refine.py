"""SPEX's refine step: least squares on the decoded support plus admitted singletons, then significance tests.

Split from :mod:`.api` (the public functions) because it is one job of its own: statistics on a finished
decode. The thresholds below are the step's only tuning; :func:`significant_refit` documents how each is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .design import SpexDesign
from .refit import group_projections, refit_support, singleton_scores

__all__ = ["significant_refit"]

_SIGNIFICANCE_Z = 4.0  # refit terms within this many standard errors of zero are dropped
_REL_FLOOR = 1e-12  # …and always those below this fraction of the function's RMS
_SINGLETON_ALPHA = 1e-3  # family-wise chance that the refine admits any singleton under pure noise
_MAD_TO_SD = 1.4826  # median |Z| → standard deviation of a centred normal
_CONSISTENCY_ALPHA = 1e-3  # chance that a true singleton's per-group scores look inconsistent


def significant_refit(
    design: SpexDesign, samples: np.ndarray, observations: np.ndarray, units: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Refit found ∪ {∅} ∪ the singletons a score test admits by least squares; drop insignificant terms.

    1. Fit the peeled support and ∅ on every sample.
    2. Score each singleton not yet in the support against that fit's residual (its one-step
       least-squares estimate, standard deviation σ/√N under noise alone, σ the fit's noise estimate
       and N the number of design rows; the scores' robust spread instead when that is wider). A
       singleton joins only when its score clears the Bonferroni-corrected two-sided level
       ``_SINGLETON_ALPHA`` over all singletons tested, so that under pure noise the chance of admitting
       any is at most that level, and only when its C per-group scores agree (χ²_(C−1) test at
       ``_CONSISTENCY_ALPHA``: a missed term that shares the singleton's bin in one group shifts that
       group's score only). At most as many join as keep the fit at half as many unknowns as distinct
       masks, the strongest first.
    3. Refit; drop terms (∅ too) within ``_SIGNIFICANCE_Z`` standard errors of zero, and terms whose
       per-group readings of the residual disagree (χ²_(C−1), Bonferroni over the terms at
       ``_SINGLETON_ALPHA``; deviations at round-off level never count): a support mis-decoded from a
       bin it shares with a missed term in one group. Refit the survivors.

    Parameters
    ----------
    design : SpexDesign
        The design the samples come from.
    samples : numpy.ndarray
        The value of every design row, [C, P+1, 2^b].
    observations : numpy.ndarray
        The bin observations (the samples' per-group WHT), [C, P+1, 2^b].
    units : numpy.ndarray
        The peeled supports [K, t] (−1 padded).
    values : numpy.ndarray
        Their peeled coefficients [K] (the refit's warm start).

    Returns
    -------
    units : numpy.ndarray
        The surviving supports, sorted.
    values : numpy.ndarray
        Their refitted coefficients.
    info : dict
        Noise estimate, thresholds, counts of candidates, admitted singletons, inconsistent terms and
        refit iterations (the keys SPEX's params record).
    """
    n, t = design.n, design.code.t
    width = max(t, 1)
    rows = float(samples.size)
    rms = float(np.sqrt(np.mean(samples**2)))
    floor = _REL_FLOOR * rms
    base = np.full((1, width), -1, dtype=np.int64)
    support = np.unique(np.concatenate([units.reshape(-1, width), base]), axis=0)
    start = np.zeros(support.shape[0])
    if units.shape[0]:
        # warm start from the peeled estimates (support is sorted and contains every peeled row)
        _, inv = np.unique(np.concatenate([support, units]), axis=0, return_inverse=True)
        np.add.at(start, inv.reshape(-1)[support.shape[0] :], values)
    first = refit_support(design, observations, support, initial=start)

    per_group = singleton_scores(design, first.residual)  # [C, n]
    scores = per_group.mean(axis=0)
    present = support[(support[:, 0] >= 0) & ((support[:, 1:] < 0).all(axis=1) if width > 1 else True), 0]
    tested = np.ones(n, dtype=bool)
    tested[present] = False
    n_tested = int(tested.sum())
    # σ/√N from the fit's noise estimate, or the scores' own robust spread if that is wider (most
    # singletons hold nothing, so their scores sample the null; duplicated masks and unresolved
    # terms widen it beyond σ/√N)
    score_se = first.noise_sd / np.sqrt(rows)
    if n_tested:
        score_se = max(score_se, _MAD_TO_SD * float(np.median(np.abs(scores[tested]))))
    z_crit = float(stats.norm.isf(_SINGLETON_ALPHA / (2.0 * max(n_tested, 1))))
    singleton_threshold = max(z_crit * score_se, floor)
    admitted = np.nonzero(tested & (np.abs(scores) > singleton_threshold))[0]
    if design.n_groups > 1 and admitted.size:
        # a true singleton reads the same in every group; a leak from a missed term hashed into the
        # same bin as {i} in one group does not
        deviation = np.sum((per_group[:, admitted] - scores[admitted]) ** 2, axis=0)
        spread = deviation / (design.n_groups * score_se**2)
        limit = float(stats.chi2.isf(_CONSISTENCY_ALPHA, design.n_groups - 1))
        admitted = admitted[spread <= limit]
    room = max(0, design.n_evaluations // 2 - support.shape[0])
    if admitted.size > room:
        admitted = admitted[np.argsort(-np.abs(scores[admitted]), kind="stable")[:room]]
    iterations = first.iterations
    fit = first
    if admitted.size:
        extra = np.full((admitted.size, width), -1, dtype=np.int64)
        extra[:, 0] = admitted
        grown = np.concatenate([support, extra])
        order = np.lexsort(grown.T[::-1])
        support = grown[order]
        fit = refit_support(
            design, observations, support, initial=np.concatenate([first.values, scores[admitted]])[order]
        )
        iterations += fit.iterations
    se = fit.noise_sd / np.sqrt(rows)
    threshold = max(_SIGNIFICANCE_Z * se, floor)
    keep = np.abs(fit.values) > threshold  # ∅ and singletons are refitted, but reported only if significant
    inconsistent = 0
    if design.n_groups > 1 and support.shape[0] > 1:
        # a term decoded from one group's bin that is not in the others (a mis-decoded collision)
        # reads differently per group; a true term reads the same everywhere
        terms = np.nonzero(support[:, 0] >= 0)[0]
        dev = group_projections(design, fit.residual, support[terms])  # [C, K]
        spread = np.sum(dev**2, axis=0) / (design.n_groups * se**2) if se > 0 else np.zeros(terms.size)
        limit = float(stats.chi2.isf(_SINGLETON_ALPHA / max(terms.size, 1), design.n_groups - 1))
        bad = terms[(spread > limit) & (np.max(np.abs(dev), axis=0) > floor)]
        inconsistent = int(keep[bad].sum())
        keep[bad] = False
    final = fit
    candidates = support.shape[0]
    if not np.all(keep):
        final = refit_support(design, observations, support[keep], initial=fit.values[keep])
        support = support[keep]
        iterations += final.iterations
    info = {
        "noise_sd": final.noise_sd,
        "refit_terms": int(support.shape[0]),
        "refit_candidates": int(candidates),
        "singletons_tested": n_tested,
        "singletons_admitted": int(admitted.size),
        "singleton_threshold": singleton_threshold,
        "refit_iterations": iterations,
        "significance_threshold": threshold,
        "inconsistent_terms": inconsistent,
    }
    return support, final.values, info

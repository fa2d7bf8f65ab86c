"""Stages 3–4 together: every proxy's read-outs compete; the one whose surrogate validates best wins.

With one split, each early-stopped proxy (fitted on the training masks) is read out and its support
chosen on the validation masks. With at most ``SMALL_BUDGET`` masks, unless that choice already
explains ``CV_SKIP_R2`` of the held-out variance, the held-out masks are ``CV_FOLDS`` folds instead
(the split is the first), each fold scored with a proxy refitted without it (so the reported
validation R² is not inflated by a support chosen on the masks that score it), and the final proxy
is refitted on all masks.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .._threads import thread_limit
from .design import Design, Split
from .proxy import ProxyConfig, ProxyFit
from .readout import ProxySpectrum, Ranking, rank_spectrum, read_spectrum
from .records import SearchRecord, Settings
from .support import GREEDY_STEPS, SupportChoice, greedy_support, select_support

__all__ = ["CV_SKIP_R2", "Candidate", "Readout", "Selection", "choose_support", "search_readouts"]

CV_SKIP_R2 = 0.99  # no cross-validation once one split's surrogate explains this share of the held-out variance


@dataclass(frozen=True)
class Candidate:
    """One proxy to read out.

    Attributes
    ----------
    fit : ProxyFit
        The proxy whose spectrum gives the final ranking.
    spectrum : ProxySpectrum
        Its spectrum.
    fold_spectra : tuple of ProxySpectrum or None
        Each fold's proxy's spectrum (fitted without the fold); None for one split scored by ``fit``.
    """

    fit: ProxyFit
    spectrum: ProxySpectrum
    fold_spectra: Optional[tuple]


@dataclass(frozen=True)
class Readout:
    """A read-out and its chosen support.

    Attributes
    ----------
    fit : ProxyFit
        The proxy read.
    ranking : Ranking
        The final ranking (greedy-ordered for the refined Möbius read-out).
    support : SupportChoice
        The chosen support.
    singletons : str
        Singleton mode used.
    proxy_coefficients : int
        Fourier coefficients of the proxy.
    """

    fit: ProxyFit
    ranking: Ranking
    support: SupportChoice
    singletons: str
    proxy_coefficients: int


@dataclass(frozen=True)
class Selection:
    """What the support search hands the refit.

    Attributes
    ----------
    best : Readout
        The winning read-out.
    searched : list of SearchRecord
        Every (depth, basis) scored on the folds the choice was made on.
    folds : list of (train, held)
        Those folds (one: the split).
    split_r2 : float or None
        The one-split choice's R² (None when cross-validation was forced).
    extract_seconds, cv_fit_seconds : float
        Time spent reading spectra and refitting the fold proxies.
    """

    best: Readout
    searched: list
    folds: list
    split_r2: Optional[float]
    extract_seconds: float
    cv_fit_seconds: float


def search_readouts(
    candidates: Sequence[Candidate],
    design: Design,
    folds: list,
    final_rows: np.ndarray,
    settings: Settings,
) -> tuple[Readout, list]:
    """Score every (proxy, basis) read-out on ``folds``; the best one and every one's record.

    Parameters
    ----------
    candidates : sequence of Candidate
        The proxies.
    design : Design
        All masks and values.
    folds : list of (train, held)
        Folds the supports are scored on.
    final_rows : ndarray
        Rows the final ranking's greedy order and re-ranking are fitted on.
    settings : Settings
        Bases, singleton mode, refine, fixed size, order cap, threads.

    Returns
    -------
    tuple
        (best :class:`Readout` — the first one on ties, list of :class:`SearchRecord`).
    """
    masks, values, n = design.masks, design.values, design.n
    n_train_min = min(t.shape[0] for t, _ in folds)
    best, searched = None, []
    for cand in candidates:
        for basis in settings.bases:
            final, mode = rank_spectrum(cand.spectrum, basis, settings.singletons, n, settings.max_order, n_train_min)
            if cand.fold_spectra is None:
                fold_rankings = [final]
            else:
                fold_rankings = [
                    rank_spectrum(sp, basis, mode, n, settings.max_order, n_train_min)[0] for sp in cand.fold_spectra
                ]
            with thread_limit(settings.n_jobs):  # BLAS threads competing with the model or each other slow it down
                if basis == "mobius" and settings.refine:
                    final, support = greedy_support(
                        final,
                        None if cand.fold_spectra is None else fold_rankings,
                        masks,
                        values,
                        folds,
                        final_rows,
                        n,
                        settings.fixed_k,
                        min(GREEDY_STEPS, n_train_min // 4),
                        settings.max_ranked,
                    )
                else:
                    support = select_support(
                        final,
                        fold_rankings,
                        masks,
                        values,
                        folds,
                        final_rows,
                        n,
                        settings.refine,
                        settings.fixed_k,
                        settings.max_ranked,
                    )
            readout = Readout(cand.fit, final, support, mode, int(cand.spectrum.fourier[0].shape[0]))
            searched.append(
                SearchRecord(
                    depth=cand.fit.depth,
                    basis=basis,
                    n_trees=cand.fit.n_trees,
                    proxy_validation_r2=cand.fit.validation_r2,
                    validation_r2=support.validation_r2,
                )
            )
            if best is None or support.validation_r2 > best.support.validation_r2:
                best = readout
    if best is None:
        raise ValueError("search_readouts needs at least one candidate and one basis")
    return best, searched


def choose_support(
    fits: Sequence[ProxyFit], config: ProxyConfig, design: Design, split: Split, settings: Settings, seed: int
) -> Selection:
    """Read out every early-stopped proxy and choose the support, by one split or cross-validation.

    Each early-stopped proxy was fitted on the training masks alone: scored on the validation split it
    is one split's estimate, and it is exactly the first cross-validation fold's proxy.

    Parameters
    ----------
    fits : sequence of ProxyFit
        The early-stopped proxies (stage 2).
    config : ProxyConfig
        Refits the fold proxies and the final proxy when cross-validating.
    design : Design
        All masks and values.
    split : Split
        The early-stopping split and, where allowed, the folds.
    settings : Settings
        Search options; ``cross_validation``: False (one split), True (always the folds), "auto" (the
        folds where allowed and one split's R² is below ``CV_SKIP_R2``).
    seed : int
        Seeds the refits.

    Returns
    -------
    Selection
    """
    masks, values, n = design.masks, design.values, design.n
    spectra = [read_spectrum(fit.model, n, settings.bases) for fit in fits]
    extract_seconds = sum(sp.seconds for sp in spectra)
    split_folds = [(split.train, split.val)]
    use_cv, split_r2 = split.may_cross_validate, None
    best, searched = None, []
    if settings.cross_validation is not True:
        best, searched = search_readouts(
            [Candidate(fit, sp, None) for fit, sp in zip(fits, spectra)], design, split_folds, split.train, settings
        )
        split_r2 = float(best.support.validation_r2)
        # few masks make one split's choice noisy, unless it already explains nearly all held-out
        # variance: then 5-fold CV (6× the tree fits) has at most the rest to gain
        use_cv = split.may_cross_validate and split_r2 < CV_SKIP_R2
    if not use_cv:
        return Selection(best, searched, split_folds, split_r2, extract_seconds, 0.0)
    folds = split.cv_folds()
    candidates, cv_fit_seconds = [], 0.0
    for fit, spectrum in zip(fits, spectra):
        start = time.perf_counter()
        full = config.refit(fit, masks, values, seed=seed)  # the final proxy: this configuration on all masks
        others = [config.refit(fit, masks[tr], values[tr], seed=seed) for tr, _ in folds[1:]]
        cv_fit_seconds += time.perf_counter() - start
        fold_spectra = (spectrum,) + tuple(read_spectrum(model, n, settings.bases) for model in others)
        full_spectrum = read_spectrum(full, n, settings.bases)
        extract_seconds += sum(sp.seconds for sp in fold_spectra[1:]) + full_spectrum.seconds
        candidates.append(Candidate(dataclasses.replace(fit, model=full), full_spectrum, fold_spectra))
    best, searched = search_readouts(candidates, design, folds, np.arange(design.m), settings)
    return Selection(best, searched, folds, split_r2, extract_seconds, cv_fit_seconds)

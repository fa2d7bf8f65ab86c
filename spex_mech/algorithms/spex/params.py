"""``SpexParams``: the typed record of how a SPEX result was produced (``Interactions.params``).

One name per quantity: the BCH code's error-correction capability is ``max_order`` (the papers' t) and
the number of random hash groups is ``n_groups`` (the papers' C). Read fields as attributes or, as
before, by key (``result.params["b"]``); ``to_dict()`` gives the JSON form.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from ...results.params import ParamsBase

__all__ = ["SpexParams"]


@dataclasses.dataclass(frozen=True)
class SpexParams(ParamsBase):
    """Design, decoder diagnostics, refit statistics and timings of one SPEX run.

    Attributes
    ----------
    b:
        log₂ of the bins per hash group.
    max_order:
        Highest interaction order the BCH code resolves (the papers' t).
    n_groups:
        Random hash groups (the papers' C).
    n_parity:
        Parity rows of the BCH code (P); the design has P + 1 delays.
    bch:
        (length, dimension) of the shortened BCH code.
    n_queries:
        Design rows C·(P+1)·2^b, duplicates included (``n_evaluations`` counts distinct masks).
    seed:
        Seed of the hash matrices.
    decoder:
        ``"soft"`` (hard decoding, then Chase where it fails) or ``"hard"``.
    chase_depth:
        Observations the Chase decoder may flip (0 for the hard decoder).
    refine:
        Whether the least-squares refine step ran.
    noise_sd_bins:
        Per-evaluation noise standard deviation implied by the decoder's bin variance.
    bin_variance, zero_threshold, residual_threshold, signal_threshold:
        The decoder's noise model and decision thresholds (bin energy units).
    peeled:
        Terms found by peeling.
    peeling_iterations, noise_rounds:
        Peeling passes, and re-estimates of the bin variance.
    unresolved_bins, unresolved_energy:
        Bins left above the zero threshold after peeling, and their total energy.
    noise_sd:
        Per-evaluation noise standard deviation from the final refit's residual (None without refine).
    refit_terms:
        Terms in the final refit, i.e. reported (None without refine).
    refit_candidates:
        Terms fitted before insignificant ones were dropped: peeled ∪ {∅} ∪ admitted singletons.
    singletons_tested:
        Singletons scored against the first fit's residual (those not already found).
    singletons_admitted:
        Singletons whose score passed the test and joined the refit.
    singleton_threshold:
        |score| a singleton had to exceed (coefficient units).
    refit_iterations:
        Conjugate-gradient iterations over all refits.
    significance_threshold:
        |coefficient| a refitted term had to exceed to be reported.
    inconsistent_terms:
        Significant terms dropped because their per-group readings disagreed.
    evaluate_seconds, decode_seconds, decode_cpu_seconds, peel_seconds, refit_seconds:
        Wall time evaluating the value function (mask building included), decoding (transform, peeling
        and refine; also as CPU time), peeling alone and the refine alone.
    """

    b: int
    max_order: int
    n_groups: int
    n_parity: int
    bch: tuple[int, int]
    n_queries: int
    seed: int
    decoder: str
    chase_depth: int
    refine: bool
    noise_sd_bins: float
    bin_variance: float
    zero_threshold: float
    residual_threshold: float
    signal_threshold: float
    peeled: int
    peeling_iterations: int
    noise_rounds: int
    unresolved_bins: int
    unresolved_energy: float
    noise_sd: Optional[float] = None
    refit_terms: Optional[int] = None
    refit_candidates: Optional[int] = None
    singletons_tested: Optional[int] = None
    singletons_admitted: Optional[int] = None
    singleton_threshold: Optional[float] = None
    refit_iterations: Optional[int] = None
    significance_threshold: Optional[float] = None
    inconsistent_terms: Optional[int] = None
    evaluate_seconds: float = 0.0
    decode_seconds: float = 0.0
    decode_cpu_seconds: float = 0.0
    peel_seconds: float = 0.0
    refit_seconds: float = 0.0

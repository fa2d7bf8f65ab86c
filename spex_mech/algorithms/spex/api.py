"""``spex(f, n)`` and ``spex_plan(n)``: plan the design, evaluate every distinct mask once, decode, refit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from scipy import stats

from ...results.interactions import Interactions
from ...validation import check_int
from ...valuefn import ValueFunction
from .bch import BCHCode, bch_parameters
from .decoder import PeelingDecoder
from .design import SpexDesign, build_design
from .params import SpexParams
from .refit import group_projections, refit_support, singleton_scores
from .wht import fwht

__all__ = ["spex", "spex_plan", "SpexPlan", "DEFAULT_B", "MIN_B", "MAX_B"]

DEFAULT_B = 8  # the reference implementations' default when no budget is given
MIN_B = 3  # smallest b chosen from a budget (the reference's minimum)
MAX_B = 20
_SIGNIFICANCE_Z = 4.0  # refit terms within this many standard errors of zero are dropped
_REL_FLOOR = 1e-12  # …and always those below this fraction of the function's RMS
_SINGLETON_ALPHA = 1e-3  # family-wise chance that the refine admits any singleton under pure noise
_MAD_TO_SD = 1.4826  # median |Z| → standard deviation of a centred normal
_CONSISTENCY_ALPHA = 1e-3  # chance that a true singleton's per-group scores look inconsistent


@dataclass(frozen=True)
class SpexPlan:
    """What a SPEX run will cost, known before any evaluation.

    ``n_evaluations`` is exact: the number of distinct masks in the design for this ``seed`` (the design
    repeats the all-zero mask once per group, and small n repeats more), which is how many times the
    value function will be asked for a value. ``n_queries`` = C·(P+1)·2^b counts design rows.
    """

    n: int
    max_order: int
    b: int
    n_groups: int
    n_parity: int
    bch_length: int
    bch_dimension: int
    n_queries: int
    n_evaluations: int
    seed: int
    design: Optional[SpexDesign] = field(default=None, repr=False, compare=False)

    @property
    def n_delays(self) -> int:
        return self.n_parity + 1


def _check_order(n: int, max_order: Any) -> int:
    max_order = check_int("max_order", max_order, low=1)
    if max_order >= n:
        raise ValueError(
            f"max_order={max_order} must be smaller than the number of units n={n} "
            f"(for n this small, use spex_mech.exhaustive)"
        )
    return max_order


def _plan_for(n: int, max_order: int, b: int, n_groups: int, seed: int, code: BCHCode) -> SpexPlan:
    design = build_design(n, max_order, b, n_groups, seed, code=code)
    return SpexPlan(
        n=n,
        max_order=max_order,
        b=b,
        n_groups=n_groups,
        n_parity=code.n_parity,
        bch_length=code.length,
        bch_dimension=code.dimension,
        n_queries=design.n_queries,
        n_evaluations=design.n_evaluations,
        seed=seed,
        design=design,
    )


def spex_plan(
    n: int,
    *,
    max_order: int = 5,
    b: Optional[int] = None,
    budget: Optional[int] = None,
    n_groups: int = 3,
    seed: int = 0,
) -> SpexPlan:
    """The SPEX design for ``n`` units and its exact evaluation count, without evaluating anything.

    ``b`` (log₂ of the bins per group) is taken as given, else the largest b whose design fits in
    ``budget`` evaluations, else 8 (capped at n). Raises ValueError when the parameters are impossible:
    max_order ≥ n, or a budget below the smallest design (b = 3), or an explicit b whose design
    exceeds the budget.
    """
    n = check_int("n", n, low=2)
    max_order = _check_order(n, max_order)
    n_groups = check_int("n_groups", n_groups, low=1)
    seed = int(seed)
    m, n_parity = bch_parameters(n, max_order)
    code = BCHCode(n, max_order, m=m)
    b_cap = min(n, MAX_B)
    if b is not None:
        b = check_int("b", b, low=1)
        if b > b_cap:
            raise ValueError(f"b={b} is too large: at most min(n, {MAX_B}) = {b_cap} for n={n}")
        plan = _plan_for(n, max_order, b, n_groups, seed, code)
        if budget is not None and plan.n_evaluations > int(budget):
            raise ValueError(
                f"b={b} needs {plan.n_evaluations} evaluations (C={n_groups} groups × {n_parity + 1} delays × "
                f"2^{b} bins, distinct masks only), more than the budget of {int(budget)}; "
                f"{_fit_hint(n, max_order, n_groups, seed, int(budget))}"
            )
        return plan
    if budget is None:
        return _plan_for(n, max_order, min(DEFAULT_B, b_cap), n_groups, seed, code)
    budget = check_int("budget", budget, low=1)
    b_min = min(MIN_B, b_cap)
    rows_per_bin = n_groups * (n_parity + 1)
    # largest b whose design surely fits (distinct masks ≤ rows − (C − 1)), then grow while it still fits
    guess = b_min
    while guess + 1 <= b_cap and rows_per_bin * (1 << (guess + 1)) - (n_groups - 1) <= budget:
        guess += 1
    best = _plan_for(n, max_order, guess, n_groups, seed, code)
    if best.n_evaluations > budget:
        raise ValueError(
            f"the budget of {budget} evaluations is too small for SPEX with n={n}, max_order={max_order}, "
            f"n_groups={n_groups}: the smallest design (b={guess}) needs {best.n_evaluations} evaluations. "
            f"Raise the budget to at least {best.n_evaluations}, or lower max_order or n_groups."
        )
    while best.b + 1 <= b_cap:
        bigger = _plan_for(n, max_order, best.b + 1, n_groups, seed, code)
        if bigger.n_evaluations > budget:
            break
        best = bigger
    return best


def _fit_hint(n: int, max_order: int, n_groups: int, seed: int, budget: int) -> str:
    """What does fit: the largest b within ``budget``, or the smallest design's cost."""
    try:
        plan = spex_plan(n, max_order=max_order, budget=budget, n_groups=n_groups, seed=seed)
    except ValueError:
        b_min = min(MIN_B, n, MAX_B)
        smallest = spex_plan(n, max_order=max_order, b=b_min, n_groups=n_groups, seed=seed)
        return f"even the smallest design (b={b_min}) needs {smallest.n_evaluations} evaluations"
    return f"the largest b within this budget is b={plan.b} ({plan.n_evaluations} evaluations)"


def _evaluate_design(vf: ValueFunction, design: SpexDesign, batch_size: Optional[int]) -> np.ndarray:
    """Values at every design row [C, P+1, 2^b], evaluating each distinct mask once, in large batches.

    Value functions that declare ``accepts_packed`` receive :class:`~spex_mech.valuefn.PackedMasks`.
    """
    chunk = int(batch_size) if batch_size else max(design.n_bins, (1 << 25) // max(1, design.n))
    values = np.empty(design.n_evaluations, dtype=np.float64)
    total = design.n_evaluations
    for start, masks in design.unique_masks(chunk, packed=vf.accepts_packed):
        try:
            values[start : start + masks.shape[0]] = vf(masks)
        except ValueError as err:
            raise ValueError(f"spex: {err} [evaluating distinct design masks {start}–{start + masks.shape[0] - 1} of {total}]") from err
    return values[design.inverse]


def spex(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    max_order: int = 5,
    b: Optional[int] = None,
    budget: Optional[int] = None,
    seed: int = 0,
    refine: bool = True,
    n_groups: int = 3,
    decoder: str = "soft",
    batch_size: Optional[int] = None,
    noise_sd: Optional[float] = None,
    chase_depth: Optional[int] = None,
    max_iterations: int = 100,
) -> Interactions:
    """Recover the sparse, low-order Fourier spectrum of ``f`` with the SPEX algorithm.

    Parameters
    ----------
    f:
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n:
        Number of units (default ``f.n``).
    max_order:
        Largest interaction order recovered; the BCH code corrects t = max_order errors.
    b, budget:
        2^b bins per group; by default the largest b within ``budget`` evaluations, else 8.
        ``spex_plan`` gives the exact evaluation count beforehand.
    seed:
        Seeds the random hash matrices (a local ``numpy.random.Generator``).
    refine:
        Refit the found support plus ∅ and all singletons by least squares on every sample, and drop
        terms that are not significantly non-zero (the reference implementations skip this step).
    n_groups:
        Number of independent hash groups C.
    decoder:
        ``"soft"`` (hard BCH decoding, Chase where it fails) or ``"hard"``.
    batch_size:
        Most masks passed to ``f`` per call (default: large chunks of about 32 M mask entries).
    noise_sd:
        Known per-evaluation noise standard deviation; estimated from the data when None.
    chase_depth:
        Observations the Chase decoder may flip (default 2·max_order).
    max_iterations:
        Cap on peeling passes.

    Returns
    -------
    Interactions with the Fourier coefficients, ``n_evaluations``, ``algorithm="spex"`` and ``params``,
    a :class:`~spex_mech.algorithms.spex.params.SpexParams` record of the design, the noise estimates
    and thresholds, the refit statistics and timings (readable by key as before; ``max_order`` and
    ``n_groups`` are the only names of t and C).
    """
    if decoder not in ("soft", "hard"):
        raise ValueError(f"decoder must be 'soft' or 'hard', got {decoder!r}")
    if noise_sd is not None and not (np.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be a finite non-negative number, got {noise_sd!r}")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    vf = ValueFunction(f, n, max_batch=batch_size)
    plan = spex_plan(vf.n, max_order=max_order, b=b, budget=budget, n_groups=n_groups, seed=seed)
    design = plan.design
    assert design is not None

    t_eval = time.perf_counter()
    samples = _evaluate_design(vf, design, batch_size)  # [C, P+1, 2^b]
    t_decode, cpu_decode = time.perf_counter(), time.process_time()
    observations = fwht(samples) / design.n_bins
    peeler = PeelingDecoder(
        design,
        soft=decoder == "soft",
        chase_depth=chase_depth,
        noise_sd=noise_sd,
        max_iterations=max_iterations,
    )
    peeled = peeler.decode(observations)
    t_refit = time.perf_counter()

    units, values = peeled.units, peeled.values
    params: dict[str, Any] = {
        "b": plan.b,
        "max_order": plan.max_order,
        "n_groups": plan.n_groups,
        "n_parity": plan.n_parity,
        "bch": (plan.bch_length, plan.bch_dimension),
        "n_queries": plan.n_queries,
        "seed": plan.seed,
        "decoder": decoder,
        "chase_depth": peeler.chase_depth if decoder == "soft" else 0,
        "refine": bool(refine),
        "noise_sd_bins": peeled.noise.per_sample_sd(plan.b),
        "bin_variance": peeled.noise.bin_variance,
        "zero_threshold": peeled.noise.zero_threshold,
        "residual_threshold": peeled.noise.residual_threshold,
        "signal_threshold": peeled.noise.signal_threshold,
        "peeled": int(units.shape[0]),
        "peeling_iterations": peeled.iterations,
        "noise_rounds": peeled.noise_rounds,
        "unresolved_bins": peeled.unresolved_bins,
        "unresolved_energy": peeled.residual_energy,
    }
    if refine:
        units, values, info = _refine(design, samples, observations, units, values)
        params.update(info)
    t_end, cpu_end = time.perf_counter(), time.process_time()
    params.update(
        evaluate_seconds=t_decode - t_eval,
        decode_seconds=t_end - t_decode,
        decode_cpu_seconds=cpu_end - cpu_decode,
        peel_seconds=t_refit - t_decode,
        refit_seconds=t_end - t_refit,
    )
    keep = values != 0.0
    record = SpexParams(**{k: _plain(v) for k, v in params.items()})
    return Interactions(
        units[keep],
        values[keep],
        vf.n,
        **vf.provenance(),
        algorithm="spex",
        params=record,
    )


def _plain(value: Any) -> Any:
    """Python scalars/tuples for params, so results serialise to JSON."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _refine(
    design: SpexDesign, samples: np.ndarray, observations: np.ndarray, units: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Least squares on found ∪ {∅} ∪ the singletons that a score test admits; drop insignificant terms.

    1. Fit the peeled support and ∅ on every sample.
    2. Score each singleton not yet in the support against that fit's residual (its one-step
       least-squares estimate, standard deviation σ/√N under noise alone, σ the fit's noise estimate
       and N the number of design rows; the scores' robust spread instead when that is wider). A singleton joins only when its score clears the
       Bonferroni-corrected two-sided level ``_SINGLETON_ALPHA`` over all singletons tested, so that under
       pure noise the chance of admitting any is at most that level, and only when its C per-group
       scores agree (χ²_(C−1) test at ``_CONSISTENCY_ALPHA``: a missed term that shares the
       singleton's bin in one group shifts that group's score only). At most as many join as keep the
       fit at half as many unknowns as distinct masks, the strongest first.
    3. Refit; drop terms (∅ too) within ``_SIGNIFICANCE_Z`` standard errors of zero, and terms whose
       per-group readings of the residual disagree (χ²_(C−1), Bonferroni over the terms at
       ``_SINGLETON_ALPHA``; deviations at round-off level never count): a support mis-decoded from a
       bin it shares with a missed term in one group. Refit the survivors.
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
        spread = np.sum((per_group[:, admitted] - scores[admitted]) ** 2, axis=0) / (design.n_groups * score_se**2)
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

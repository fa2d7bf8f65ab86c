"""``spex(f, n)`` and ``spex_plan(n)``: plan the design, evaluate every distinct mask once, decode, refit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from ...chunked import rows_per_block
from ...results.interactions import Interactions
from ...validation import check_int
from ...valuefn import ValueFunction
from .bch import BCHCode, bch_parameters
from .decoder import PeelingDecoder
from .design import SpexDesign, build_design
from .params import SpexParams
from .refine import significant_refit as _refine
from .wht import fwht

__all__ = ["spex", "spex_plan", "SpexPlan", "DEFAULT_B", "MIN_B", "MAX_B"]

DEFAULT_B = 8  # the reference implementations' default when no budget is given
MIN_B = 3  # smallest b chosen from a budget (the reference's minimum)
MAX_B = 20


@dataclass(frozen=True)
class SpexPlan:
    """What a SPEX run will cost, known before any evaluation.

    ``n_evaluations`` is exact: the number of distinct masks in the design for this ``seed`` (the design
    repeats the all-zero mask once per group, and small n repeats more), which is how many times the
    value function will be asked for a value. ``n_queries`` = C·(P+1)·2^b counts design rows.

    Attributes
    ----------
    n : int
        Number of units.
    max_order : int
        Largest interaction order t the code corrects.
    b : int
        log₂ of the bins per group.
    n_groups : int
        Number of hash groups C.
    n_parity : int
        Parity bits P of the BCH code.
    bch_length : int
        Length of the (shortened) BCH code.
    bch_dimension : int
        Its message length.
    n_queries : int
        Design rows, C·(P+1)·2^b.
    n_evaluations : int
        Distinct masks, the exact number of value-function evaluations.
    seed : int
        Seed of the hash matrices.
    design : SpexDesign, optional
        The design itself (not part of the plan's repr or equality).
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
        """Delays per group, P + 1 (the undelayed row and one per parity bit)."""
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
    """Plan the SPEX design for ``n`` units and count its evaluations exactly, without evaluating anything.

    Parameters
    ----------
    n : int
        Number of units (at least 2).
    max_order : int, default 5
        Largest interaction order t (below ``n``).
    b : int, optional
        The log₂ of the bins per group; taken as given when set.
    budget : int, optional
        Without ``b``: the largest b whose design fits in ``budget`` evaluations is used, else 8 (capped at n).
    n_groups : int, default 3
        Number of hash groups C.
    seed : int, default 0
        Seed of the hash matrices.

    Returns
    -------
    SpexPlan
        The plan, with its design.

    Raises
    ------
    ValueError
        When the parameters are impossible: max_order ≥ n, a budget below the smallest design (b = 3), or an
        explicit b whose design exceeds the budget.

    Examples
    --------
    >>> plan = spex_plan(40, max_order=2, b=4)
    >>> plan.n_queries == plan.n_groups * plan.n_delays * 2**plan.b
    True
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
    """Describe what does fit: the largest b within ``budget``, or the smallest design's cost."""
    try:
        plan = spex_plan(n, max_order=max_order, budget=budget, n_groups=n_groups, seed=seed)
    except ValueError:
        b_min = min(MIN_B, n, MAX_B)
        smallest = spex_plan(n, max_order=max_order, b=b_min, n_groups=n_groups, seed=seed)
        return f"even the smallest design (b={b_min}) needs {smallest.n_evaluations} evaluations"
    return f"the largest b within this budget is b={plan.b} ({plan.n_evaluations} evaluations)"


def _evaluate_design(vf: ValueFunction, design: SpexDesign, batch_size: Optional[int]) -> np.ndarray:
    """Return the values at every design row [C, P+1, 2^b], evaluating each distinct mask once, in large batches.

    Value functions that declare ``accepts_packed`` receive :class:`~spex_mech.valuefn.PackedMasks`.
    """
    chunk = int(batch_size) if batch_size else max(design.n_bins, rows_per_block(design.n))
    values = np.empty(design.n_evaluations, dtype=np.float64)
    total = design.n_evaluations
    for start, masks in design.unique_masks(chunk, packed=vf.accepts_packed):
        try:
            values[start : start + masks.shape[0]] = vf(masks)
        except ValueError as err:
            span = f"{start}–{start + masks.shape[0] - 1}"
            raise ValueError(f"spex: {err} [evaluating distinct design masks {span} of {total}]") from err
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
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    max_order : int, default 5
        Largest interaction order recovered; the BCH code corrects t = max_order errors.
    b : int, optional
        2^b bins per group; by default the largest b within ``budget`` evaluations, else 8.
        :func:`spex_plan` gives the exact evaluation count beforehand.
    budget : int, optional
        Most evaluations when ``b`` is not given.
    seed : int, default 0
        Seeds the random hash matrices (a local ``numpy.random.Generator``).
    refine : bool, default True
        Refit the found support plus ∅ and all singletons by least squares on every sample, and drop
        terms that are not significantly non-zero (the reference implementations skip this step).
    n_groups : int, default 3
        Number of independent hash groups C.
    decoder : {"soft", "hard"}, default "soft"
        ``"soft"``: hard BCH decoding, Chase where it fails; ``"hard"``: hard decoding only.
    batch_size : int, optional
        Most masks passed to ``f`` per call (default: large chunks of about 32 M mask entries).
    noise_sd : float, optional
        Known per-evaluation noise standard deviation; estimated from the data when None.
    chase_depth : int, optional
        Observations the Chase decoder may flip (default 2·max_order).
    max_iterations : int, default 100
        Cap on peeling passes.

    Returns
    -------
    Interactions
        The Fourier coefficients, ``n_evaluations``, ``algorithm="spex"`` and ``params``, a
        :class:`~spex_mech.algorithms.spex.params.SpexParams` record of the design, the noise estimates
        and thresholds, the refit statistics and timings (readable by key as before; ``max_order`` and
        ``n_groups`` are the only names of t and C).

    Raises
    ------
    ValueError
        If an argument is out of range (named in the message), the budget fits no design, or ``f`` returns
        a bad value (the message names the design masks being evaluated).

    Examples
    --------
    >>> def f(masks):
    ...     return 2.0 * masks[:, 0] * masks[:, 1] + masks[:, 2]
    >>> result = spex(f, 16, max_order=2, b=4)
    >>> [t.units for t in result.top(2)]
    [(0, 1), (2,)]
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

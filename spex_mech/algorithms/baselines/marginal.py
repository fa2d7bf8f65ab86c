"""First-order attributions by sampling: Shapley values (permutations) and Banzhaf values (MSR).

Representation:
An :class:`~spex_mech.Interactions` is a Fourier spectrum, so a vector of per-unit scores is returned
as a *first-order surrogate* (constant plus singletons) whose index is exactly the estimate:

* Shapley: the additive model f̂(x) = f(0) + Σ_{i kept} φ̂_i, i.e. Möbius a(∅) = f(0), a({i}) = φ̂_i
  (Fourier F({i}) = −φ̂_i/2, F(∅) = f(0) + Σφ̂_i/2). It passes through the evaluated empty value, and
  through f(1) too, because every permutation telescopes: Σ_i φ̂_i = f(1) − f(0) exactly.
* Banzhaf: the order-1 Fourier truncation f̂(x) = F̂(∅) + Σ_i F̂({i})(−1)^{x_i} with F̂({i}) = −ψ̂_i/2 and
  F̂(∅) = the sample mean of f. This is the best L2 first-order fit under uniform masks (Faith-Banzhaf of
  order 1), estimated from the same samples.

For either result ``shapley_values()`` and ``banzhaf_values()`` both return the estimates (a
first-order function has equal Shapley and Banzhaf values). The raw estimates and their standard
errors are also in ``params["estimates"]`` / ``params["standard_errors"]`` and the attributes
``result.estimates`` / ``result.standard_errors``.

Estimators:
* Permutation sampling: each permutation π walks from everything ablated to everything kept, adding
  one unit at a time; unit π_k's marginal contribution is f(prefix_k ∪ {π_k}) − f(prefix_k). The two
  end points are shared by every permutation, so one permutation costs n − 1 evaluations (plus 2 once).
  With ``antithetic=True`` permutations come in pairs (π, reversed π); the pair average is exact for
  games whose Möbius terms have order ≤ 2 and lowers the variance in general.
* Maximum sample reuse (MSR) for Banzhaf: uniform masks; ψ̂_i = mean(f | i kept) − mean(f | i ablated),
  every sample used for every unit. With ``antithetic=True`` masks come as complementary pairs
  (x, 1 − x), so each unit sees exactly half the samples on each side and the constant and even-order
  parts of f cancel within a pair.

Standard errors are over independent sampling units (permutations, antithetic pairs, or the two sides
of the MSR split).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...results.interactions import Interactions
from ...valuefn import ValueFunction, uniform_masks
from ...validation import check_int
from ._common import evaluate_blocks, rows_per_block

__all__ = ["shapley_sampling", "banzhaf_sampling", "shapley_sampling_evaluations"]


def shapley_sampling_evaluations(n: int, budget: int, antithetic: bool = True) -> tuple[int, int]:
    """Count the permutations and evaluations :func:`shapley_sampling` uses for ``budget``.

    Parameters
    ----------
    n : int
        Number of units.
    budget : int
        The evaluation budget.
    antithetic : bool, default True
        Permutations come in (π, reversed π) pairs.

    Returns
    -------
    permutations : int
        Permutations used (0 if the budget is too small).
    evaluations : int
        Evaluations spent.
    """
    if n == 1:
        return 1, 2
    perms = max(0, (int(budget) - 2) // (n - 1))
    if antithetic:
        perms -= perms % 2
    return perms, 2 + perms * (n - 1)


def shapley_sampling(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    budget: int,
    seed: int = 0,
    antithetic: bool = True,
    batch_size: Optional[int] = None,
) -> Interactions:
    """Estimate Shapley values by permutation sampling, as an additive surrogate (see the module docstring).

    Uses as many permutations as ``budget`` allows: ``(budget − 2) // (n − 1)`` (rounded down to an
    even number when ``antithetic``); at least two independent sampling units are required.

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    budget : int
        Most evaluations.
    seed : int, default 0
        Seed of the permutations.
    antithetic : bool, default True
        Use (π, reversed π) pairs.
    batch_size : int, optional
        Most masks passed to ``f`` per call.

    Returns
    -------
    Interactions
        The additive surrogate; ``estimates`` and ``standard_errors`` hold the raw estimates.

    Raises
    ------
    ValueError
        If the budget allows fewer than two independent sampling units.
    """
    vf = ValueFunction(f, n, max_batch=batch_size)
    n = vf.n
    budget = check_int("budget", budget, low=1)
    n_perms, needed = shapley_sampling_evaluations(n, budget, antithetic)
    per_unit = 2 if antithetic else 1
    if n == 1 and budget < 2:
        raise ValueError(f"budget={budget} is too small: one unit needs 2 evaluations (kept and ablated)")
    if n > 1 and n_perms < 2 * per_unit:
        minimum = 2 + 2 * per_unit * (n - 1)
        raise ValueError(
            f"budget={budget} is too small for permutation sampling over n={n} units: it needs at least "
            f"{minimum} evaluations ({2 * per_unit} permutations × {n - 1} + 2 shared end points)"
        )
    ends = vf(np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)]))
    empty, full = float(ends[0]), float(ends[1])
    if n == 1:
        estimates = np.array([full - empty])
        errors = np.zeros(1)
        samples_used = 1
    else:
        perms = _permutations(n, n_perms, seed, antithetic)
        contributions = _permutation_contributions(vf, perms, empty, full)
        if antithetic:
            contributions = 0.5 * (contributions[0::2] + contributions[1::2])
        estimates = contributions.mean(axis=0)
        errors = contributions.std(axis=0, ddof=1) / np.sqrt(contributions.shape[0])
        samples_used = n_perms

    fourier = {(): empty + 0.5 * float(np.sum(estimates))}
    fourier.update({(i,): -0.5 * float(v) for i, v in enumerate(estimates)})
    return _marginal_result(
        fourier,
        n,
        vf,
        "shapley_sampling",
        estimates,
        errors,
        {
            "index": "SV",
            "surrogate": "additive: Möbius a(∅) = f(0), a({i}) = φ_i",
            "n_permutations": samples_used,
            "antithetic": antithetic,
            "seed": seed,
            "empty_value": empty,
            "full_value": full,
        },
    )


def _permutations(n: int, count: int, seed: int, antithetic: bool) -> np.ndarray:
    """[count, n] permutations; with ``antithetic`` rows 2k and 2k+1 are reverses of each other."""
    rng = np.random.default_rng(seed)
    if not antithetic:
        return rng.permuted(np.tile(np.arange(n), (count, 1)), axis=1)
    half = rng.permuted(np.tile(np.arange(n), (count // 2, 1)), axis=1)
    out = np.empty((count, n), dtype=np.int64)
    out[0::2] = half
    out[1::2] = half[:, ::-1]
    return out


def _permutation_contributions(vf: ValueFunction, perms: np.ndarray, empty: float, full: float) -> np.ndarray:
    """Marginal contributions [P, n] (column = unit) along each permutation's chain of prefixes."""
    count, n = perms.shape
    ranks = np.empty_like(perms)
    np.put_along_axis(ranks, perms, np.arange(n)[None, :], axis=1)  # ranks[p, unit] = position in π
    sizes = np.arange(1, n)  # prefix sizes 1..n−1 (0 and n are the shared end points)

    def make_block(start: int, stop: int) -> np.ndarray:
        rows = np.arange(start, stop)
        p, k = rows // (n - 1), rows % (n - 1)
        return ranks[p] < sizes[k][:, None]

    chain_inner = evaluate_blocks(vf, count * (n - 1), make_block, rows_per_block(n)).reshape(count, n - 1)
    chain = np.empty((count, n + 1))
    chain[:, 0], chain[:, n] = empty, full
    chain[:, 1:n] = chain_inner
    steps = np.diff(chain, axis=1)  # steps[p, k] = contribution of unit perms[p, k]
    out = np.empty((count, n))
    np.put_along_axis(out, perms, steps, axis=1)
    return out


def banzhaf_sampling(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    budget: int,
    seed: int = 0,
    antithetic: bool = False,
    batch_size: Optional[int] = None,
) -> Interactions:
    """Estimate Banzhaf values by maximum sample reuse over uniform masks, as an order-1 Fourier surrogate.

    Spends ``budget`` evaluations (rounded down to even with ``antithetic``).

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    budget : int
        Evaluations.
    seed : int, default 0
        Seed of the masks.
    antithetic : bool, default False
        Draw masks as complementary pairs (x, 1 − x).
    batch_size : int, optional
        Most masks passed to ``f`` per call.

    Returns
    -------
    Interactions
        The order-1 surrogate; ``estimates`` and ``standard_errors`` hold the raw estimates.

    Raises
    ------
    ValueError
        If the budget is too small; without ``antithetic``, if the drawn design does not put every unit at
        least twice on each side (before anything is evaluated).
    """
    vf = ValueFunction(f, n, max_batch=batch_size)
    n = vf.n
    budget = check_int("budget", budget, low=1)
    if antithetic:
        pairs = budget // 2
        if pairs < 2:
            raise ValueError(
                f"budget={budget} is too small for antithetic MSR: it needs at least 4 evaluations (2 pairs)"
            )
        half = uniform_masks(n, pairs, seed)
        masks = np.empty((2 * pairs, n), dtype=bool)
        masks[0::2], masks[1::2] = half, ~half
    else:
        masks = uniform_masks(n, budget, seed)
        kept = masks.sum(axis=0)
        thin = np.nonzero((kept < 2) | (budget - kept < 2))[0]
        if thin.size:
            raise ValueError(
                f"budget={budget} is too small for MSR over n={n} units: unit(s) {thin[:8].tolist()} are kept or "
                f"ablated fewer than twice in the drawn masks; raise the budget (or use antithetic=True)"
            )
    values = evaluate_blocks(vf, masks.shape[0], lambda a, b: masks[a:b], rows_per_block(n))
    if antithetic:
        estimates, errors = _msr_antithetic(masks[0::2], values[0::2] - values[1::2])
    else:
        estimates, errors = _msr(masks, values)

    fourier = {(): float(values.mean())}
    fourier.update({(i,): -0.5 * float(v) for i, v in enumerate(estimates)})
    return _marginal_result(
        fourier,
        n,
        vf,
        "banzhaf_sampling",
        estimates,
        errors,
        {
            "index": "BV",
            "surrogate": "order-1 Fourier: F(∅) = sample mean, F({i}) = −ψ_i/2",
            "n_samples": int(masks.shape[0]),
            "antithetic": antithetic,
            "seed": seed,
        },
    )


def _msr(masks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ψ̂_i = mean(f | x_i = 1) − mean(f | x_i = 0), with SE² = s₁²/n₁ + s₀²/n₀."""
    x = masks.astype(np.float64)
    n1 = x.sum(axis=0)
    n0 = masks.shape[0] - n1
    sum1 = x.T @ values
    sum0 = values.sum() - sum1
    sq1 = x.T @ values**2
    sq0 = float(np.sum(values**2)) - sq1
    mean1, mean0 = sum1 / n1, sum0 / n0
    var1 = np.maximum(sq1 - n1 * mean1**2, 0.0) / (n1 - 1)
    var0 = np.maximum(sq0 - n0 * mean0**2, 0.0) / (n0 - 1)
    return mean1 - mean0, np.sqrt(var1 / n1 + var0 / n0)


def _msr_antithetic(first: np.ndarray, differences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (x, 1 − x): sample s_i·(f(x) − f(1 − x)), s_i = +1 if x_i = 1 else −1; mean and SE."""
    signs = np.where(first, 1.0, -1.0)
    samples = signs * differences[:, None]
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])


def _marginal_result(
    fourier: dict[tuple[int, ...], float],
    n: int,
    vf: ValueFunction,
    algorithm: str,
    estimates: np.ndarray,
    errors: np.ndarray,
    params: dict[str, Any],
) -> Interactions:
    result = Interactions.from_fourier(
        fourier,
        n,
        **vf.provenance(),
        algorithm=algorithm,
        params={**params, "estimates": estimates.tolist(), "standard_errors": errors.tolist()},
    )
    result.estimates = estimates
    result.standard_errors = errors
    return result

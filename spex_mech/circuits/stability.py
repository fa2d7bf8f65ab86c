"""Seed stability: how much the top-k terms of equal-budget runs with different seeds agree."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from ..results.interactions import Interactions

__all__ = ["SeedStability", "top_k_overlap"]


@dataclass(frozen=True)
class SeedStability:
    """Top-k overlap |A ∩ B| / k for every pair of runs; ``tops[i]`` is run i's top-k (unit tuples)."""

    k: int
    basis: str
    seeds: tuple[int, ...]
    tops: tuple[tuple[tuple[int, ...], ...], ...]
    pairs: tuple[tuple[int, int, float], ...]

    @property
    def mean(self) -> float:
        """Return the mean overlap over pairs.

        Returns
        -------
        float
            The mean (1 with no pair).
        """
        return sum(p[2] for p in self.pairs) / len(self.pairs) if self.pairs else 1.0

    @property
    def minimum(self) -> float:
        """Return the smallest overlap over pairs.

        Returns
        -------
        float
            The minimum (1 with no pair).
        """
        return min((p[2] for p in self.pairs), default=1.0)


def top_k_overlap(
    results: Sequence[Interactions], seeds: Sequence[int], k: int = 10, basis: str = "mobius"
) -> SeedStability:
    """Return the pairwise top-``k`` overlap of runs (order ≥ 1 terms of ``basis``) made with ``seeds``.

    Parameters
    ----------
    results : sequence of Interactions
        Runs with equal budgets.
    seeds : sequence of int
        The seed of each run.
    k : int
        How many top terms are compared.
    basis : str
        ``mobius``, ``fourier`` or an index (:meth:`Interactions.top`).

    Returns
    -------
    SeedStability
        Every pair's overlap and each run's top-k.

    Raises
    ------
    ValueError
        For fewer than two results, a seed count that differs from the results', or k < 1.
    """
    if len(results) != len(seeds) or len(results) < 2:
        raise ValueError("give at least two results and one seed per result")
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    tops = tuple(tuple(t.units for t in r.top(k, basis=basis)) for r in results)
    pairs = tuple(
        (int(seeds[i]), int(seeds[j]), len(set(tops[i]) & set(tops[j])) / k)
        for i, j in combinations(range(len(results)), 2)
    )
    return SeedStability(k=k, basis=basis, seeds=tuple(int(s) for s in seeds), tops=tops, pairs=pairs)

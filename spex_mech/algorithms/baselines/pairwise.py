"""Pairwise ablation: knock out every unit alone, then every candidate pair together.

The classic "screen singles, then ablate every candidate pair" procedure, expressed exactly in the
package's Möbius/Fourier conventions so that it returns the same :class:`~spex_mech.Interactions`
type as every other algorithm.

Convention (expansion at the all-kept state):
Write y = 1 − x for the *ablated* indicators and g(y) = f(1 − y). The measured quantities are the
Möbius terms of g at y = 0 (the co-Möbius or "ablation" expansion of f around the clean model):

    b(∅)     = f(1)                                              the clean value
    b({i})   = Δ(i)    = f(1 − e_i) − f(1)                        single-ablation effect
    b({i,j}) = I(i,j)  = Δ(i,j) − Δ(i) − Δ(j)                     pairwise interaction score
             = f(1 − e_i − e_j) − f(1 − e_i) − f(1 − e_j) + f(1)

and the surrogate is the order-2 truncation ĝ(y) = Σ_{T ⊆ y, |T| ≤ 2} b(T). Substituting
Π_{i∈T} y_i = Π_{i∈T} (1 − x_i) = Σ_{S ⊆ T} (−1)^{|S|} Π_{i∈S} x_i gives its Möbius dividends in the
package's x-basis (x_i = 1 keeps unit i), exactly:

    a(S) = (−1)^{|S|} Σ_{T ⊇ S, |T| ≤ 2} b(T),  i.e.

    a(∅)     = f(1) + Σ_i Δ(i) + Σ_{i<j} I(i,j)
    a({i})   = −Δ(i) − Σ_{j ≠ i} I(i,j)
    a({i,j}) = I(i,j)

So the order-2 Möbius terms of the result *are* the pairwise interaction scores, and the result's
``predict`` reproduces f exactly at the clean mask, every single ablation and every evaluated pair
ablation (every mask with at most two units ablated when nothing is screened out). Unevaluated pairs
(screened out) are taken as I(i,j) = 0. If f has no Möbius terms above order 2 (degree is unchanged by
x → 1 − y), the surrogate equals f everywhere.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...results import spectrum as spec
from ...results.interactions import Interactions
from ...valuefn import ValueFunction
from ...validation import check_int
from ._common import evaluate_blocks, rows_per_block

__all__ = ["pairwise", "pairwise_evaluations"]


def pairwise_evaluations(n: int, screen: Optional[int] = None) -> int:
    """Count the evaluations :func:`pairwise` spends: 1 (clean) + n (singles) + C(m, 2) pairs, m = min(screen, n).

    Parameters
    ----------
    n : int
        Number of units.
    screen : int, optional
        Number of candidate units (all by default).

    Returns
    -------
    int
        The evaluations.
    """
    m = n if screen is None else min(int(screen), n)
    return 1 + n + m * (m - 1) // 2


def pairwise(
    f: Callable[[np.ndarray], Any],
    n: Optional[int] = None,
    *,
    screen: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> Interactions:
    """Ablate single units and pairs from the all-kept state, as an exact order-2 Möbius surrogate.

    1. Evaluate f at the clean mask and at each single ablation: Δ(i) = f(1 − e_i) − f(1).
    2. Candidates: every unit, or with ``screen=m`` the m units with the largest |Δ(i)| (ties by index).
    3. Evaluate every candidate pair ablated jointly: I(i,j) = Δ(i,j) − Δ(i) − Δ(j).

    Costs ``1 + n + C(m, 2)`` evaluations (:func:`pairwise_evaluations`).

    Parameters
    ----------
    f : callable
        Value function ``f(masks[B, n]) -> values[B]`` (bool masks, 1 keeps a unit).
    n : int, optional
        Number of units (default ``f.n``).
    screen : int, optional
        Keep only the ``screen`` units with the largest single effects as pair candidates (at least 2).
    batch_size : int, optional
        Most masks passed to ``f`` per call.

    Returns
    -------
    Interactions
        The surrogate; its Möbius dividends follow the module docstring (a({i,j}) = I(i,j)). The raw
        measurements are attached as ``result.clean_value``, ``result.single_effects`` [n], ``result.pairs``
        [P, 2] and ``result.pair_scores`` [P], and the screened units are in ``result.params["candidates"]``.
    """
    vf = ValueFunction(f, n, max_batch=batch_size)
    n = vf.n
    if screen is not None:
        screen = check_int("screen", screen, low=2)
    if n < 2 and screen is not None:
        raise ValueError("screening needs at least 2 units")

    # 1. clean + single ablations (one batch)
    singles = np.ones((n + 1, n), dtype=bool)
    singles[np.arange(1, n + 1), np.arange(n)] = False
    first = vf(singles)
    clean = float(first[0])
    delta = first[1:] - clean

    # 2. screening
    if screen is None or screen >= n:
        candidates = np.arange(n, dtype=np.int64)
    else:
        order = np.argsort(-np.abs(delta), kind="stable")
        candidates = np.sort(order[:screen]).astype(np.int64)

    # 3. candidate pairs, built and evaluated block by block
    left, right = np.triu_indices(candidates.shape[0], k=1)
    pairs = np.stack([candidates[left], candidates[right]], axis=1).astype(np.int64)

    def make_block(start: int, stop: int) -> np.ndarray:
        block = np.ones((stop - start, n), dtype=bool)
        rows = np.arange(stop - start)
        block[rows, pairs[start:stop, 0]] = False
        block[rows, pairs[start:stop, 1]] = False
        return block

    joint = evaluate_blocks(vf, pairs.shape[0], make_block, rows_per_block(n)) - clean
    scores = joint - delta[pairs[:, 0]] - delta[pairs[:, 1]]

    keys, dividends = _ablation_expansion_to_mobius(clean, delta, pairs, scores)
    fkeys, fvalues = spec.mobius_to_fourier(keys, dividends)
    result = Interactions(
        fkeys,
        fvalues,
        n,
        **vf.provenance(),
        algorithm="pairwise",
        params={
            "screen": screen,
            "candidates": candidates.tolist() if candidates.shape[0] < n else None,
            "expansion": "all-kept (co-Möbius of f(1 − y), truncated at order 2)",
            "clean_value": clean,
            "single_effects": delta.tolist(),
        },
    )
    result.clean_value = clean
    result.single_effects = delta
    result.pairs = pairs
    result.pair_scores = scores
    return result


def _ablation_expansion_to_mobius(
    clean: float, delta: np.ndarray, pairs: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """x-basis Möbius dividends (padded keys, values) of the order-2 ablation expansion.

    a(∅) = f(1) + ΣΔ + ΣI;  a({i}) = −Δ(i) − Σ_j I(i,j);  a({i,j}) = I(i,j). Pairs with I = 0 are dropped.
    """
    n = delta.shape[0]
    per_unit = np.zeros(n, dtype=np.float64)
    np.add.at(per_unit, pairs[:, 0], scores)
    np.add.at(per_unit, pairs[:, 1], scores)
    constant = clean + float(np.sum(delta)) + float(np.sum(scores))
    singles = -delta - per_unit
    nonzero = scores != 0.0
    kept_pairs, kept_scores = pairs[nonzero], scores[nonzero]

    keys = np.full((1 + n + kept_pairs.shape[0], 2), -1, dtype=np.int64)
    keys[1 : 1 + n, 0] = np.arange(n)
    keys[1 + n :, :] = kept_pairs
    values = np.concatenate([[constant], singles, kept_scores])
    return keys, values

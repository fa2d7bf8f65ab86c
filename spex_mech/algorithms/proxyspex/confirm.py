"""Stage 6 (optional): the top interactions checked against ``f`` with targeted ablations."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ...results.interactions import Interactions
from ...valuefn import ValueFunction
from .records import ConfirmationRow

__all__ = ["confirm_interactions"]


def confirm_interactions(
    f: Callable[[np.ndarray], Any],
    result: Interactions,
    k: int,
    *,
    n_bases: int = 2,
    seed: int = 0,
    min_order: int = 2,
    tolerance: float = 0.5,
    max_order: int = 10,
    vf: Optional[ValueFunction] = None,
) -> list[ConfirmationRow]:
    """Check the ``k`` largest Möbius interactions against the real ``f`` with targeted ablations.

    For each interaction S and each base mask b (the clean model, all units kept, then random masks),
    f is evaluated on all 2^|S| settings of S's units with the others as in b. The measured discrete
    derivative Δ_S f(b) = Σ_{T ⊆ S} (−1)^{|S|−|T|} f(b_S←T) is compared with the surrogate's on the same
    masks. ``confirmed`` means the relative error ‖measured − predicted‖/‖predicted‖ over the bases is
    at most ``tolerance`` and the mean signs agree. Evaluations: Σ_S n_bases·2^|S| (counted by ``vf``).

    Parameters
    ----------
    f : callable
        The value function.
    result : Interactions
        The surrogate to check.
    k : int
        How many of its largest Möbius interactions (order ≥ ``min_order``, ≤ ``max_order``).
    n_bases : int
        Base masks (the first is all ones).
    seed : int
        Draws the other base masks.
    min_order : int
        Lowest order checked.
    tolerance : float
        Largest relative error of a confirmed interaction.
    max_order : int
        Highest order checked.
    vf : ValueFunction, optional
        A wrapper of ``f`` that counts the evaluations (one is made if not given).

    Returns
    -------
    list of ConfirmationRow
    """
    vf = vf if vf is not None else ValueFunction(f, result.n)
    terms = [t for t in result.top(k, basis="mobius", min_order=min_order) if t.order <= max_order]
    rng = np.random.default_rng(seed)
    bases = np.ones((max(1, n_bases), result.n), dtype=bool)
    if n_bases > 1:
        bases[1:] = rng.random((n_bases - 1, result.n)) < 0.5
    rows = []
    for term in terms:
        units = np.array(term.units, dtype=np.int64)
        d = units.shape[0]
        patterns = ((np.arange(1 << d)[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)  # [2^d, d]
        sign = np.where((d - patterns.sum(axis=1)) % 2 == 0, 1.0, -1.0)
        masks = np.repeat(bases, patterns.shape[0], axis=0)
        masks[:, units] = np.tile(patterns, (bases.shape[0], 1))
        measured = (vf(masks).reshape(bases.shape[0], -1) * sign).sum(axis=1)
        predicted = (result.predict(masks).reshape(bases.shape[0], -1) * sign).sum(axis=1)
        err = float(np.linalg.norm(measured - predicted))
        scale = float(np.linalg.norm(predicted))
        rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        same_sign = bool(np.sign(measured.mean()) == np.sign(predicted.mean()))
        rows.append(
            ConfirmationRow(
                units=list(term.units),
                labels=list(term.labels),
                mobius=float(term.value),
                measured=measured.tolist(),
                predicted=predicted.tolist(),
                relative_error=rel,
                confirmed=bool(rel <= tolerance and same_sign),
                evaluations=int(masks.shape[0]),
            )
        )
    return rows

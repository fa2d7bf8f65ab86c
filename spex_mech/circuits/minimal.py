"""The minimal faithful circuit: the smallest unit set whose *measured* faithfulness reaches a target.

A circuit C passes when, measured on the game,

* keeping only C recovers the effect: |1 − F_keep(C)| ≤ 1 − target (sufficiency; overshooting the full
  model fails as falling short does — MIB's circuit–model distance), and, with ``complete=True``
  (default),
* ablating C removes it: |F_ablate(C)| ≤ 1 − target (completeness: no redundant copy of the mechanism
  is left outside, e.g. the second input of an OR).

Search, guided by the interaction spectrum and confirmed by evaluations:

1. ``n ≤ 16``: the surrogate scores every subset (2^n predictions, no model call); candidates whose
   predicted distance is within the target plus ``slack`` are measured size by size, smallest first,
   at most ``max_candidates`` per size, all masks of one size in one batched call. The first size with
   a measured pass wins (among its passes, the one closest to the full model).
2. Then the spectrum's unit ranking (Möbius share, see :mod:`~spex_mech.circuits.rankings`) is
   measured at every prefix size below the size found so far (all sizes if none was found), and a
   smaller passing prefix replaces the answer — a poor surrogate costs evaluations, not minimality
   along its own ranking.

``n_evaluations`` counts every mask the search sent to the game.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..results.interactions import Interactions
from ..transforms import all_masks, popcount
from ..valuefn import ValueFunction
from .curves import DEFAULT_MIN_EFFECT, DEFAULT_NOISE, faithfulness_warnings
from .rankings import ranking, unit_scores

__all__ = ["MinimalCircuit", "minimal_circuit"]

EXACT_SEARCH_MAX_N = 16


@dataclass(frozen=True)
class MinimalCircuit:
    """The chosen circuit and what was measured to choose it."""

    units: tuple[int, ...]
    labels: tuple[str, ...]
    n: int
    target: float
    keep: float
    ablate: float
    predicted_keep: float
    clean: float
    empty: float
    found: bool
    search: str
    candidates_measured: int
    n_evaluations: int
    warnings: tuple[str, ...] = ()

    @property
    def mask(self) -> np.ndarray:
        """Bool [n]: True for the circuit's units."""
        m = np.zeros(self.n, dtype=bool)
        m[list(self.units)] = True
        return m

    def summary(self) -> str:
        head = (
            f"minimal circuit (target {self.target}): {len(self.units)} of {self.n} units — {', '.join(self.labels) or '∅'}"
            if self.found
            else f"no circuit reached the target {self.target}; closest measured: {', '.join(self.labels) or '∅'}"
        )
        lines = [
            head,
            f"  measured: keep only the circuit → faithfulness {self.keep:.3f}; ablate the circuit → {self.ablate:.3f} of the effect left "
            f"(clean {self.clean:.4g}, all ablated {self.empty:.4g})",
            f"  search: {self.search}; {self.candidates_measured} candidate circuits measured, {self.n_evaluations} model evaluations",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _distance(keep: np.ndarray, ablate: np.ndarray, complete: bool) -> np.ndarray:
    d = np.abs(1.0 - keep)
    return np.maximum(d, np.abs(ablate)) if complete else d


def minimal_circuit(
    result: Interactions,
    f: Callable[[np.ndarray], Any],
    target: float = 0.9,
    *,
    complete: bool = True,
    slack: float = 0.1,
    max_candidates: int = 64,
    noise: float = DEFAULT_NOISE,
    min_effect: float = DEFAULT_MIN_EFFECT,
    warn: bool = True,
) -> MinimalCircuit:
    """Smallest circuit whose measured faithfulness reaches ``target`` (module docstring: criteria, search).

    Parameters
    ----------
    result : an interaction result over the game's units (guides the search).
    f : the game itself; every accepted circuit is measured on it.
    target : in (0, 1]; a circuit passes when its measured distance is at most ``1 − target``.
    complete : also require that ablating the circuit removes the effect.
    slack : extra predicted distance allowed when picking candidates to measure (surrogate error).
    max_candidates : candidates measured per size in the exhaustive search.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target}")
    vf = ValueFunction(f, result.n)
    n = result.n
    ends = vf(np.stack([np.ones(n, bool), np.zeros(n, bool)]))
    clean, empty = float(ends[0]), float(ends[1])
    effect = clean - empty
    if effect == 0:
        raise ValueError("f(all kept) = f(all ablated): there is no effect for a circuit to explain")
    tol = (1.0 - target) + 1e-9
    evaluations = 2
    measured = 0
    best: Optional[tuple[float, np.ndarray, float, float, float]] = None  # (distance, mask, keep, ablate, predicted)

    def measure(cands: np.ndarray, predicted: np.ndarray) -> Optional[tuple[float, np.ndarray, float, float, float]]:
        nonlocal evaluations, measured, best
        vals = vf(np.concatenate([cands, ~cands]))
        evaluations += 2 * cands.shape[0]
        measured += cands.shape[0]
        keep = (vals[: cands.shape[0]] - empty) / effect
        ablate = (vals[cands.shape[0] :] - empty) / effect
        dist = _distance(keep, ablate, complete)
        j = int(np.argmin(dist))
        entry = (float(dist[j]), cands[j], float(keep[j]), float(ablate[j]), float(predicted[j]))
        if best is None or entry[0] < best[0]:
            best = entry
        return entry if dist[j] <= tol else None

    chosen = None
    search = ""
    if n <= EXACT_SEARCH_MAX_N:
        search = "every subset scored by the surrogate, candidates measured smallest first"
        masks = all_masks(n)
        pred = result.predict(masks)
        p0, p1 = float(pred[0]), float(pred[-1])  # code 0 = all ablated, last = all kept
        if p1 != p0:
            share = (pred - p0) / (p1 - p0)
            share_removed = share[::-1]  # complement of code c is (2^n − 1) − c
            dist = _distance(share, share_removed, complete)
            sizes = popcount(np.arange(1 << n))
            ok = np.nonzero(dist <= tol + slack)[0]
            for size in np.unique(sizes[ok]):
                cand = ok[sizes[ok] == size]
                cand = cand[np.argsort(dist[cand], kind="stable")][:max_candidates]
                chosen = measure(masks[cand], share[cand])
                if chosen is not None:
                    break
    limit = n if chosen is None else int(chosen[1].sum()) - 1  # only prefixes smaller than what was found
    if limit >= 1:
        order = ranking(unit_scores(result, "mobius"))
        search = (search + "; then " if search else "") + f"prefixes of the spectrum's unit ranking (Möbius share) up to size {limit}, measured"
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        prefixes = pos[None, :] < np.arange(1, limit + 1)[:, None]
        vals = vf(np.concatenate([prefixes, ~prefixes]))
        evaluations += 2 * limit
        measured += limit
        keep = (vals[:limit] - empty) / effect
        ablate = (vals[limit:] - empty) / effect
        dist = _distance(keep, ablate, complete)
        passing = np.nonzero(dist <= tol)[0]
        pick = int(passing[0]) if passing.size else int(np.argmin(dist))
        entry = (float(dist[pick]), prefixes[pick], float(keep[pick]), float(ablate[pick]), float("nan"))
        if passing.size:
            chosen = entry
        elif best is None or entry[0] < best[0]:
            best = entry
    final = chosen if chosen is not None else best
    _, mask, keep_v, ablate_v, predicted = final
    msgs = faithfulness_warnings(
        clean, empty, {"circuit keep": [keep_v], "circuit ablate": [ablate_v]}, noise=noise, min_effect=min_effect, emit=warn
    )
    units = tuple(int(i) for i in np.nonzero(mask)[0])
    return MinimalCircuit(
        units=units,
        labels=tuple(result.labels[i] for i in units),
        n=n,
        target=target,
        keep=keep_v,
        ablate=ablate_v,
        predicted_keep=predicted,
        clean=clean,
        empty=empty,
        found=chosen is not None,
        search=search,
        candidates_measured=measured,
        n_evaluations=evaluations,
        warnings=msgs,
    )

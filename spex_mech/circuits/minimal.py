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
   measured at prefix sizes below the size found so far (all sizes if none was found), and a smaller
   passing prefix replaces the answer — a poor surrogate costs evaluations, not minimality along its
   own ranking. Up to ``max_prefixes`` sizes every size is measured; beyond that (whole-model unit
   sets: n = 36,864 neurons would need 2n evaluations) every size up to ``max_prefixes // 2`` and a
   geometric grid up to the limit, then a bisection between the first passing grid size and the grid
   size before it. The grid part assumes a prefix that passes stays passing when a few units are
   added; the circuit returned is always a measured pass.

``n_evaluations`` counts every mask the search sent to the game.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from .._text import name_list
from ..circuit import EXACT_SEARCH_MAX_N, units_mask
from ..results.interactions import Interactions
from ..transforms import all_masks, popcount
from ..valuefn import ValueFunction
from .curves import DEFAULT_MIN_EFFECT, DEFAULT_NOISE, faithfulness_warnings
from .noise import DEFAULT_K, estimate_noise
from .rankings import ranking, unit_scores

__all__ = ["MinimalCircuit", "minimal_circuit", "prefix_sizes"]


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
    noise_method: str = ""

    @property
    def mask(self) -> np.ndarray:
        """Return the circuit as a mask.

        Returns
        -------
        numpy.ndarray
            Bool [n]: True for the circuit's units.
        """
        return units_mask(self.units, self.n)

    def summary(self) -> str:
        """Return a few lines: the circuit, what was measured, the search, the tolerance and any warnings.

        Returns
        -------
        str
            The text.
        """
        head = (
            f"minimal circuit (target {self.target}): {len(self.units)} of {self.n} units — {name_list(self.labels)}"
            if self.found
            else f"no circuit reached the target {self.target}; closest measured: {name_list(self.labels)}"
        )
        lines = [
            head,
            f"  measured: keep only the circuit → faithfulness {self.keep:.3f}; ablate the circuit → {self.ablate:.3f} "
            f"of the effect left (clean {self.clean:.4g}, all ablated {self.empty:.4g})",
            f"  search: {self.search}; {self.candidates_measured} candidate circuits measured, "
            f"{self.n_evaluations} model evaluations",
        ]
        if self.noise_method:
            lines.append(f"  warning tolerance: {self.noise_method}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def prefix_sizes(limit: int, max_prefixes: int = 256) -> np.ndarray:
    """Return the prefix sizes to measure for sizes 1…``limit``.

    All of them when ``limit ≤ max_prefixes``, else every size up to ``max_prefixes // 2`` and a geometric
    grid (about ``max_prefixes // 2`` points) up to ``limit`` inclusive.

    Parameters
    ----------
    limit : int
        Largest size.
    max_prefixes : int
        Most sizes measured (at least 4).

    Returns
    -------
    numpy.ndarray
        Sizes, int64, increasing, distinct.

    Raises
    ------
    ValueError
        For ``max_prefixes`` < 4.
    """
    if limit < 1:
        return np.zeros(0, dtype=np.int64)
    if max_prefixes < 4:
        raise ValueError(f"max_prefixes must be at least 4, got {max_prefixes}")
    if limit <= max_prefixes:
        return np.arange(1, limit + 1, dtype=np.int64)
    dense = max_prefixes // 2
    grid = np.geomspace(dense, limit, max_prefixes - dense + 1)
    sizes = np.unique(np.concatenate([np.arange(1, dense + 1), np.round(grid).astype(np.int64), [limit]]))
    return sizes[(sizes >= 1) & (sizes <= limit)].astype(np.int64)


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
    max_prefixes: int = 256,
    noise: float = DEFAULT_NOISE,
    min_effect: float = DEFAULT_MIN_EFFECT,
    warn: bool = True,
    noise_estimate: str = "auto",
    k: float = DEFAULT_K,
    repeats: int = 0,
) -> MinimalCircuit:
    """Find the smallest circuit whose measured faithfulness reaches ``target`` (criteria, search: module docstring).

    Parameters
    ----------
    result : Interactions
        An interaction result over the game's units (guides the search).
    f : callable
        The game itself; every accepted circuit is measured on it.
    target : float
        In (0, 1]; a circuit passes when its measured distance is at most ``1 − target``.
    complete : bool
        Also require that ablating the circuit removes the effect.
    slack : float
        Extra predicted distance allowed when picking candidates to measure (surrogate error).
    max_candidates : int
        Candidates measured per size in the exhaustive search.
    max_prefixes : int
        Prefix sizes of the ranking measured in one batch (step 2); beyond it a geometric grid and a
        bisection (module docstring).
    noise : float
        Fixed tolerance of the warnings where no standard error is estimated.
    min_effect : float
        Smallest total effect (:func:`~spex_mech.circuits.curves.faithfulness_warnings`).
    warn : bool
        Emit the warnings as :class:`~spex_mech.circuits.curves.FaithfulnessWarning`.
    noise_estimate : {"auto", "fixed"}
        How the chosen circuit's standard errors are estimated
        (:func:`~spex_mech.circuits.noise.estimate_noise`; its evaluations are counted).
    k : float
        Standard errors a faithfulness value may stray outside [0, 1] before it warns.
    repeats : int
        Repeated calls as samples, for stochastic games without per-prompt values.

    Returns
    -------
    MinimalCircuit
        The circuit (``found`` False: the closest measured one), what was measured, and warnings.

    Raises
    ------
    ValueError
        For a target outside (0, 1] or a game with no effect (f(all kept) = f(all ablated)).
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
        scores = unit_scores(result, "mobius")
        order = ranking(scores)
        scored = int(np.count_nonzero(scores))
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        sizes = prefix_sizes(limit, max_prefixes)
        exhaustive_prefixes = sizes.shape[0] == limit
        search = (search + "; then " if search else "") + (
            f"prefixes of the spectrum's unit ranking (Möbius share) up to size {limit}, measured"
            if exhaustive_prefixes
            else f"prefixes of the spectrum's unit ranking (Möbius share): {sizes.shape[0]} sizes up to {limit} "
            "(every size to the first grid point, then a geometric grid and a bisection), measured"
        )
        if scored < limit:
            search += f" (only {scored} units score above 0; the others follow in index order)"

        def measure_prefixes(ks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            nonlocal evaluations, measured
            prefixes = pos[None, :] < ks[:, None]  # [len(ks), n] bool: the top-k units of the ranking
            vals = vf(np.concatenate([prefixes, ~prefixes]))
            evaluations += 2 * ks.shape[0]
            measured += ks.shape[0]
            keep = (vals[: ks.shape[0]] - empty) / effect
            ablate = (vals[ks.shape[0] :] - empty) / effect
            return prefixes, keep, ablate, _distance(keep, ablate, complete)

        prefixes, keep, ablate, dist = measure_prefixes(sizes)
        passing = np.nonzero(dist <= tol)[0]
        pick = int(passing[0]) if passing.size else int(np.argmin(dist))
        entry = (float(dist[pick]), prefixes[pick], float(keep[pick]), float(ablate[pick]), float("nan"))
        if passing.size and pick > 0 and sizes[pick] - sizes[pick - 1] > 1:
            lo, hi = int(sizes[pick - 1]), int(sizes[pick])  # lo fails, hi passes: bisect between them
            while hi - lo > 1:
                mid = (lo + hi) // 2
                p_mid, k_mid, a_mid, d_mid = measure_prefixes(np.array([mid], dtype=np.int64))
                if d_mid[0] <= tol:
                    hi = mid
                    entry = (float(d_mid[0]), p_mid[0], float(k_mid[0]), float(a_mid[0]), float("nan"))
                else:
                    lo = mid
        if passing.size:
            chosen = entry
        elif best is None or entry[0] < best[0]:
            best = entry
    final = chosen if chosen is not None else best
    _, mask, keep_v, ablate_v, predicted = final
    est = estimate_noise(f, np.stack([mask, ~mask]), repeats=repeats, mode=noise_estimate)
    evaluations += est.n_evaluations
    msgs = faithfulness_warnings(
        clean, empty, {"circuit keep": [keep_v], "circuit ablate": [ablate_v]}, noise=noise, min_effect=min_effect,
        emit=warn, se={"circuit keep": est.se[:1], "circuit ablate": est.se[1:]}, effect_se=est.effect_se, k=k,
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
        noise_method=est.method,
    )

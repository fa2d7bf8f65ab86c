"""Surrogate circuits from interactions, their measured faithfulness, and ROC/AUC against a known truth.

The smallest unit set that explains a chosen fraction of the effect, its faithfulness on the real model,
and ROC/AUC against a known ground truth.

Effect = f(all kept) − f(all ablated). A candidate circuit C keeps exactly the units in C. Its
*predicted* share of the effect uses the surrogate, s(C) = (f̂(1_C) − f̂(0)) / (f̂(1) − f̂(0)), which is
cheap; its *measured* faithfulness re-runs the model: (f(1_C) − f(0)) / (f(1) − f(0)) — the "fraction
of the effect recovered" that ACDC and MIB report for node circuits (1 = the circuit alone behaves like
the full model, 0 = like the fully ablated one). "Explains a fraction φ" means |1 − s(C)| ≤ 1 − φ
(MIB's circuit–model distance), so units with *negative* contributions are not silently dropped: a
circuit that overshoots the full model is as wrong as one that falls short.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

from ._text import name_list
from .results import spectrum as spec
from .results.interactions import Interactions, Term
from .transforms import all_masks, popcount
from .valuefn import ValueFunction

__all__ = ["Circuit", "extract_circuit", "unit_scores", "roc_auc", "interaction_auc"]

# largest n whose 2^n subsets are scored by the surrogate (here and in circuits.minimal)
EXACT_SEARCH_MAX_N = 16


def units_mask(units: Iterable[int], n: int) -> np.ndarray:
    """Return the mask that keeps exactly ``units``.

    Parameters
    ----------
    units : iterable of int
        Unit indices.
    n : int
        Number of units.

    Returns
    -------
    numpy.ndarray
        Bool [n]: True for ``units``.
    """
    m = np.zeros(n, dtype=bool)
    m[list(units)] = True
    return m

@dataclass
class Circuit:
    """A set of kept units, the interactions among them, and how well it reproduces the behaviour."""

    units: tuple[int, ...]
    labels: tuple[str, ...]
    n: int
    target: float
    predicted_fraction: float
    interactions: list[Term] = field(default_factory=list)
    measured: dict[str, float] = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """Return the circuit as a mask.

        Returns
        -------
        numpy.ndarray
            Bool [n]: True for the circuit's units.
        """
        return units_mask(self.units, self.n)

    def evaluate(self, f: Callable[[np.ndarray], Any]) -> dict[str, float]:
        """Run the real value function: clean, everything ablated, only the circuit kept, the circuit ablated.

        Parameters
        ----------
        f : callable
            The game.

        Returns
        -------
        dict of str to float
            Keys clean, ablated, circuit_only, circuit_removed, faithfulness, removal_effect (also kept
            in ``measured``).
        """
        vf = ValueFunction(f, self.n)
        masks = np.stack([np.ones(self.n, bool), np.zeros(self.n, bool), self.mask, ~self.mask])
        clean, ablated, kept, removed = vf(masks)
        effect = clean - ablated
        self.measured = {
            "clean": float(clean),
            "ablated": float(ablated),
            "circuit_only": float(kept),
            "circuit_removed": float(removed),
            "faithfulness": float((kept - ablated) / effect) if effect != 0 else float("nan"),
            "removal_effect": float((clean - removed) / effect) if effect != 0 else float("nan"),
        }
        return self.measured

    def summary(self) -> str:
        """Return the circuit, its predicted and measured shares and its top interactions as text.

        Returns
        -------
        str
            The text.
        """
        lines = [
            f"circuit: {len(self.units)} of {self.n} units — {name_list(self.labels)}",
            f"  predicted share of the effect: {self.predicted_fraction:.3f} (target {self.target})",
        ]
        if self.measured:
            m = self.measured
            lines.append(
                f"  measured: clean {m['clean']:.4g}, ablated {m['ablated']:.4g}, circuit only "
                f"{m['circuit_only']:.4g} → faithfulness {m['faithfulness']:.3f}; ablating the circuit removes "
                f"{m['removal_effect']:.3f} of the effect"
            )
        for t in self.interactions[:8]:
            lines.append(f"  {t}")
        return "\n".join(lines)


def _surrogate_ends(result: Interactions) -> tuple[np.ndarray, float]:
    """Return f̂ at (all kept, all ablated) and their difference; refuse a surrogate with no effect."""
    n = result.n
    ends = result.predict(np.stack([np.ones(n, bool), np.zeros(n, bool)]))
    effect = ends[0] - ends[1]
    if effect == 0:
        raise ValueError("the surrogate predicts no effect (f̂(all kept) = f̂(all ablated)); nothing to explain")
    return ends, effect


def _surrogate_fraction(result: Interactions, masks: np.ndarray) -> np.ndarray:
    ends, effect = _surrogate_ends(result)
    return (result.predict(masks) - ends[1]) / effect


def extract_circuit(
    result: Interactions,
    fraction: float = 0.9,
    *,
    f: Optional[Callable[[np.ndarray], Any]] = None,
    method: str = "auto",
) -> Circuit:
    """Find the smallest set of units whose surrogate share of the effect is within ``1 − fraction`` of 1.

    The criterion is |1 − s(C)| ≤ 1 − fraction. ``method="exact"`` searches subsets by size
    (n ≤ ``EXACT_SEARCH_MAX_N``); ``"greedy"`` prunes backwards from all units, each time removing the
    unit whose removal keeps the circuit closest to the full model (like ACDC). ``"auto"`` picks exact
    when possible.

    Parameters
    ----------
    result : Interactions
        The spectrum (its surrogate scores the candidates).
    fraction : float
        In (0, 1].
    f : callable, optional
        The real value function; when given the circuit's faithfulness is measured on it.
    method : {"auto", "exact", "greedy"}
        The search.

    Returns
    -------
    Circuit
        The units, their interactions, the predicted share and (with ``f``) the measurements.

    Raises
    ------
    ValueError
        For a fraction outside (0, 1], an unknown method, exact search with n > 20, or no effect.
    """
    if f is not None:
        result.check_units(f)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    n = result.n
    if method == "auto":
        method = "exact" if n <= EXACT_SEARCH_MAX_N else "greedy"
    if method == "exact":
        if n > 20:
            raise ValueError(f"exact circuit search is limited to n ≤ 20 units (n={n}); use method='greedy'")
        masks = all_masks(n)
        share = _surrogate_fraction(result, masks)
        distance = np.abs(1.0 - share)
        sizes = popcount(np.arange(1 << n))
        ok = distance <= (1.0 - fraction) + 1e-12
        best_size = int(sizes[ok].min())
        candidates = np.nonzero(ok & (sizes == best_size))[0]
        pick = int(candidates[np.argmin(distance[candidates])])
        chosen = np.nonzero(masks[pick])[0]
        achieved = float(share[pick])
    elif method == "greedy":
        chosen, achieved = _greedy_prune(result, fraction)
    else:
        raise ValueError(f"unknown method {method!r}; use 'auto', 'exact' or 'greedy'")
    units = tuple(int(i) for i in chosen)
    inside = set(units)
    terms = [t for t in result.top(10**9, basis="mobius") if t.units and set(t.units) <= inside]
    circuit = Circuit(
        units=units,
        labels=tuple(result.labels[i] for i in units),
        n=n,
        target=fraction,
        predicted_fraction=achieved,
        interactions=terms,
    )
    if f is not None:
        circuit.evaluate(f)
    return circuit


def _greedy_prune(result: Interactions, fraction: float) -> tuple[np.ndarray, float]:
    """Prune backwards over the units that appear in some term.

    The others never change the surrogate: they go first, all at once. The work runs on a spectrum
    re-indexed to those units, so each step costs O(k²) for k involved units whatever n is.
    """
    tol = (1.0 - fraction) + 1e-12
    keys = result.keys
    involved = np.unique(keys[keys >= 0])
    k = involved.shape[0]
    ends, effect = _surrogate_ends(result)
    local = np.where(keys >= 0, np.searchsorted(involved, np.where(keys >= 0, keys, 0)), -1)

    def share(masks: np.ndarray) -> np.ndarray:
        return (spec.evaluate_fourier(local, result.coefficients, masks, k) - ends[1]) / effect

    kept = np.ones(k, dtype=bool)  # k ≥ 1: a spectrum with no unit in any term has no effect
    current = float(share(kept[None])[0])
    while kept.sum() > 0:
        idx = np.nonzero(kept)[0]
        trial = np.repeat(kept[None], len(idx), axis=0)
        trial[np.arange(len(idx)), idx] = False
        s = share(trial)
        best = int(np.argmin(np.abs(1.0 - s)))
        if abs(1.0 - s[best]) > tol:
            break
        kept = trial[best]
        current = float(s[best])
    return involved[kept], current


def unit_scores(result: Interactions, kind: str = "interaction") -> np.ndarray:
    """Return a per-unit importance score for ranking against a ground-truth circuit.

    Parameters
    ----------
    result : Interactions
        The spectrum.
    kind : {"interaction", "shapley", "banzhaf"}
        ``interaction``: Σ |a(S)| over Möbius terms S that contain the unit (credits every order);
        ``shapley`` / ``banzhaf``: |first-order value|.

    Returns
    -------
    numpy.ndarray
        The scores, float64 [n].

    Raises
    ------
    ValueError
        For an unknown kind.
    """
    if kind == "shapley":
        return np.abs(result.shapley_values())
    if kind == "banzhaf":
        return np.abs(result.banzhaf_values())
    if kind != "interaction":
        raise ValueError(f"unknown score kind {kind!r}")
    out = np.zeros(result.n)
    for units, value in result.mobius().items():
        for i in units:
            out[i] += abs(value)
    return out


def roc_auc(scores: Sequence[float], positives: Iterable[int]) -> float:
    """Return the area under the ROC curve of ``scores`` for separating the ``positives`` from the rest.

    Parameters
    ----------
    scores : sequence of float
        One score per unit.
    positives : iterable of int
        Unit indices of the true circuit.

    Returns
    -------
    float
        P(positive scores above negative) + ½ P(tie).

    Raises
    ------
    ValueError
        When every unit or no unit is positive.
    """
    scores = np.asarray(scores, dtype=np.float64)
    pos = np.zeros(scores.shape[0], dtype=bool)
    pos[list(positives)] = True
    if pos.all() or not pos.any():
        raise ValueError("AUC needs at least one positive and one negative unit")
    return _auc_from_scores(scores[pos], scores[~pos], 0)


def _auc_from_scores(
    pos: np.ndarray, neg: np.ndarray, implicit_zero_negatives: int, implicit_zero_positives: int = 0
) -> float:
    """P(score_pos > score_neg) + ½ P(tie), with extra negatives/positives scoring exactly 0."""
    pos_all = np.concatenate([pos, np.zeros(implicit_zero_positives)])
    neg_sorted = np.sort(neg)
    n_neg = neg_sorted.shape[0] + implicit_zero_negatives
    greater = np.searchsorted(neg_sorted, pos_all, side="left") + np.where(pos_all > 0, implicit_zero_negatives, 0)
    ties = np.searchsorted(neg_sorted, pos_all, side="right") - np.searchsorted(neg_sorted, pos_all, side="left")
    ties = ties + np.where(pos_all == 0, implicit_zero_negatives, 0)
    return float((greater + 0.5 * ties).sum() / (pos_all.shape[0] * n_neg))


def interaction_auc(
    result: Interactions, true_terms: Iterable[Sequence[int]], max_order: Optional[int] = None, basis: str = "mobius"
) -> float:
    """Return the AUC of |interaction| for telling the true terms from every other term of order 1..max_order.

    Terms the result does not list score 0 (their number is counted exactly, not enumerated).

    Parameters
    ----------
    result : Interactions
        The spectrum.
    true_terms : iterable of sequence of int
        The planted interactions.
    max_order : int, optional
        Largest order compared (default: the largest true term's).
    basis : {"mobius", "fourier"}
        Which coefficients score the terms.

    Returns
    -------
    float
        The AUC.

    Raises
    ------
    ValueError
        When no true term is given.
    """
    truth = {tuple(sorted(t)) for t in true_terms}
    if not truth:
        raise ValueError("no true terms given")
    table = result.mobius() if basis == "mobius" else result.fourier
    max_order = max_order or max(len(t) for t in truth)
    listed = {u: abs(v) for u, v in table.items() if 1 <= len(u) <= max_order}
    total = sum(comb(result.n, k) for k in range(1, max_order + 1))
    pos = np.array([listed.get(t, 0.0) for t in truth])
    neg = np.array([v for u, v in listed.items() if u not in truth])
    zero_neg = total - len(truth) - neg.shape[0]
    zero_pos = int((pos == 0).sum())
    return _auc_from_scores(pos[pos > 0], neg, zero_neg, zero_pos)

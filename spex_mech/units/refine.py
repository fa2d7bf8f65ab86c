"""Coarse to fine: expand whole-MLP units that take part in interactions into their neurons.

The workflow: search a coarse unit set (``AttentionHeads(model) + MLPLayers(model)``: a few hundred
units for a whole model), then give :func:`refine_units` the result; it returns a new unit set where
the chosen whole-MLP units (``blocks.{l}.hook_mlp_out``) are replaced by that layer's neurons
(``MLPNeurons``, masked at ``blocks.{l}.mlp.hook_post``), so the neuron-level search spends its
evaluations only on layers where something happens.

>>> coarse = sm.AttentionHeads(model) + sm.MLPLayers(model)
>>> first = sm.spex(sm.AblationGame(model, coarse, tokens, metric, ablation="zero"), max_order=2)
>>> fine = sm.refine_units(first, coarse, others="active")
>>> second = sm.spex(sm.AblationGame(model, fine, tokens, metric, ablation="zero"), max_order=2)

Units left out of the refined set are *fixed at kept* (never ablated) in the next game.

**Failure mode.** A whole-MLP unit ablates the sum of its neurons' outputs. When neurons of one layer
cancel (one writes +v, another −v into the same direction), the whole-MLP unit shows no effect,
the layer is not selected, and the neuron-level interaction inside it is never searched. The
coarse result cannot reveal this; when it matters, pass ``expand=`` to choose layers by hand or
search those layers' neurons flat (see ``tests/test_refine.py::test_cancelling_neurons_hide_from_the_coarse_search``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..validation import check_int
from .base import UnitSet
from .components import MLPNeurons

__all__ = ["refine_units", "select_units", "subset"]

_MLP_RE = re.compile(r"^blocks\.(\d+)\.hook_mlp_out$")
_OTHERS = ("keep", "active", "none")


def subset(units: UnitSet, columns: Sequence[int]) -> UnitSet:
    """Return the units at ``columns`` (in that order) as a new unit set with columns 0..k−1.

    Parameters
    ----------
    units : UnitSet
        The unit set.
    columns : sequence of int
        The columns kept.

    Returns
    -------
    UnitSet
        The subset.
    """
    cols = [int(c) for c in columns]
    if len(set(cols)) != len(cols):
        raise ValueError(f"columns repeat: {cols}")
    for c in cols:
        if not 0 <= c < len(units):
            raise ValueError(f"unit column {c} is outside the unit set (0..{len(units) - 1})")
    new_col = {old: new for new, old in enumerate(cols)}
    sites = []
    for site in units.sites:
        pairs = [(s, new_col[c]) for s, c in zip(site.slices, site.columns) if c in new_col]
        if pairs:
            sites.append(replace(site, slices=tuple(p[0] for p in pairs), columns=tuple(p[1] for p in pairs)))
    token_sites = []
    for site in units.token_sites:
        pairs = [(p, new_col[c]) for p, c in zip(site.positions, site.columns) if c in new_col]
        if pairs:
            base = site.baseline
            if not np.isscalar(base) and np.ndim(base) > 0 and len(base) == len(site.positions):
                keep = [j for j, c in enumerate(site.columns) if c in new_col]
                base = type(base)([base[j] for j in keep]) if isinstance(base, (list, tuple)) else base[keep]
            token_sites.append(
                replace(site, positions=tuple(p[0] for p in pairs), columns=tuple(p[1] for p in pairs), baseline=base)
            )
    return UnitSet(
        ids=[units.ids[c] for c in cols],
        labels=[units.labels[c] for c in cols],
        sites=sites,
        token_sites=token_sites,
        model=units.model,
    )


def _column(units: UnitSet, key: Any) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= int(key) < len(units):
            raise ValueError(f"unit column {int(key)} is outside the unit set (0..{len(units) - 1})")
        return int(key)
    try:
        return units.index(str(key))
    except KeyError:
        raise ValueError(f"no unit with id or label {key!r} in the coarse unit set") from None


def select_units(result: Any, *, threshold: float = 0.05, min_order: int = 2) -> list[int]:
    """Find the units taking part in a significant Möbius term of order ≥ ``min_order``.

    A term is significant when |a(S)| ≥ ``threshold`` × the largest |a(S)| over all non-empty S.

    Parameters
    ----------
    result : Interactions
        The result.
    threshold : float, default 0.05
        Relative size of a significant term.
    min_order : int, default 2
        Smallest order considered.

    Returns
    -------
    list of int
        Sorted unit columns.

    Raises
    ------
    ValueError
        If ``min_order`` is below 1.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a fraction of the largest effect, in [0, 1]; got {threshold}")
    min_order = check_int("min_order", min_order, low=1)
    terms = {s: v for s, v in result.mobius().items() if len(s) >= 1}
    if not terms:
        return []
    largest = max(abs(v) for v in terms.values())
    if largest == 0:
        return []
    chosen = {i for s, v in terms.items() if len(s) >= min_order and abs(v) >= threshold * largest for i in s}
    return sorted(chosen)


def refine_units(
    result: Any,
    units: UnitSet,
    *,
    expand: Optional[Sequence[Any]] = None,
    threshold: float = 0.05,
    min_order: int = 2,
    others: str = "keep",
    neurons: Optional[Mapping[int, Sequence[int]]] = None,
    model: Any = None,
) -> UnitSet:
    """Build a finer unit set: chosen whole-MLP units of ``units`` replaced by their MLP neurons.

    Parameters
    ----------
    result : Interactions or None
        A result measured on ``units`` (its unit ids must match), or ``None`` with ``expand`` given.
    units : UnitSet
        The coarse unit set the result is over (e.g. ``AttentionHeads(model) + MLPLayers(model)``).
    expand : sequence, optional
        Whole-MLP units to expand (ids, labels such as ``"L3M"``, or columns). Default: the MLP units in a
        significant interaction (:func:`select_units` with ``threshold``, ``min_order``).
    threshold : float, default 0.05
        The automatic choice keeps Möbius terms with |a(S)| ≥ ``threshold`` × the largest |a(S)|.
    min_order : int, default 2
        Smallest order of those terms (``min_order=1`` also expands MLPs with main effects).
    others : {"keep", "active", "none"}, default "keep"
        What happens to the units that are not expanded: ``"keep"`` (stay units), ``"active"`` (only those
        in a significant term of any order ≥ ``min_order`` stay; the rest are fixed at kept), ``"none"``
        (all fixed at kept: the new set holds only neurons).
    neurons : Mapping, optional
        ``{layer: neuron indices}`` to expand only some neurons of a layer (default: all).
    model : Any, optional
        The model (default: ``units.model``).

    Returns
    -------
    UnitSet
        Kept coarse units in their order, each expanded MLP replaced in place by its neurons.

    Raises
    ------
    ValueError
        When nothing is selected (say which threshold; effects that cancel inside a layer are invisible to
        a whole-MLP unit), a chosen unit is not a whole-MLP unit, or the result is over other units.
    """
    if not isinstance(units, UnitSet):
        raise TypeError(f"units must be the coarse UnitSet, got {type(units).__name__}")
    if others not in _OTHERS:
        raise ValueError(f"others must be one of {', '.join(_OTHERS)}; got {others!r}")
    model = model if model is not None else units.model
    if model is None:
        raise ValueError("the unit set does not know its model; pass model=")
    if result is not None:
        if result.n != len(units):
            raise ValueError(f"the result is over {result.n} units, the coarse unit set has {len(units)}")
        ids = [str(i) for i in getattr(result, "ids", units.ids)]
        if getattr(result, "_ids_given", True) and ids != [str(i) for i in units.ids]:
            i = next(i for i, (a, b) in enumerate(zip(ids, units.ids)) if a != str(b))
            raise ValueError(f"the result's unit {i} is '{ids[i]}', the coarse unit set's is '{units.ids[i]}'")
    elif expand is None or others == "active":
        raise ValueError("without a result, pass expand=[...] and others='keep' or 'none'")

    if expand is not None:
        chosen = sorted({_column(units, key) for key in expand})
        bad = [units.labels[c] for c in chosen if not _MLP_RE.match(units.ids[c])]
        if bad:
            raise ValueError(f"only whole-MLP units (blocks.L.hook_mlp_out) can be expanded; not {bad}")
    else:
        active = select_units(result, threshold=threshold, min_order=min_order)
        chosen = [c for c in active if _MLP_RE.match(units.ids[c])]
        if not chosen:
            raise ValueError(
                f"no whole-MLP unit is in a Möbius term of order ≥ {min_order} with |a| ≥ {threshold} × the largest; "
                "nothing to expand (neurons whose effects cancel inside a layer are invisible to a whole-MLP unit: "
                "pass expand=[...] to choose layers)"
            )
    if others == "active":
        stay = set(select_units(result, threshold=threshold, min_order=min_order))
    elif others == "keep":
        stay = set(range(len(units)))
    else:
        stay = set()
    neurons = dict(neurons or {})
    expanded = set(chosen)
    parts: list[UnitSet] = []
    run: list[int] = []
    for c in range(len(units)):
        if c in expanded:
            if run:
                parts.append(subset(units, run))
                run = []
            layer = int(_MLP_RE.match(units.ids[c]).group(1))
            parts.append(MLPNeurons(model, layer, neurons.get(layer)))
        elif c in stay:
            run.append(c)
    if run:
        parts.append(subset(units, run))
    unknown = sorted(set(neurons) - {int(_MLP_RE.match(units.ids[c]).group(1)) for c in chosen})
    if unknown:
        raise ValueError(f"neurons= names layer(s) {unknown}, whose MLP units are not expanded")
    out = parts[0]
    for part in parts[1:]:
        out = out + part
    return out

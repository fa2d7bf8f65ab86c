"""Per-layer aggregation of a result: what whole-model figures show instead of one row per unit.

With tens of thousands of units (every MLP neuron of a model), unit-level pictures are unreadable and
unit × unit ones are O(n²). Units are grouped by the layer in their hook id (``blocks.{l}.…``, else the
label ``L{l}…``); units with no layer form one group ``other``. Computed from the sparse Möbius spectrum
in O(K·D²) for K terms of order ≤ D, whatever n is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..hooks import block_layer
from . import spectrum as spec
from .interactions import Interactions

__all__ = ["LayerSummary", "layer_summary", "unit_layers"]

_LABEL = re.compile(r"^L(\d+)(H|N)(\d+)$")


def unit_layers(labels: Sequence[str], ids: Optional[Sequence[str]] = None) -> list[Optional[int]]:
    """Return the layer of each unit, read from its hook id, else from its label.

    A hook id ``blocks.1.…`` gives layer 1; failing that a label ``L1H2`` or ``L1N7`` gives layer 1.

    Parameters
    ----------
    labels : sequence of str
        The units' labels.
    ids : sequence of str, optional
        The units' ids (TransformerLens hook names).

    Returns
    -------
    list of int or None
        One layer per unit; None for units with no layer (tokens, data groups, ...).
    """
    out = []
    for j, lab in enumerate(labels):
        layer = block_layer(ids[j]) if ids is not None and j < len(ids) else None
        if layer is not None:
            out.append(layer)
            continue
        m = _LABEL.match(lab)
        out.append(int(m.group(1)) if m else None)
    return out


@dataclass(frozen=True)
class LayerSummary:
    """Sums over the units of each group (``groups[g]``: a layer number, or None for ``other``).

    ``units[g]``: how many units; ``mobius_share[g]``: Σ over its units of Σ_{S∋i, |S|≥1} |a(S)|/|S|;
    ``shapley[g]``: Σ over its units of the Shapley value φ_i (signed); ``pair_mass[g, h]``: Σ over Möbius
    terms S of order ≥ 2 and over unordered pairs {i, j} ⊆ S with i in g and j in h of |a(S)|
    (symmetric; the diagonal holds pairs within one group, each counted once).
    """

    groups: tuple[Optional[int], ...]
    units: np.ndarray
    mobius_share: np.ndarray
    shapley: np.ndarray
    pair_mass: np.ndarray

    @property
    def names(self) -> list[str]:
        """``"layer 3"`` per group, ``"other"`` for units without a layer."""
        return [f"layer {g}" if g is not None else "other" for g in self.groups]


def layer_summary(result: Interactions) -> LayerSummary:
    """Aggregate ``result`` by layer (see :class:`LayerSummary`).

    Parameters
    ----------
    result : Interactions
        The result to aggregate.

    Returns
    -------
    LayerSummary
        The per-group sums.

    Raises
    ------
    ValueError
        If no unit has a layer.
    """
    layers = unit_layers(result.labels, result.ids)
    known = sorted({l for l in layers if l is not None})
    if not known:
        raise ValueError("no unit has a layer (ids like blocks.{l}.… or labels like L1H2)")
    has_other = any(l is None for l in layers)
    groups: tuple[Optional[int], ...] = tuple(known) + ((None,) if has_other else ())
    slot = {l: g for g, l in enumerate(known)}
    group_of = np.array([slot[l] if l is not None else len(known) for l in layers], dtype=np.int64)
    n_groups = len(groups)
    units = np.bincount(group_of, minlength=n_groups).astype(np.int64)
    keys, values = result._mobius_arrays()
    orders = spec.key_orders(keys)
    share = np.zeros(n_groups)
    rows, cols = np.nonzero((keys >= 0) & (orders[:, None] >= 1))
    np.add.at(share, group_of[keys[rows, cols]], np.abs(values[rows]) / orders[rows])
    shapley = np.bincount(group_of, weights=result.shapley_values(), minlength=n_groups)
    mass = np.zeros((n_groups, n_groups))
    width = keys.shape[1]
    for a in range(width):
        for b in range(a + 1, width):
            ok = (keys[:, a] >= 0) & (keys[:, b] >= 0)
            ga, gb = group_of[keys[ok, a]], group_of[keys[ok, b]]
            w = np.abs(values[ok])
            np.add.at(mass, (ga, gb), w)
            off = ga != gb
            np.add.at(mass, (gb[off], ga[off]), w[off])
    return LayerSummary(groups=groups, units=units, mobius_share=share, shapley=shapley, pair_mass=mass)

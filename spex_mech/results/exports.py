"""Exports of an :class:`~spex_mech.Interactions` result to other tools' formats.

* :func:`to_shapiq` — a shapiq ``InteractionValues`` (shapiq is an optional extra; it needs Python ≥ 3.12);
* :func:`to_mib` — node- and neuron-level importance scores as the MIB circuit track reads them (EAP-IG's
  ``Graph.from_json`` in ``EAP-IG/src/eap/graph.py`` of the MIB code: ``cfg``, ``nodes``
  ``{name: {in_graph, score}}`` or ``{name: {in_graph, neurons, neurons_scores}}``, ``edges``);
* :func:`to_dataframe` — one row per term: basis, order, units, labels, hook ids, value.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np

from ..hooks import block_hook, block_layer, head_of_unit_id

if TYPE_CHECKING:  # pragma: no cover
    from .interactions import Interactions

__all__ = ["SHAPIQ_INDICES", "mib_cfg", "mib_node_name", "shapiq_payload", "to_dataframe", "to_mib", "to_shapiq"]

# our index name (upper case) → shapiq's
SHAPIQ_INDICES = {
    "SV": "SV",
    "BV": "BV",
    "SII": "SII",
    "BII": "BII",
    "K-SII": "k-SII",
    "STII": "STII",
    "FSII": "FSII",
    "FBII": "FBII",
    "MOBIUS": "Moebius",
    "MÖBIUS": "Moebius",
    "MOEBIUS": "Moebius",
}



def shapiq_payload(result: "Interactions", index: str = "k-SII", max_order: int = 2) -> dict[str, Any]:
    """Return the plain data of :func:`to_shapiq` (JSON-able): interactions, values, index, orders, baseline.

    Values come from :meth:`Interactions.index` (exact on the spectrum). The ∅ entry is the surrogate's
    f(∅) (FBII: its intercept), as shapiq stores it for SV, k-SII, STII, FSII, FBII and Moebius; for SII,
    BII and BV shapiq's exact computer puts other numbers there, so compare those indices on |T| ≥ 1.

    Parameters
    ----------
    result : Interactions
        The spectrum.
    index : str
        A shapiq index name (``SV``, ``BV``, ``SII``, ``BII``, ``k-SII``, ``STII``, ``FSII``, ``FBII``,
        ``Moebius``; case-insensitive).
    max_order : int
        Largest interaction order (1 for SV and BV; every order for Moebius).

    Returns
    -------
    dict
        ``index``, ``max_order``, ``min_order``, ``n_players``, ``interactions``, ``values``,
        ``baseline_value``, ``estimated``, ``estimation_budget``.

    Raises
    ------
    ValueError
        For an index shapiq does not have, or ``max_order`` < 1.
    """
    key = index.upper()
    if key not in SHAPIQ_INDICES:
        known = ", ".join(sorted(set(SHAPIQ_INDICES.values())))
        raise ValueError(f"index {index!r} has no shapiq counterpart; choose one of {known}")
    name = SHAPIQ_INDICES[key]
    if name in ("SV", "BV"):
        max_order = 1
    if name == "Moebius":  # not an order-k index: every dividend, as shapiq's exact computer returns it
        max_order = max((len(k) for k in result.mobius()), default=0)
    if max_order < 1:
        raise ValueError(f"max_order must be ≥ 1, got {max_order}")
    table = result.index("mobius" if name == "Moebius" else name, max_order)
    empty_value = float(result.predict(np.zeros((1, result.n), dtype=bool))[0])
    # shapiq's baseline is f(∅), except for FBII, whose ∅ term is the regression's intercept
    baseline = float(table[()]) if name == "FBII" and () in table else empty_value
    table.setdefault((), baseline)
    items = sorted(table.items(), key=lambda kv: (len(kv[0]), kv[0]))
    min_order = min((len(k) for k, _ in items), default=0)
    return {
        "index": name,
        "max_order": int(max_order),
        "min_order": int(min_order),
        "n_players": int(result.n),
        "interactions": [list(k) for k, _ in items],
        "values": [float(v) for _, v in items],
        "baseline_value": baseline,
        "estimated": result.algorithm != "exhaustive",
        "estimation_budget": int(result.n_evaluations) or None,
    }


def to_shapiq(result: "Interactions", index: str = "k-SII", max_order: int = 2) -> Any:
    """Return the result as a shapiq ``InteractionValues`` for ``index`` up to ``max_order``.

    Values are computed exactly from the spectrum; ``baseline_value`` is the surrogate's value with every
    unit ablated.

    Parameters
    ----------
    result : Interactions
        The spectrum.
    index : str
        A shapiq index name (see :func:`shapiq_payload`).
    max_order : int
        Largest interaction order.

    Returns
    -------
    shapiq.InteractionValues
        The values.

    Raises
    ------
    ImportError
        When shapiq is not installed (it needs Python ≥ 3.12).
    """
    try:
        import shapiq  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("to_shapiq needs shapiq (pip install shapiq; it requires Python ≥ 3.12)") from err
    from ._shapiq_bridge import interaction_values

    return interaction_values(shapiq_payload(result, index, max_order))


def mib_node_name(unit_id: str) -> Optional[str]:
    """Return the MIB/EAP-IG node name of a unit id, or None for units MIB has no node for.

    Parameters
    ----------
    unit_id : str
        A unit id.

    Returns
    -------
    str or None
        ``blocks.1.attn.hook_z[2]`` (or ``hook_result[2]``) → ``a1.h2``, ``blocks.0.hook_mlp_out`` → ``m0``;
        None for neurons, tokens, data groups.
    """
    head = head_of_unit_id(unit_id)
    if head is not None:
        return f"a{head[0]}.h{head[1]}"
    layer = block_layer(unit_id)
    if layer is not None and unit_id == block_hook(layer, "hook_mlp_out"):
        return f"m{layer}"
    return None


def mib_cfg(model: Any) -> dict[str, Any]:
    """Return MIB's graph ``cfg`` of a TransformerLens model.

    Parameters
    ----------
    model : Any
        A model with ``cfg.n_layers``, ``cfg.n_heads`` and ``cfg.d_model``.

    Returns
    -------
    dict
        ``n_layers``, ``n_heads``, ``d_model``, ``parallel_attn_mlp``.
    """
    cfg = model.cfg
    return {
        "n_layers": int(cfg.n_layers),
        "n_heads": int(cfg.n_heads),
        "d_model": int(cfg.d_model),
        "parallel_attn_mlp": bool(getattr(cfg, "parallel_attn_mlp", False)),
    }


def to_mib(
    result: "Interactions",
    cfg: Mapping[str, Any],
    *,
    level: str = "node",
    kind: str = "mobius",
    path: Optional[str] = None,
) -> dict[str, Any]:
    """Write importance scores in the MIB circuit track's JSON layout (EAP-IG's ``Graph.to_json``/``from_json``).

    Parameters
    ----------
    result : Interactions
        Scores come from :func:`~spex_mech.circuits.unit_scores` of ``kind`` (``mobius``: every
        interaction's magnitude split among its members; ``attribution`` for attribution patching).
    cfg : mapping
        ``n_layers``, ``n_heads``, ``d_model`` (and ``parallel_attn_mlp``, default False), e.g. from
        :func:`mib_cfg`.
    level : {"node", "neuron"}
        ``"node"``: units are heads (``a{l}.h{h}``) or whole MLPs (``m{l}``); each scored node gets
        ``{in_graph: true, score}``. ``"neuron"``: units are d_model coordinates of a node's output
        (:func:`~spex_mech.units.mib.MIBNeurons`); each node with a scored coordinate gets
        ``{in_graph: true, neurons: [true] * d_model, neurons_scores: [...]}``, coordinate j at index j
        (heads' neurons come from :func:`~spex_mech.results.mib_attribution.mib_neuron_attribution`).
        A coordinate without a unit is NaN, which MIB reads as unscored (always kept), as MIB's own
        ``to_json`` writes it; Python's ``json`` writes and reads NaN, strict JSON parsers do not.
    kind : str
        The score kind.
    path : str, optional
        Also write the document there.

    Returns
    -------
    dict
        ``{"cfg", "nodes", "edges"}``; nodes without any unit are left out (MIB: unscored); ``edges`` is
        empty.

    Raises
    ------
    ValueError
        An unknown level, a cfg key missing, a unit with no MIB node (or neuron) at that level, a unit
        outside the model in ``cfg``, or a non-finite score.
    """
    from ..circuits.rankings import unit_scores

    if level not in ("node", "neuron"):
        raise ValueError(f"MIB level {level!r} is not supported; use 'node' or 'neuron'")
    missing = [k for k in ("n_layers", "n_heads", "d_model") if k not in cfg]
    if missing:
        raise ValueError(f"MIB cfg is missing {', '.join(missing)} (mib_cfg(model) builds it)")
    n_layers, n_heads, d_model = int(cfg["n_layers"]), int(cfg["n_heads"]), int(cfg["d_model"])
    scores = unit_scores(result, kind)
    bad = np.nonzero(~np.isfinite(scores))[0]
    if bad.size:
        raise ValueError(f"unit {int(bad[0])} ({result.ids[int(bad[0])]!r}) has a non-finite score")
    if level == "node":
        nodes = _mib_nodes(result, scores, n_layers, n_heads)
    else:
        nodes = _mib_neurons(result, scores, n_layers, n_heads, d_model)
    doc = {
        "cfg": {
            "n_layers": n_layers,
            "n_heads": n_heads,
            "d_model": d_model,
            "parallel_attn_mlp": bool(cfg.get("parallel_attn_mlp", False)),
        },
        "nodes": nodes,
        "edges": {},
    }
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
    return doc


def _check_node_inside(i: int, uid: str, name: str, n_layers: int, n_heads: int) -> None:
    if name == "input":
        return
    layer = int(re.match(r"^[am](\d+)", name).group(1))
    if layer >= n_layers or (name.startswith("a") and int(name.split(".h")[1]) >= n_heads):
        raise ValueError(f"unit {i} ({uid!r}) lies outside the model in cfg ({n_layers} layers, {n_heads} heads)")


def _parsed_units(result: "Interactions", parse: Any, refusal: str) -> Any:
    """Yield (index, id, parse(id)) for every unit; a unit that parses to None is refused naming it."""
    for i, uid in enumerate(result.ids):
        parsed = parse(uid)
        if parsed is None:
            raise ValueError(f"unit {i} ({uid!r}) {refusal}")
        yield i, uid, parsed


def _mib_nodes(result: "Interactions", scores: np.ndarray, n_layers: int, n_heads: int) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    refusal = (
        "has no MIB node (MIB nodes are attention heads a<l>.h<h> and MLPs m<l>; "
        "d_model coordinates from MIBNeurons go to level='neuron')"
    )
    for i, uid, name in _parsed_units(result, mib_node_name, refusal):
        _check_node_inside(i, uid, name, n_layers, n_heads)
        nodes[name] = {"in_graph": True, "score": float(scores[i])}
    return nodes


def _mib_neurons(
    result: "Interactions", scores: np.ndarray, n_layers: int, n_heads: int, d_model: int
) -> dict[str, dict[str, Any]]:
    from ..units.mib import parse_neuron_id

    table: dict[str, np.ndarray] = {}
    refusal = (
        "is not a MIB neuron (a d_model coordinate of hook_embed or blocks.<l>.hook_mlp_out, as "
        "spex_mech.units.mib.MIBNeurons builds them, or of a head's hook_result slice)"
    )
    for i, uid, (name, coord) in _parsed_units(result, parse_neuron_id, refusal):
        _check_node_inside(i, uid, name, n_layers, n_heads)
        if coord >= d_model:
            raise ValueError(f"unit {i} ({uid!r}): coordinate {coord} is outside d_model ({d_model}) in cfg")
        row = table.setdefault(name, np.full(d_model, np.nan))
        row[coord] = scores[i]
    return {
        name: {"in_graph": True, "neurons": [True] * d_model, "neurons_scores": [float(v) for v in row]}
        for name, row in table.items()
    }


def to_dataframe(result: "Interactions", basis: str = "mobius", index_order: int = 2) -> Any:
    """Return one row per term of ``basis`` (including ∅) as a pandas DataFrame.

    Parameters
    ----------
    result : Interactions
        The spectrum.
    basis : str
        ``mobius``, ``fourier`` or an index name (:meth:`Interactions.top`).
    index_order : int
        Order of an index basis.

    Returns
    -------
    pandas.DataFrame
        Columns units, labels, order, value, basis, ids (the first four as before, in the same order).
    """
    import pandas as pd

    terms = result.top(k=10**12, basis=basis, min_order=0, index_order=index_order)
    return pd.DataFrame(
        {
            "units": [t.units for t in terms],
            "labels": [" × ".join(t.labels) if t.labels else "∅" for t in terms],
            "order": [t.order for t in terms],
            "value": [t.value for t in terms],
            "basis": [basis] * len(terms),
            "ids": [tuple(result.ids[i] for i in t.units) for t in terms],
        }
    )

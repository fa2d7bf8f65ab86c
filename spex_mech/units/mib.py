"""MIB neurons: the d_model coordinates of a MIB circuit-track node's output, one unit each.

In the MIB circuit track (EAP-IG's ``Graph``, ``eap/graph.py`` in the MIB code,
github.com/hannamw/MIB-circuit-track and its copy yanivnik/MIB-shared-task ``EAP-IG/src/eap/graph.py``) a
neuron is one coordinate of a node's output in the residual stream: ``neurons_scores`` is an
``(n_forward, d_model)`` array, node ``input`` writes at ``hook_embed``, ``m{l}`` at
``blocks.{l}.hook_mlp_out`` and ``a{l}.h{h}`` at ``blocks.{l}.attn.hook_result[:, :, h]``. Ablating
neuron j of a node replaces coordinate j of that output at every position (EAP-IG's ``eap/evaluate.py``,
github.com/hannamw/EAP-IG: ``neurons_in_graph`` masks the clean − ablated output difference per
coordinate for every downstream reader), which is what a unit here masks.

:func:`MIBNeurons` builds those units for the ``input`` and MLP nodes, where one activation dimension
(d_model, dim 2) addresses them. A head's neuron is a coordinate of one head's slice of ``hook_result``
(two activation dimensions, head and d_model), which no unit set here can mask: head nodes are refused
with that reason. Attribution patching needs no mask and scores them:
:func:`~spex_mech.results.mib_attribution.mib_neuron_attribution` over heads at ``hook_result``.

Ids spell out every dimension after the batch (``blocks.1.hook_mlp_out[:, :, 17]``: all positions,
coordinate 17), labels are ``m1[17]`` / ``input[3]``; a head's neuron id is
``blocks.0.attn.hook_result[:, :, 2, 5]`` (head 2, coordinate 5). :func:`parse_neuron_id` maps an id back
to (MIB node, coordinate) for :func:`~spex_mech.results.exports.to_mib`.
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

from .base import Site, UnitSet, as_index_list, model_dims, require_hook

__all__ = ["MIBNeurons", "mib_node_hook", "neuron_id", "parse_neuron_id"]

_NODE = re.compile(r"^(input|m(\d+)|a(\d+)\.h(\d+))$")
_ID = re.compile(r"^(hook_embed|blocks\.(\d+)\.hook_mlp_out)\[:, :, (\d+)\]$")
_HEAD_ID = re.compile(r"^blocks\.(\d+)\.attn\.hook_result\[:, :, (\d+), (\d+)\]$")


def mib_node_hook(node: str) -> str:
    """Return the hook whose d_model coordinates are the neurons of MIB node ``node``.

    Parameters
    ----------
    node : str
        ``"input"`` or ``"m{l}"``.

    Returns
    -------
    str
        ``hook_embed`` or ``blocks.{l}.hook_mlp_out``.

    Raises
    ------
    ValueError
        For an attention-head node (its neurons need two activation dimensions) or an unknown name.
    """
    m = _NODE.match(node)
    if m is None:
        raise ValueError(f"{node!r} is not a MIB node name (input, m<layer>, a<layer>.h<head>)")
    if node == "input":
        return "hook_embed"
    if m.group(2) is not None:
        return f"blocks.{int(m.group(2))}.hook_mlp_out"
    raise ValueError(
        f"MIB node {node!r}: a head's neurons are coordinates of its own slice of hook_result (head and d_model, "
        "two activation dimensions), which these units cannot mask one at a time; score them with "
        "spex_mech.results.mib_attribution.mib_neuron_attribution (heads at hook_result), or heads at node level"
    )


def neuron_id(node: str, coordinate: int) -> str:
    """Return the unit id of neuron ``coordinate`` of MIB node ``node``.

    Parameters
    ----------
    node : str
        ``"input"``, ``"m{l}"`` or ``"a{l}.h{h}"`` (a head's neurons are ids only: scored by
        :func:`~spex_mech.results.mib_attribution.mib_neuron_attribution`, never masked as units).
    coordinate : int
        The d_model coordinate.

    Returns
    -------
    str
        ``blocks.1.hook_mlp_out[:, :, 17]``, ``hook_embed[:, :, 3]`` or ``blocks.0.attn.hook_result[:, :, 2, 5]``.

    Raises
    ------
    ValueError
        For a name that is not a MIB node.
    """
    m = _NODE.match(node)
    if m is not None and m.group(3) is not None:
        return f"blocks.{int(m.group(3))}.attn.hook_result[:, :, {int(m.group(4))}, {int(coordinate)}]"
    return f"{mib_node_hook(node)}[:, :, {int(coordinate)}]"


def parse_neuron_id(unit_id: str) -> Optional[tuple[str, int]]:
    """Return (MIB node, coordinate) of a :func:`neuron_id`, or None for any other id.

    Parameters
    ----------
    unit_id : str
        A unit id.

    Returns
    -------
    tuple of (str, int) or None
        ``("m1", 17)`` for ``blocks.1.hook_mlp_out[:, :, 17]``, ``("input", 3)`` for ``hook_embed[:, :, 3]``,
        ``("a0.h2", 5)`` for ``blocks.0.attn.hook_result[:, :, 2, 5]``.
    """
    m = _HEAD_ID.match(unit_id)
    if m is not None:
        return f"a{int(m.group(1))}.h{int(m.group(2))}", int(m.group(3))
    m = _ID.match(unit_id)
    if m is None:
        return None
    node = "input" if m.group(2) is None else f"m{int(m.group(2))}"
    return node, int(m.group(3))


def MIBNeurons(
    model: Any,
    nodes: Optional[Sequence[str]] = None,
    coordinates: Optional[Sequence[int]] = None,
) -> UnitSet:
    """Build one unit per d_model coordinate of each chosen MIB node's output (see the module docstring).

    Parameters
    ----------
    model : Any
        A TransformerLens model (HookedTransformer or TransformerBridge) with ``cfg.d_model``.
    nodes : sequence of str, optional
        MIB node names, ``"input"`` and ``"m{l}"`` (default: every MLP node ``m0 … m{L-1}``).
    coordinates : sequence of int, optional
        The d_model coordinates used in every node (default: all).

    Returns
    -------
    UnitSet
        Units ordered node by node, coordinates increasing within a node.

    Raises
    ------
    ValueError
        For a head node, an unknown node or layer, a repeated node, a coordinate outside d_model, an
        attention-only model asked for MLP nodes, or a model whose cfg lacks d_model.

    Examples
    --------
    >>> units = MIBNeurons(model, nodes=["m0", "m1"], coordinates=range(8))   # 16 units
    >>> units.ids[0], units.labels[0]
    ('blocks.0.hook_mlp_out[:, :, 0]', 'm0[0]')
    """
    dims = model_dims(model)
    d_model, n_layers = dims["d_model"], dims["n_layers"]
    if d_model is None:
        raise ValueError("cannot read d_model from the model's cfg: MIB neurons are d_model coordinates")
    if nodes is None:
        if getattr(getattr(model, "cfg", None), "attn_only", False):
            raise ValueError("the model has no MLPs (attention-only): pass nodes=['input']")
        if n_layers is None:
            raise ValueError("cannot read n_layers from the model's cfg; pass nodes=[...]")
        nodes = [f"m{layer}" for layer in range(n_layers)]
    nodes = list(nodes)
    if not nodes:
        raise ValueError("no MIB nodes selected")
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"MIB nodes repeat: {nodes}")
    chosen = None if coordinates is None else list(coordinates)
    coords = as_index_list(chosen, d_model, "coordinate", f"d_model ({d_model})")
    if not coords:
        raise ValueError("no coordinates selected")
    ids, labels, sites = [], [], []
    for node in nodes:
        hook = mib_node_hook(node)
        if node != "input" and n_layers is not None and int(node[1:]) >= n_layers:
            raise ValueError(f"MIB node {node!r}: the model has {n_layers} layers (0..{n_layers - 1})")
        require_hook(model, hook)
        start = len(ids)
        ids += [neuron_id(node, j) for j in coords]
        labels += [f"{node}[{j}]" for j in coords]
        columns = tuple(range(start, start + len(coords)))
        sites.append(Site(hook, dim=2, size=d_model, slices=tuple(coords), columns=columns))
    return UnitSet(ids=ids, labels=labels, sites=sites, model=model)

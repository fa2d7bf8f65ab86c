"""Model-component units: attention heads (masked at ``hook_z``) and MLP neurons (at ``mlp.hook_post``).

Heads are masked on the per-head output *before* W_O (``blocks.{l}.attn.hook_z``, dims
``batch pos head_index d_head``): it exists on every TransformerLens generation and backend, unlike
``hook_result`` (unsupported on TL 4.x native bridges).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from ..hooks import head_hook, neuron_hook
from .base import Site, UnitSet, as_index_list, model_dims, require_hook

__all__ = ["AttentionHeads", "MLPNeurons", "head_hook", "neuron_hook"]


HEAD_HOOKS = ("hook_z", "hook_result")


def _need(value: Optional[int], name: str, hint: str) -> int:
    if value is None:
        raise ValueError(f"cannot read {name} from the model's cfg; pass {hint}")
    return value


def AttentionHeads(
    model: Any,
    layers: Optional[Sequence[int] | int] = None,
    heads: Optional[Sequence[int] | int | Mapping[int, Sequence[int]]] = None,
    *,
    n_heads: Optional[int] = None,
    n_layers: Optional[int] = None,
    at: str = "hook_z",
) -> UnitSet:
    """Make one unit per attention head, masked at ``blocks.{l}.attn.hook_z`` (or ``at="hook_result"``).

    ``hook_z`` is the head's output before ``W_O`` (``batch pos head_index d_head``); ``hook_result`` its
    contribution to the residual stream after ``W_O`` (``batch pos head_index d_model``; TL 4 bridges
    have it, TL 2 ``HookedTransformer`` needs ``cfg.use_attn_result``). Mean / resample references
    differ accordingly; zero ablation gives the same values (up to ``b_O``, which neither hook masks).

    Parameters
    ----------
    model : Any
        A TransformerLens model.
    layers : int or sequence of int, optional
        Which layers (all by default).
    heads : int, sequence of int, or mapping, optional
        Head indices used in every chosen layer, or a mapping ``{layer: [heads]}`` (all by default).
    n_heads : int, optional
        Heads per layer, for a model whose ``cfg`` does not say.
    n_layers : int, optional
        Number of layers, for a model whose ``cfg`` does not say.
    at : {"hook_z", "hook_result"}
        Where heads are masked.

    Returns
    -------
    UnitSet
        Ids like ``blocks.1.attn.hook_z[2]``, labels like ``L1H2``.

    Raises
    ------
    ValueError
        If ``at`` is not a head hook, ``hook_result`` is switched off on the model, the sizes cannot be
        read, or a layer/head index is unknown or repeated.

    Examples
    --------
    >>> units = AttentionHeads(model, layers=[0, 1])          # every head of layers 0 and 1  # doctest: +SKIP
    >>> units = AttentionHeads(model, heads={0: [1, 2], 1: [1]})                               # doctest: +SKIP
    """
    if at not in HEAD_HOOKS:
        raise ValueError(f"heads are masked at one of {HEAD_HOOKS}, got at={at!r}")
    cfg = getattr(model, "cfg", None)
    if at == "hook_result" and getattr(cfg, "use_attn_result", None) is False:
        raise ValueError(
            "hook_result is switched off on this model: call model.set_use_attn_result(True) first "
            "(it keeps every head's d_model-wide output, n_heads times the attention output's memory; "
            "boot_native bridges cannot: mask heads at hook_z there)"
        )
    dims = model_dims(model)
    total_layers = n_layers or _need(dims["n_layers"], "n_layers", "n_layers=")
    per_layer = n_heads or _need(dims["n_heads"], "n_heads", "n_heads=")
    if isinstance(heads, Mapping):
        if layers is not None:
            raise ValueError("give either layers= with a list of heads, or heads={layer: [heads]}, not both")
        plan = {}
        for layer, hs in heads.items():
            (layer,) = as_index_list([layer], total_layers, "layer", "the model")
            plan[layer] = as_index_list(hs, per_layer, "head", f"layer {layer}")
    else:
        chosen = as_index_list(layers, total_layers, "layer", "the model")
        plan = {layer: as_index_list(heads, per_layer, "head", f"layer {layer}") for layer in chosen}
    ids, labels, sites = [], [], []
    for layer in sorted(plan):
        hook = head_hook(layer, at)
        require_hook(model, hook)
        start = len(ids)
        for h in plan[layer]:
            ids.append(f"{hook}[{h}]")
            labels.append(f"L{layer}H{h}")
        columns = tuple(range(start, len(ids)))
        sites.append(Site(hook, dim=2, size=per_layer, slices=tuple(plan[layer]), columns=columns))
    if not ids:
        raise ValueError("no heads selected")
    return UnitSet(ids=ids, labels=labels, sites=sites, model=model)


def MLPNeurons(
    model: Any,
    layer: int,
    neurons: Optional[Sequence[int] | int] = None,
    *,
    d_mlp: Optional[int] = None,
) -> UnitSet:
    """Make one unit per MLP neuron of ``layer``, masked at ``blocks.{layer}.mlp.hook_post``.

    Parameters
    ----------
    model : Any
        A TransformerLens model with MLPs.
    layer : int
        The block whose neurons become units.
    neurons : int or sequence of int, optional
        Which neurons (all by default).
    d_mlp : int, optional
        Neurons per MLP, for a model whose ``cfg`` does not say.

    Returns
    -------
    UnitSet
        Ids like ``blocks.1.mlp.hook_post[17]``, labels like ``L1N17``.

    Raises
    ------
    ValueError
        If the layer or a neuron index is unknown or repeated, or ``d_mlp`` cannot be read.
    """
    dims = model_dims(model)
    total_layers = dims["n_layers"]
    if total_layers is not None:
        as_index_list([layer], total_layers, "layer", "the model")
    width = d_mlp or dims["d_mlp"]
    if width is None:
        raise ValueError(
            "the model has no MLP neurons to mask (attention-only, or d_mlp unknown: pass d_mlp=)"
        )
    chosen = as_index_list(neurons, width, "neuron", f"layer {layer}'s MLP")
    hook = neuron_hook(layer)
    require_hook(model, hook)
    ids = [f"{hook}[{i}]" for i in chosen]
    labels = [f"L{layer}N{i}" for i in chosen]
    site = Site(hook, dim=2, size=width, slices=tuple(chosen), columns=tuple(range(len(chosen))))
    return UnitSet(ids=ids, labels=labels, sites=[site], model=model)
